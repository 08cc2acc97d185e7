// Command npsgate is the survey gateway: one binary, several roles.
//
//	npsgate serve    API and workers in one process (the zero-setup default)
//	npsgate api      the HTTP API only
//	npsgate worker   the dispatcher's workers only, with /metrics, /healthz
//	                 and /readyz on worker.ops_addr
//	npsgate migrate  apply database migrations and exit
//	npsgate probe    GET a health URL, exit 0 on 2xx (container health checks)
//	npsgate version  print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	_ "time/tzdata" // contacts' time zones must resolve on hosts without tzdata

	"github.com/npsgate/npsgate/config"
	"github.com/npsgate/npsgate/gateway"
	"github.com/npsgate/npsgate/store"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: npsgate [--config FILE] <command>

commands:
  serve    run the API and the workers in one process
  api      run the HTTP API only (needs redis.url)
  worker   run the workers only (needs redis.url); /metrics, /healthz and
           /readyz on worker.ops_addr (default :9091)
  migrate  apply database migrations and exit
  probe    probe URL: GET it, exit 0 on 2xx (for container health checks)
  version  print the version and exit

Configuration comes from the YAML file and NPSGATE_* environment variables
(see README.md); with none, serve runs on an SQLite file under ./data, an
in-process Redis, and the outbox instead of real providers.
`

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("npsgate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	configPath := fs.String("config", os.Getenv("NPSGATE_CONFIG"), "YAML configuration file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.Arg(0) == "probe" {
		// Needs no configuration: a health check must not fail on a
		// setting that has nothing to do with reaching the endpoint.
		if fs.NArg() != 2 {
			fs.Usage()
			return 2
		}
		return probe(context.Background(), fs.Arg(1), stdout, stderr)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	cmd := fs.Arg(0)
	if cmd == "version" {
		fmt.Fprintln(stdout, "npsgate", buildVersion())
		return 0
	}
	var role gateway.Role
	switch cmd {
	case "serve":
		role = gateway.RoleAll
	case "api":
		role = gateway.RoleAPI
	case "worker":
		role = gateway.RoleWorker
	case "migrate":
	default:
		fmt.Fprintf(stderr, "npsgate: unknown command %q\n\n%s", cmd, usage)
		return 2
	}

	cfg, err := config.Load(*configPath, nil)
	if err != nil {
		fmt.Fprintln(stderr, "npsgate:", err)
		return 1
	}
	log := newLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if cmd == "migrate" {
		if err := migrate(ctx, cfg, log); err != nil {
			log.Error("migrate failed", "err", err)
			return 1
		}
		log.Info("migrations applied")
		return 0
	}

	g, err := gateway.New(ctx, cfg, role, log.With("role", cmd))
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			fmt.Fprintln(stderr, "npsgate:", err)
		} else {
			log.Error("start failed", "err", err)
		}
		return 1
	}
	log.Info("npsgate starting", "version", buildVersion(), "role", cmd)
	if err := g.Run(ctx); err != nil {
		log.Error("stopped with error", "err", err)
		return 1
	}
	return 0
}

func migrate(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.Database.URL, log)
	if err != nil {
		return err
	}
	defer st.Close()
	return st.Migrate(ctx)
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}
