package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

const benchRedisDB = 15

// quietSpent is how long the run has waited for a quiet machine.
var quietSpent time.Duration

// run is everything one `npsbench` run measured. It is saved as
// <profiles>/results.json, from which -from renders the report again.
type run struct {
	opts     options
	Scale    float64
	Set      map[string]string
	Started  time.Time
	Took     time.Duration
	Results  map[string]*Result
	Order    []string
	Micro    []microResult
	MicroErr string
	Machine  machineInfo
}

type machineInfo struct {
	Cores            int
	MemMB            float64
	CPU              string
	Go               string
	Commit           string
	Postgres, Redis  string
	PostgresSettings string
}

func runParent(o options) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := Env{
		RedisBase:     strings.TrimRight(getenv("NPSGATE_TEST_REDIS", "redis://127.0.0.1:6379"), "/"),
		RedisDB:       benchRedisDB,
		PostgresAdmin: getenv("NPSGATE_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		Scale:         o.scale,
		Verbose:       o.verbose,
		Started:       time.Now(),
		Set:           o.set,
	}
	// A redis URL with a database path: keep host and port only.
	if i := strings.Index(strings.TrimPrefix(strings.TrimPrefix(env.RedisBase, "redis://"), "rediss://"), "/"); i >= 0 {
		pre := len(env.RedisBase) - len(strings.TrimPrefix(strings.TrimPrefix(env.RedisBase, "redis://"), "rediss://"))
		env.RedisBase = env.RedisBase[:pre+i]
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if o.profiles != "" {
		if o.profiles, err = filepath.Abs(o.profiles); err != nil {
			return err
		}
		if err := os.MkdirAll(o.profiles, 0o755); err != nil {
			return err
		}
	}
	r := &run{opts: o, Scale: o.scale, Set: o.set, Started: env.Started, Results: map[string]*Result{}}
	r.Machine = describeMachine(ctx, &env)
	figs := selectFigures(o.figures)
	if len(figs) == 0 {
		return fmt.Errorf("-figures %q selects nothing (have %s)", o.figures, strings.Join(figureNames(), ", "))
	}
	fmt.Fprintf(os.Stderr, "npsbench: scale %g, %d figures, Redis %s db %d, PostgreSQL %s\n",
		o.scale, len(figs), env.RedisBase, env.RedisDB, redactURL(env.PostgresAdmin))
	for _, f := range figs {
		if ctx.Err() != nil {
			break
		}
		res := runFigure(ctx, self, env, f, o)
		r.Results[f.name] = res
		r.Order = append(r.Order, f.name)
		if res.Err != "" {
			fmt.Fprintf(os.Stderr, "  %s: FAILED: %s\n", f.name, res.Err)
		}
	}
	if o.micro && ctx.Err() == nil {
		r.Micro, r.MicroErr = runMicro(ctx)
	}
	r.Took = time.Since(r.Started)
	if o.profiles != "" {
		if b, err := json.MarshalIndent(r, "", "  "); err == nil {
			_ = os.WriteFile(filepath.Join(o.profiles, "results.json"), b, 0o644)
		}
	}
	return writeReport(r, o)
}

// writeReport prints the table and writes the Markdown report.
func writeReport(r *run, o options) error {
	rep := buildReport(r)
	fmt.Println()
	fmt.Print(rep.terminal())
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(rep.markdown()), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "npsbench: wrote %s (%.0fs)\n", o.out, r.Took.Seconds())
	}
	return nil
}

// rerender renders the report of a saved run (-from results.json).
func rerender(path string, o options) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var r run
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	o.scale, o.set = r.Scale, r.Set
	r.opts = o
	return writeReport(&r, o)
}

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func redactURL(u string) string {
	if i := strings.Index(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			return u[:j+3] + "…" + u[i:]
		}
	}
	return u
}

// runFigure gives the figure a fresh Redis database, its own PostgreSQL
// database and fresh providers, then runs its setup and run children.
func runFigure(ctx context.Context, self string, env Env, f figure, o options) *Result {
	start := time.Now()
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(env.Started).Seconds(), f.name)
	fail := func(err error) *Result { return &Result{Figure: f.name, Err: err.Error()} }
	var busy float64
	if o.quiet > 0 && quietSpent < time.Minute {
		t := time.Now()
		busy = waitQuiet(min(o.quiet, time.Minute-quietSpent))
		quietSpent += time.Since(t)
	}
	if err := flushRedis(ctx, &env); err != nil {
		return fail(fmt.Errorf("redis: %w", err))
	}
	defer flushRedis(context.Background(), &env)
	if f.db {
		u, err := createDatabase(ctx, env.PostgresAdmin, f.name)
		if err != nil {
			return fail(fmt.Errorf("postgres: %w", err))
		}
		env.DatabaseURL = u
		if !o.keep {
			defer func() {
				if err := dropDatabase(context.Background(), env.PostgresAdmin, u); err != nil {
					fmt.Fprintf(os.Stderr, "  %s: drop database: %v\n", f.name, err)
				}
			}()
		}
	}
	var pp *providerProc
	if f.providers {
		p, err := startProviders(self)
		if err != nil {
			return fail(err)
		}
		pp = p
		env.Providers, env.ProvidersPID = p.addrs, p.cmd.Process.Pid
		defer func() {
			if pp != nil {
				pp.stop()
			}
		}()
	}
	var state json.RawMessage
	if f.setup != nil {
		sres := runPhase(ctx, self, env, f.name, "setup", nil)
		if sres.Err != "" {
			sres.Err = "setup: " + sres.Err
			return sres
		}
		state = sres.State
		fmt.Fprintf(os.Stderr, "  [%6.1fs] %s: setup took %.1fs\n", time.Since(env.Started).Seconds(), f.name, sres.Wall.Seconds())
	}
	if o.profiles != "" {
		env.CPUProfile = filepath.Join(o.profiles, f.name+".pprof")
	}
	res := runPhase(ctx, self, env, f.name, "run", state)
	res.Profile = env.CPUProfile
	if o.quiet > 0 {
		res.set("busy_before", busy)
	}
	if pp != nil {
		res.set("providers_rss_mb", pp.stop())
		pp = nil
	}
	fmt.Fprintf(os.Stderr, "  [%6.1fs] %s: done in %.1fs (run %.1fs, peak RSS %.0f MB)\n",
		time.Since(env.Started).Seconds(), f.name, time.Since(start).Seconds(), res.Wall.Seconds(), res.MaxRSSMB)
	return res
}

// runPhase runs one child and reads its Result; its peak RSS is the
// child's ru_maxrss.
func runPhase(ctx context.Context, self string, env Env, name, phase string, state json.RawMessage) *Result {
	fail := func(err error) *Result { return &Result{Figure: name, Phase: phase, Err: err.Error()} }
	tmp, err := os.CreateTemp("", "npsbench-result-")
	if err != nil {
		return fail(err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	eb, _ := json.Marshal(env)
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, self, "-child", name, "-phase", phase)
	cmd.Env = append(os.Environ(), envEnv+"="+string(eb), envResult+"="+tmp.Name(), envState+"="+string(state))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	start := time.Now()
	runErr := cmd.Run()
	wall := time.Since(start)
	res := &Result{Figure: name, Phase: phase}
	if b, err := os.ReadFile(tmp.Name()); err == nil && len(b) > 0 {
		if err := json.Unmarshal(b, res); err != nil {
			res.Err = "bad result: " + err.Error()
		}
	} else if runErr != nil {
		res.Err = runErr.Error()
	} else {
		res.Err = "no result"
	}
	if res.Err == "" && runErr != nil {
		res.Err = runErr.Error()
	}
	res.Wall = wall
	if cmd.ProcessState != nil {
		res.MaxRSSMB = maxRSSMB(cmd.ProcessState)
	}
	return res
}

func maxRSSMB(ps *os.ProcessState) float64 {
	if ps == nil {
		return 0
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return float64(ru.Maxrss) / 1024 // kB on Linux
	}
	return 0
}

// describeMachine gathers what the report says about the machine.
func describeMachine(ctx context.Context, env *Env) machineInfo {
	m := machineInfo{Cores: numCPU(), MemMB: memTotalMB(), CPU: cpuModel(), Go: runtime.Version()}
	if out, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(cctx, env.PostgresAdmin); err == nil {
		var v string
		_ = conn.QueryRow(cctx, "SHOW server_version").Scan(&v)
		m.Postgres = v
		var sets []string
		for _, k := range []string{"shared_buffers", "synchronous_commit", "fsync", "max_connections"} {
			var val string
			if conn.QueryRow(cctx, "SHOW "+k).Scan(&val) == nil {
				sets = append(sets, k+"="+val)
			}
		}
		m.PostgresSettings = strings.Join(sets, ", ")
		conn.Close(cctx)
	}
	if opt, err := redis.ParseURL(env.RedisURL()); err == nil {
		c := redis.NewClient(opt)
		if info, err := c.Info(cctx, "server").Result(); err == nil {
			for _, l := range strings.Split(info, "\n") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(l), "redis_version:"); ok {
					m.Redis = v
				}
			}
		}
		c.Close()
	}
	return m
}

// --- go test benchmarks of the hot functions ---

type microResult struct {
	Pkg, Name                     string
	NsPerOp, BytesPerOp, AllocsOp float64
}

var (
	benchLine   = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op`)
	benchBytes  = regexp.MustCompile(`\s([\d.]+) B/op`)
	benchAllocs = regexp.MustCompile(`\s([\d.]+) allocs/op`)
)

// runMicro runs `go test -bench` on every package with benchmarks, on
// miniredis and SQLite: the NPSGATE_TEST_* variables are removed so that
// no package flushes a shared Redis database another run is using.
func runMicro(ctx context.Context) ([]microResult, string) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return nil, "go tool not found: " + err.Error()
	}
	var pkgs []string
	seen := map[string]bool{}
	_ = filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && p != "." || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte("\nfunc Benchmark")) {
			dir := "./" + filepath.Dir(p)
			if !seen[dir] {
				seen[dir] = true
				pkgs = append(pkgs, dir)
			}
		}
		return nil
	})
	if len(pkgs) == 0 {
		return nil, "no benchmarks found (run from the source tree)"
	}
	sort.Strings(pkgs)
	fmt.Fprintf(os.Stderr, "go test -bench on %s\n", strings.Join(pkgs, " "))
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	args := append([]string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", "300ms", "-count", "1"}, pkgs...)
	cmd := exec.CommandContext(ctx, goTool, args...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NPSGATE_TEST_") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	var res []microResult
	pkg := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		l := sc.Text()
		if p, ok := strings.CutPrefix(l, "pkg: "); ok {
			pkg = strings.TrimPrefix(p, "github.com/npsgate/npsgate/")
			continue
		}
		m := benchLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		r := microResult{Pkg: pkg, Name: m[1]}
		r.NsPerOp, _ = strconv.ParseFloat(m[2], 64)
		if b := benchBytes.FindStringSubmatch(l); b != nil {
			r.BytesPerOp, _ = strconv.ParseFloat(b[1], 64)
		}
		if a := benchAllocs.FindStringSubmatch(l); a != nil {
			r.AllocsOp, _ = strconv.ParseFloat(a[1], 64)
		}
		res = append(res, r)
	}
	msg := ""
	if err != nil {
		tail := string(out)
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		msg = fmt.Sprintf("go test -bench: %v\n%s", err, tail)
	}
	return res, msg
}

// pprofTop is the head of `go tool pprof -top` of a profile.
func pprofTop(profile string, cum bool, n int) string {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return ""
	}
	args := []string{"tool", "pprof", "-top", "-nodecount=" + strconv.Itoa(n)}
	if cum {
		args = append(args, "-cum")
	}
	out, err := exec.Command(goTool, append(args, profile)...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimRight(string(out), "\n")
}
