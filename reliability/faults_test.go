package reliability_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/npsgate/npsgate/internal/smtptest"
	"github.com/npsgate/npsgate/internal/twiliotest"
)

// hookReceiver is a webhook subscriber: it records every post with its
// webhook-id and can hang on the first ones, as a stuck endpoint does.
type hookReceiver struct {
	srv *httptest.Server

	mu    sync.Mutex
	posts []hookPost
	hang  int // how many of the first posts hang until the client gives up
}

type hookPost struct {
	ID   string
	Body string
	At   time.Time
	Hung bool
}

func startReceiver(t *testing.T, hang int) *hookReceiver {
	r := &hookReceiver{hang: hang}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		hung := r.hang > 0
		if hung {
			r.hang--
		}
		r.posts = append(r.posts, hookPost{ID: req.Header.Get("webhook-id"), Body: string(body), At: time.Now(), Hung: hung})
		r.mu.Unlock()
		if hung {
			<-req.Context().Done()
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) list() []hookPost {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hookPost(nil), r.posts...)
}

// perKey counts attempts per key (an address) in a fake provider.
type perKey struct {
	mu sync.Mutex
	n  map[string]int
	// txn maps an SMTP transaction number to its recipient.
	txn map[int]string
}

func newPerKey() *perKey { return &perKey{n: map[string]int{}, txn: map[int]string{}} }

func (p *perKey) next(k string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n[k]++
	return p.n[k]
}

func (p *perKey) get(k string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n[k]
}

// TestProviderFaults runs each provider fault the README names through
// the real binary and checks the outcome: retried (and sent once),
// suppressed, or failed with the provider's words, and how many attempts
// the provider saw. A webhook subscriber that hangs is retried on its
// schedule and holds nothing else up.
func TestProviderFaults(t *testing.T) {
	smtpAttempts := newPerKey()
	reply := func(rcpt string, n int) *smtp.SMTPError {
		local := strings.SplitN(rcpt, "@", 2)[0]
		a := smtpAttempts.next(local)
		smtpAttempts.mu.Lock()
		smtpAttempts.txn[n] = local
		smtpAttempts.mu.Unlock()
		switch {
		case local == "r421" && a == 1:
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "too many connections, closing"}
		case local == "r451" && a <= 2:
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
		case local == "r451forever":
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "greylisted"}
		case local == "r550":
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "mailbox unavailable"}
		}
		return nil
	}
	drop := func(n int) bool {
		smtpAttempts.mu.Lock()
		local := smtpAttempts.txn[n]
		smtpAttempts.mu.Unlock()
		return local == "drop" && smtpAttempts.get("drop") == 1
	}

	smsAttempts := newPerKey()
	tw := twiliotest.Start(t, twiliotest.WithReply(func(r twiliotest.Request) *twiliotest.Fault {
		a := smsAttempts.next(r.To)
		switch {
		case r.To == "+14155550101" && a == 1:
			f := twiliotest.RateLimited("1")
			return &f
		case r.To == "+14155550102" && a <= 2:
			return &twiliotest.ServerError
		case r.To == "+14155550103":
			return &twiliotest.Unsubscribed
		case r.To == "+14155550104":
			return &twiliotest.InvalidTo
		}
		return nil
	}))
	recv := startReceiver(t, 1)

	c := newCluster(t, clusterOpts{
		smtp: []smtptest.Option{smtptest.WithReply(smtptest.AtRcpt, reply), smtptest.WithDropAfterData(drop)},
		env: map[string]string{
			"NPSGATE_WORKER_MAX_RETRY":   "3",
			"NPSGATE_TWILIO_ACCOUNT_SID": twiliotest.DefaultAccountSID,
			"NPSGATE_TWILIO_AUTH_TOKEN":  twiliotest.DefaultAuthToken,
			"NPSGATE_TWILIO_FROM":        "+14155550199",
			"NPSGATE_TWILIO_API_URL":     tw.URL(),
			"NPSGATE_THROTTLE_RATES":     "sms=100/s",
		},
	})
	api := c.start("api", "api", nil)
	c.start("worker", "worker", nil)
	api.survey("tx", []string{"email"}, nil)
	api.survey("text", []string{"sms"}, nil)
	api.must(201, "POST", "/v1/webhooks", map[string]any{"url": recv.srv.URL, "events": []string{"*"}})

	type want struct {
		status   string
		reason   string // part of the delivery's reason
		attempts int    // requests the provider saw for the address
	}
	cases := []struct {
		name    string
		survey  string
		contact map[string]any
		key     string // attempts key: the local part or the number
		want    want
	}{
		{"SMTP 421 then accepted", "tx", map[string]any{"external_id": "e421", "email": "r421@customer.example"}, "r421", want{"sent", "", 2}},
		{"SMTP 451 twice then accepted", "tx", map[string]any{"external_id": "e451", "email": "r451@customer.example"}, "r451", want{"sent", "", 3}},
		{"SMTP 451 until the retries are spent", "tx", map[string]any{"external_id": "e451f", "email": "r451forever@customer.example"}, "r451forever", want{"failed", "gave up after 4 attempts", 4}},
		{"SMTP 550 fails at once", "tx", map[string]any{"external_id": "e550", "email": "r550@customer.example"}, "r550", want{"failed", "550 5.1.1 mailbox unavailable", 1}},
		{"SMTP drops the connection after DATA", "tx", map[string]any{"external_id": "edrop", "email": "drop@customer.example"}, "drop", want{"sent", "", 2}},
		{"Twilio 429 waits Retry-After", "text", map[string]any{"external_id": "p1", "phone": "+14155550101"}, "+14155550101", want{"sent", "", 2}},
		{"Twilio 500 twice then accepted", "text", map[string]any{"external_id": "p2", "phone": "+14155550102"}, "+14155550102", want{"sent", "", 3}},
		{"Twilio 21610 suppresses and opts out", "text", map[string]any{"external_id": "p3", "phone": "+14155550103", "email": "p3@customer.example"}, "+14155550103", want{"suppressed", "21610", 1}},
		{"Twilio 21211 fails at once", "text", map[string]any{"external_id": "p4", "phone": "+14155550104"}, "+14155550104", want{"failed", "21211", 1}},
	}
	ids := map[string]string{}
	for _, tc := range cases {
		out := api.must(202, "POST", "/v1/triggers", map[string]any{"survey": tc.survey, "contact": tc.contact})
		ids[tc.name] = out["delivery_id"].(string)
	}
	// Surveys keep flowing while the webhook subscriber hangs.
	flowing := api.must(202, "POST", "/v1/triggers", map[string]any{"survey": "tx",
		"contact": map[string]any{"external_id": "ok", "email": "ok@customer.example"}})

	c.waitFinal(len(cases)+1, 45*time.Second)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, d := api.api("GET", "/v1/deliveries/"+ids[tc.name], nil)
			reason, _ := d["reason"].(string)
			if d["status"] != tc.want.status || !strings.Contains(reason, tc.want.reason) {
				t.Errorf("delivery %v (%q), want %s with %q", d["status"], reason, tc.want.status, tc.want.reason)
			}
			var got int
			if strings.HasPrefix(tc.key, "+") {
				got = smsAttempts.get(tc.key)
			} else {
				got = smtpAttempts.get(tc.key)
			}
			if got != tc.want.attempts {
				t.Errorf("the provider saw %d attempts, want %d", got, tc.want.attempts)
			}
			t.Logf("%s: %s %q after %d attempts", tc.name, d["status"], reason, got)
		})
	}

	per := received(c.smtp.Messages())
	for _, name := range []string{"SMTP 421 then accepted", "SMTP 451 twice then accepted", "SMTP drops the connection after DATA"} {
		if n := per[ids[name]]; n != 1 {
			t.Errorf("%s: %d messages kept, want 1", name, n)
		}
	}
	if c.smtp.Dropped() != 1 {
		t.Errorf("%d messages dropped after DATA, want 1", c.smtp.Dropped())
	}
	var p1 []time.Time
	for _, r := range tw.Requests() {
		if r.To == "+14155550101" {
			p1 = append(p1, r.Time)
		}
	}
	t.Run("Twilio 429 retry waits the whole Retry-After", func(t *testing.T) {
		if len(p1) == 2 {
			t.Logf("the retry after a 429 with Retry-After: 1 came %s later", p1[1].Sub(p1[0]).Round(time.Millisecond))
		}
		fixedBug(t, "a retry after a provider's Retry-After (Twilio 429, or a gate deferral) comes up to a second early: "+
			"asynq keeps retry and schedule times as Unix seconds (rdb.Retry: ZADD score processAt.Unix()), so the "+
			"delay dispatcher.retryDelay returns is cut to the second below; measured 143ms and 912ms after a "+
			"\"Retry-After: 1\". Fix in dispatcher/worker.go (retryDelay): return pe.RetryAfter + time.Second "+
			"(round up past asynq's truncation) for RateLimited errors")
		if len(p1) != 2 || p1[1].Sub(p1[0]) < time.Second {
			t.Errorf("requests to the rate-limited number at %v, want the retry at least 1s after the 429", p1)
		}
	})
	// 21610 opted the contact out everywhere: the next survey by email is
	// suppressed and nothing is sent.
	_, ct := api.api("GET", "/v1/contacts/p3", nil)
	if ct["opted_out_at"] == nil {
		t.Errorf("contact after 21610: %v", ct)
	}
	next := api.must(202, "POST", "/v1/triggers", map[string]any{"survey": "tx", "channel": "email", "contact": map[string]any{"external_id": "p3"}})
	waitFor(t, 15*time.Second, "the trigger after 21610", func() bool {
		_, d := api.api("GET", "/v1/deliveries/"+next["delivery_id"].(string), nil)
		return d["status"] == "suppressed"
	})
	if per[flowing["delivery_id"].(string)] != 1 {
		t.Errorf("the plain survey: %d messages", per[flowing["delivery_id"].(string)])
	}

	// The hanging subscriber: its first post timed out, the event was
	// retried on the webhook schedule (5s) and arrived; the others were
	// not held up by it.
	waitFor(t, 40*time.Second, "webhook events after the hang", func() bool {
		ps := recv.list()
		ok := 0
		for _, p := range ps[1:] {
			if p.ID == ps[0].ID {
				ok++
			}
		}
		return len(ps) > 1 && ok > 0
	})
	ps := recv.list()
	seen := map[string]int{}
	for _, p := range ps {
		seen[p.ID]++
	}
	retryGap := time.Duration(0)
	for _, p := range ps[1:] {
		if p.ID == ps[0].ID {
			retryGap = p.At.Sub(ps[0].At)
			break
		}
	}
	types := map[string]int{}
	for _, p := range ps {
		if !p.Hung {
			for _, typ := range []string{"delivery.failed", "contact.opted_out"} {
				if strings.Contains(p.Body, `"`+typ+`"`) {
					types[typ]++
				}
			}
		}
	}
	if types["delivery.failed"] < 3 || types["contact.opted_out"] < 1 {
		t.Errorf("webhook events received: %v", types)
	}
	if retryGap < 10*time.Second {
		t.Errorf("the hung event was retried %s after its first post, want after the 10s timeout and the 5s backoff", retryGap)
	}
	t.Logf("RESULT webhook target hung: %d posts for %d events; the hung event arrived %s after its first post; events %v",
		len(ps), len(seen), retryGap.Round(time.Millisecond), types)
}
