// Package chattest runs local fakes of the chat webhooks the gateway posts
// to, each checking what the real provider checks, recording what it got
// and answering the provider's real errors on command: SlackServer (Slack
// incoming webhooks), TeamsServer (Teams legacy and Workflows webhooks)
// and WebhookServer (a Standard Webhooks receiver), among others.
package chattest

// This file holds what the Slack, Teams and generic webhook fakes share:
// HTTPFault, the answer a test makes a fake give, and hookServer, the
// listener, request log and fault switch under each of them. Unexported
// names here start with "hook" so that the fakes other files add to this
// package do not collide with them.

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"
)

// HTTPFault is how a fake chat webhook answers a request instead of
// accepting it.
type HTTPFault struct {
	// Status is the HTTP status.
	Status int
	// Body is sent as the body, with ContentType (default
	// "text/plain; charset=utf-8").
	Body, ContentType string
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter string
	// Location, when set, is sent as the Location header (for a 3xx).
	Location string
	// Hang never answers: the request waits until the client gives up or
	// the server is closed, and the connection is then dropped without a
	// response.
	Hang bool
}

// HangFault never answers.
var HangFault = HTTPFault{Hang: true}

// hookMaxBody bounds what a fake reads of a request; real chat
// webhooks refuse far less (Teams: 28 KB).
const hookMaxBody = 1 << 20

// hookServer is a local HTTP server that records requests of type R and
// can be switched to answer with a fault. The fakes embed it and write
// their own handler.
type hookServer[R any] struct {
	srv  *http.Server
	ln   net.Listener
	url  string
	done chan struct{}
	wg   sync.WaitGroup // handlers in flight

	mu     sync.Mutex
	n      int
	reqs   []R
	fault  *HTTPFault
	queue  []HTTPFault
	notify chan struct{} // closed and replaced whenever reqs grows

	closeOnce sync.Once
}

// start listens on 127.0.0.1:0 and serves h.
func (s *hookServer[R]) start(h http.Handler) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.ln = ln
	s.url = "http://" + ln.Addr().String()
	s.done = make(chan struct{})
	s.notify = make(chan struct{})
	s.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.wg.Add(1)
			defer s.wg.Done()
			h.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		// Clients that give up on a hanging request are the point of some
		// tests; their broken connections are not worth a log line.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() { _ = s.srv.Serve(ln) }()
	return nil
}

// next numbers a request (1-based, arrival order) and picks its fault: the
// first queued one, else the one set, else nil.
func (s *hookServer[R]) next() (int, *HTTPFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if len(s.queue) > 0 {
		f := s.queue[0]
		s.queue = s.queue[1:]
		return s.n, &f
	}
	if s.fault != nil {
		f := *s.fault
		return s.n, &f
	}
	return s.n, nil
}

func (s *hookServer[R]) setFault(f *HTTPFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f != nil {
		c := *f
		f = &c
	}
	s.fault = f
}

func (s *hookServer[R]) failNext(faults []HTTPFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, faults...)
}

func (s *hookServer[R]) record(r R) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, r)
	close(s.notify)
	s.notify = make(chan struct{})
}

func (s *hookServer[R]) requests() []R {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]R(nil), s.reqs...)
}

func (s *hookServer[R]) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

func (s *hookServer[R]) waitFor(name string, n int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		s.mu.Lock()
		got, ch := len(s.reqs), s.notify
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("chattest: %s: %d of %d requests after %s", name, got, n, timeout)
		}
	}
}

// hang holds the request until the client gives up or the server closes,
// then drops the connection without a response, as a dead peer would.
func (s *hookServer[R]) hang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-s.done:
	}
	panic(http.ErrAbortHandler)
}

func (s *hookServer[R]) close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.done)
		err = s.srv.Close()
		s.wg.Wait()
	})
	return err
}

// hookReadBody reads a request body up to hookMaxBody; too long is an
// error, as on a real webhook.
func hookReadBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, hookMaxBody+1))
	if err != nil {
		return nil, err
	}
	if len(b) > hookMaxBody {
		return nil, fmt.Errorf("body larger than %d bytes", hookMaxBody)
	}
	return b, nil
}

// hookWriteFault answers with f (not a Hang).
func hookWriteFault(w http.ResponseWriter, f *HTTPFault) {
	ct := f.ContentType
	if ct == "" {
		ct = "text/plain; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if f.Location != "" {
		w.Header().Set("Location", f.Location)
	}
	w.WriteHeader(f.Status)
	_, _ = io.WriteString(w, f.Body)
}

// hookWriteText answers status with a text body.
func hookWriteText(w http.ResponseWriter, status int, contentType, body string) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}
