package bench

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/npsgate/npsgate/gateway"
	"github.com/npsgate/npsgate/store"
)

// dispatchFull is the size; dispatchSize the one measured at
// -scale 1, the largest that fits four dispatch figures in the ten-minute
// budget at the rate the pipeline has today (about 2,300 messages/s on
// two cores; it was 40,000 at 500/s). Raise it when dispatch gets faster.
const (
	dispatchFull = 200_000
	dispatchSize = 100_000
)

type dispatchState struct {
	N int `json:"n"`
}

var mixedChannels = []string{"email", "sms", "webhook"}

func pickChannel(mode string) func(int) string {
	if mode == "mixed" {
		return func(i int) string { return mixedChannels[i%len(mixedChannels)] }
	}
	return func(int) string { return mode }
}

// setupDispatch writes one contact and one queued delivery per message and
// queues their send tasks, as a trigger or a fan-out leaves them; none of
// it is measured.
func setupDispatch(mode string) func(context.Context, *childCtx) error {
	return func(ctx context.Context, c *childCtx) error {
		st, err := openStore(ctx, c.env)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := createSurvey(ctx, st, "email", "sms", "webhook"); err != nil {
			return err
		}
		n := c.scaled(dispatchSize, 2_000)
		t := time.Now()
		if err := copyContacts(ctx, c.env.DatabaseURL, n, c.env.Providers.Webhook); err != nil {
			return err
		}
		ds := makeDeliveries(n, store.StatusQueued, c.env.Providers.Webhook, pickChannel(mode))
		if err := writeDeliveries(ctx, st, ds); err != nil {
			return err
		}
		c.logf("%d contacts and deliveries written in %.1fs", n, time.Since(t).Seconds())
		t = time.Now()
		if err := enqueueDeliveries(ctx, c.env, ds); err != nil {
			return err
		}
		c.logf("%d send tasks queued in %.1fs", n, time.Since(t).Seconds())
		return c.saveState(dispatchState{N: n})
	}
}

// runDispatch starts a worker (`npsgate worker`, default concurrency and
// SMTP pool) on the queued deliveries and times them through gate, render
// and send until the providers have every message.
func runDispatch(mode string) func(context.Context, *childCtx) error {
	return func(ctx context.Context, c *childCtx) error {
		var s dispatchState
		if err := c.loadState(&s); err != nil {
			return err
		}
		c.res.Size, c.res.Full = s.N, dispatchFull
		pc := newProviderClient(c.env.Providers)
		before, err := pc.stats()
		if err != nil {
			return err
		}
		c.startMeasure()
		start := time.Now()
		rg, err := startGateway(ctx, c, gateway.RoleWorker, nil)
		if err != nil {
			return err
		}
		deadline := start.Add(c.dispatchTimeout())
		var got providerStats
		var lastLog time.Time
		lastN, lastMove := -1, time.Now()
		for {
			if got, err = pc.stats(); err != nil {
				return err
			}
			if got.total()-before.total() >= s.N || time.Now().After(deadline) {
				break
			}
			if n := got.total(); n != lastN {
				lastN, lastMove = n, time.Now()
			} else if time.Since(lastMove) > 10*time.Second {
				c.stallDump(fmt.Sprintf("no message reached the providers for 10s with %d of %d there", n-before.total(), s.N))
			}
			if time.Since(lastLog) > 10*time.Second {
				c.logf("%.0fs: %d of %d at the providers", time.Since(start).Seconds(), got.total()-before.total(), s.N)
				lastLog = time.Now()
			}
			time.Sleep(50 * time.Millisecond)
		}
		elapsed := time.Since(start)
		c.cpuPerOp(c.cpuFrom, got.total()-before.total(), "msg")
		c.endMeasure()
		if got.total()-before.total() < s.N {
			c.res.note("asynq at the end:%s", asynqState(c.env))
		}
		if err := rg.stop(); err != nil {
			c.res.note("gateway stop: %v", err)
		}
		sent := got.total() - before.total()
		c.res.set("messages", float64(sent))
		c.res.set("seconds", elapsed.Seconds())
		c.res.set("msgs_per_s", float64(sent)/elapsed.Seconds())
		c.res.set("smtp_conns", float64(got.SMTPConns-before.SMTPConns))
		for k, v := range map[string]int{"email": got.SMTP - before.SMTP, "sms": got.SMS - before.SMS, "webhook": got.Webhook - before.Webhook} {
			if v > 0 {
				c.res.set(k+"_msgs", float64(v))
			}
		}
		if sent < s.N {
			c.res.set("partial", 1)
			c.res.note("stopped after %.0fs with %d of %d messages at the providers", elapsed.Seconds(), sent, s.N)
		}
		// What the store says, after the worker stopped.
		statuses, err := deliveryStatuses(ctx, c.env.DatabaseURL)
		if err != nil {
			return err
		}
		c.res.note("deliveries by status afterwards:%s; timed from the worker's start (startup included)", statuses)
		return nil
	}
}

// dispatchTimeout bounds one dispatch figure: 45s at full size, 8s in a
// quick run (which then reports the rate of a partial run).
func (c *childCtx) dispatchTimeout() time.Duration {
	return time.Duration(max(8, 45*c.env.Scale) * float64(time.Second))
}

// deliveryStatuses is " status=count …" of every delivery in the store.
func deliveryStatuses(ctx context.Context, dbURL string) (string, error) {
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return "", err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT status, reason, count(*) FROM deliveries GROUP BY status, reason ORDER BY 3 DESC LIMIT 8`)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var out string
	for rows.Next() {
		var st, reason string
		var k int
		if err := rows.Scan(&st, &reason, &k); err != nil {
			return "", err
		}
		if reason != "" {
			st += " (" + firstLine(reason) + ")"
		}
		out += fmt.Sprintf(" %s=%d", st, k)
	}
	return out, rows.Err()
}

// asynqState is " pending=… active=… scheduled=… retry=… archived=…" of
// every non-empty queue, for the notes.
func asynqState(env *Env) string {
	opt, err := parseAsynqRedis(env.RedisURL())
	if err != nil {
		return err.Error()
	}
	in := asynq.NewInspector(opt)
	defer in.Close()
	qs, err := in.Queues()
	if err != nil {
		return err.Error()
	}
	var out string
	for _, q := range qs {
		i, err := in.GetQueueInfo(q)
		if err != nil || i.Size == 0 {
			continue
		}
		out += fmt.Sprintf(" %s: pending=%d active=%d scheduled=%d retry=%d archived=%d;", q, i.Pending, i.Active, i.Scheduled, i.Retry, i.Archived)
	}
	if out == "" {
		return " empty"
	}
	return out
}
