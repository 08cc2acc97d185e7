package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/npsgate/npsgate/internal/testenv"
)

func TestVersionAndUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "npsgate ") {
		t.Fatalf("version: %d %q", code, out.String())
	}
	if code := run([]string{"launch"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "unknown command") {
		t.Fatalf("unknown command: %d %q", code, errb.String())
	}
}

func TestInvalidConfigNamesTheKey(t *testing.T) {
	t.Setenv("NPSGATE_SMTP_URL", "http://mail")
	var out, errb bytes.Buffer
	if code := run([]string{"serve"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "NPSGATE_SMTP_URL") {
		t.Fatalf("%d %q", code, errb.String())
	}
}

func TestWorkerNeedsRedis(t *testing.T) {
	var out, errb bytes.Buffer
	t.Setenv("NPSGATE_DATA_DIR", t.TempDir())
	if code := run([]string{"worker"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "redis.url") {
		t.Fatalf("%d %q", code, errb.String())
	}
}

// TestServeZeroConfigAndSIGTERM runs the real binary as a newcomer would:
// no configuration, in an empty directory. It must come up on the embedded
// defaults, say once that the in-process Redis is not durable, and exit 0
// on SIGTERM.
func TestServeZeroConfigAndSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "npsgate")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), "NPSGATE_HTTP_ADDR="+addr)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr
	waitUp(t, base+"/readyz")

	key, err := os.ReadFile(filepath.Join(dir, "data", "api-key"))
	if err != nil {
		t.Fatalf("no generated api key: %v", err)
	}
	req, _ := http.NewRequest("POST", base+"/v1/surveys", strings.NewReader(`{"key":"s","product_name":"Acme"}`))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(key)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("create survey with the generated key: %d", resp.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "npsgate.db")); err != nil {
		t.Fatalf("no sqlite file under ./data: %v", err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
	}
	out := logs.String()
	if n := strings.Count(out, "does not survive a restart"); n != 1 {
		t.Errorf("the in-process Redis warning appears %d times:\n%s", n, out)
	}
	if strings.Contains(out, strings.TrimSpace(string(key))) {
		t.Error("the API key appears in the log")
	}
}

// TestMigrateOnPostgres runs `npsgate migrate` twice on a fresh database.
func TestMigrateOnPostgres(t *testing.T) {
	if os.Getenv("NPSGATE_TEST_POSTGRES") == "" {
		t.Skip("NPSGATE_TEST_POSTGRES not set")
	}
	t.Setenv("NPSGATE_DATABASE_URL", testenv.PostgresURL(t))
	for i := 0; i < 2; i++ {
		var out, errb bytes.Buffer
		if code := run([]string{"migrate"}, &out, &errb); code != 0 {
			t.Fatalf("migrate %d: %d %s", i, code, errb.String())
		}
	}
}

func waitUp(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never answered 200", url)
}

// cleanEnv drops NPSGATE_* so the binary sees no configuration.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NPSGATE_") {
			out = append(out, kv)
		}
	}
	return append(out, fmt.Sprintf("HOME=%s", os.Getenv("HOME")))
}

// TestWorkerOpsAddrErrors: an ops address the worker cannot use stops the
// start with an error that names the key, before any task is taken.
func TestWorkerOpsAddrErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	tests := []struct {
		name, addr, want string
	}{
		{"not an address", "9091", "want host:port"},
		{"port in use", taken.Addr().String(), "cannot listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("NPSGATE_DATA_DIR", t.TempDir())
			t.Setenv("NPSGATE_REDIS_URL", testenv.RedisURL(t, testenv.RedisDBCmd))
			t.Setenv("NPSGATE_DATABASE_URL", testenv.SQLiteURL(t))
			t.Setenv("NPSGATE_WORKER_OPS_ADDR", tt.addr)
			var out, errb bytes.Buffer
			done := make(chan int, 1)
			go func() { done <- run([]string{"worker"}, &out, &errb) }()
			var code int
			select {
			case code = <-done:
			case <-time.After(30 * time.Second):
				// A worker that started anyway runs until the test
				// binary exits; failing here keeps the test from hanging.
				t.Fatal("the worker started despite an unusable worker.ops_addr")
			}
			if code != 1 || !strings.Contains(errb.String(), "config: worker.ops_addr (NPSGATE_WORKER_OPS_ADDR)") ||
				!strings.Contains(errb.String(), tt.want) {
				t.Fatalf("%d %q", code, errb.String())
			}
		})
	}
}

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"ready":false,"checks":{"redis":"connection refused"}}`)
		default:
			fmt.Fprint(w, `{"status":"ok"}`)
		}
	}))
	defer srv.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	tests := []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{"ok", []string{"probe", srv.URL + "/healthz"}, 0, ""},
		{"not ready says why", []string{"probe", srv.URL + "/readyz"}, 1, "503 Service Unavailable {\"ready\":false,\"checks\":{\"redis\":\"connection refused\"}}"},
		{"nothing listens", []string{"probe", gone.URL + "/healthz"}, 1, "connection refused"},
		{"not a URL", []string{"probe", "127.0.0.1:9091/readyz"}, 2, "want an http(s) URL"},
		{"no URL", []string{"probe"}, 2, "usage"},
		// A probe must not fail on configuration it does not use.
		{"ignores the config", []string{"--config", "/nonexistent.yaml", "probe", srv.URL + "/healthz"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(tt.args, &out, &errb); code != tt.code || !strings.Contains(errb.String(), tt.inStderr) {
				t.Fatalf("%d %q, want %d and %q", code, errb.String(), tt.code, tt.inStderr)
			}
			if tt.code == 0 && !strings.HasPrefix(out.String(), "200 OK") {
				t.Fatalf("stdout %q", out.String())
			}
		})
	}
}
