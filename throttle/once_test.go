package throttle_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/npsgate/npsgate/throttle"
)

const keep = 10 * time.Minute

// TestClaimOnceAcrossBoundary: an id seen 1ms before a multiple of keep
// since the epoch is still remembered 1ms after it. A counter on aligned
// windows (Allow) forgets everything at the boundary, which let a replay
// through 2ms after the first request.
func TestClaimOnceAcrossBoundary(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	boundary := start.Truncate(keep).Add(keep)
	e.clock.Set(boundary.Add(-time.Millisecond).Sub(start))
	ok, _, err := e.lim.ClaimOnce(ctx, "trigger-id:msg_1", "req-1", keep)
	if err != nil || !ok {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	if err := e.lim.SettleOnce(ctx, "trigger-id:msg_1", "req-1", "delivery-1"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Millisecond)
	ok, seen, err := e.lim.ClaimOnce(ctx, "trigger-id:msg_1", "req-2", keep)
	if err != nil || ok {
		t.Fatalf("replay 2ms later, across the boundary: ok=%v err=%v", ok, err)
	}
	if seen.Outcome != "delivery-1" {
		t.Fatalf("replay told %+v, want the first request's outcome", seen)
	}
}

func TestClaimOnce(t *testing.T) {
	const id = "trigger-id:msg_1"
	type step struct {
		at          time.Duration // since start
		op          string        // claim, settle, release
		owner       string
		outcome     string
		wantOK      bool
		wantOutcome string
		wantUntil   time.Duration // since start; 0: not checked
		wantErr     error
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"remembered for keep from the claim, then forgotten", []step{
			{0, "claim", "a", "", true, "", keep, nil},
			{time.Minute, "settle", "a", "d1", true, "", 0, nil},
			{keep, "claim", "b", "", false, "d1", 2 * keep, nil}, // settled at 1m: kept until 11m; seen: until 20m
			{2*keep + time.Millisecond, "claim", "c", "", true, "", 3*keep + time.Millisecond, nil},
		}},
		{"the holder's own claim is idempotent", []step{
			{0, "claim", "a", "", true, "", keep, nil},
			{time.Second, "claim", "a", "", true, "", keep, nil},
		}},
		{"others see the outcome once settled, nothing before", []step{
			{0, "claim", "a", "", true, "", keep, nil},
			{time.Second, "claim", "b", "", false, "", keep, nil},
			{2 * time.Second, "settle", "a", "d1", true, "", 0, nil},
			{3 * time.Second, "claim", "b", "", false, "d1", 3*time.Second + keep, nil},
		}},
		{"a settled key seen again is kept for keep from then", []step{
			{0, "claim", "a", "", true, "", keep, nil},
			{0, "settle", "a", "d1", true, "", 0, nil},
			{9 * time.Minute, "claim", "b", "", false, "d1", 9*time.Minute + keep, nil},
			{15 * time.Minute, "claim", "c", "", false, "d1", 15*time.Minute + keep, nil},
			{25*time.Minute + time.Millisecond, "claim", "d", "", true, "", 25*time.Minute + time.Millisecond + keep, nil},
		}},
		{"a claim at work is not kept alive by others: a dead holder frees it after keep", []step{
			{0, "claim", "a", "", true, "", keep, nil},
			{9 * time.Minute, "claim", "b", "", false, "", keep, nil},
			{keep, "claim", "b", "", true, "", 2 * keep, nil},
			{keep, "settle", "a", "d1", false, "", 0, throttle.ErrNotHeld},
		}},
		{"a released claim starts afresh", []step{
			{0, "claim", "a", "", true, "", keep, nil},
			{time.Second, "release", "a", "", true, "", 0, nil},
			{2 * time.Second, "claim", "b", "", true, "", 2*time.Second + keep, nil},
			{3 * time.Second, "release", "a", "", true, "", 0, nil}, // not a's any more: nothing
			{4 * time.Second, "claim", "c", "", false, "", 2*time.Second + keep, nil},
		}},
		{"only the holder settles", []step{
			{0, "claim", "a", "", true, "", keep, nil},
			{0, "settle", "b", "d2", false, "", 0, throttle.ErrNotHeld},
			{0, "claim", "c", "", false, "", keep, nil},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t)
			ctx := context.Background()
			for i, s := range tc.steps {
				e.clock.Set(s.at)
				var (
					ok   = true
					seen throttle.Once
					err  error
				)
				switch s.op {
				case "claim":
					ok, seen, err = e.lim.ClaimOnce(ctx, id, s.owner, keep)
				case "settle":
					err = e.lim.SettleOnce(ctx, id, s.owner, s.outcome)
					ok = err == nil
				case "release":
					err = e.lim.ReleaseOnce(ctx, id, s.owner)
				}
				if !errors.Is(err, s.wantErr) {
					t.Fatalf("step %d (%s by %s): err %v, want %v", i, s.op, s.owner, err, s.wantErr)
				}
				if ok != s.wantOK || seen.Outcome != s.wantOutcome {
					t.Fatalf("step %d (%s by %s): ok=%v outcome %q, want %v %q", i, s.op, s.owner, ok, seen.Outcome, s.wantOK, s.wantOutcome)
				}
				if s.wantUntil != 0 && !seen.Until.Equal(at(s.wantUntil)) {
					t.Fatalf("step %d (%s by %s): until %v, want %v", i, s.op, s.owner, seen.Until.Sub(start), s.wantUntil)
				}
			}
		})
	}
}

func TestClaimOnceRefusesBadArguments(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	for name, err := range map[string]error{
		"empty key":       first(e.lim.ClaimOnce(ctx, "", "a", keep)),
		"empty owner":     first(e.lim.ClaimOnce(ctx, "k", "", keep)),
		"keep under 1ms":  first(e.lim.ClaimOnce(ctx, "k", "a", time.Microsecond)),
		"empty outcome":   e.lim.SettleOnce(ctx, "k", "a", ""),
		"release no key":  e.lim.ReleaseOnce(ctx, "", "a"),
		"release nobody":  e.lim.ReleaseOnce(ctx, "k", ""),
		"settle no owner": e.lim.SettleOnce(ctx, "k", "", "d1"),
	} {
		if !errors.Is(err, throttle.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", name, err)
		}
	}
}

func first(_ bool, _ throttle.Once, err error) error { return err }
