package throttle_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/npsgate/npsgate/throttle"
)

// TestTakePaced takes 100 tokens at 10/s, burst 1, as a caller would: take,
// and when told to wait, wait (on the fake clock) and take again. The first
// token is there at once and each other one 100ms after the one before, so
// the caller waits 99 × 100ms = 9.9s in all, and no take is refused twice.
func TestTakePaced(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	var total time.Duration
	for i := range 100 {
		wait, err := e.lim.Take(ctx, "sms:+15550100", 10, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		if wait > 0 {
			total += wait
			e.clock.Advance(wait)
			again, err := e.lim.Take(ctx, "sms:+15550100", 10, 1, 1)
			if err != nil || again != 0 {
				t.Fatalf("take %d after waiting %v: wait %v, err %v", i, wait, again, err)
			}
		}
	}
	if total != 9900*time.Millisecond {
		t.Fatalf("waited %v in all, want 9.9s", total)
	}
}

func TestTake(t *testing.T) {
	type step struct {
		advance  time.Duration
		cost     float64
		wantWait time.Duration
	}
	cases := []struct {
		name        string
		rate, burst float64
		steps       []step
	}{
		{"a full bucket gives burst at once, then one per 1/rate", 1, 5, []step{
			{0, 1, 0}, {0, 1, 0}, {0, 1, 0}, {0, 1, 0}, {0, 1, 0},
			{0, 1, time.Second},
			{400 * time.Millisecond, 1, 600 * time.Millisecond},
			{600 * time.Millisecond, 1, 0},
			{0, 1, time.Second},
		}},
		{"refill is proportional to the time passed", 1, 5, []step{
			{0, 5, 0},
			{2500 * time.Millisecond, 1, 0},
			{0, 1, 0},
			{0, 1, 500 * time.Millisecond},
		}},
		{"refill stops at burst", 1, 5, []step{
			{0, 5, 0},
			{time.Hour, 5, 0},
			{0, 1, time.Second},
		}},
		{"a refused take takes nothing", 2, 10, []step{
			{0, 10, 0},
			{0, 4, 2 * time.Second},
			{0, 4, 2 * time.Second},
			{time.Second, 4, time.Second},
			{time.Second, 4, 0},
			{0, 1, 500 * time.Millisecond},
		}},
		{"20 per minute", 20.0 / 60, 1, []step{
			{0, 1, 0},
			{0, 1, 3 * time.Second},
			{3 * time.Second, 1, 0},
		}},
		{"fractional cost", 4, 2, []step{
			{0, 1.5, 0},
			{0, 1, 125 * time.Millisecond},
			{125 * time.Millisecond, 1, 0},
		}},
		{"cost equal to burst", 10, 3, []step{
			{0, 3, 0},
			{0, 3, 300 * time.Millisecond},
			{300 * time.Millisecond, 3, 0},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t)
			ctx := context.Background()
			for i, s := range tc.steps {
				e.clock.Advance(s.advance)
				wait, err := e.lim.Take(ctx, "bucket", tc.rate, tc.burst, s.cost)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if wait != s.wantWait {
					t.Fatalf("step %d: take %v = wait %v, want %v", i, s.cost, wait, s.wantWait)
				}
			}
			// Another bucket is independent.
			if wait, err := e.lim.Take(ctx, "bucket2", tc.rate, tc.burst, tc.burst); err != nil || wait != 0 {
				t.Fatalf("other bucket: wait %v, err %v", wait, err)
			}
		})
	}
}

func TestTakeCostExceedsBurst(t *testing.T) {
	e := setup(t)
	_, err := e.lim.Take(context.Background(), "bucket", 10, 2, 3)
	if !errors.Is(err, throttle.ErrCostExceedsBurst) {
		t.Fatalf("err %v, want ErrCostExceedsBurst", err)
	}
}

// TestBucketKeyOutlivesFull: a bucket's key lives a second past the moment
// it is full again, so a caller whose clock runs a little behind Redis's
// (or a test's fake clock, while real time passes) does not find it gone
// and take a fresh burst. At 10 a second the bucket is full again 100ms
// after a take; its key used to expire right then.
func TestBucketKeyOutlivesFull(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	for _, step := range []struct {
		name string
		do   func() error
		full time.Duration // fake time until the bucket's state stops mattering
	}{
		{"take", func() error { _, err := e.lim.Take(ctx, "b", 10, 1, 1); return err }, 100 * time.Millisecond},
		{"block", func() error { return e.lim.Block(ctx, "b", e.clock.Now().Add(2*time.Second)) }, 2 * time.Second},
	} {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		ks := keys(t, e.rdb)
		if len(ks) != 1 {
			t.Fatalf("%s: keys %v, want the bucket's", step.name, ks)
		}
		ttl, err := e.rdb.PTTL(ctx, ks[0]).Result()
		if err != nil {
			t.Fatal(err)
		}
		if min, max := step.full+900*time.Millisecond, step.full+time.Second; ttl <= min || ttl > max {
			t.Fatalf("%s: the key expires in %v, want a second after the bucket is full (%v)", step.name, ttl, step.full+time.Second)
		}
	}
	// The slack changes no decision: the bucket is full at 100ms as before.
	e.clock.Advance(2 * time.Second)
	if wait, err := e.lim.Take(ctx, "b", 10, 1, 1); err != nil || wait != 0 {
		t.Fatalf("after the block: wait %v, err %v", wait, err)
	}
	if wait, err := e.lim.Take(ctx, "b", 10, 1, 1); err != nil || wait != 100*time.Millisecond {
		t.Fatalf("second take: wait %v, err %v, want 100ms", wait, err)
	}
}
