package dispatcher_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/throttle"
)

// clockedGate is e.gate on the fake clock: the limiter, the sender and the
// gate's waits all read clk. Its Decisions metric is fresh.
func (e *env) clockedGate(clk *testenv.Clock, f func(g *dispatcher.Gate)) *dispatcher.Gate {
	e.t.Helper()
	opt, err := redis.ParseURL(e.redisURL)
	if err != nil {
		e.t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	e.t.Cleanup(func() { rdb.Close() })
	g := &dispatcher.Gate{Limiter: throttle.New(rdb, throttle.WithClock(clk.Now)), Transactional: 30 * 24 * time.Hour,
		Relationship: 90 * 24 * time.Hour, Duplicate: 12 * time.Hour, Rates: map[string]dispatcher.Rate{},
		Sleep: clk.Sleep, Decisions: newDecisions()}
	if f != nil {
		f(g)
	}
	e.sender.Gate = g
	e.sender.Now = clk.Now
	return g
}

// newDecisions is a fresh Decisions metric, as the gateway builds it.
func newDecisions() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "test_gate_decisions_total"}, []string{"decision", "reason"})
}

// gateChannel is a channel of any name that keeps what it sent, when (by the
// test's clock) and on which retry of its task; fail, when set, answers
// instead of sending when it returns an error.
type gateChannel struct {
	name string
	now  func() time.Time
	fail func(m *channels.Message) error

	mu    sync.Mutex
	calls int
	sent  []gateSent
}

type gateSent struct {
	msg     *channels.Message
	at      time.Time
	retried int
}

func (r *gateChannel) Name() string { return r.name }

func (r *gateChannel) Send(ctx context.Context, m *channels.Message) (channels.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.fail != nil {
		if err := r.fail(m); err != nil {
			return channels.Result{}, err
		}
	}
	retried, _ := asynq.GetRetryCount(ctx)
	r.sent = append(r.sent, gateSent{msg: m, at: r.now(), retried: retried})
	return channels.Result{ProviderID: "p-" + m.DeliveryID}, nil
}

func (r *gateChannel) list() []gateSent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]gateSent(nil), r.sent...)
}

// useChannel registers ch, replacing a channel of the same name.
func (e *env) gateUse(ch channels.Channel) {
	e.t.Helper()
	reg := channels.NewRegistry()
	for _, name := range e.sender.Channels.Names() {
		if name == ch.Name() {
			continue
		}
		old, _ := e.sender.Channels.Get(name)
		if err := reg.Register(old); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := reg.Register(ch); err != nil {
		e.t.Fatal(err)
	}
	e.sender.Channels = reg
}

// person saves a contact.
func (e *env) gatePerson(c store.Contact) {
	e.t.Helper()
	if _, err := e.st.UpsertContact(context.Background(), &c); err != nil {
		e.t.Fatal(err)
	}
}

// survey saves a delivery of contact on channel to address, queued now,
// after f changes it.
func (e *env) gateSurvey(contact, channel, address string, f func(d *store.Delivery)) *store.Delivery {
	e.t.Helper()
	seq++
	now := time.Now()
	d := &store.Delivery{ID: fmt.Sprintf("gc-%s-%d", contact, seq), SurveyKey: "s", ContactID: contact, Channel: channel,
		Address: address, Locale: "en", Token: dispatcher.NewToken(), Status: store.StatusQueued, Source: "trigger",
		SendAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	if f != nil {
		f(d)
	}
	if _, _, err := e.st.CreateDelivery(context.Background(), d); err != nil {
		e.t.Fatal(err)
	}
	return d
}

// send runs the pipeline for d and returns what became of it, and the
// handler's error.
func (e *env) gateSend(d *store.Delivery) (*store.Delivery, error) {
	e.t.Helper()
	ctx := context.Background()
	err := e.sender.Send(ctx, dispatcher.SendDelivery{ID: d.ID})
	got, gerr := e.st.GetDelivery(ctx, d.ID)
	if gerr != nil {
		e.t.Fatal(gerr)
	}
	return got, err
}

// mustStatus sends d and fails the test unless it ends in want.
func (e *env) gateMust(d *store.Delivery, want store.DeliveryStatus) *store.Delivery {
	e.t.Helper()
	got, err := e.gateSend(d)
	if got.Status != want {
		e.t.Fatalf("delivery %s: %s %q (err %v), want %s", d.ID, got.Status, got.Reason, err, want)
	}
	return got
}

// counted reads the gate's Decisions counter for a decision and reason.
// (prometheus/testutil would need a module this one does not require.)
func gateCounted(t *testing.T, g *dispatcher.Gate, decision, reason string) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Decisions.WithLabelValues(decision, reason).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// series counts the label pairs the gate's Decisions counter has seen.
func gateSeries(g *dispatcher.Gate) int {
	ch := make(chan prometheus.Metric, 100)
	g.Decisions.Collect(ch)
	close(ch)
	return len(ch)
}
