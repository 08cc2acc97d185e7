package throttle_test

import (
	"context"
	"testing"
	"time"

	"github.com/npsgate/npsgate/throttle"
)

func TestClaimAccount(t *testing.T) {
	const w = time.Hour
	type step struct {
		at       time.Duration
		delivery string
		n        int
		release  bool
		wantOK   bool
		wantAt   time.Duration // until is start+wantAt
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"n per sliding window, then refused until the oldest leaves", []step{
			{at: 0, delivery: "d1", n: 3, wantOK: true, wantAt: w},
			{at: 10 * time.Minute, delivery: "d2", n: 3, wantOK: true, wantAt: w + 10*time.Minute},
			{at: 20 * time.Minute, delivery: "d3", n: 3, wantOK: true, wantAt: w + 20*time.Minute},
			{at: 30 * time.Minute, delivery: "d4", n: 3, wantOK: false, wantAt: w},
			{at: w - time.Millisecond, delivery: "d4", n: 3, wantOK: false, wantAt: w},
			{at: w, delivery: "d4", n: 3, wantOK: true, wantAt: 2 * w},
			{at: w, delivery: "d5", n: 3, wantOK: false, wantAt: w + 10*time.Minute},
			{at: w + 10*time.Minute, delivery: "d5", n: 3, wantOK: true, wantAt: 2*w + 10*time.Minute},
		}},
		{"retry by the same delivery is idempotent", []step{
			{at: 0, delivery: "d1", n: 2, wantOK: true, wantAt: w},
			{at: time.Minute, delivery: "d1", n: 2, wantOK: true, wantAt: w},
			{at: 2 * time.Minute, delivery: "d2", n: 2, wantOK: true, wantAt: w + 2*time.Minute},
			{at: 3 * time.Minute, delivery: "d2", n: 2, wantOK: true, wantAt: w + 2*time.Minute},
			{at: 3 * time.Minute, delivery: "d1", n: 2, wantOK: true, wantAt: w},
			{at: 3 * time.Minute, delivery: "d3", n: 2, wantOK: false, wantAt: w},
		}},
		{"release gives the slot back", []step{
			{at: 0, delivery: "d1", n: 1, wantOK: true, wantAt: w},
			{at: time.Minute, delivery: "d2", n: 1, wantOK: false, wantAt: w},
			{at: time.Minute, delivery: "d2", release: true}, // not held: nothing
			{at: time.Minute, delivery: "d2", n: 1, wantOK: false, wantAt: w},
			{at: time.Minute, delivery: "d1", release: true},
			{at: time.Minute, delivery: "d2", n: 1, wantOK: true, wantAt: w + time.Minute},
		}},
		{"a lower cap waits for enough claims to leave", []step{
			{at: 0, delivery: "d1", n: 3, wantOK: true, wantAt: w},
			{at: time.Minute, delivery: "d2", n: 3, wantOK: true, wantAt: w + time.Minute},
			{at: 2 * time.Minute, delivery: "d3", n: 3, wantOK: true, wantAt: w + 2*time.Minute},
			{at: 3 * time.Minute, delivery: "d4", n: 1, wantOK: false, wantAt: w + 2*time.Minute},
			{at: 3 * time.Minute, delivery: "d4", n: 2, wantOK: false, wantAt: w + time.Minute},
			{at: w + time.Minute, delivery: "d4", n: 2, wantOK: true, wantAt: 2*w + time.Minute},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t)
			ctx := context.Background()
			for i, s := range tc.steps {
				e.clock.Set(s.at)
				if s.release {
					if err := e.lim.ReleaseAccount(ctx, "acme:eu", s.delivery); err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
					continue
				}
				ok, until, err := e.lim.ClaimAccount(ctx, "acme:eu", s.delivery, s.n, w)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if ok != s.wantOK || !until.Equal(at(s.wantAt)) {
					t.Fatalf("step %d: claim %s at +%v = %v, until +%v; want %v, +%v",
						i, s.delivery, s.at, ok, until.Sub(start), s.wantOK, s.wantAt)
				}
			}
			// Another account is independent.
			if ok, _, err := e.lim.ClaimAccount(ctx, "acme", "other", 1, w); err != nil || !ok {
				t.Fatalf("other account: %v, %v", ok, err)
			}
		})
	}
}

// TestClaimAccountRoundClock runs at a time whose score a server prints in
// exponent form ("1e+12"), which gopher-lua's tonumber does not read.
func TestClaimAccountRoundClock(t *testing.T) {
	e := setup(t)
	clock := newFakeClock(time.UnixMilli(1e12))
	lim := throttle.New(e.rdb, throttle.WithClock(clock.Now))
	ctx := context.Background()
	ok, until, err := lim.ClaimAccount(ctx, "acme", "d1", 1, time.Hour)
	if err != nil || !ok {
		t.Fatalf("first claim: %v, %v", ok, err)
	}
	ok, until2, err := lim.ClaimAccount(ctx, "acme", "d2", 1, time.Hour)
	if err != nil || ok || !until2.Equal(until) {
		t.Fatalf("second claim = %v, %v, %v; want false, %v", ok, until2, err, until)
	}
	if ok, until3, err := lim.ClaimAccount(ctx, "acme", "d1", 1, time.Hour); err != nil || !ok || !until3.Equal(until) {
		t.Fatalf("retry = %v, %v, %v; want true, %v", ok, until3, err, until)
	}
}
