package dispatcher_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
)

// metricValue is testenv.MetricValue: one series of a gathered metric,
// picked by label pairs.
func metricValue(t *testing.T, g prometheus.Gatherer, name string, labels ...string) (v float64, ok bool) {
	t.Helper()
	return testenv.MetricValue(t, g, name, labels...)
}

// counted is metricValue with no series read as zero.
func counted(t *testing.T, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	v, _ := metricValue(t, g, name, labels...)
	return v
}

// withMetrics gives the env's sender (and notifier n, if any) metrics on
// a registry of their own.
func (e *env) withMetrics(n ...*dispatcher.Notifier) *prometheus.Registry {
	reg := prometheus.NewPedanticRegistry()
	m := dispatcher.NewMetrics(reg)
	e.sender.Metrics = m
	for _, x := range n {
		x.Metrics = m
	}
	return reg
}

var deliveryOutcomes = []store.DeliveryStatus{store.StatusSent, store.StatusFailed, store.StatusQueued,
	store.StatusDeferred, store.StatusSuppressed}

// wantDeliveries waits for the counts of npsgate_deliveries_total{channel=
// "email"} to be want (absent outcomes: zero), then checks they stay so.
func wantDeliveries(t *testing.T, reg prometheus.Gatherer, want map[store.DeliveryStatus]float64) {
	t.Helper()
	match := func() bool {
		for _, o := range deliveryOutcomes {
			if counted(t, reg, "npsgate_deliveries_total", "channel", "email", "outcome", string(o)) != want[o] {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(10 * time.Second); !match(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			break
		}
	}
	time.Sleep(50 * time.Millisecond) // nothing may be counted twice afterwards
	for _, o := range deliveryOutcomes {
		if got := counted(t, reg, "npsgate_deliveries_total", "channel", "email", "outcome", string(o)); got != want[o] {
			t.Errorf("npsgate_deliveries_total{email,%s} = %v, want %v", o, got, want[o])
		}
	}
}

func TestDeliveryMetrics(t *testing.T) {
	retryable := &channels.Error{Channel: "email", Kind: channels.Retryable, Code: "451", Message: "try later"}
	tests := []struct {
		name   string
		script []error
		final  store.DeliveryStatus
		want   map[store.DeliveryStatus]float64
		calls  float64
		errors map[string]float64 // by kind
	}{
		{name: "sent", final: store.StatusSent, calls: 1,
			want: map[store.DeliveryStatus]float64{store.StatusSent: 1}},
		{name: "permanent failure", script: []error{
			&channels.Error{Channel: "email", Kind: channels.Permanent, Code: "550", Message: "no such user"},
		}, final: store.StatusFailed, calls: 1,
			want:   map[store.DeliveryStatus]float64{store.StatusFailed: 1},
			errors: map[string]float64{"permanent": 1}},
		{name: "retryable then sent", script: []error{retryable}, final: store.StatusSent, calls: 2,
			want:   map[store.DeliveryStatus]float64{store.StatusQueued: 1, store.StatusSent: 1},
			errors: map[string]float64{"retryable": 1}},
		{name: "retries spent", script: []error{retryable, retryable, retryable}, final: store.StatusFailed, calls: 3,
			want:   map[store.DeliveryStatus]float64{store.StatusQueued: 2, store.StatusFailed: 1},
			errors: map[string]float64{"retryable": 3}},
		{name: "rate limited then sent", script: []error{
			&channels.Error{Channel: "email", Kind: channels.RateLimited, RetryAfter: 10 * time.Millisecond},
		}, final: store.StatusSent, calls: 2,
			want:   map[store.DeliveryStatus]float64{store.StatusDeferred: 1, store.StatusSent: 1},
			errors: map[string]float64{"rate_limited": 1}},
		{name: "provider opt-out", script: []error{
			&channels.Error{Channel: "email", Kind: channels.OptedOut, Code: "21610", Message: "unsubscribed recipient"},
		}, final: store.StatusSuppressed, calls: 1,
			want:   map[store.DeliveryStatus]float64{store.StatusSuppressed: 1},
			errors: map[string]float64{"opted_out": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.script...)
			reg := e.withMetrics()
			e.worker()
			d := e.delivery(true)
			e.wait(d.ID, tt.final)
			wantDeliveries(t, reg, tt.want)
			if got := counted(t, reg, "npsgate_provider_send_seconds", "channel", "email"); got != tt.calls {
				t.Errorf("provider calls timed: %v, want %v", got, tt.calls)
			}
			for _, kind := range []string{"retryable", "rate_limited", "permanent", "opted_out"} {
				if got := counted(t, reg, "npsgate_provider_errors_total", "channel", "email", "kind", kind); got != tt.errors[kind] {
					t.Errorf("npsgate_provider_errors_total{email,%s} = %v, want %v", kind, got, tt.errors[kind])
				}
			}
		})
	}
}

// A held-back delivery is counted once by the move that holds it back,
// with no provider call.
func TestDeliveryMetricsOptedOutContact(t *testing.T) {
	e := newEnv(t)
	reg := e.withMetrics()
	if err := e.st.OptOutContact(context.Background(), "c1", "stop", time.Now()); err != nil {
		t.Fatal(err)
	}
	d := e.delivery(false)
	for range 2 { // a replayed task changes nothing and counts nothing
		if err := e.sender.Send(context.Background(), dispatcher.SendDelivery{ID: d.ID}); err != nil {
			t.Fatal(err)
		}
	}
	wantDeliveries(t, reg, map[store.DeliveryStatus]float64{store.StatusSuppressed: 1})
	if _, ok := metricValue(t, reg, "npsgate_provider_send_seconds", "channel", "email"); ok {
		t.Error("a provider call was timed for a delivery that made none")
	}
}

// A batch counts each of its deliveries: the sent ones, the held-back one,
// and the one that goes on alone after a retryable error.
func TestDeliveryMetricsBatch(t *testing.T) {
	e := newEnv(t, &channels.Error{Channel: "email", Kind: channels.Retryable, Message: "busy"})
	reg := e.withMetrics()
	ds := e.batchOf(4, 1)
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	if err := e.sender.SendBatch(context.Background(), dispatcher.SendBatch{IDs: ids}); err != nil {
		t.Fatal(err)
	}
	wantDeliveries(t, reg, map[store.DeliveryStatus]float64{
		store.StatusSuppressed: 1, store.StatusQueued: 1, store.StatusSent: 2})
	if got := counted(t, reg, "npsgate_provider_send_seconds", "channel", "email"); got != 3 {
		t.Errorf("provider calls timed: %v, want 3", got)
	}
}

func TestAlertMetrics(t *testing.T) {
	for _, tc := range []struct {
		name    string
		script  []error
		status  store.AlertStatus
		outcome string
	}{
		{"sent", nil, store.AlertSent, "sent"},
		{"permanent failure", []error{&channels.Error{Channel: "email", Kind: channels.Permanent, Code: "550", Message: "no such user"}},
			store.AlertFailed, "failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.script...)
			e.withAlertTarget()
			n := e.notifier()
			reg := e.withMetrics(n)
			e.worker(n)
			r := e.respond(2, "slow")
			if err := n.Notify(context.Background(), dispatcher.NotifyResponse{ResponseID: r.ID, Event: dispatcher.EventResponseCreated}); err != nil {
				t.Fatal(err)
			}
			e.waitAlert(r.ID, tc.status)
			eventually(t, "the alert counted", func() bool {
				return counted(t, reg, "npsgate_alerts_total", "channel", "email", "outcome", tc.outcome) == 1
			})
			time.Sleep(50 * time.Millisecond)
			for _, o := range []string{"sent", "failed", "retry", "rate_limited"} {
				want := 0.0
				if o == tc.outcome {
					want = 1
				}
				if got := counted(t, reg, "npsgate_alerts_total", "channel", "email", "outcome", o); got != want {
					t.Errorf("npsgate_alerts_total{email,%s} = %v, want %v", o, got, want)
				}
			}
			if got := counted(t, reg, "npsgate_provider_send_seconds", "channel", "email"); got != 1 {
				t.Errorf("alert provider calls timed: %v, want 1", got)
			}
		})
	}
}

func TestWebhookMetrics(t *testing.T) {
	e := newEnv(t)
	n := e.notifier()
	reg := e.withMetrics(n)
	rc := newReceiver(t, secret, 500)
	ctx := context.Background()
	if err := e.st.CreateWebhook(ctx, &store.WebhookSubscription{ID: "w1", URL: rc.srv.URL, Secret: secret,
		Events: []string{"*"}, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	// Every outcome is exported before the first post.
	if _, ok := metricValue(t, reg, "npsgate_webhook_posts_total", "outcome", "failed"); !ok {
		t.Error("npsgate_webhook_posts_total{failed} is not exported before it happens")
	}
	e.worker(n)
	if err := e.client.Emit(ctx, dispatcher.EventContactOptedOut, dispatcher.OptedOutData{ContactID: "c1", Channel: "sms", Reason: "stop"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the event delivered", func() bool {
		list, _ := e.st.ListWebhookEvents(ctx, "w1", 1)
		return len(list) == 1 && list[0].Status == "succeeded"
	})
	time.Sleep(50 * time.Millisecond)
	for outcome, want := range map[string]float64{"retry": 1, "succeeded": 1, "failed": 0} {
		if got := counted(t, reg, "npsgate_webhook_posts_total", "outcome", outcome); got != want {
			t.Errorf("npsgate_webhook_posts_total{%s} = %v, want %v", outcome, got, want)
		}
	}
}

func TestQueueCollector(t *testing.T) {
	url := testenv.RedisURL(t, testenv.RedisDBDispatcher)
	ropt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(ropt)
	t.Cleanup(func() { rdb.Close() })
	aopt, err := asynq.ParseRedisURI(url)
	if err != nil {
		t.Fatal(err)
	}
	client := dispatcher.NewClient(aopt, 3)
	t.Cleanup(func() { client.Close() })
	ctx := context.Background()
	now := time.Now()
	for i, d := range []*store.Delivery{
		{ID: "q-1", Channel: "email", SendAt: now},
		{ID: "q-2", Channel: "email", SendAt: now},
		{ID: "q-3", Channel: "sms", SendAt: now.Add(time.Hour)},
	} {
		if err := client.ScheduleDelivery(ctx, d); err != nil {
			t.Fatalf("enqueue %d: %v", i, err)
		}
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(dispatcher.NewQueueCollector(rdb))
	for _, c := range []struct {
		queue, state string
		want         float64
	}{
		{"deliveries:email", "pending", 2},
		{"deliveries:email", "scheduled", 0},
		{"deliveries:sms", "scheduled", 1},
		{"deliveries:sms", "pending", 0},
		{"alerts", "pending", 0}, // never used: reported empty, not missing
		{"webhooks", "archived", 0},
	} {
		got, ok := metricValue(t, reg, "npsgate_queue_tasks", "queue", c.queue, "state", c.state)
		if !ok || got != c.want {
			t.Errorf("npsgate_queue_tasks{%s,%s} = %v (present %v), want %v", c.queue, c.state, got, ok, c.want)
		}
	}
	if lat, ok := metricValue(t, reg, "npsgate_queue_latency_seconds", "queue", "deliveries:email"); !ok || lat < 0 {
		t.Errorf("latency of deliveries:email: %v (present %v)", lat, ok)
	}
	if got := counted(t, reg, "npsgate_queue_scrape_errors_total"); got != 0 {
		t.Errorf("scrape errors with Redis up: %v", got)
	}
	// Every known queue is reported, and only those.
	families, _ := reg.Gather()
	queues := map[string]bool{}
	for _, f := range families {
		if f.GetName() == "npsgate_queue_tasks" {
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "queue" {
						queues[l.GetValue()] = true
					}
				}
			}
		}
	}
	if len(queues) != len(dispatcher.Queues()) {
		t.Errorf("queues reported %v, want %v", queues, dispatcher.Queues())
	}
}

// With Redis gone a scrape still succeeds: the queues are left out and the
// failure is counted.
func TestQueueCollectorRedisDown(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(dispatcher.NewQueueCollector(rdb))
	if _, ok := metricValue(t, reg, "npsgate_queue_tasks", "queue", "alerts", "state", "pending"); !ok {
		t.Fatal("no queue depth with Redis up")
	}
	mr.Close()
	for i := 1; i <= 2; i++ {
		if _, err := reg.Gather(); err != nil {
			t.Fatalf("scrape %d failed with Redis down: %v", i, err)
		}
	}
	if _, ok := metricValue(t, reg, "npsgate_queue_tasks", "queue", "alerts", "state", "pending"); ok {
		t.Error("a queue depth reported with Redis down")
	}
	if got := counted(t, reg, "npsgate_queue_scrape_errors_total"); got < 3 {
		t.Errorf("npsgate_queue_scrape_errors_total = %v, want one per failed scrape (3)", got)
	}
}

// A Redis that takes connections and never answers must not hang a
// scrape: it ends at the collector's timeout, and scrapes while that read
// still waits start no other.
func TestQueueCollectorRedisHangs(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn // held open, never answered
	)
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	rdb := redis.NewClient(&redis.Options{Addr: l.Addr().String(), MaxRetries: -1, ReadTimeout: 2 * time.Second})
	t.Cleanup(func() { rdb.Close() })
	qc := dispatcher.NewQueueCollector(rdb)
	qc.Timeout = 100 * time.Millisecond
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(qc)
	start := time.Now()
	for range 3 {
		if _, err := reg.Gather(); err != nil {
			t.Fatalf("scrape failed: %v", err)
		}
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("three scrapes took %v with a 100ms timeout", took)
	}
	if got := counted(t, reg, "npsgate_queue_scrape_errors_total"); got < 3 {
		t.Errorf("npsgate_queue_scrape_errors_total = %v, want at least 3", got)
	}
	if _, ok := metricValue(t, reg, "npsgate_queue_tasks", "queue", "alerts", "state", "pending"); ok {
		t.Error("a queue depth reported from a Redis that never answered")
	}
}
