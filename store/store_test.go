package store_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/store/storetest"
)

func TestSQLite(t *testing.T) {
	storetest.Exercise(t, func(t *testing.T) *store.Store { return testenv.SQLiteStore(t) })
}

// TestPostgres runs when NPSGATE_TEST_POSTGRES is set.
func TestPostgres(t *testing.T) {
	if os.Getenv(testenv.PostgresEnv) == "" {
		t.Skip(testenv.PostgresEnv + " is not set")
	}
	storetest.Exercise(t, func(t *testing.T) *store.Store { return testenv.PostgresStore(t) })
}

// dialects opens a fresh database of each available dialect.
var dialects = map[string]func(testing.TB) string{
	"sqlite":   testenv.SQLiteURL,
	"postgres": testenv.PostgresURL,
}

func TestMigrate(t *testing.T) {
	for name, newDB := range dialects {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			dbURL := newDB(t)
			s, err := store.Open(ctx, dbURL, nil)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			if got := s.Dialect(); got != name {
				t.Errorf("Dialect() = %q, want %q", got, name)
			}
			if err := s.Ping(ctx); err != nil {
				t.Errorf("Ping: %v", err)
			}
			// Open does not migrate.
			if _, err := s.ListSurveys(ctx); err == nil {
				t.Error("ListSurveys worked before Migrate")
			}

			// Several processes starting together.
			var wg sync.WaitGroup
			errs := make([]error, 3)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					other, err := store.Open(ctx, dbURL, nil)
					if err != nil {
						errs[i] = err
						return
					}
					defer other.Close()
					errs[i] = other.Migrate(ctx)
				}()
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatalf("concurrent Migrate: %v", err)
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate again: %v", err)
			}
			if _, err := s.ListSurveys(ctx); err != nil {
				t.Errorf("ListSurveys after Migrate: %v", err)
			}
			err = s.InTx(ctx, func(tx *store.Store) error {
				if err := tx.Migrate(ctx); err == nil {
					t.Error("Migrate inside a transaction succeeded")
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// Nothing listens on port 1.
	_, err := store.Open(ctx, "postgres://postgres@127.0.0.1:1/npsgate?sslmode=disable&connect_timeout=5", nil)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Open of an unreachable PostgreSQL: %v, want ErrUnavailable", err)
	}
}

// TestUnavailableMidway cuts the network between a working store and
// PostgreSQL, as a restarted database or a failover does.
func TestUnavailableMidway(t *testing.T) {
	pgURL, err := url.Parse(testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, pgURL.Host)
	pgURL.Host = p.addr()
	ctx := t.Context()
	s, err := store.Open(ctx, pgURL.String(), nil)
	if err != nil {
		t.Fatalf("Open through the proxy: %v", err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	p.cut()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := s.GetSurvey(ctx, "x"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("GetSurvey with the database gone: %v, want ErrUnavailable", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Ping with the database gone: %v, want ErrUnavailable", err)
	}
}

// proxy forwards TCP connections to a target until cut.
type proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	t.Cleanup(p.cut)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			go func() { _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

// cut stops accepting and drops every open connection.
func (p *proxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func TestOpenSQLiteCreatesDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "npsgate.db")
	s, err := store.Open(t.Context(), "sqlite://"+path, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file: %v", err)
	}
}

func TestOpenRejects(t *testing.T) {
	for _, raw := range []string{
		"",
		"mysql://localhost/npsgate",
		"sqlite://",
		"sqlite://:memory:",
		"host=localhost user=postgres password=secret",
	} {
		s, err := store.Open(t.Context(), raw, nil)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", raw)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) error leaks the password: %v", raw, err)
		}
	}
}
