package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/npsgate/npsgate/config"
	"github.com/npsgate/npsgate/gateway"
	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
)

// roleVars is the configuration of one process of a split deployment;
// the processes share redisURL and dbURL. No SMTP: email goes to the outbox.
func roleVars(t *testing.T, redisURL, dbURL string, extra map[string]string) map[string]string {
	vars := map[string]string{
		"NPSGATE_PUBLIC_URL":       publicURL,
		"NPSGATE_DATA_DIR":         t.TempDir(),
		"NPSGATE_REDIS_URL":        redisURL,
		"NPSGATE_DATABASE_URL":     dbURL,
		"NPSGATE_API_KEYS":         apiKey,
		"NPSGATE_SHUTDOWN_TIMEOUT": "2s",
		// Any free port, so that tests never meet a real :9091.
		"NPSGATE_WORKER_OPS_ADDR": "127.0.0.1:0",
	}
	for k, v := range extra {
		vars[k] = v
	}
	return vars
}

func newGateway(t *testing.T, role gateway.Role, vars map[string]string) (*gateway.Gateway, error) {
	t.Helper()
	cfg, err := config.Load("", func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	var out io.Writer = io.Discard
	if testing.Verbose() {
		out = testWriter{t}
	}
	return gateway.New(context.Background(), cfg, role, slog.New(slog.NewTextHandler(out, nil)))
}

// runGateway runs g until the returned stop is called (or the test ends).
func runGateway(t *testing.T, g *gateway.Gateway) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	var stopped bool
	var result error
	stop = func() error {
		if stopped {
			return result
		}
		stopped = true
		cancel()
		select {
		case result = <-done:
		case <-time.After(30 * time.Second):
			result = errors.New("gateway did not stop")
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// get fetches url, retrying until the server is up, and returns the status
// and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode, string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// opsBase is the base URL of a worker's ops endpoints.
func opsBase(t *testing.T, g *gateway.Gateway) string {
	t.Helper()
	a := g.OpsAddr()
	if a == nil {
		t.Fatal("the worker opened no ops endpoints")
	}
	return "http://" + a.String()
}

type readiness struct {
	Ready  bool              `json:"ready"`
	Checks map[string]string `json:"checks"`
}

func readyz(t *testing.T, base string) (int, readiness) {
	t.Helper()
	code, body := get(t, base+"/readyz")
	var r readiness
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("/readyz: not JSON: %q", body)
	}
	return code, r
}

// gateDecisions returns the npsgate_gate_decisions_total samples of a
// Prometheus exposition with decision="suppressed".
func gateDecisions(exposition string) []string {
	var out []string
	for _, line := range strings.Split(exposition, "\n") {
		if strings.HasPrefix(line, `npsgate_gate_decisions_total{decision="suppressed"`) {
			out = append(out, line)
		}
	}
	return out
}

// TestWorkerOpsEndpoints runs api and worker as separate processes would,
// on one Redis and one database, and scrapes the worker's own endpoints:
// the send gate counts in the worker, so only the worker can expose it.
func TestWorkerOpsEndpoints(t *testing.T) {
	redisURL, dbURL := testenv.RedisURL(t, testenv.RedisDBGateway), testenv.DatabaseURL(t)
	// Separate roles do not migrate a shared PostgreSQL: `npsgate migrate` does.
	st, err := store.Open(context.Background(), dbURL, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	st.Close()

	apiAddr := freeAddr(t)
	api, err := newGateway(t, gateway.RoleAPI, roleVars(t, redisURL, dbURL, map[string]string{"NPSGATE_HTTP_ADDR": apiAddr}))
	if err != nil {
		t.Fatal(err)
	}
	if api.OpsAddr() != nil {
		t.Fatalf("the api role serves operations on its API; it opened %v too", api.OpsAddr())
	}
	if _, err := api.Listen(); err != nil {
		t.Fatal(err)
	}
	runGateway(t, api)
	worker, err := newGateway(t, gateway.RoleWorker, roleVars(t, redisURL, dbURL, nil))
	if err != nil {
		t.Fatal(err)
	}
	if worker.Handler() != nil {
		t.Fatal("a worker serves no API")
	}
	ops := opsBase(t, worker)
	stopWorker := runGateway(t, worker)

	if code, body := get(t, ops+"/healthz"); code != 200 || strings.TrimSpace(body) != `{"status":"ok"}` {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	if code, r := readyz(t, ops); code != 200 || !r.Ready || r.Checks["database"] != "ok" || r.Checks["redis"] != "ok" {
		t.Fatalf("/readyz: %d %+v", code, r)
	}
	code, before := get(t, ops+"/metrics")
	if code != 200 || !strings.Contains(before, "go_goroutines ") || !strings.Contains(before, "process_start_time_seconds ") {
		t.Fatalf("/metrics: %d\n%s", code, before)
	}
	if got := gateDecisions(before); len(got) != 0 {
		t.Fatalf("held-back deliveries counted before any: %q", got)
	}

	// One survey through the outbox, then a second to the same contact,
	// which the worker's gate holds back (the contact is resting).
	r := &running{t: t, base: "http://" + apiAddr}
	if code, body := r.api("POST", "/v1/surveys", map[string]any{
		"key": "onboarding", "kind": "nps", "product_name": "Acme", "channels": []string{"email"},
	}); code != 201 {
		t.Fatalf("create survey: %d %v", code, body)
	}
	contact := map[string]any{"external_id": "c-1", "email": "ada@customer.example"}
	_, tr := r.api("POST", "/v1/triggers", map[string]any{"survey": "onboarding", "contact": contact})
	r.waitStatus(tr["delivery_id"].(string), "sent")
	_, tr = r.api("POST", "/v1/triggers", map[string]any{"survey": "onboarding", "contact": contact})
	r.waitStatus(tr["delivery_id"].(string), "suppressed")

	_, after := get(t, ops+"/metrics")
	got := gateDecisions(after)
	if len(got) != 1 || !strings.HasSuffix(got[0], "} 1") {
		t.Fatalf("the worker's /metrics must count the held-back delivery once, got %q", got)
	}
	if _, apiMetrics := get(t, "http://"+apiAddr+"/metrics"); len(gateDecisions(apiMetrics)) != 0 {
		t.Fatalf("the api process counted a decision it did not make: %q", gateDecisions(apiMetrics))
	}

	if err := stopWorker(); err != nil {
		t.Fatalf("worker shutdown: %v", err)
	}
	if conn, err := net.DialTimeout("tcp", strings.TrimPrefix(ops, "http://"), time.Second); err == nil {
		conn.Close()
		t.Fatal("the ops endpoints still listen after the worker stopped")
	}
}

// TestWorkerReadyzWithoutRedis: a worker whose Redis is gone is alive but
// not ready, and says which dependency failed.
func TestWorkerReadyzWithoutRedis(t *testing.T) {
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	worker, err := newGateway(t, gateway.RoleWorker, roleVars(t, "redis://"+m.Addr()+"/0", testenv.SQLiteURL(t), nil))
	if err != nil {
		t.Fatal(err)
	}
	ops := opsBase(t, worker)
	stop := runGateway(t, worker)
	if code, r := readyz(t, ops); code != 200 || !r.Ready {
		t.Fatalf("/readyz with Redis up: %d %+v", code, r)
	}

	m.Close()
	code, r := readyz(t, ops)
	if code != http.StatusServiceUnavailable || r.Ready || r.Checks["database"] != "ok" ||
		r.Checks["redis"] == "" || r.Checks["redis"] == "ok" {
		t.Fatalf("/readyz with Redis gone: %d %+v", code, r)
	}
	if code, _ := get(t, ops+"/healthz"); code != 200 {
		t.Fatalf("/healthz with Redis gone: %d (the process is up)", code)
	}
	if code, _ := get(t, ops+"/metrics"); code != 200 {
		t.Fatalf("/metrics with Redis gone: %d", code)
	}
	if err := stop(); err != nil {
		t.Fatalf("shutdown with Redis gone: %v", err)
	}
}

// TestWorkerOpsAddr covers which roles open the ops endpoints and what an
// unusable address does.
func TestWorkerOpsAddr(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	tests := []struct {
		name    string
		role    gateway.Role
		addr    string
		wantOps bool
		wantErr bool // a config error naming worker.ops_addr
	}{
		{name: "worker", role: gateway.RoleWorker, addr: "127.0.0.1:0", wantOps: true},
		{name: "worker off", role: gateway.RoleWorker, addr: "none"},
		{name: "worker port taken", role: gateway.RoleWorker, addr: taken.Addr().String(), wantErr: true},
		{name: "worker host not local", role: gateway.RoleWorker, addr: "192.0.2.1:0", wantErr: true},
		// serve and api have the endpoints on the API; the setting, even
		// an unusable one, is not theirs.
		{name: "serve ignores it", role: gateway.RoleAll, addr: taken.Addr().String()},
		{name: "api ignores it", role: gateway.RoleAPI, addr: taken.Addr().String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			redisURL := testenv.RedisURL(t, testenv.RedisDBGateway)
			vars := roleVars(t, redisURL, testenv.SQLiteURL(t), map[string]string{
				"NPSGATE_WORKER_OPS_ADDR": tt.addr, "NPSGATE_HTTP_ADDR": freeAddr(t)})
			if tt.role == gateway.RoleAll {
				delete(vars, "NPSGATE_REDIS_URL") // serve's own in-process Redis
			}
			g, err := newGateway(t, tt.role, vars)
			if tt.wantErr {
				var ce *config.Error
				if !errors.As(err, &ce) || ce.Key != "worker.ops_addr" || !strings.Contains(err.Error(), "NPSGATE_WORKER_OPS_ADDR") {
					t.Fatalf("want a config error naming worker.ops_addr, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			stop := runGateway(t, g)
			if got := g.OpsAddr() != nil; got != tt.wantOps {
				t.Fatalf("ops endpoints open: %v, want %v", got, tt.wantOps)
			}
			if tt.wantOps {
				if code, _ := get(t, fmt.Sprintf("http://%s/healthz", g.OpsAddr())); code != 200 {
					t.Fatalf("/healthz: %d", code)
				}
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
