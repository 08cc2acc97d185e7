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
