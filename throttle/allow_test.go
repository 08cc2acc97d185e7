package throttle_test

import (
	"context"
	"testing"
	"time"
)

func TestAllow(t *testing.T) {
	const per = time.Minute
	// The fake clock starts 27.123s into a minute; steps are timed from the
	// start of that minute.
	ws := start.Truncate(time.Minute).Sub(start)
	type step struct {
		at        time.Duration // since the start of the first window
		key       string
		wantOK    bool
		wantRetry time.Duration
	}
	cases := []struct {
		name  string
		n     int
		steps []step
	}{
		{"n per window, then refused until the next", 3, []step{
			{30 * time.Second, "ip:192.0.2.1", true, 0},
			{30 * time.Second, "ip:192.0.2.1", true, 0},
			{40 * time.Second, "ip:192.0.2.1", true, 0},
			{40 * time.Second, "ip:192.0.2.1", false, 20*time.Second + time.Millisecond},
			{per, "ip:192.0.2.1", false, time.Millisecond},
			{per + time.Millisecond, "ip:192.0.2.1", true, 0},
		}},
		{"keys are independent", 1, []step{
			{0, "ip:192.0.2.1", true, 0},
			{0, "ip:192.0.2.1", false, per + time.Millisecond},
			{0, "ip:192.0.2.2", true, 0},
			{0, "sms:+15550100", true, 0},
			{0, "sms:+15550100", false, per + time.Millisecond},
		}},
		{"the previous window weighs on the next", 3, []step{
			{59 * time.Second, "k", true, 0},
			{59 * time.Second, "k", true, 0},
			{59 * time.Second, "k", true, 0},
			// At e ms into the next window the estimate is 3(60000-e)/60000 + c.
			{per + time.Millisecond, "k", true, 0},
			// c=1: allowed once 3(60000-e) < 2·60000, i.e. e > 20000.
			{per + time.Millisecond, "k", false, 20 * time.Second},
			{per + 20*time.Second, "k", false, time.Millisecond},
			{per + 20*time.Second + time.Millisecond, "k", true, 0},
			// c=2: e > 40000.
			{per + 30*time.Second, "k", false, 10*time.Second + time.Millisecond},
			{per + 40*time.Second + time.Millisecond, "k", true, 0},
			// c=3: the window is full; the next one starts with prev=3.
			{per + 50*time.Second, "k", false, 10*time.Second + time.Millisecond},
		}},
		{"an idle window forgets", 2, []step{
			{0, "k", true, 0},
			{0, "k", true, 0},
			{0, "k", false, per + time.Millisecond},
			{2 * per, "k", true, 0},
			{2 * per, "k", true, 0},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t)
			ctx := context.Background()
			for i, s := range tc.steps {
				e.clock.Set(ws + s.at)
				ok, retry, err := e.lim.Allow(ctx, s.key, tc.n, per)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if ok != s.wantOK || retry != s.wantRetry {
					t.Fatalf("step %d: Allow(%s) at +%v = %v, retry %v; want %v, %v", i, s.key, s.at, ok, retry, s.wantOK, s.wantRetry)
				}
				if !ok {
					// Retrying when told works, and not a millisecond earlier.
					e.clock.Set(ws + s.at + retry - time.Millisecond)
					if ok, _, _ := e.lim.Allow(ctx, s.key, tc.n, per); ok {
						t.Fatalf("step %d: allowed 1ms before retryAfter", i)
					}
				}
			}
		})
	}
}
