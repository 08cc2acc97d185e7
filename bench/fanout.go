package bench

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/gateway"
)

const fanoutFull = 1_000_000

type fanoutState struct {
	Contacts int `json:"contacts"`
}

// setupFanout writes the audience: 1,000,000 contacts (at full size) by
// COPY, and the survey.
func setupFanout(ctx context.Context, c *childCtx) error {
	st, err := openStore(ctx, c.env)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := createSurvey(ctx, st, "email"); err != nil {
		return err
	}
	n := c.scaled(fanoutFull, 10_000)
	t := time.Now()
	if err := copyContacts(ctx, c.env.DatabaseURL, n, ""); err != nil {
		return err
	}
	c.logf("%d contacts written in %.1fs", n, time.Since(t).Seconds())
	if _, err := st.ContactsPage(ctx, "", 1); err != nil { // warm the connection
		return err
	}
	db, err := sql.Open("pgx", c.env.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM ANALYZE contacts"); err != nil {
		return err
	}
	return c.saveState(fanoutState{Contacts: n})
}

// api calls the gateway's /v1 API.
func api(ctx context.Context, hc *http.Client, base, method, path string, body any) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+benchAPIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	if out == nil {
		out = map[string]any{"raw": string(raw)}
	}
	return resp.StatusCode, out, nil
}

// runFanout: a campaign over every contact, created and scheduled through
// the API of a gateway that runs everything (`npsgate serve`), timed from
// the moment its run is due until every delivery row is written and every
// send task is in asynq. Its send window opens tomorrow, so the sends wait
// in asynq's scheduled set and do not compete with the fan-out.
func runFanout(ctx context.Context, c *childCtx) error {
	var s fanoutState
	if err := c.loadState(&s); err != nil {
		return err
	}
	c.res.Size, c.res.Full = s.Contacts, fanoutFull
	rg, err := startGateway(ctx, c, gateway.RoleAll, map[string]string{"NPSGATE_WORKER_SCHEDULER_INTERVAL": "250ms"})
	if err != nil {
		return err
	}
	defer rg.stop()
	hc := newHTTPClient(4)

	db, err := sql.Open("pgx", c.env.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	opt, err := redis.ParseURL(c.env.RedisURL())
	if err != nil {
		return err
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	// queued counts the send tasks waiting in asynq: pending and
	// scheduled, in every deliveries queue (one, or one per channel).
	queued := func() (int64, error) {
		qs, err := rdb.SMembers(ctx, "asynq:queues").Result()
		if err != nil {
			return 0, err
		}
		p := rdb.Pipeline()
		var cmds []*redis.IntCmd
		for _, q := range qs {
			if strings.HasPrefix(q, dispatcher.QueueDeliveries) {
				cmds = append(cmds, p.LLen(ctx, "asynq:{"+q+"}:pending"), p.ZCard(ctx, "asynq:{"+q+"}:scheduled"))
			}
		}
		if len(cmds) == 0 {
			return 0, nil
		}
		if _, err := p.Exec(ctx); err != nil {
			return 0, err
		}
		var n int64
		for _, c := range cmds {
			n += c.Val()
		}
		return n, nil
	}

	usedMemory := func() float64 {
		info, err := rdb.Info(ctx, "memory").Result()
		if err != nil {
			return 0
		}
		for _, l := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "used_memory:"); ok {
				f, _ := strconv.ParseFloat(v, 64)
				return f
			}
		}
		return 0
	}
	memBefore := usedMemory()

	// The day after tomorrow in UTC: in the evening UTC "tomorrow" has
	// already begun for contacts in Shanghai, whose sends would then go
	// out at once and the figure would measure sending, not fan-out.
	tomorrow := int(time.Now().UTC().Add(48 * time.Hour).Weekday())
	if tomorrow == 0 {
		tomorrow = 7
	}
	at := time.Now().Add(2 * time.Second).Truncate(time.Second).Add(time.Second)
	code, cp, err := api(ctx, hc, rg.base, "POST", "/v1/campaigns", map[string]any{
		"name": "Bench relationship NPS", "survey": benchSurvey, "audience": "account.tier = KA",
		"schedule":    map[string]any{"kind": "once", "at": at.UTC().Format(time.RFC3339), "time_zone": "UTC"},
		"send_window": map[string]any{"days": []int{tomorrow}},
	})
	if err != nil || code != 201 {
		return fmt.Errorf("create campaign: %d %v %v", code, cp, err)
	}
	id, _ := cp["id"].(string)
	if code, out, err := api(ctx, hc, rg.base, "POST", "/v1/campaigns/"+id+"/schedule", nil); err != nil || code != 200 {
		return fmt.Errorf("schedule campaign: %d %v %v", code, out, err)
	}
	c.logf("campaign %s scheduled for %s over %d contacts", id, at.Format(time.TimeOnly), s.Contacts)
	time.Sleep(time.Until(at))
	c.startMeasure()

	deadline := at.Add(c.fanoutTimeout())
	var rows, tasks int64
	var lastLog time.Time
	done := false
	for !done {
		// A run is done once its last page's sends are in asynq; the
		// sends go in batches, so the tasks are fewer than the rows.
		var status string
		if err := db.QueryRowContext(ctx, `SELECT count(*), coalesce((SELECT status FROM campaign_runs WHERE campaign_id = $1), '')
			FROM deliveries WHERE campaign_id = $1`, id).Scan(&rows, &status); err != nil {
			return err
		}
		if tasks, err = queued(); err != nil {
			return err
		}
		now := time.Now()
		if rows >= int64(s.Contacts) && status == "done" {
			done = true
			break
		}
		if now.After(deadline) {
			break
		}
		if now.Sub(lastLog) > 10*time.Second {
			c.logf("%.0fs: %d rows, %d tasks", now.Sub(at).Seconds(), rows, tasks)
			lastLog = now
		}
		time.Sleep(200 * time.Millisecond)
	}
	elapsed := time.Since(at)
	c.cpuPerOp(c.cpuFrom, int(rows), "delivery")
	c.endMeasure()
	// Outside the measured window: the deliveries the queued tasks carry,
	// which must be every row.
	covered, err := queuedDeliveries(c.env)
	if err != nil {
		return err
	}
	c.res.note("%d send tasks in asynq carry %d deliveries (%.1f per task)", tasks, covered, float64(covered)/float64(max(tasks, 1)))
	if done && covered < rows {
		return fmt.Errorf("fan-out finished with %d rows but only %d deliveries in asynq", rows, covered)
	}
	tasksTotal := tasks
	tasks = covered
	c.res.set("rows", float64(rows))
	c.res.set("tasks", float64(tasks))
	c.res.set("seconds", elapsed.Seconds())
	c.res.set("per_s", float64(min(rows, tasks))/elapsed.Seconds())
	if !done {
		c.res.set("partial", 1)
		rate := float64(min(rows, tasks)) / elapsed.Seconds()
		c.res.set("projected_seconds", float64(s.Contacts)/rate)
		c.res.note("stopped after %.0fs with %d of %d deliveries queued (%d rows, %d tasks); at that rate all would take %.0fs",
			elapsed.Seconds(), min(rows, tasks), s.Contacts, rows, tasks, float64(s.Contacts)/rate)
	}
	if tasks > 0 {
		perDelivery := (usedMemory() - memBefore) / float64(tasks)
		c.res.set("redis_bytes_per_task", perDelivery)
		c.res.note("Redis memory grew by %.0f bytes per queued delivery (%.0f MB for 1,000,000) in %d tasks", perDelivery, perDelivery*1e6/(1<<20), tasksTotal)
	}
	var status string
	_ = db.QueryRowContext(ctx, `SELECT status FROM campaign_runs WHERE campaign_id = $1`, id).Scan(&status)
	c.res.note("campaign run status at the end: %q; audience `account.tier = KA` (every contact), contacts in 5 time zones, send window opens the day after tomorrow (sends wait in asynq's scheduled set)", status)
	return nil
}

// fanoutTimeout bounds the fan-out figure: 75s at full size (the ten-minute
// budget); a slower fan-out reports its rate and the projected time.
func (c *childCtx) fanoutTimeout() time.Duration {
	return time.Duration(max(10, 75*c.env.Scale) * float64(time.Second))
}

// queuedDeliveries counts the deliveries the waiting send tasks carry: one
// for a SendDelivery, its IDs for a SendBatch.
func queuedDeliveries(env *Env) (int64, error) {
	opt, err := parseAsynqRedis(env.RedisURL())
	if err != nil {
		return 0, err
	}
	in := asynq.NewInspector(opt)
	defer in.Close()
	qs, err := in.Queues()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, q := range qs {
		if !strings.HasPrefix(q, dispatcher.QueueDeliveries) {
			continue
		}
		for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){in.ListPendingTasks, in.ListScheduledTasks} {
			for page := 1; ; page++ {
				infos, err := list(q, asynq.PageSize(5000), asynq.Page(page))
				if err != nil {
					return 0, err
				}
				for _, t := range infos {
					if t.Type == (dispatcher.SendBatch{}).Kind() {
						var b dispatcher.SendBatch
						if err := json.Unmarshal(t.Payload, &b); err != nil {
							return 0, err
						}
						n += int64(len(b.IDs))
					} else {
						n++
					}
				}
				if len(infos) < 5000 {
					break
				}
			}
		}
	}
	return n, nil
}
