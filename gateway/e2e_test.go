package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/npsgate/npsgate/config"
	"github.com/npsgate/npsgate/gateway"
	"github.com/npsgate/npsgate/internal/smtptest"
	"github.com/npsgate/npsgate/internal/testenv"
)

const (
	apiKey    = "e2e-key-0123456789abcdef"
	publicURL = "https://nps.example.com"
)

// running is a gateway serving on a local port, configured the way an
// operator would: through NPSGATE_* variables.
type running struct {
	t    *testing.T
	logs *logs
	base string // where the HTTP server really listens
	smtp *smtptest.Server
	stop func() error
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func start(t *testing.T, env map[string]string, smtpOpts ...smtptest.Option) *running {
	t.Helper()
	sink := smtptest.Start(t, smtpOpts...)
	addr := freeAddr(t)
	vars := map[string]string{
		"NPSGATE_HTTP_ADDR":     addr,
		"NPSGATE_PUBLIC_URL":    publicURL,
		"NPSGATE_DATA_DIR":      t.TempDir(),
		"NPSGATE_REDIS_URL":     testenv.RedisURL(t, testenv.RedisDBGateway),
		"NPSGATE_DATABASE_URL":  testenv.DatabaseURL(t),
		"NPSGATE_SMTP_URL":      "smtp://" + sink.Addr(),
		"NPSGATE_SMTP_FROM":     "Acme NPS <nps@acme.example>",
		"NPSGATE_SMTP_STARTTLS": "none",
		"NPSGATE_API_KEYS":      apiKey,
		// The fake providers and webhook receivers listen on loopback.
		"NPSGATE_SECURITY_ALLOW_PRIVATE_TARGETS": "true",
	}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Load("", func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	// Every run logs at debug level into logs, so a test can read what
	// the gateway said (and TestSecretsNeverLogged can scan it).
	kept := &logs{}
	var out io.Writer = kept
	if testing.Verbose() {
		out = io.MultiWriter(kept, testWriter{t})
	}
	log := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g, err := gateway.New(ctx, cfg, gateway.RoleAll, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if _, err := g.Listen(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	r := &running{t: t, base: "http://" + addr, smtp: sink, logs: kept}
	var once bool
	r.stop = func() error {
		if once {
			return nil
		}
		once = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return fmt.Errorf("gateway did not stop")
		}
	}
	t.Cleanup(func() { _ = r.stop() })
	return r
}

// logs keeps what the gateway logged.
type logs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (r *running) api(method, path string, body any) (int, map[string]any) {
	r.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, r.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		r.t.Fatalf("%s %s: not JSON: %s", method, path, raw)
	}
	return resp.StatusCode, out
}

// local turns a public link into one on the test server, as the reverse
// proxy in front of a real deployment would.
func (r *running) local(link string) string {
	if !strings.HasPrefix(link, publicURL) {
		r.t.Fatalf("link %q does not start with the public URL", link)
	}
	return r.base + strings.TrimPrefix(link, publicURL)
}

func (r *running) waitStatus(id, want string) map[string]any {
	r.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, d := r.api("GET", "/v1/deliveries/"+id, nil)
		if d["status"] == want {
			return d
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("delivery %s is %v (%v), want %s", id, d["status"], d["reason"], want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var scoreLink = regexp.MustCompile(`href="(https://nps\.example\.com/r/[A-Za-z0-9_-]{22}\?score=(\d+))"`)

func TestTransactionalNPSByEmail(t *testing.T) {
	r := start(t, nil)

	if code, body := r.api("POST", "/v1/surveys", map[string]any{
		"key": "implementation", "kind": "nps", "product_name": "Acme Cloud", "channels": []string{"email"},
	}); code != 201 {
		t.Fatalf("create survey: %d %v", code, body)
	}
	code, tr := r.api("POST", "/v1/triggers", map[string]any{
		"survey":          "implementation",
		"contact":         map[string]any{"external_id": "acct-42-admin", "name": "Ada", "email": "ada@customer.example", "locale": "en", "account": "42", "role": "admin"},
		"idempotency_key": "implementation-finished-42",
		"metadata":        map[string]string{"account": "42"},
	})
	if code != 202 {
		t.Fatalf("trigger: %d %v", code, tr)
	}
	id := tr["delivery_id"].(string)

	if err := r.smtp.WaitFor(1, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	d := r.waitStatus(id, "sent")
	msgs := r.smtp.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if len(m.To) != 1 || m.To[0] != "ada@customer.example" || m.From != "nps@acme.example" {
		t.Fatalf("envelope: from %q to %v", m.From, m.To)
	}
	p, err := m.Parse()
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Subject(); !strings.Contains(got, "Acme Cloud") {
		t.Errorf("subject %q", got)
	}
	if p.Get("Message-ID") == "" || p.Get("Message-ID") != d["provider_message_id"] {
		t.Errorf("Message-ID %q, provider id %v", p.Get("Message-ID"), d["provider_message_id"])
	}
	lu := p.Get("List-Unsubscribe")
	if !strings.Contains(lu, "<mailto:unsubscribe@acme.example") || !strings.Contains(lu, "<"+publicURL+"/u/") {
		t.Errorf("List-Unsubscribe %q", lu)
	}
	if p.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post %q", p.Get("List-Unsubscribe-Post"))
	}
	if !strings.Contains(p.Text(), "How likely are you to recommend Acme Cloud") {
		t.Errorf("text part:\n%s", p.Text())
	}
	links := scoreLink.FindAllStringSubmatch(p.HTML(), -1)
	if len(links) != 11 {
		t.Fatalf("%d score links in the HTML part, want 11:\n%s", len(links), p.HTML())
	}
	for i, l := range links {
		if l[2] != fmt.Sprint(i) {
			t.Fatalf("link %d is for score %s", i, l[2])
		}
		resp, err := http.Get(r.local(strings.ReplaceAll(l[1], "&amp;", "&")))
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(page), fmt.Sprintf(`value="%d" data-cat=`, i)) ||
			!regexp.MustCompile(fmt.Sprintf(`value="%d" data-cat="\w+" checked`, i)).Match(page) {
			t.Fatalf("score link %d: %d, score not preselected", i, resp.StatusCode)
		}
	}
	// Opening all eleven links recorded nothing: mail scanners do that.
	if _, res := r.api("GET", "/v1/results?survey=implementation", nil); res["responses"] != 0.0 {
		t.Fatalf("GETs recorded answers: %v", res)
	}

	// The detractor answers on the page, with the follow-up.
	answerURL := r.local(links[3][1][:strings.Index(links[3][1], "?")])
	resp, err := http.PostForm(answerURL, url.Values{"score": {"3"}, "comment": {"The import tool kept failing."}, "may_contact": {"yes"}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "Thank you") {
		t.Fatalf("answer: %d\n%s", resp.StatusCode, page)
	}
	r.waitStatus(id, "responded")

	_, res := r.api("GET", "/v1/results?survey=implementation", nil)
	if res["responses"] != 1.0 || res["nps"] != -100.0 || res["response_rate"] != 100.0 {
		t.Fatalf("results: %v", res)
	}
	if det := res["detractors"].(map[string]any); det["count"] != 1.0 || det["pct"] != 100.0 {
		t.Fatalf("detractors: %v", det)
	}
	if sc := res["scores"].([]any); len(sc) != 11 || sc[3].(map[string]any)["count"] != 1.0 || sc[3].(map[string]any)["score"] != 3.0 {
		t.Fatalf("scores: %v", res["scores"])
	}
	_, list := r.api("GET", "/v1/responses?survey=implementation&category=detractor", nil)
	rs := list["responses"].([]any)
	if len(rs) != 1 || rs[0].(map[string]any)["comment"] != "The import tool kept failing." || rs[0].(map[string]any)["may_contact"] != true {
		t.Fatalf("responses: %v", list)
	}

	// Changing one's mind within the edit window updates the same response.
	if resp, err := http.PostForm(answerURL, url.Values{"score": {"7"}}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("second answer: %v %v", resp, err)
	}
	_, res = r.api("GET", "/v1/results?survey=implementation", nil)
	if res["responses"] != 1.0 || res["nps"] != 0.0 {
		t.Fatalf("after the update: %v", res)
	}
	// The answer left the detractor band: its consent to be contacted and
	// its answer to "what went wrong?" went with it.
	_, list = r.api("GET", "/v1/responses?survey=implementation", nil)
	if rs := list["responses"].([]any); len(rs) != 1 || rs[0].(map[string]any)["comment"] != "" || rs[0].(map[string]any)["may_contact"] != nil {
		t.Fatalf("the update must drop the detractor's comment and consent: %v", list)
	}

	// CSV export has the header and the one row.
	req, _ := http.NewRequest("GET", r.base+"/v1/responses.csv?survey=implementation", nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	cresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	csvBody, _ := io.ReadAll(cresp.Body)
	cresp.Body.Close()
	if lines := strings.Split(strings.TrimSpace(string(csvBody)), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "id,delivery_id") {
		t.Fatalf("csv:\n%s", csvBody)
	}

	// One-click unsubscribe (RFC 8058), then a new trigger is suppressed
	// and nothing more reaches the SMTP server.
	unsub := regexp.MustCompile(`<(https://[^>]+/u/[^>]+)>`).FindStringSubmatch(lu)
	uresp, err := http.Post(r.local(unsub[1]), "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil || uresp.StatusCode != 200 {
		t.Fatalf("unsubscribe: %v %v", uresp, err)
	}
	uresp.Body.Close()
	_, tr2 := r.api("POST", "/v1/triggers", map[string]any{"survey": "implementation", "contact": map[string]any{"external_id": "acct-42-admin"}})
	d2 := r.waitStatus(tr2["delivery_id"].(string), "suppressed")
	if d2["reason"] != "opted_out" {
		t.Fatalf("suppressed for %v", d2["reason"])
	}
	if n := r.smtp.Count(); n != 1 {
		t.Fatalf("%d messages after unsubscribing, want 1", n)
	}

	if err := r.stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

func TestDelayedTriggerWaits(t *testing.T) {
	r := start(t, nil)
	r.api("POST", "/v1/surveys", map[string]any{"key": "later", "product_name": "Acme"})
	_, tr := r.api("POST", "/v1/triggers", map[string]any{
		"survey": "later", "delay": "2d",
		"contact": map[string]any{"external_id": "c-1", "email": "c1@customer.example"},
	})
	_, d := r.api("GET", "/v1/deliveries/"+tr["delivery_id"].(string), nil)
	sendAt, _ := time.Parse(time.RFC3339, d["send_at"].(string))
	if d["status"] != "queued" || time.Until(sendAt) < 47*time.Hour {
		t.Fatalf("delivery %v", d)
	}
	time.Sleep(300 * time.Millisecond)
	if r.smtp.Count() != 0 {
		t.Fatal("a delayed survey went out at once")
	}
}

func TestSMTPFailures(t *testing.T) {
	tests := []struct {
		name       string
		reply      func(rcpt string, n int) *smtp.SMTPError
		wantStatus string
		wantReason string
		wantMsgs   int
	}{
		{
			name: "550 fails at once with the server's words",
			reply: func(string, int) *smtp.SMTPError {
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "mailbox unavailable"}
			},
			wantStatus: "failed", wantReason: "mailbox unavailable",
		},
		{
			name: "451 twice then accepted",
			reply: func(_ string, n int) *smtp.SMTPError {
				if n <= 2 {
					return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
				}
				return nil
			},
			wantStatus: "sent", wantMsgs: 1,
		},
		{
			name: "451 until the retries are spent",
			reply: func(string, int) *smtp.SMTPError {
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "greylisted"}
			},
			wantStatus: "failed", wantReason: "gave up after 3 attempts",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := start(t, map[string]string{
				"NPSGATE_WORKER_RETRY_BASE_DELAY": "20ms",
				"NPSGATE_WORKER_POLL_INTERVAL":    "50ms",
				"NPSGATE_WORKER_MAX_RETRY":        "2",
			}, smtptest.WithReply(smtptest.AtData, tt.reply))
			r.api("POST", "/v1/surveys", map[string]any{"key": "s", "product_name": "Acme"})
			_, tr := r.api("POST", "/v1/triggers", map[string]any{"survey": "s",
				"contact": map[string]any{"external_id": "c-1", "email": "c1@customer.example"}})
			d := r.waitStatus(tr["delivery_id"].(string), tt.wantStatus)
			if reason, _ := d["reason"].(string); !strings.Contains(reason, tt.wantReason) {
				t.Fatalf("reason %q, want it to contain %q", reason, tt.wantReason)
			}
			if n := r.smtp.Count(); n != tt.wantMsgs {
				t.Fatalf("%d messages accepted, want %d", n, tt.wantMsgs)
			}
		})
	}
}

// TestClosedLoop: a detractor's answer raises one alert (by email here)
// and one signed webhook event, and a later comment follows up on the same
// alert.
func TestClosedLoop(t *testing.T) {
	r := start(t, nil)
	const whSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	wh, _ := standardwebhooks.NewWebhook(whSecret)
	events := make(chan map[string]any, 10)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if err := wh.Verify(body, req.Header); err != nil {
			http.Error(w, err.Error(), 401)
			return
		}
		var ev map[string]any
		_ = json.Unmarshal(body, &ev)
		events <- ev
	}))
	defer recv.Close()

	if code, body := r.api("POST", "/v1/surveys", map[string]any{"key": "onb", "product_name": "Acme", "channels": []string{"email"},
		"alert_targets": []any{map[string]any{"channel": "email", "address": "cs-oncall@acme.example"}}}); code != 201 {
		t.Fatalf("survey: %d %v", code, body)
	}
	if code, body := r.api("POST", "/v1/webhooks", map[string]any{"url": recv.URL, "secret": whSecret, "events": []string{"response.created", "response.updated"}}); code != 201 {
		t.Fatalf("webhook: %d %v", code, body)
	}
	_, tr := r.api("POST", "/v1/triggers", map[string]any{"survey": "onb",
		"contact": map[string]any{"external_id": "k-1", "name": "Kim", "email": "kim@customer.example", "account": "42"}})
	if err := r.smtp.WaitFor(1, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	r.waitStatus(tr["delivery_id"].(string), "sent")
	token := regexp.MustCompile(`/r/([A-Za-z0-9_-]{22})`).FindStringSubmatch(string(r.smtp.Messages()[0].Data))[1]
	resp, err := http.PostForm(r.base+"/r/"+token, url.Values{"score": {"2"}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("answer: %v %v", resp, err)
	}
	resp.Body.Close()

	if err := r.smtp.WaitFor(2, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	alert, _ := r.smtp.Messages()[1].Parse()
	if r.smtp.Messages()[1].To[0] != "cs-oncall@acme.example" || !strings.Contains(alert.Subject(), "Detractor 2/10") ||
		!strings.Contains(alert.Text(), "Kim (k-1)") || !strings.Contains(alert.Text(), "account 42") {
		t.Fatalf("alert: %q\n%s", alert.Subject(), alert.Text())
	}
	select {
	case ev := <-events:
		data := ev["data"].(map[string]any)
		if ev["type"] != "response.created" || data["score"] != 2.0 || data["account"] != "42" {
			t.Fatalf("event: %v", ev)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no webhook event")
	}

	// The comment arrives: a follow-up on the same alert and an update event.
	resp, err = http.PostForm(r.base+"/r/"+token, url.Values{"score": {"2"}, "comment": {"Billing is wrong every month"}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("comment: %v %v", resp, err)
	}
	resp.Body.Close()
	if err := r.smtp.WaitFor(3, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	follow, _ := r.smtp.Messages()[2].Parse()
	if !strings.HasPrefix(follow.Subject(), "Update:") || !strings.Contains(follow.Text(), "Billing is wrong") {
		t.Fatalf("follow-up: %q %s", follow.Subject(), follow.Text())
	}
	select {
	case ev := <-events:
		if ev["type"] != "response.updated" {
			t.Fatalf("event: %v", ev)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no update event")
	}
	// One alert, sent twice (the follow-up); its record trails the email.
	var alerts map[string]any
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		_, alerts = r.api("GET", "/v1/alerts", nil)
		if list := alerts["alerts"].([]any); len(list) == 1 && list[0].(map[string]any)["sends"] == 2.0 {
			return
		}
	}
	t.Fatalf("alerts: %v", alerts)
}

// TestNoSSRF: with the default guard, a chat robot or webhook URL that
// points into the gateway's own network is refused, never called.
func TestNoSSRF(t *testing.T) {
	called := make(chan struct{}, 10)
	inside := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called <- struct{}{} }))
	defer inside.Close()
	r := start(t, map[string]string{"NPSGATE_SECURITY_ALLOW_PRIVATE_TARGETS": "false"})
	r.api("POST", "/v1/surveys", map[string]any{"key": "s", "product_name": "Acme", "channels": []string{"slack"}})
	_, tr := r.api("POST", "/v1/triggers", map[string]any{"survey": "s",
		"contact": map[string]any{"external_id": "x", "attributes": map[string]string{"slack_webhook": inside.URL + "/services/T1/B1/x"}}})
	d := r.waitStatus(tr["delivery_id"].(string), "failed")
	if reason, _ := d["reason"].(string); !strings.Contains(reason, "not allowed") {
		t.Fatalf("reason %q", reason)
	}
	select {
	case <-called:
		t.Fatal("the internal address was called")
	default:
	}
}
