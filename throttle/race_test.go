package throttle_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/npsgate/npsgate/throttle"
)

// race runs try from racers goroutines at once, spread over the limiters
// (each on its own Redis client, as separate processes would be), and
// counts the wins.
func race(t *testing.T, lims []*throttle.Limiter, racers int, try func(l *throttle.Limiter, i int) (bool, error)) int {
	t.Helper()
	var (
		wins  atomic.Int64
		wg    sync.WaitGroup
		ready = make(chan struct{})
		errs  = make(chan error, racers)
	)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ready
			ok, err := try(lims[i%len(lims)], i)
			if err != nil {
				errs <- err
				return
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	close(ready)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return int(wins.Load())
}

func TestRaces(t *testing.T) {
	ctx := context.Background()
	tries := []struct {
		name string
		want int
		try  func(l *throttle.Limiter, i int) (bool, error)
	}{
		{"ClaimContact", 1, func(l *throttle.Limiter, i int) (bool, error) {
			ok, _, err := l.ClaimContact(ctx, "contact-1", fmt.Sprintf("d%d", i), 30*day)
			return ok, err
		}},
		{"ClaimConversation", 1, func(l *throttle.Limiter, i int) (bool, error) {
			ok, _, err := l.ClaimConversation(ctx, "+15550100", fmt.Sprintf("d%d", i), day)
			return ok, err
		}},
		{"ClaimContent", 1, func(l *throttle.Limiter, i int) (bool, error) {
			return l.ClaimContent(ctx, "+15550100", "How likely...", fmt.Sprintf("d%d", i), 12*time.Hour)
		}},
		{"ClaimAccount n=3", 3, func(l *throttle.Limiter, i int) (bool, error) {
			ok, _, err := l.ClaimAccount(ctx, "acme", fmt.Sprintf("d%d", i), 3, 30*day)
			return ok, err
		}},
		{"ClaimAccount n=3 with retries", 30, func(l *throttle.Limiter, i int) (bool, error) {
			// Deliveries d0..d4, each tried ten times at once: three win,
			// and each of their ten tries says so.
			ok, _, err := l.ClaimAccount(ctx, "acme", fmt.Sprintf("d%d", i%5), 3, 30*day)
			return ok, err
		}},
		{"Take burst 10", 10, func(l *throttle.Limiter, i int) (bool, error) {
			wait, err := l.Take(ctx, "sms:+15550100", 1, 10, 1)
			return wait == 0, err
		}},
		{"ClaimOnce", 1, func(l *throttle.Limiter, i int) (bool, error) {
			ok, _, err := l.ClaimOnce(ctx, "trigger-id:msg_1", fmt.Sprintf("r%d", i), 10*time.Minute)
			return ok, err
		}},
		{"Allow 7", 7, func(l *throttle.Limiter, i int) (bool, error) {
			ok, _, err := l.Allow(ctx, "ip:192.0.2.1", 7, time.Hour)
			return ok, err
		}},
	}
	for _, tc := range tries {
		for _, procs := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/%d processes", tc.name, procs), func(t *testing.T) {
				e := setup(t)
				lims := []*throttle.Limiter{e.lim}
				for range procs - 1 {
					lims = append(lims, throttle.New(newClient(t, e.url), throttle.WithClock(e.clock.Now)))
				}
				if got := race(t, lims, 50, tc.try); got != tc.want {
					t.Fatalf("%d of 50 won, want %d", got, tc.want)
				}
			})
		}
	}
}
