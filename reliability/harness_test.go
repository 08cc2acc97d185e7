// Package reliability_test is the fault-injection suite (issue 10): it
// builds cmd/npsgate once, runs it as separate api and worker processes on
// real Redis and PostgreSQL with local SMTP, Twilio and chat servers, and
// crashes, stops, restarts and cuts off the processes and the services
// under them, checking what the README promises.
//
//	make reliability                       # on the local Redis and PostgreSQL
//	NPSGATE_RELIABILITY_BUGS=1 make reliability   # also the tests of known bugs
//
// It needs NPSGATE_TEST_REDIS and NPSGATE_TEST_POSTGRES (it skips without
// them, and with -short), uses database 13 of that Redis, and a
// redis-server of its own (from PATH) for the restart test. Each test logs
// its measurements on lines starting with RESULT. NPSGATE_RELIABILITY_LOGS
// names a directory for every process's log; NPSGATE_RELIABILITY_BINARY a
// prebuilt binary to test instead of building one.
package reliability_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/npsgate/npsgate/internal/smtptest"
	"github.com/npsgate/npsgate/internal/testenv"
)

const (
	apiKey    = "reliability-key-0123456789abcdef"
	publicURL = "https://nps.example.com"

	// redisDB is the database of NPSGATE_TEST_REDIS this package owns
	// (internal/testenv gives 1-5 to other packages, bench takes 15). The
	// tests of the package run one after another, never in parallel.
	redisDB = 13
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// requireServices skips unless the suite can run: not -short, and real
// Redis and PostgreSQL named by NPSGATE_TEST_REDIS and NPSGATE_TEST_POSTGRES.
func requireServices(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("reliability suite: skipped with -short (it builds the binary and runs it for minutes)")
	}
	if os.Getenv("NPSGATE_TEST_REDIS") == "" || os.Getenv(testenv.PostgresEnv) == "" {
		t.Skip("reliability suite needs real services: set NPSGATE_TEST_REDIS (e.g. redis://127.0.0.1:6379) and " +
			"NPSGATE_TEST_POSTGRES (e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable), or run `make reliability`")
	}
}

// bugsEnv, when set, runs the tests that show known bugs instead of
// skipping them: the way to check a fix.
const bugsEnv = "NPSGATE_RELIABILITY_BUGS"

// fixedBug marks a test that once failed because of the bug it describes;
// it now runs as the regression test of the fix.
func fixedBug(t *testing.T, what string) {
	t.Helper()
	t.Logf("regression test for a fixed bug: %.120s…", what)
}

// knownBug skips a test that fails because of the bug it describes,
// unless NPSGATE_RELIABILITY_BUGS is set.
func knownBug(t *testing.T, what string) {
	t.Helper()
	if os.Getenv(bugsEnv) == "" {
		t.Skip("BUG: " + what + " (set " + bugsEnv + "=1 to run it)")
	}
	t.Log("known bug, running because " + bugsEnv + " is set: " + what)
}

// logsEnv names a directory that receives every process's whole log
// (CI artifacts); without it a failed test shows the last lines.
const logsEnv = "NPSGATE_RELIABILITY_LOGS"

// binaryEnv names a prebuilt binary to test instead of building one (a
// release candidate, or a build of another checkout).
const binaryEnv = "NPSGATE_RELIABILITY_BINARY"

// binary builds cmd/npsgate once per test run (or takes NPSGATE_RELIABILITY_BINARY).
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv(binaryEnv); p != "" {
			binPath, buildErr = filepath.Abs(p)
			return
		}
		buildDir, buildErr = os.MkdirTemp("", "npsgate-reliability-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "npsgate")
		start := time.Now()
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/npsgate/npsgate/cmd/npsgate")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/npsgate: %v\n%s", err, out)
			return
		}
		fmt.Fprintf(os.Stderr, "reliability: built %s in %s\n", binPath, time.Since(start).Round(time.Millisecond))
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// sharedRedis hands the test database redisDB of NPSGATE_TEST_REDIS,
// flushed before and after.
func sharedRedis(t *testing.T) string {
	t.Helper()
	base := strings.TrimRight(os.Getenv("NPSGATE_TEST_REDIS"), "/")
	if i := strings.LastIndex(base, "/"); i > len("redis://") {
		base = base[:i] // a database given in the variable is not ours
	}
	raw := fmt.Sprintf("%s/%d", base, redisDB)
	opt, err := redis.ParseURL(raw)
	if err != nil {
		t.Fatalf("NPSGATE_TEST_REDIS: %v", err)
	}
	flush := func() {
		c := redis.NewClient(opt)
		defer c.Close()
		if err := c.FlushDB(context.Background()).Err(); err != nil {
			t.Fatalf("flush redis db %d: %v", redisDB, err)
		}
	}
	flush()
	t.Cleanup(flush)
	return raw
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// cluster is one deployment: a database, a Redis, an SMTP server and the
// processes of the binary that share them.
type cluster struct {
	t    *testing.T
	env  map[string]string
	db   *pgxpool.Pool // straight to PostgreSQL, for the test's own checks
	smtp *smtptest.Server

	mu    sync.Mutex
	procs []*proc
}

type clusterOpts struct {
	redisURL string // default: sharedRedis
	// dbVia, when set, turns the test database's URL into the one the
	// processes get (through a proxy); by default they use it as it is.
	dbVia func(t *testing.T, direct string) string
	smtp  []smtptest.Option
	env   map[string]string
}

// newCluster creates a fresh PostgreSQL database, migrates it with
// `npsgate migrate` and starts the SMTP server. No gateway process runs yet.
func newCluster(t *testing.T, o clusterOpts) *cluster {
	t.Helper()
	requireServices(t)
	bin := binary(t)
	dbURL := testenv.PostgresURL(t)
	if o.redisURL == "" {
		o.redisURL = sharedRedis(t)
	}
	gatewayDB := dbURL
	if o.dbVia != nil {
		gatewayDB = o.dbVia(t, dbURL)
	}
	c := &cluster{t: t, smtp: smtptest.Start(t, o.smtp...)}
	c.env = map[string]string{
		"NPSGATE_PUBLIC_URL":                     publicURL,
		"NPSGATE_REDIS_URL":                      o.redisURL,
		"NPSGATE_DATABASE_URL":                   gatewayDB,
		"NPSGATE_SMTP_URL":                       "smtp://" + c.smtp.Addr(),
		"NPSGATE_SMTP_FROM":                      "Acme NPS <nps@acme.example>",
		"NPSGATE_SMTP_STARTTLS":                  "none",
		"NPSGATE_API_KEYS":                       apiKey,
		"NPSGATE_WORKER_RETRY_BASE_DELAY":        "50ms",
		"NPSGATE_WORKER_POLL_INTERVAL":           "50ms",
		"NPSGATE_WORKER_SCHEDULER_INTERVAL":      "100ms",
		"NPSGATE_SHUTDOWN_TIMEOUT":               "10s",
		"NPSGATE_SECURITY_ALLOW_PRIVATE_TARGETS": "true",
		"NPSGATE_LOG_LEVEL":                      "info",
	}
	for k, v := range o.env {
		c.env[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	mig := exec.CommandContext(ctx, bin, "migrate")
	mig.Env = c.environ(map[string]string{"NPSGATE_DATA_DIR": t.TempDir(), "NPSGATE_DATABASE_URL": dbURL})
	if out, err := mig.CombinedOutput(); err != nil {
		t.Fatalf("npsgate migrate: %v\n%s", err, out)
	}
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	c.db = pool
	// Registered after the database's drop, so it runs before it.
	t.Cleanup(pool.Close)
	t.Cleanup(c.shutdown)
	return c
}

// environ is the process environment: the test's own without NPSGATE_*,
// then the cluster's, then extra.
func (c *cluster) environ(extra map[string]string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NPSGATE_") {
			out = append(out, kv)
		}
	}
	for k, v := range c.env {
		if _, over := extra[k]; !over {
			out = append(out, k+"="+v)
		}
	}
	for k, v := range extra {
		out = append(out, k+"="+v)
	}
	return out
}

// proc is one running `npsgate <role>`.
type proc struct {
	t       *testing.T
	name    string
	role    string
	cmd     *exec.Cmd
	base    string // http://addr for api and serve
	logPath string
	logFile *os.File
	exited  chan struct{}
	waitErr error
	http    *http.Client
}

// start runs `npsgate <role>` and waits until it is up: /readyz answers
// 200 for api and serve, the log says "worker started" for a worker.
func (c *cluster) start(name, role string, extra map[string]string) *proc {
	c.t.Helper()
	p := c.launch(name, role, extra)
	if err := p.waitUp(30 * time.Second); err != nil {
		c.t.Fatalf("%s: %v\n%s", name, err, p.tail(40))
	}
	return p
}

func (c *cluster) launch(name, role string, extra map[string]string) *proc {
	c.t.Helper()
	env := map[string]string{"NPSGATE_DATA_DIR": c.t.TempDir()}
	p := &proc{t: c.t, name: name, role: role, exited: make(chan struct{}),
		http: &http.Client{Timeout: 20 * time.Second}}
	if role != "worker" {
		addr := freeAddr(c.t)
		env["NPSGATE_HTTP_ADDR"] = addr
		p.base = "http://" + addr
	} else {
		// Several workers share this host: each its own ops port.
		env["NPSGATE_WORKER_OPS_ADDR"] = "127.0.0.1:0"
	}
	// Each process's database sessions carry its name, so a test can wait
	// for a killed one's last statement (see cluster.waitSessionsGone).
	env["NPSGATE_DATABASE_URL"] = withAppName(c.env["NPSGATE_DATABASE_URL"], name)
	for k, v := range extra {
		env[k] = v
	}
	p.logPath = filepath.Join(c.t.TempDir(), name+".log")
	f, err := os.Create(p.logPath)
	if err != nil {
		c.t.Fatal(err)
	}
	p.logFile = f
	p.cmd = exec.Command(binary(c.t), role)
	p.cmd.Env = c.environ(env)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	orphanProof(p.cmd)
	if err := p.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return p
}

func (p *proc) waitUp(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("exited at start: %v", p.waitErr)
		default:
		}
		if p.base != "" {
			if code, _, err := p.do("GET", "/readyz", nil); err == nil && code == 200 {
				return nil
			}
		} else if strings.Contains(p.logs(), "worker started") {
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("not up after %s", timeout)
}

// kill9 is a crash: SIGKILL, no shutdown at all.
func (p *proc) kill9() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatalf("kill %s: %v", p.name, err)
	}
	<-p.exited
}

// term sends SIGTERM and waits for the exit; it returns how long the
// shutdown took and the exit error (nil for status 0).
func (p *proc) term(timeout time.Duration) (time.Duration, error) {
	p.t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("SIGTERM %s: %v", p.name, err)
	}
	select {
	case <-p.exited:
		return time.Since(start), p.waitErr
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return time.Since(start), fmt.Errorf("%s did not exit within %s of SIGTERM", p.name, timeout)
	}
}

func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func (p *proc) logs() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

func (p *proc) tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.logs(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// countLog counts log lines containing s.
func (p *proc) countLog(s string) int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(p.logs()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			n++
		}
	}
	return n
}

// shutdown kills whatever still runs and, when the test failed, shows
// the end of every process's log.
func (c *cluster) shutdown() {
	c.mu.Lock()
	procs := append([]*proc(nil), c.procs...)
	c.mu.Unlock()
	for _, p := range procs {
		if p.running() {
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.exited
		}
		_ = p.logFile.Close()
		if dir := os.Getenv(logsEnv); dir != "" {
			name := strings.NewReplacer("/", "_", " ", "_").Replace(c.t.Name()) + "-" + p.name + ".log"
			if b, err := os.ReadFile(p.logPath); err == nil && os.MkdirAll(dir, 0o755) == nil {
				_ = os.WriteFile(filepath.Join(dir, name), b, 0o644)
			}
		}
		if c.t.Failed() {
			c.t.Logf("---- last lines of %s (%s) ----\n%s", p.name, p.role, p.tail(30))
		}
	}
}

// do is one API call; body is JSON-encoded unless it is an io.Reader.
func (p *proc) do(method, path string, body any) (int, map[string]any, error) {
	var rd io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd, ct = b, "text/csv"
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, p.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", ct)
	resp, err := p.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			return resp.StatusCode, nil, fmt.Errorf("%s %s: %d, not JSON: %.200s", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, out, nil
}

// api is do for calls that must get an answer.
func (p *proc) api(method, path string, body any) (int, map[string]any) {
	p.t.Helper()
	code, out, err := p.do(method, path, body)
	if err != nil {
		p.t.Fatalf("%s: %s %s: %v", p.name, method, path, err)
	}
	return code, out
}

// must is api for calls that must answer want.
func (p *proc) must(want int, method, path string, body any) map[string]any {
	p.t.Helper()
	code, out := p.api(method, path, body)
	if code != want {
		p.t.Fatalf("%s: %s %s: %d %v, want %d", p.name, method, path, code, out, want)
	}
	return out
}

// ---- what the test sets up through the API ----

// survey creates an email survey without reminders, so that every
// delivery of a test is one it made.
func (p *proc) survey(key string, channels []string, extra map[string]any) {
	p.t.Helper()
	body := map[string]any{"key": key, "kind": "nps", "product_name": "Acme Cloud", "channels": channels, "reminders": []any{}}
	for k, v := range extra {
		body[k] = v
	}
	p.must(201, "POST", "/v1/surveys", body)
}

// importContacts imports n contacts <prefix>00000…, each with its own
// email address and account.
func (p *proc) importContacts(prefix string, n int) {
	p.t.Helper()
	var csv bytes.Buffer
	csv.WriteString("external_id,email,locale,account,role\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&csv, "%s%05d,%s%05d@customer.example,en,acct-%d,admin\n", prefix, i, prefix, i, i)
	}
	out := p.must(201, "POST", "/v1/contacts/import?filename=contacts.csv", &csv)
	if out["imported"] != float64(n) {
		p.t.Fatalf("import: %v", out)
	}
}

// campaign creates a one-off campaign for every contact matching aud,
// due now, and schedules it; it returns its ID.
func (p *proc) campaign(survey, aud string) string {
	p.t.Helper()
	at := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339)
	cp := p.must(201, "POST", "/v1/campaigns", map[string]any{"name": "reliability " + survey, "survey": survey, "audience": aud,
		"schedule": map[string]any{"kind": "once", "at": at, "time_zone": "UTC"}})
	id := cp["id"].(string)
	p.must(200, "POST", "/v1/campaigns/"+id+"/schedule", nil)
	return id
}

// ---- what the test reads from the database ----

var finalStatuses = map[string]bool{"sent": true, "delivered": true, "responded": true, "suppressed": true, "failed": true}

// statusCounts counts deliveries by status.
func (c *cluster) statusCounts() map[string]int {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := c.db.Query(ctx, `SELECT status, count(*) FROM deliveries GROUP BY status`)
	if err != nil {
		c.t.Fatalf("count deliveries: %v", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			c.t.Fatal(err)
		}
		out[s] = n
	}
	if err := rows.Err(); err != nil {
		c.t.Fatal(err)
	}
	return out
}

// deliveryIDs lists the deliveries in a status.
func (c *cluster) deliveryIDs(status string) []string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := c.db.Query(ctx, `SELECT id FROM deliveries WHERE status = $1 ORDER BY id`, status)
	if err != nil {
		c.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			c.t.Fatal(err)
		}
		out = append(out, id)
	}
	return out
}

// withAppName sets PostgreSQL's application_name in a connection URL.
func withAppName(dbURL, name string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		return dbURL
	}
	q := u.Query()
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// waitSessionsGone waits until the database has no session of the process
// named name. A statement the process sent just before it was killed still
// runs, and commits, after the process is gone; its session ends only once
// the server has finished it and read the closed socket. A snapshot taken
// before then can see a delivery "sending" that is about to be "sent".
func (c *cluster) waitSessionsGone(name string, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		n := c.count(`SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, name)
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%d database sessions of %s still open %s after it was killed", n, name, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *cluster) count(query string, args ...any) int {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n int
	if err := c.db.QueryRow(ctx, query, args...).Scan(&n); err != nil {
		c.t.Fatalf("%s: %v", query, err)
	}
	return n
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// waitFinal waits until want deliveries exist and every one of them is in
// a final state; it returns the counts and how long it waited.
func (c *cluster) waitFinal(want int, timeout time.Duration) (map[string]int, time.Duration) {
	c.t.Helper()
	start := time.Now()
	var counts map[string]int
	for {
		counts = c.statusCounts()
		final := 0
		for s, n := range counts {
			if finalStatuses[s] {
				final += n
			}
		}
		if total(counts) >= want && final == total(counts) {
			return counts, time.Since(start)
		}
		if time.Since(start) > timeout {
			c.t.Fatalf("after %s: %d deliveries, want %d, all final: %v", timeout, total(counts), want, counts)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ---- what the SMTP server received ----

// received counts the messages per X-NPSGate-Delivery header.
func received(msgs []smtptest.Message) map[string]int {
	out := map[string]int{}
	for _, m := range msgs {
		out[deliveryHeader(m)]++
	}
	return out
}

func deliveryHeader(m smtptest.Message) string {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return ""
	}
	return msg.Header.Get("X-NPSGate-Delivery")
}

// duplicates lists the deliveries received more than once, with how many
// extra copies in all.
func duplicates(per map[string]int) ([]string, int) {
	var ids []string
	extra := 0
	for id, n := range per {
		if n > 1 {
			ids = append(ids, id)
			extra += n - 1
		}
	}
	sort.Strings(ids)
	return ids, extra
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("%s: not after %s", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// slowSMTP makes the server take d over each message after reading it and
// before accepting it, as a busy relay does. The message counts as
// received even when the client has gone meanwhile: the relay has it.
func slowSMTP(d time.Duration) smtptest.Option {
	return smtptest.WithReply(smtptest.AtData, func(string, int) *smtp.SMTPError {
		time.Sleep(d)
		return nil
	})
}
