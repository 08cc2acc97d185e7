package bench

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", as the store uses
	"github.com/redis/go-redis/v9"

	"github.com/npsgate/npsgate/config"
	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/templates"
)

// The limits use the concurrency the gateway uses by default, so a ratio
// compares like with like.
var (
	workerConcurrency = config.Defaults().Worker.Concurrency
	smtpPool          = config.Defaults().SMTP.PoolSize
	defaultPoll       = time.Duration(config.Defaults().Worker.PollInterval)
)

// loadConns is the HTTP connections of every load generator.
const loadConns = 32

func parseAsynqRedis(u string) (asynq.RedisConnOpt, error) { return asynq.ParseRedisURI(u) }

// workerQueues mirror the queues and weights of dispatcher.NewWorker (one
// deliveries queue per template family), so the no-op server dequeues as
// the real worker does; noopQueue is where the no-op tasks go.
var workerQueues = map[string]int{"alerts": 8, "deliveries:email": 3, "deliveries:sms": 3, "deliveries:chat": 3,
	"campaigns": 2, "webhooks": 1}

const noopQueue = "deliveries:email"

// limitDuration is how long one try of a rate limit lasts: 1.5s at full
// size. Each limit is the best of limitTries tries: a limit is what the
// machine can do, and a short burst of someone else's work on a shared
// machine should not lower it.
func (c *childCtx) limitDuration() time.Duration {
	return time.Duration(max(0.5, 1.5*c.env.Scale) * float64(time.Second))
}

const limitTries = 3

// bestOf runs try limitTries times and keeps the highest rate with its
// latencies; ops is the total over every try (for CPU per operation).
func bestOf(try func() (ops int64, took time.Duration, lat *samples)) (rate float64, lat *samples, ops int64) {
	lat = &samples{}
	for range limitTries {
		n, took, l := try()
		ops += n
		if r := float64(n) / took.Seconds(); r > rate {
			rate, lat = r, l
		}
	}
	return rate, lat, ops
}

// runFor runs fn on n goroutines until d has passed and returns how many
// operations they counted and the time taken.
func runFor(ctx context.Context, n int, d time.Duration, fn func(ctx context.Context, worker int) int) (int64, time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		total atomic.Int64
		wg    sync.WaitGroup
	)
	start := time.Now()
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				total.Add(int64(fn(ctx, w)))
			}
		}()
	}
	wg.Wait()
	return total.Load(), time.Since(start)
}

// runLimitRedis: raw go-redis operations per second, one command per round
// trip and pipelined 100 at a time, from as many goroutines as the worker
// runs tasks.
func runLimitRedis(ctx context.Context, c *childCtx) error {
	opt, err := redis.ParseURL(c.env.RedisURL())
	if err != nil {
		return err
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return err
	}
	d := c.limitDuration()
	val := strings.Repeat("x", 64)
	c.startMeasure()
	rate, lat, _ := bestOf(func() (int64, time.Duration, *samples) {
		var lat samples
		n, took := runFor(ctx, workerConcurrency, d, func(ctx context.Context, w int) int {
			k := "npsbench:k:" + strconv.Itoa(w)
			t := time.Now()
			if err := rdb.Set(ctx, k, val, 0).Err(); err != nil {
				return 0
			}
			lat.add(time.Since(t))
			if err := rdb.Get(ctx, k).Err(); err != nil {
				return 1
			}
			return 2
		})
		return n, took, &lat
	})
	c.res.set("ops_per_s", rate)
	lat.record(c.res, "op")
	rate, _, _ = bestOf(func() (int64, time.Duration, *samples) {
		n, took := runFor(ctx, workerConcurrency, d, func(ctx context.Context, w int) int {
			p := rdb.Pipeline()
			for i := range 100 {
				p.Set(ctx, "npsbench:p:"+strconv.Itoa(w)+":"+strconv.Itoa(i), val, 0)
			}
			if _, err := p.Exec(ctx); err != nil {
				return 0
			}
			return 100
		})
		return n, took, nil
	})
	c.endMeasure()
	c.res.set("pipelined_ops_per_s", rate)
	c.res.note("go-redis: %d goroutines; SET+GET one per round trip, and SET pipelined 100 per round trip; best of %d tries of %.1fs", workerConcurrency, limitTries, d.Seconds())
	return rdb.FlushDB(ctx).Err()
}

// preRendered is one personalized survey email as the gateway sends it,
// rendered once: the default templates, multipart/alternative, the
// List-Unsubscribe headers, quoted-printable bodies.
func preRendered() ([]byte, error) {
	set, err := templates.New()
	if err != nil {
		return nil, err
	}
	sv := &store.Survey{Key: benchSurvey, Kind: "nps", ProductName: benchProduct}
	d := &store.Delivery{ID: uuid.NewString(), Token: dispatcher.NewToken(), Locale: "en"}
	links := dispatcher.Links{Base: benchPublicURL, UnsubscribeMailto: "unsubscribe@acme.example"}
	m, err := set.Render("email", "en", nil, dispatcher.MessageData(sv, d, links))
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	boundary := "npsbench" + strings.ReplaceAll(uuid.NewString(), "-", "")
	fmt.Fprintf(&b, "From: Acme NPS <nps@acme.example>\r\nTo: <c00000001@customer1.example>\r\nSubject: %s\r\n", m.Subject)
	fmt.Fprintf(&b, "Date: %s\r\nMessage-ID: <%s@acme.example>\r\nMIME-Version: 1.0\r\n", time.Now().Format(time.RFC1123Z), d.ID)
	fmt.Fprintf(&b, "List-Unsubscribe: <mailto:unsubscribe@acme.example?subject=%s>, <%s>\r\n", d.Token, links.Unsubscribe(d.Token))
	fmt.Fprintf(&b, "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nX-NPSGate-Delivery: %s\r\n", d.ID)
	fmt.Fprintf(&b, "Content-Type: multipart/alternative; boundary=%q\r\n\r\n", boundary)
	for _, part := range []struct{ ct, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		fmt.Fprintf(&b, "--%s\r\nContent-Type: %s; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", boundary, part.ct)
		qp := quotedprintable.NewWriter(&b)
		_, _ = io.WriteString(qp, strings.ReplaceAll(part.body, "\n", "\r\n"))
		qp.Close()
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return b.Bytes(), nil
}

// runLimitSMTP: a minimal SMTP client (go-smtp's) pushing one
// pre-rendered message over and over to the same sink, on as many
// connections as the gateway's pool.
func runLimitSMTP(ctx context.Context, c *childCtx) error {
	msg, err := preRendered()
	if err != nil {
		return err
	}
	clients := make([]*smtp.Client, smtpPool)
	for i := range clients {
		if clients[i], err = smtp.Dial(c.env.Providers.SMTP); err != nil {
			return err
		}
		if err := clients[i].Hello("bench.local"); err != nil {
			return err
		}
		defer clients[i].Close()
	}
	var sendErr atomic.Value
	c.startMeasure()
	mark := c.cpuMark()
	rate, lat, n := bestOf(func() (int64, time.Duration, *samples) {
		var lat samples
		n, took := runFor(ctx, smtpPool, c.limitDuration(), func(_ context.Context, w int) int {
			cl := clients[w]
			t := time.Now()
			err := func() error {
				if err := cl.Mail("nps@acme.example", nil); err != nil {
					return err
				}
				if err := cl.Rcpt("c00000001@customer1.example", nil); err != nil {
					return err
				}
				wc, err := cl.Data()
				if err != nil {
					return err
				}
				if _, err := wc.Write(msg); err != nil {
					return err
				}
				return wc.Close()
			}()
			if err != nil {
				sendErr.Store(err)
				time.Sleep(10 * time.Millisecond)
				return 0
			}
			lat.add(time.Since(t))
			return 1
		})
		return n, took, &lat
	})
	c.cpuPerOp(mark, int(n), "smtpmsg")
	c.endMeasure()
	if e, _ := sendErr.Load().(error); e != nil {
		c.res.note("smtp error: %v", e)
	}
	c.res.set("msgs_per_s", rate)
	c.res.set("msg_bytes", float64(len(msg)))
	lat.record(c.res, "msg")
	c.res.note("go-smtp client, %d connections, one pre-rendered %d-byte message (text+HTML, quoted-printable); best of %d tries", smtpPool, len(msg), limitTries)
	return nil
}

// noop is the asynq limit's task payload: when it was enqueued.
type noop struct {
	At int64 `json:"at"`
}

// runLimitAsynq: one no-op task per message. Enqueue rate (with the
// options ScheduleDelivery uses, from 20 goroutines), process rate (a
// server with the worker's concurrency, queues and poll interval), and the
// enqueue-to-handler latency at a steady 1,000 tasks/s.
func runLimitAsynq(ctx context.Context, c *childCtx) error {
	opt, err := parseAsynqRedis(c.env.RedisURL())
	if err != nil {
		return err
	}
	n := c.scaled(50_000, 5_000)
	cl := asynq.NewClient(opt)
	defer cl.Close()
	payload, _ := json.Marshal(dispatcher.SendDelivery{ID: uuid.NewString()})

	c.startMeasure()
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workerConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				t := asynq.NewTask("bench:noop", payload, asynq.TaskID(uuid.NewString()), asynq.Queue(noopQueue),
					asynq.MaxRetry(8), asynq.Timeout(2*time.Minute))
				if _, err := cl.EnqueueContext(ctx, t); err != nil {
					c.logf("enqueue: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	enq := time.Since(start)
	c.res.set("enqueue_per_s", float64(n)/enq.Seconds())

	// One goroutine, one task after the other: what a loop over a page
	// of deliveries gets.
	seqN := c.scaled(5_000, 1_000)
	start = time.Now()
	for range seqN {
		t := asynq.NewTask("bench:noop", payload, asynq.TaskID(uuid.NewString()), asynq.Queue(noopQueue),
			asynq.MaxRetry(8), asynq.Timeout(2*time.Minute))
		if _, err := cl.EnqueueContext(ctx, t); err != nil {
			return err
		}
	}
	c.res.set("enqueue_seq_per_s", float64(seqN)/time.Since(start).Seconds())
	n += seqN

	var done atomic.Int64
	var lat samples
	var measuring atomic.Bool
	finished := make(chan struct{})
	mux := asynq.NewServeMux()
	mux.HandleFunc("bench:noop", func(_ context.Context, t *asynq.Task) error {
		if measuring.Load() {
			var p noop
			if json.Unmarshal(t.Payload(), &p) == nil && p.At > 0 {
				lat.add(time.Duration(time.Now().UnixNano() - p.At))
			}
			return nil
		}
		if done.Add(1) == int64(n) {
			close(finished)
		}
		return nil
	})
	poll := defaultPoll
	if v, ok := c.env.Set["NPSGATE_WORKER_POLL_INTERVAL"]; ok {
		if d, err := time.ParseDuration(v); err == nil {
			poll = d
		}
	}
	srv := asynq.NewServer(opt, asynq.Config{
		Concurrency:       workerConcurrency,
		Queues:            workerQueues,
		TaskCheckInterval: poll, DelayedTaskCheckInterval: poll,
		LogLevel: asynq.ErrorLevel,
	})
	start = time.Now()
	mark := c.cpuMark()
	if err := srv.Start(mux); err != nil {
		return err
	}
	defer srv.Shutdown()
	select {
	case <-finished:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(10 * time.Minute):
		return fmt.Errorf("asynq processed %d of %d", done.Load(), n)
	}
	proc := time.Since(start)
	c.cpuPerOp(mark, n, "task")
	c.res.set("process_per_s", float64(n)/proc.Seconds())

	// Latency: enqueue at 1,000/s, open loop, for the limit duration.
	measuring.Store(true)
	rate := 1000
	total := int(float64(rate) * 2 * c.limitDuration().Seconds())
	tick := time.NewTicker(time.Second / time.Duration(rate))
	for i := 0; i < total; i++ {
		<-tick.C
		go func() {
			p, _ := json.Marshal(noop{At: time.Now().UnixNano()})
			_, _ = cl.EnqueueContext(ctx, asynq.NewTask("bench:noop", p, asynq.TaskID(uuid.NewString()),
				asynq.Queue(noopQueue)))
		}()
	}
	tick.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for lat.n() < total && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	c.endMeasure()
	lat.record(c.res, "latency")
	c.res.Size, c.res.Full = n, 55_000
	c.res.note("asynq %s: %d tasks; enqueue from %d goroutines with TaskID/Queue/MaxRetry/Timeout as ScheduleDelivery; server concurrency %d, poll %s; latency at %d/s over %d tasks",
		"v0.26", n, workerConcurrency, workerConcurrency, poll, rate, total)
	return nil
}

// ginTrigger is a trigger-shaped body for the bare handler.
type ginTrigger struct {
	Survey  string            `json:"survey"`
	Contact map[string]any    `json:"contact"`
	Key     string            `json:"idempotency_key"`
	Meta    map[string]string `json:"metadata"`
}

// runLimitGin: a bare gin JSON handler (bind a trigger-shaped body, answer
// 202 JSON) behind net/http, with the inbound figure's load generator.
func runLimitGin(ctx context.Context, c *childCtx) error {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.POST("/v1/echo", func(gc *gin.Context) {
		var in ginTrigger
		if err := gc.ShouldBindJSON(&in); err != nil {
			gc.JSON(400, gin.H{"error": err.Error()})
			return
		}
		gc.JSON(202, gin.H{"delivery_id": in.Key, "status": "queued", "channel": "email", "replayed": false})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	u := "http://" + ln.Addr().String() + "/v1/echo"
	hc := newHTTPClient(loadConns)
	var bad atomic.Int64
	c.startMeasure()
	mark := c.cpuMark()
	rate, lat, n := bestOf(func() (int64, time.Duration, *samples) {
		var lat samples
		n, took := runFor(ctx, loadConns, c.limitDuration(), func(ctx context.Context, w int) int {
			body := fmt.Sprintf(`{"survey":"bench","contact":{"external_id":"c%d","email":"c%d@customer.example"},"idempotency_key":"k-%d-%d","metadata":{"account":"42"}}`,
				w, w, w, time.Now().UnixNano())
			t := time.Now()
			req, _ := http.NewRequestWithContext(ctx, "POST", u, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				return 0
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 202 {
				bad.Add(1)
				return 0
			}
			lat.add(time.Since(t))
			return 1
		})
		return n, took, &lat
	})
	c.cpuPerOp(mark, int(n), "req")
	c.endMeasure()
	c.res.set("req_per_s", rate)
	lat.record(c.res, "req")
	c.res.note("gin %s release mode, ShouldBindJSON + JSON answer; %d keep-alive connections from the same process; best of %d tries", gin.Version, loadConns, limitTries)
	return nil
}

// runLimitStore: raw inserts into a copy of the deliveries table (its
// columns, indexes and constraints, LIKE … INCLUDING ALL) through
// database/sql and pgx as the store uses them: single-row INSERTs from 20
// connections (autocommit, as a status change is written), and 500-row
// INSERTs from 4 (as a page is).
func runLimitStore(ctx context.Context, c *childCtx) error {
	db, err := sql.Open("pgx", c.env.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(workerConcurrency)
	db.SetMaxIdleConns(workerConcurrency)
	if _, err := db.ExecContext(ctx, `CREATE TABLE bench_raw (LIKE deliveries INCLUDING ALL)`); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO surveys (key, kind, created_at, updated_at) VALUES ('bench', 'nps', now(), now())`); err != nil {
		return err
	}
	const cols = `id, survey_key, contact_id, channel, address, locale, token, status, source, metadata, send_at, expires_at, created_at, updated_at`
	row := func(seq int64) []any {
		now := time.Now().UTC()
		id := uuid.Must(uuid.NewV7()).String()
		return []any{id, "bench", "c" + strconv.FormatInt(seq, 10), "email", "c" + strconv.FormatInt(seq, 10) + "@customer.example",
			"en", dispatcher.NewToken(), "queued", "campaign", `{"campaign":"x","run":"1"}`, now, now.Add(720 * time.Hour), now, now}
	}
	var seq atomic.Int64
	c.startMeasure()
	rate, lat, _ := bestOf(func() (int64, time.Duration, *samples) {
		var lat samples
		n, took := runFor(ctx, workerConcurrency, c.limitDuration(), func(ctx context.Context, _ int) int {
			t := time.Now()
			if _, err := db.ExecContext(ctx, `INSERT INTO bench_raw (`+cols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)`,
				row(seq.Add(1))...); err != nil {
				return 0
			}
			lat.add(time.Since(t))
			return 1
		})
		return n, took, &lat
	})
	c.res.set("rows_per_s", rate)
	lat.record(c.res, "insert")
	const batch = 500
	rate, _, _ = bestOf(func() (int64, time.Duration, *samples) {
		n, took := runFor(ctx, 4, c.limitDuration(), func(ctx context.Context, _ int) int {
			var (
				b    strings.Builder
				args []any
			)
			b.WriteString(`INSERT INTO bench_raw (` + cols + `) VALUES `)
			for r := range batch {
				if r > 0 {
					b.WriteString(", ")
				}
				b.WriteByte('(')
				for k, v := range row(seq.Add(1)) {
					if k > 0 {
						b.WriteString(", ")
					}
					args = append(args, v)
					b.WriteString("$" + strconv.Itoa(len(args)))
				}
				b.WriteByte(')')
			}
			if _, err := db.ExecContext(ctx, b.String(), args...); err != nil {
				return 0
			}
			return batch
		})
		return n, took, nil
	})
	c.endMeasure()
	c.res.set("batched_rows_per_s", rate)
	c.res.note("PostgreSQL, a copy of the deliveries table with its indexes; 1 row per INSERT from %d connections, %d rows per INSERT from 4; best of %d tries", workerConcurrency, batch, limitTries)
	return nil
}
