package dispatcher_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/templates"
)

// scripted is a channel that fails on command: the n-th call (1-based)
// returns script[n-1] when there is one, else succeeds.
type scripted struct {
	mu     sync.Mutex
	calls  int
	sent   []*channels.Message
	script []error
}

func (s *scripted) Name() string { return "email" }

func (s *scripted) Send(_ context.Context, m *channels.Message) (channels.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.calls <= len(s.script) && s.script[s.calls-1] != nil {
		return channels.Result{}, s.script[s.calls-1]
	}
	s.sent = append(s.sent, m)
	return channels.Result{ProviderID: "p-" + m.DeliveryID}, nil
}

func (s *scripted) count() (calls, sent int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls, len(s.sent)
}

type env struct {
	t        *testing.T
	redisURL string
	st       *store.Store
	redis    asynq.RedisConnOpt
	client   *dispatcher.Client
	ch       *scripted
	sender   *dispatcher.Sender
}

func newEnv(t *testing.T, script ...error) *env {
	t.Helper()
	st := testenv.Store(t)
	url := testenv.RedisURL(t, testenv.RedisDBDispatcher)
	ropt, err := asynq.ParseRedisURI(url)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, redis: ropt, redisURL: url, ch: &scripted{script: script}}
	e.client = dispatcher.NewClient(ropt, 2)
	t.Cleanup(func() { e.client.Close() })
	reg := channels.NewRegistry()
	if err := reg.Register(e.ch); err != nil {
		t.Fatal(err)
	}
	tpl, err := templates.New()
	if err != nil {
		t.Fatal(err)
	}
	e.sender = &dispatcher.Sender{Store: st, Channels: reg, Templates: tpl,
		Links: dispatcher.Links{Base: "https://nps.test", UnsubscribeMailto: "u@nps.test"}, Events: e.client, Logger: quiet()}
	ctx := context.Background()
	if err := st.CreateSurvey(ctx, &store.Survey{Key: "s", Kind: "nps", ProductName: "Acme", Channels: []string{"email"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpsertContact(ctx, &store.Contact{ExternalID: "c1", Email: "c1@example.com", Locale: "en"}); err != nil {
		t.Fatal(err)
	}
	return e
}

func quiet() *slog.Logger {
	if os.Getenv("NPSGATE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func (e *env) worker(notifier ...*dispatcher.Notifier) {
	e.t.Helper()
	var n *dispatcher.Notifier
	if len(notifier) > 0 {
		n = notifier[0]
	}
	w := dispatcher.NewWorker(e.redis, dispatcher.WorkerConfig{
		Concurrency: 4, RetryBaseDelay: 10 * time.Millisecond, PollInterval: 20 * time.Millisecond,
		ShutdownTimeout: 5 * time.Second, Logger: quiet(),
	}, e.sender, n, e.fanout())
	if err := w.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(w.Shutdown)
}

var seq int

func (e *env) delivery(enqueue bool) *store.Delivery {
	e.t.Helper()
	seq++
	d := &store.Delivery{
		ID: "d-" + time.Now().Format("150405.000000") + "-" + string(rune('a'+seq%26)), SurveyKey: "s", ContactID: "c1",
		Channel: "email", Address: "c1@example.com", Locale: "en", Token: "tok" + time.Now().Format("150405.000000000"),
		Status: store.StatusQueued, Source: "trigger", SendAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour),
	}
	if _, _, err := e.st.CreateDelivery(context.Background(), d); err != nil {
		e.t.Fatal(err)
	}
	if enqueue {
		if err := e.client.ScheduleDelivery(context.Background(), d); err != nil {
			e.t.Fatal(err)
		}
	}
	return d
}

func (e *env) wait(id string, want store.DeliveryStatus) *store.Delivery {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := e.st.GetDelivery(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		if d.Status == want {
			return d
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("delivery is %s (%s), want %s", d.Status, d.Reason, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSendOutcomes(t *testing.T) {
	tests := []struct {
		name     string
		script   []error
		want     store.DeliveryStatus
		reason   string
		calls    int
		optedOut bool
	}{
		{name: "sent", want: store.StatusSent, calls: 1},
		{name: "retryable then sent", script: []error{
			&channels.Error{Channel: "email", Kind: channels.Retryable, Code: "451", Message: "try later"},
		}, want: store.StatusSent, calls: 2},
		{name: "rate limited does not use up retries", script: []error{
			&channels.Error{Channel: "email", Kind: channels.RateLimited, RetryAfter: 10 * time.Millisecond},
			&channels.Error{Channel: "email", Kind: channels.RateLimited, RetryAfter: 10 * time.Millisecond},
			&channels.Error{Channel: "email", Kind: channels.RateLimited, RetryAfter: 10 * time.Millisecond},
			&channels.Error{Channel: "email", Kind: channels.RateLimited, RetryAfter: 10 * time.Millisecond},
		}, want: store.StatusSent, calls: 5},
		{name: "permanent fails with the provider's words", script: []error{
			&channels.Error{Channel: "email", Kind: channels.Permanent, Code: "550", Message: "no such user"},
		}, want: store.StatusFailed, reason: "550 no such user", calls: 1},
		{name: "retries spent", script: []error{
			&channels.Error{Channel: "email", Kind: channels.Retryable, Message: "down"},
			&channels.Error{Channel: "email", Kind: channels.Retryable, Message: "down"},
			&channels.Error{Channel: "email", Kind: channels.Retryable, Message: "down"},
		}, want: store.StatusFailed, reason: "gave up after 3 attempts: down", calls: 3},
		{name: "unclassified error is retried", script: []error{errors.New("boom")}, want: store.StatusSent, calls: 2},
		{name: "provider opt-out suppresses the contact", script: []error{
			&channels.Error{Channel: "email", Kind: channels.OptedOut, Code: "21610", Message: "unsubscribed recipient"},
		}, want: store.StatusSuppressed, reason: "opted_out", calls: 1, optedOut: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.script...)
			e.worker()
			d := e.delivery(true)
			got := e.wait(d.ID, tt.want)
			if tt.reason != "" && !contains(got.Reason, tt.reason) {
				t.Fatalf("reason %q, want %q", got.Reason, tt.reason)
			}
			time.Sleep(50 * time.Millisecond)
			if calls, _ := e.ch.count(); calls != tt.calls {
				t.Fatalf("%d provider calls, want %d", calls, tt.calls)
			}
			c, _ := e.st.GetContact(context.Background(), "c1")
			if (c.OptedOutAt != nil) != tt.optedOut {
				t.Fatalf("opted out: %v", c.OptedOutAt)
			}
			if tt.want == store.StatusSent && got.ProviderMessageID != "p-"+d.ID {
				t.Fatalf("provider id %q", got.ProviderMessageID)
			}
		})
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestOptedOutContactIsNeverSent(t *testing.T) {
	e := newEnv(t)
	if err := e.st.OptOutContact(context.Background(), "c1", "stop", time.Now()); err != nil {
		t.Fatal(err)
	}
	e.worker()
	d := e.wait(e.delivery(true).ID, store.StatusSuppressed)
	if d.Reason != "opted_out" {
		t.Fatalf("reason %q", d.Reason)
	}
	if calls, _ := e.ch.count(); calls != 0 {
		t.Fatal("an opted-out contact reached the provider")
	}
}

func TestSuppressedAddressIsNeverSent(t *testing.T) {
	e := newEnv(t)
	if err := e.st.AddSuppression(context.Background(), store.Suppression{Channel: "email", Address: "C1@Example.com", Reason: "bounce"}); err != nil {
		t.Fatal(err)
	}
	e.worker()
	d := e.wait(e.delivery(true).ID, store.StatusSuppressed)
	if !contains(d.Reason, "bounce") {
		t.Fatalf("reason %q", d.Reason)
	}
}

// TestEnqueueTwiceSendsOnce: the task ID is the delivery ID, so a replayed
// enqueue is a no-op, and the handler never sends a delivery that is no
// longer sendable.
func TestEnqueueTwiceSendsOnce(t *testing.T) {
	e := newEnv(t)
	d := e.delivery(true)
	for i := 0; i < 3; i++ {
		if err := e.client.ScheduleDelivery(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	e.worker()
	e.worker() // a second worker process on the same Redis
	e.wait(d.ID, store.StatusSent)
	// After the send the task is gone; an enqueue now must not resend.
	if err := e.client.ScheduleDelivery(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if calls, sent := e.ch.count(); calls != 1 || sent != 1 {
		t.Fatalf("%d calls, %d sent; want 1", calls, sent)
	}
}

// TestRecovererRequeuesLostDeliveries: a row written while Redis was
// unreachable has no task; the sweep queues it and it is sent.
func TestRecovererRequeuesLostDeliveries(t *testing.T) {
	e := newEnv(t)
	lost := e.delivery(false)
	future := e.delivery(false)
	if _, err := e.st.Transition(context.Background(), future.ID, []store.DeliveryStatus{store.StatusQueued}, store.StatusQueued,
		store.Update{SendAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	r := &dispatcher.Recoverer{Store: e.st, Client: e.client, Logger: quiet(), Grace: time.Nanosecond}
	if n := r.Sweep(context.Background()); n != 1 {
		t.Fatalf("swept %d, want 1 (the future one must wait)", n)
	}
	e.worker()
	e.wait(lost.ID, store.StatusSent)
	if n := r.Sweep(context.Background()); n != 0 {
		t.Fatalf("second sweep re-queued %d", n)
	}
}

// TestCrashWindowResends documents the one duplicate window: a delivery
// left in sending by a dead worker is sent again when its task is resumed
// (asynq's retry after the lease, or the recoverer); any other attempt
// leaves it to whoever is sending it.
func TestCrashWindowResends(t *testing.T) {
	e := newEnv(t)
	d := e.delivery(false)
	if _, err := e.st.Transition(context.Background(), d.ID, []store.DeliveryStatus{store.StatusQueued}, store.StatusSending, store.Update{}); err != nil {
		t.Fatal(err)
	}
	if err := e.sender.Send(context.Background(), dispatcher.SendDelivery{ID: d.ID}); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.st.GetDelivery(context.Background(), d.ID); got.Status != store.StatusSending || len(e.ch.sent) != 0 {
		t.Fatalf("a fresh attempt took a delivery another is sending: %s, %d sent", got.Status, len(e.ch.sent))
	}
	if err := e.sender.Send(context.Background(), dispatcher.SendDelivery{ID: d.ID, Resume: true}); err != nil {
		t.Fatal(err)
	}
	if got := e.wait(d.ID, store.StatusSent); got.Attempts != 2 {
		t.Fatalf("attempts %d, want 2", got.Attempts)
	}
}

func TestMissingDeliveryIsDropped(t *testing.T) {
	e := newEnv(t)
	if err := e.sender.Send(context.Background(), dispatcher.SendDelivery{ID: "nope"}); err != nil {
		t.Fatalf("a vanished delivery must not be retried: %v", err)
	}
}

func TestRenderedMessage(t *testing.T) {
	e := newEnv(t)
	d := e.delivery(false)
	if err := e.sender.Send(context.Background(), dispatcher.SendDelivery{ID: d.ID}); err != nil {
		t.Fatal(err)
	}
	m := e.ch.sent[0]
	if m.To != "c1@example.com" || m.ReplyURL != "https://nps.test/r/"+d.Token ||
		m.UnsubscribeURL != "https://nps.test/u/"+d.Token || !contains(m.UnsubscribeMailto, "mailto:u@nps.test") ||
		!contains(m.HTML, "https://nps.test/r/"+d.Token+"?score=10") || !contains(m.Subject, "Acme") {
		t.Fatalf("message %+v", m)
	}
}

// TestRenderedMessageGreetsTheContact: the default templates greet the
// contact by name, escaped in HTML, and say nothing when there is none.
func TestRenderedMessageGreetsTheContact(t *testing.T) {
	for _, tc := range []struct{ name, text, html string }{
		{"Ana", "Hi Ana", "Hi Ana"},
		{"Bo <Ops>", "Hi Bo <Ops>", "Hi Bo &lt;Ops&gt;"},
		{"", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if _, err := e.st.UpsertContact(context.Background(), &store.Contact{ExternalID: "c1", Name: tc.name,
				Email: "c1@example.com", Locale: "en"}); err != nil {
				t.Fatal(err)
			}
			d := e.delivery(false)
			if err := e.sender.Send(context.Background(), dispatcher.SendDelivery{ID: d.ID}); err != nil {
				t.Fatal(err)
			}
			m := e.ch.sent[0]
			if tc.name == "" {
				if contains(m.Text, "Hi ") || contains(m.HTML, "Hi ") {
					t.Fatalf("a greeting without a name: %q", m.Text)
				}
				return
			}
			if !contains(m.Text, tc.text) || !contains(m.HTML, tc.html) {
				t.Fatalf("text %q\nhtml %q", m.Text, m.HTML)
			}
		})
	}
}

// eventually waits for cond: a status is written just after the provider
// call or the receiver's answer that a test observes first.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
