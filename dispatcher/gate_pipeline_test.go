package dispatcher_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
)

// rateRun queues n surveys through the worker (slots sends at a time) on
// a bucket of rate a second, burst 1, and returns what the channel got
// once every delivery is sent, checking that none failed or was deferred
// and that no send was a retry of its task: waiting for a token is not a
// retry.
func rateRun(t *testing.T, e *env, g *dispatcher.Gate, ch *gateChannel, n, slots int) []gateSent {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("rate-%03d", i)
		e.gatePerson(store.Contact{ExternalID: id, Email: id + "@example.com"})
		if err := e.client.ScheduleDelivery(ctx, e.gateSurvey(id, "email", id+"@example.com", nil)); err != nil {
			t.Fatal(err)
		}
	}
	w := dispatcher.NewWorker(e.redis, dispatcher.WorkerConfig{
		Concurrency: slots, RetryBaseDelay: 10 * time.Millisecond, PollInterval: 20 * time.Millisecond,
		ShutdownTimeout: 5 * time.Second, Logger: quiet(),
	}, e.sender, nil, e.fanout())
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Shutdown)
	deadline := time.Now().Add(30 * time.Second)
	var counts map[store.DeliveryStatus]int
	for {
		var err error
		if counts, err = e.st.DeliveryCounts(ctx, "s", time.Time{}, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if counts[store.StatusSent] == n || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if counts[store.StatusSent] != n || len(counts) != 1 {
		t.Fatalf("deliveries %v, want all %d sent", counts, n)
	}
	sent := ch.list()
	if len(sent) != n {
		t.Fatalf("%d messages reached the channel, want %d", len(sent), n)
	}
	for _, m := range sent {
		if m.retried != 0 {
			t.Fatalf("%s went on retry %d of its task", m.msg.DeliveryID, m.retried)
		}
	}
	if d := gateCounted(t, g, "deferred", "rate_limit"); slots == 1 && d != 0 {
		// With several slots, one that keeps losing the race for the next
		// token may use up its MaxWait and go through the queue: that
		// costs it a second, not the others their rate.
		t.Errorf("%v deferrals through the queue: short waits belong in the worker", d)
	}
	return sent
}

// TestRateLimitPacesThePipeline is the issue's "100 messages at 10 a
// second take about 10 seconds and none fails", on the limiter's fake
// clock: each send after the first waits one step for its token, so the
// 40 sends span exactly 39 steps of the limiter's time.
//
// The step is 8s, not a realistic 50ms, because the bucket's key expires
// in Redis's real time (PX = the fake time until it is full again): at
// 50ms a loaded machine that took longer than that between two sends saw
// the key gone, a full bucket, and a send with no wait. Eight real seconds
// between two sends of one slot would be a failure of its own.
func TestRateLimitPacesThePipeline(t *testing.T) {
	const n, rate = 40, 0.125 // exact in binary, so the step is exactly 8s
	e := newEnv(t)
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	clk := testenv.NewClock(t0)
	ch := &gateChannel{name: "email", now: clk.Now}
	e.gateUse(ch)
	g := e.clockedGate(clk, func(g *dispatcher.Gate) {
		g.Rates["email"] = dispatcher.Rate{PerSecond: rate, Burst: 1}
		g.MaxWait = time.Minute // each wait is spent in the worker, as 50ms waits are by default
	})
	// One slot: the fake clock moves only by the waits of one send at a
	// time, so the span is exact.
	sent := rateRun(t, e, g, ch, n, 1)
	step := time.Duration(float64(time.Second) / rate)
	for i := 1; i < n; i++ {
		if gap := sent[i].at.Sub(sent[i-1].at); gap != step {
			t.Fatalf("send %d came %v after the one before, want %v", i, gap, step)
		}
	}
	if span := sent[n-1].at.Sub(sent[0].at); span != time.Duration(n-1)*step {
		t.Fatalf("%d sends spanned %v, want %v", n, span, time.Duration(n-1)*step)
	}
}

// TestRateLimitPacesThePipelineWallClock is the same on the real clock
// with four slots sharing the bucket: about two seconds, not the twenty
// that deferring each wait through the queue (whose retries come in whole
// seconds) took.
func TestRateLimitPacesThePipelineWallClock(t *testing.T) {
	const n, rate = 40, 20.0
	e := newEnv(t)
	ch := &gateChannel{name: "email", now: time.Now}
	e.gateUse(ch)
	g := e.gate(func(g *dispatcher.Gate) {
		g.Rates["email"] = dispatcher.Rate{PerSecond: rate, Burst: 1}
		g.Decisions = newDecisions()
	})
	sent := rateRun(t, e, g, ch, n, 4)
	first, last := sent[0].at, sent[0].at
	for _, m := range sent {
		if m.at.Before(first) {
			first = m.at
		}
		if m.at.After(last) {
			last = m.at
		}
	}
	ideal := time.Duration(float64(n-1) / rate * float64(time.Second))
	span := last.Sub(first)
	t.Logf("RESULT %d sends at %v/s on 4 slots: %v (ideal %v)", n, rate, span.Round(time.Millisecond), ideal)
	if span < ideal-100*time.Millisecond {
		t.Fatalf("%d sends at %v/s spanned %v: faster than the rate", n, rate, span)
	}
	if span > 2*ideal+time.Second {
		t.Fatalf("%d sends at %v/s spanned %v, want about %v", n, rate, span, ideal)
	}
}
