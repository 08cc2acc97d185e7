package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/npsgate/npsgate/internal/smtptest"
	"github.com/npsgate/npsgate/internal/twiliotest"
)

// Providers are the addresses of the local providers' process.
type Providers struct {
	SMTP    string // host:port of the SMTP sink
	Twilio  string // base URL of the Twilio fake
	Webhook string // base URL of the webhook sink
	Control string // base URL of the control API (stats, arrivals)
}

// providerStats are the providers' counters since they started.
type providerStats struct {
	SMTP      int `json:"smtp"`
	SMTPConns int `json:"smtp_conns"`
	SMS       int `json:"sms"`
	Webhook   int `json:"webhook"`
}

func (s providerStats) total() int { return s.SMTP + s.SMS + s.Webhook }

// arrival is when a message reached a provider: the recipient (email
// address, phone number or webhook path) and the wall clock in ns.
type arrival struct {
	K string `json:"k"`
	T int64  `json:"t"`
}

// recorder keeps arrivals while it is on (the trigger figure); off, it
// costs one atomic load per message.
type recorder struct {
	on   atomic.Bool
	mu   sync.Mutex
	list []arrival
}

func (r *recorder) add(k string, t time.Time) {
	if !r.on.Load() {
		return
	}
	r.mu.Lock()
	r.list = append(r.list, arrival{k, t.UnixNano()})
	r.mu.Unlock()
}

func (r *recorder) take() []arrival {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.list
	r.list = nil
	return out
}

// runProviders is the providers' process: the smtptest sink in Discard
// mode (a go-smtp server that counts), the twiliotest fake of Twilio's
// REST API, and a webhook sink that answers 200 at once. It prints their
// addresses as one JSON line and serves until SIGTERM or stdin closes.
func runProviders() error {
	rec := &recorder{}
	sink, err := smtptest.New(smtptest.Options{
		Discard: true,
		// RCPT TO is when the message reaches the sink; DATA follows on
		// the same connection at once.
		ReplyAt: smtptest.AtRcpt,
		Reply: func(rcpt string, _ int) *smtp.SMTPError {
			rec.add(rcpt, time.Now())
			return nil
		},
	})
	if err != nil {
		return err
	}
	defer sink.Close()
	tw, err := twiliotest.New(twiliotest.WithReply(func(r twiliotest.Request) *twiliotest.Fault {
		rec.add(r.To, r.Time)
		return nil
	}))
	if err != nil {
		return err
	}
	defer tw.Close()

	var hooks atomic.Int64
	wln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	wsrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		hooks.Add(1)
		rec.add(r.URL.Path, time.Now())
		w.WriteHeader(http.StatusOK)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = wsrv.Serve(wln) }()
	defer wsrv.Close()

	cln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(providerStats{SMTP: sink.Count(), SMTPConns: sink.Connections(),
			SMS: tw.Count(), Webhook: int(hooks.Load())})
	})
	mux.HandleFunc("POST /record", func(w http.ResponseWriter, r *http.Request) {
		rec.on.Store(r.URL.Query().Get("on") == "1")
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /arrivals", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(rec.take())
	})
	csrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = csrv.Serve(cln) }()
	defer csrv.Close()

	addrs := Providers{SMTP: sink.Addr(), Twilio: tw.URL(), Webhook: "http://" + wln.Addr().String(),
		Control: "http://" + cln.Addr().String()}
	b, _ := json.Marshal(addrs)
	fmt.Println(string(b))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { // the parent holds our stdin; its end is ours
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	<-ctx.Done()
	return nil
}

// providerProc is the parent's handle on a providers' process.
type providerProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addrs Providers
}

func startProviders(self string) (*providerProc, error) {
	cmd := exec.Command(self, "-providers")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &providerProc{cmd: cmd, stdin: stdin}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("providers did not start: %w", err)
	}
	if err := json.Unmarshal([]byte(line), &p.addrs); err != nil {
		p.stop()
		return nil, fmt.Errorf("providers: %q: %w", line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return p, nil
}

// stop ends the process we started (by its pid) and returns its peak RSS
// in MB.
func (p *providerProc) stop() float64 {
	_ = p.stdin.Close()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	return maxRSSMB(p.cmd.ProcessState)
}

// providerClient talks to the control API from a child.
type providerClient struct {
	base string
	hc   *http.Client
}

func newProviderClient(p Providers) *providerClient {
	return &providerClient{base: p.Control, hc: &http.Client{Timeout: 30 * time.Second}}
}

func (c *providerClient) stats() (providerStats, error) {
	var s providerStats
	resp, err := c.hc.Get(c.base + "/stats")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

func (c *providerClient) record(on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	resp, err := c.hc.Post(c.base+"/record?on="+v, "text/plain", nil)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

func (c *providerClient) arrivals() ([]arrival, error) {
	resp, err := c.hc.Get(c.base + "/arrivals")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out []arrival
	return out, json.NewDecoder(resp.Body).Decode(&out)
}
