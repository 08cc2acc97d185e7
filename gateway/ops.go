package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/npsgate/npsgate/config"
)

// opsServer is the small HTTP server of a worker-only process. Such a
// process serves no API, yet the worker's metrics (the send gate's
// decisions, the Go runtime) live only in its memory, and an orchestrator
// needs something to probe; `serve` and `api` have these endpoints on the
// API and do not start it.
type opsServer struct {
	l   net.Listener
	srv *http.Server
	log *slog.Logger
}

// readyCheck is one dependency /readyz asks: its name in the JSON body and
// the call that must succeed.
type readyCheck struct {
	name string
	ping func(context.Context) error
}

// listenOps binds addr. A failure is a configuration error naming the key,
// because the address is the operator's to fix (in use, not an address of
// this host), and it comes before the worker takes any task.
func listenOps(addr string, h http.Handler, log *slog.Logger) (*opsServer, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, &config.Error{Key: "worker.ops_addr", Env: "NPSGATE_WORKER_OPS_ADDR",
			Msg: fmt.Sprintf("cannot listen: %v", err)}
	}
	return &opsServer{l: l, log: log.With("component", "ops"), srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}}, nil
}

// opsHandler serves what the API serves for operations, in the same shape:
// /metrics from the process's registry with the API's exposition options,
// /healthz, and /readyz with one entry per dependency.
func opsHandler(reg prometheus.Gatherer, checks []readyCheck) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		status, body := ready(r.Context(), checks)
		writeJSON(w, status, body)
	})
	return mux
}

// ready runs the checks at once, each with its own two seconds, so a hung
// database neither makes Redis look down nor doubles the probe's time.
func ready(ctx context.Context, checks []readyCheck) (int, map[string]any) {
	results := make(map[string]any, len(checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	ok := true
	for _, c := range checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			res := "ok"
			if err := c.ping(cctx); err != nil {
				res = err.Error()
			}
			mu.Lock()
			defer mu.Unlock()
			results[c.name] = res
			ok = ok && res == "ok"
		})
	}
	wg.Wait()
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	return status, map[string]any{"ready": ok, "checks": results}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// start serves in the background; a failure of the server (not its
// shutdown) is sent to errc, which stops the process.
func (o *opsServer) start(errc chan<- error) {
	go func() {
		if err := o.srv.Serve(o.l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			select {
			case errc <- fmt.Errorf("ops server: %w", err):
			default:
			}
		}
	}()
	o.log.Info("ops endpoints listening", "addr", o.l.Addr().String(), "paths", "/metrics /healthz /readyz")
}

// shutdown lets a scrape in flight finish, then closes.
func (o *opsServer) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := o.srv.Shutdown(ctx); err != nil {
		o.log.Warn("ops shutdown", "err", err)
		_ = o.srv.Close()
	}
}

// close releases the listener of a server that never started.
func (o *opsServer) close() { _ = o.l.Close() }
