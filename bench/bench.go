// Package bench is npsgate's end-to-end benchmark harness (`make bench`).
//
// It measures what users care about (campaign fan-out, dispatch through
// gate, render and send, trigger-to-provider latency, inbound answers)
// beside the limits of the same machine measured in the same run (raw
// Redis, a minimal SMTP client, asynq with no-op tasks, a bare gin handler,
// raw store inserts), and prints one table with the ratios, which it also
// writes to BENCHMARKS.md.
//
// Every figure runs in child processes of the same binary: a setup child
// (data that is not measured), then a run child whose ru_maxrss is the
// figure's peak RSS and whose CPU profile lands in bench/profiles/. The
// local providers (SMTP sink, Twilio fake, webhook sink) run in a third
// process, fresh for every figure, so their memory is not counted.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables that pass state from the parent to its children.
const (
	envEnv    = "NPSBENCH_ENV"
	envResult = "NPSBENCH_RESULT"
	envState  = "NPSBENCH_STATE"
)

// Env is what a child needs to know: where the services are, the size of
// the run, where its providers listen.
type Env struct {
	RedisBase     string    // redis://host:port, no database
	RedisDB       int       // the database number the bench owns (flushed)
	PostgresAdmin string    // URL of a database the role can CREATE DATABASE from
	DatabaseURL   string    // this figure's own database ("" if it needs none)
	Scale         float64   // 1 = full size
	Providers     Providers // zero when the figure needs none
	ProvidersPID  int
	CPUProfile    string // where the run child writes its CPU profile ("" = none)
	Verbose       bool
	Started       time.Time         // of the whole run, for log prefixes
	Set           map[string]string // -set: NPSGATE_* settings for every gateway (experiments)
}

// dbName is the name of the figure's own database ("" for none).
func (e *Env) dbName() string {
	if e.DatabaseURL == "" {
		return ""
	}
	p := e.DatabaseURL[strings.LastIndex(e.DatabaseURL, "/")+1:]
	p, _, _ = strings.Cut(p, "?")
	return p
}

// RedisURL is the bench's own Redis database.
func (e *Env) RedisURL() string {
	return fmt.Sprintf("%s/%d", strings.TrimRight(e.RedisBase, "/"), e.RedisDB)
}

// Result is what a child reports. The parent adds the peak RSS and the wall
// time of the process.
type Result struct {
	Figure  string             `json:"figure"`
	Phase   string             `json:"phase"`
	Metrics map[string]float64 `json:"metrics"`
	// Size is how many items were measured, Full how many the full-size
	// figure has (they differ when -scale < 1 or the figure was cut short).
	Size, Full int
	Notes      []string           `json:"notes,omitempty"`
	CPU        map[string]float64 `json:"cpu,omitempty"` // cores used during the measured window, by process group
	State      json.RawMessage    `json:"state,omitempty"`
	Err        string             `json:"err,omitempty"`

	// Filled in by the parent.
	MaxRSSMB float64       `json:"max_rss_mb"`
	Wall     time.Duration `json:"wall"`
	Profile  string        `json:"profile,omitempty"`
}

func (r *Result) set(k string, v float64) {
	if r.Metrics == nil {
		r.Metrics = map[string]float64{}
	}
	r.Metrics[k] = v
}

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// Main is the program: the parent by default, a child with -child or
// -providers.
func Main(args []string) int {
	fs := flag.NewFlagSet("npsbench", flag.ContinueOnError)
	var o options
	fs.Float64Var(&o.scale, "scale", 1, "size of every figure: 1 is full size (1,000,000 contacts, 200,000 deliveries …), 0.05 a quick run")
	fs.StringVar(&o.out, "out", "BENCHMARKS.md", "where to write the report (\"\" = only print)")
	fs.StringVar(&o.figures, "figures", "all", "comma-separated figures or groups to run: limits, fanout, dispatch, trigger, inbound, or single names ("+strings.Join(figureNames(), ", ")+")")
	fs.StringVar(&o.profiles, "profiles", "bench/profiles", "directory for CPU profiles of the run children")
	micro := fs.String("micro", "auto", "also run the go test benchmarks of the hot functions (needs the go tool and the source tree): true, false, or auto (at -scale 1 and above)")
	fs.StringVar(&o.analysis, "analysis", "bench/ANALYSIS.md", "hand-written analysis appended to the report when the file exists")
	fs.DurationVar(&o.quiet, "quiet", -1, "before each figure, wait up to this long for other processes' load to drop (a shared machine); 0 = do not wait; default 10s at -scale 0.5 and above, else 0; at most 60s in all")
	fs.BoolVar(&o.keep, "keep", false, "keep the PostgreSQL databases of the figures")
	fs.BoolVar(&o.verbose, "v", false, "log the gateway's warnings and the children's progress in detail")
	o.set = map[string]string{}
	fs.Func("set", "NPSGATE_KEY=value for every gateway under test, e.g. -set NPSGATE_WORKER_POLL_INTERVAL=20ms (repeatable; the report lists them)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || !strings.HasPrefix(k, "NPSGATE_") {
			return fmt.Errorf("want NPSGATE_KEY=value")
		}
		o.set[k] = v
		return nil
	})
	child := fs.String("child", "", "internal: run one phase of a figure")
	phase := fs.String("phase", "run", "internal: setup or run")
	providers := fs.Bool("providers", false, "internal: run the local providers")
	from := fs.String("from", "", "render the report of a saved run (bench/profiles/results.json) without measuring")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch *micro {
	case "auto":
		o.micro = o.scale >= 1
	case "true", "1", "yes":
		o.micro = true
	}
	if o.quiet < 0 {
		o.quiet = 0
		if o.scale >= 0.5 {
			o.quiet = 10 * time.Second
		}
	}
	switch {
	case *providers:
		if err := runProviders(); err != nil {
			fmt.Fprintln(os.Stderr, "providers:", err)
			return 1
		}
		return 0
	case *child != "":
		return runChild(*child, *phase)
	}
	if *from != "" {
		if err := rerender(*from, o); err != nil {
			fmt.Fprintln(os.Stderr, "npsbench:", err)
			return 1
		}
		return 0
	}
	if err := runParent(o); err != nil {
		fmt.Fprintln(os.Stderr, "npsbench:", err)
		return 1
	}
	return 0
}

type options struct {
	scale                            float64
	out, figures, profiles, analysis string
	micro, keep, verbose             bool
	quiet                            time.Duration
	set                              map[string]string
}

// runChild runs one phase of one figure and writes its Result.
func runChild(name, phase string) int {
	var env Env
	if err := json.Unmarshal([]byte(os.Getenv(envEnv)), &env); err != nil {
		fmt.Fprintln(os.Stderr, "child: bad", envEnv, err)
		return 2
	}
	fig, ok := figureByName(name)
	if !ok {
		fmt.Fprintln(os.Stderr, "child: unknown figure", name)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res := &Result{Figure: name, Phase: phase, Metrics: map[string]float64{}}
	c := &childCtx{env: &env, res: res, name: name}
	var err error
	switch phase {
	case "setup":
		if fig.setup != nil {
			err = fig.setup(ctx, c)
		}
	case "run":
		c.state = []byte(os.Getenv(envState))
		err = fig.run(ctx, c)
	default:
		err = fmt.Errorf("unknown phase %q", phase)
	}
	c.stopProfile()
	if err != nil {
		res.Err = err.Error()
	}
	for k, v := range res.Metrics {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			delete(res.Metrics, k) // JSON has no NaN; a missing metric reads as "n/a"
			res.note("metric %s was %v", k, v)
		}
	}
	b, merr := json.Marshal(res)
	if merr != nil {
		b, _ = json.Marshal(&Result{Figure: name, Phase: phase, Err: "encode result: " + merr.Error()})
	}
	if p := os.Getenv(envResult); p != "" {
		if werr := os.WriteFile(p, b, 0o644); werr != nil {
			fmt.Fprintln(os.Stderr, "child: write result:", werr)
			return 1
		}
	} else {
		os.Stdout.Write(append(b, '\n'))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s/%s: %v\n", name, phase, err)
		return 1
	}
	return 0
}

// childCtx is what a figure's phase works with.
type childCtx struct {
	env     *Env
	res     *Result
	name    string
	state   []byte
	profOn  bool
	stalled bool
	cpuFrom cpuSnapshot
}

func (c *childCtx) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "  [%6.1fs] %s: %s\n", time.Since(c.env.Started).Seconds(), c.name, fmt.Sprintf(format, args...))
}

// logger is the gateway's logger: text at the configured level, formatted
// as in production but thrown away (the cost of formatting stays in).
func (c *childCtx) logger() *slog.Logger {
	if c.env.Verbose {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// scaled is n at this run's scale, at least min.
func (c *childCtx) scaled(n, min int) int {
	return max(min, int(float64(n)*c.env.Scale+0.5))
}

// cpuMark is a CPU snapshot for cpuPerOp, with the figure's database
// counters.
func (c *childCtx) cpuMark() cpuSnapshot {
	s := snapshotCPU(c.env.ProvidersPID, c.env.dbName())
	if c.env.DatabaseURL != "" {
		s.pgXacts, s.pgRows, s.pgSessions, s.pgActiveMs, s.pgOK = pgCounters(c.env.DatabaseURL)
	}
	return s
}

// pgCounters reads the database's transactions and rows written so far.
// PostgreSQL publishes them within about a second; the windows are far
// longer. Its own query counts one transaction, which is noise.
func pgCounters(dbURL string) (xacts, rows, sessions int64, activeMs float64, ok bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, 0, 0, 0, false
	}
	defer conn.Close(ctx)
	_, _ = conn.Exec(ctx, "SELECT pg_stat_clear_snapshot()")
	// sessions and active_time (PostgreSQL 14 and later): connections
	// opened, and time the database's backends spent running statements.
	err = conn.QueryRow(ctx, `SELECT xact_commit + xact_rollback, tup_inserted + tup_updated + tup_deleted,
		COALESCE((to_jsonb(d) ->> 'sessions')::bigint, 0), COALESCE((to_jsonb(d) ->> 'active_time')::float8, 0)
		FROM pg_stat_database d WHERE datname = current_database()`).Scan(&xacts, &rows, &sessions, &activeMs)
	return xacts, rows, sessions, activeMs, err == nil
}

// startMeasure begins the measured window: CPU accounting and the CPU
// profile.
func (c *childCtx) startMeasure() {
	c.cpuFrom = c.cpuMark()
	if c.env.CPUProfile != "" && !c.profOn {
		f, err := os.Create(c.env.CPUProfile)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			c.profOn = true
		}
	}
}

// endMeasure ends the measured window and records the CPU each process
// group used in it.
func (c *childCtx) endMeasure() {
	c.stopProfile()
	if c.cpuFrom.at.IsZero() {
		return
	}
	to := c.cpuMark()
	c.res.CPU = cpuSince(c.cpuFrom, to)
	if c.cpuFrom.pgOK && to.pgOK {
		c.res.CPU["pg_busy"] = (to.pgActiveMs - c.cpuFrom.pgActiveMs) / 1000 / to.at.Sub(c.cpuFrom.at).Seconds()
	}
}

func (c *childCtx) stopProfile() {
	if c.profOn {
		pprof.StopCPUProfile()
		c.profOn = false
	}
}

func (c *childCtx) saveState(v any) error {
	b, err := json.Marshal(v)
	c.res.State = b
	return err
}

func (c *childCtx) loadState(v any) error {
	if len(c.state) == 0 {
		return errors.New("no state from the setup phase")
	}
	return json.Unmarshal(c.state, v)
}

// numCPU is what the report calls the machine's cores.
func numCPU() int { return runtime.NumCPU() }
