package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/npsgate/npsgate/gateway"
)

const (
	triggerRate = 1000 // per second, at every scale
	lowRate     = 50   // the light load that shows the latency floor
)

// lowDuration is how long the light load lasts: 8s at full size.
func (c *childCtx) lowDuration() time.Duration {
	return time.Duration(max(4, 8*c.env.Scale) * float64(time.Second))
}

func setupTrigger(ctx context.Context, c *childCtx) error {
	st, err := openStore(ctx, c.env)
	if err != nil {
		return err
	}
	defer st.Close()
	return createSurvey(ctx, st, "email")
}

// triggerDuration is how long the steady load lasts: 20s at full size.
func (c *childCtx) triggerDuration() time.Duration {
	return time.Duration(max(5, 20*c.env.Scale) * float64(time.Second))
}

// runTrigger: POST /v1/triggers (no delay, a new contact each time, as a
// CRM sends them) at a steady 1,000/s, open loop, against a gateway that
// runs everything; the latency of each is from when its request was due
// to when its message reached the SMTP sink (RCPT TO), so a backlog counts.
func runTrigger(ctx context.Context, c *childCtx) error {
	rg, err := startGateway(ctx, c, gateway.RoleAll, nil)
	if err != nil {
		return err
	}
	defer rg.stop()
	pc := newProviderClient(c.env.Providers)
	hc := newHTTPClient(256)

	type sent struct {
		due    int64 // ns
		status int
	}
	var (
		mu       sync.Mutex
		byAddr   = map[string]sent{}
		postLat  samples
		errs     atomic.Int64
		fired    atomic.Int64
		inflight = make(chan struct{}, 512)
		wg       sync.WaitGroup
	)
	fire := func(run string, i int, due time.Time, keep bool) {
		defer wg.Done()
		defer func() { <-inflight }()
		addr := fmt.Sprintf("t%s%07d@customer%d.example", run, i, i%97)
		body := fmt.Sprintf(`{"survey":%q,"contact":{"external_id":"t%s%07d","name":"Trigger %d","email":%q,"locale":"en","account":"acct-%d","role":"admin"},"idempotency_key":"k-%s-%d","metadata":{"source":"bench"}}`,
			benchSurvey, run, i, i, addr, i/5, run, i)
		req, _ := http.NewRequestWithContext(ctx, "POST", rg.base+"/v1/triggers", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+benchAPIKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		code := 0
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			code = resp.StatusCode
		}
		if code != http.StatusAccepted {
			errs.Add(1)
		}
		if keep {
			postLat.add(time.Since(due))
			mu.Lock()
			byAddr[addr] = sent{due: due.UnixNano(), status: code}
			mu.Unlock()
		}
	}
	steady := func(run string, rate int, d time.Duration, keep bool) {
		total := int(d.Seconds() * float64(rate))
		start := time.Now()
		for i := 0; i < total; i++ {
			due := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
			if w := time.Until(due); w > 0 {
				time.Sleep(w)
			}
			inflight <- struct{}{}
			fired.Add(1)
			wg.Add(1)
			go fire(run, i, due, keep)
		}
		wg.Wait()
	}

	// drain waits until every trigger so far has reached the sink, so a
	// phase does not measure the backlog of the one before.
	drain := func() {
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if st, err := pc.stats(); err == nil && int64(st.SMTP) >= fired.Load()-errs.Load() {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		c.res.note("the backlog of an earlier phase had not drained after 60s")
	}

	// Warm-up: 1s at the same rate, not counted.
	steady("w", triggerRate, time.Second, false)
	drain()
	_, _ = pc.arrivals()
	if err := pc.record(true); err != nil {
		return err
	}

	// The floor: a light load the gateway certainly keeps up with.
	steady("l", lowRate, c.lowDuration(), true)
	low := map[string]sent{}
	mu.Lock()
	for k, v := range byAddr {
		low[k] = v
	}
	clear(byAddr)
	mu.Unlock()
	var lowLat samples
	lowDeadline := time.Now().Add(10 * time.Second)
	for n := 0; n < len(low) && time.Now().Before(lowDeadline); {
		a, err := pc.arrivals()
		if err != nil {
			return err
		}
		for _, x := range a {
			if s, ok := low[x.K]; ok {
				lowLat.add(time.Duration(x.T - s.due))
				n++
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	lowLat.record(c.res, "low")
	c.res.set("low_arrived", float64(lowLat.n()))
	c.res.set("low_sent", float64(len(low)))
	postLat = samples{}
	drain()
	_, _ = pc.arrivals()
	d := c.triggerDuration()
	c.startMeasure()
	start := time.Now()
	steady("m", triggerRate, d, true)
	offered := time.Since(start)
	// Wait for the tail to arrive.
	total := len(byAddr)
	got := 0
	deadline := time.Now().Add(20 * time.Second)
	var arr []arrival
	lastGot, lastMove := 0, time.Now()
	for time.Now().Before(deadline) {
		a, err := pc.arrivals()
		if err != nil {
			return err
		}
		for _, x := range a {
			if _, ok := byAddr[x.K]; ok {
				arr = append(arr, x)
			}
		}
		got = len(arr)
		if got >= total {
			break
		}
		if got != lastGot {
			lastGot, lastMove = got, time.Now()
		} else if time.Since(lastMove) > 10*time.Second {
			c.stallDump(fmt.Sprintf("no message reached the sink for 10s with %d of %d arrived", got, total))
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.cpuPerOp(c.cpuFrom, total, "trigger")
	c.endMeasure()
	_ = pc.record(false)
	if got < total {
		c.res.note("asynq at the end:%s", asynqState(c.env))
	}

	var lat samples
	matched := 0
	arrived := map[string]bool{}
	for _, a := range arr {
		if s, ok := byAddr[a.K]; ok {
			lat.add(time.Duration(a.T - s.due))
			arrived[a.K] = true
			matched++
		}
	}
	// A message that has not arrived yet counts with what it has waited so
	// far: the quantiles are then lower bounds, never flattering.
	end := time.Now().UnixNano()
	for k, s := range byAddr {
		if !arrived[k] && s.status == http.StatusAccepted {
			lat.add(time.Duration(end - s.due))
		}
	}
	accepted := 0
	for _, s := range byAddr {
		if s.status == http.StatusAccepted {
			accepted++
		}
	}
	c.res.Size, c.res.Full = total, int(20*triggerRate)
	c.res.set("triggers", float64(total))
	c.res.set("offered_per_s", float64(total)/offered.Seconds())
	c.res.set("accepted", float64(accepted))
	c.res.set("arrived", float64(matched))
	c.res.set("errors", float64(errs.Load()))
	lat.record(c.res, "e2e")
	postLat.record(c.res, "post")
	if matched < accepted {
		c.res.note("%d accepted triggers had not reached the sink 20s after the load ended; they count in the quantiles with the time they had waited, so p50/p99 are lower bounds", accepted-matched)
	}
	if st, err := deliveryStatuses(ctx, c.env.DatabaseURL); err == nil {
		c.res.note("deliveries by status at the end (warm-up included):%s", st)
	}
	c.res.note("%d triggers at %d/s over %.0fs after a 1s warm-up and %.0fs at %d/s (the floor); `npsgate serve` (API and worker in one process), worker.poll_interval %s (default)",
		total, triggerRate, d.Seconds(), c.lowDuration().Seconds(), lowRate, defaultPoll)
	return nil
}
