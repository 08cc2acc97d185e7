package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/npsgate/npsgate/store"
)

// PostgresEnv names the variable that points tests at a PostgreSQL server,
// e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable. The
// role must be allowed to create databases.
const PostgresEnv = "NPSGATE_TEST_POSTGRES"

// DatabaseURL returns the URL of an empty database for one test: a fresh
// PostgreSQL database when NPSGATE_TEST_POSTGRES is set, dropped when the
// test ends, and otherwise an SQLite file in t.TempDir().
func DatabaseURL(t testing.TB) string {
	t.Helper()
	if os.Getenv(PostgresEnv) == "" {
		return SQLiteURL(t)
	}
	return PostgresURL(t)
}

// SQLiteURL returns the URL of a new SQLite file in t.TempDir().
func SQLiteURL(t testing.TB) string {
	t.Helper()
	return "sqlite://" + filepath.Join(t.TempDir(), "npsgate.db")
}

// PostgresURL creates a database named npsgate_test_<random> on the server
// of NPSGATE_TEST_POSTGRES and returns its URL; the database is dropped,
// with any connection left to it, when the test ends. It skips the test
// when the variable is unset.
func PostgresURL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(PostgresEnv)
	if admin == "" {
		t.Skip(PostgresEnv + " is not set")
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s: %v", PostgresEnv, err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "npsgate_test_" + hex.EncodeToString(b)

	adminExec(t, admin, "CREATE DATABASE "+name)
	t.Cleanup(func() { adminExec(t, admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })

	u.Path = "/" + name
	return u.String()
}

// adminExec runs one statement on the admin database in a connection of
// its own: CREATE and DROP DATABASE cannot run in a transaction or inside
// the database they drop.
func adminExec(t testing.TB, adminURL, stmt string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatalf("connect to %s: %v", PostgresEnv, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// Store returns a migrated store on DatabaseURL, closed when the test ends.
func Store(t testing.TB) *store.Store {
	t.Helper()
	return openStore(t, DatabaseURL(t))
}

// SQLiteStore returns a migrated store on a new SQLite file.
func SQLiteStore(t testing.TB) *store.Store {
	t.Helper()
	return openStore(t, SQLiteURL(t))
}

// PostgresStore returns a migrated store on a new PostgreSQL database, or
// skips the test when NPSGATE_TEST_POSTGRES is unset.
func PostgresStore(t testing.TB) *store.Store {
	t.Helper()
	return openStore(t, PostgresURL(t))
}

func openStore(t testing.TB, dbURL string) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.Open(ctx, dbURL, nil)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	// Registered after the database's own cleanup, so it runs first and
	// the drop finds no connection of ours.
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate store: %v", err)
	}
	return s
}
