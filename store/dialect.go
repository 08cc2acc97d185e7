package store

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// dialect is everything that differs between the two backends. The SQL of
// the queries themselves is shared.
type dialect struct {
	name   string // what Dialect reports
	driver string // database/sql driver name
	// migrations is the directory of migrationsFS holding this dialect's files.
	migrations string
	// migrationsTable creates the bookkeeping table of Migrate.
	migrationsTable string
	// lockMigrations, when set, runs first in every migration transaction and
	// holds until it ends, so that concurrent Migrate calls from several
	// processes apply each file once.
	lockMigrations string
	// timeArg is how a time is bound for a timestamp column.
	timeArg func(time.Time) any
	// pool sizes the connection pool.
	pool func(*sql.DB)
	// utcDay is the SQL of the UTC date ("2006-01-02") of a time column
	// (%s is the column).
	utcDay string
}

// sqliteTimeFormat is fixed width (always six fractional digits, always Z)
// so that comparing the text compares the times.
const sqliteTimeFormat = "2006-01-02T15:04:05.000000Z"

// migrateLockKey is an arbitrary constant shared by every npsgate process.
const migrateLockKey = 0x6e7073676174 // "npsgat"

var (
	postgresDialect = dialect{
		name:       "postgres",
		driver:     "pgx",
		migrations: "migrations/postgres",
		migrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    BIGINT PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
		lockMigrations: fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrateLockKey),
		timeArg:        func(t time.Time) any { return utc(t) },
		utcDay:         "to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
		pool: func(db *sql.DB) {
			// Bounded so that a burst of workers queues here instead of
			// exhausting max_connections (100 by default), which every
			// instance shares.
			db.SetMaxOpenConns(20)
			// As many idle as open: with fewer, a busy worker closed and
			// reopened connections all the time (143 new backends per
			// 1,000 emails in the benchmark), and PostgreSQL forks a
			// process for each.
			db.SetMaxIdleConns(20)
			db.SetConnMaxIdleTime(5 * time.Minute)
			db.SetConnMaxLifetime(time.Hour)
		},
	}
	sqliteDialect = dialect{
		name:       "sqlite",
		driver:     "sqlite",
		migrations: "migrations/sqlite",
		migrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
		) STRICT`,
		timeArg: func(t time.Time) any { return utc(t).Format(sqliteTimeFormat) },
		utcDay:  "substr(%s, 1, 10)",
		pool: func(db *sql.DB) {
			// There is one writer at a time anyway (see sqlitePragmas); a
			// few connections let readers run beside it.
			db.SetMaxOpenConns(8)
			db.SetMaxIdleConns(8)
		},
	}
)

// utc is the one normalisation every stored time goes through.
func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// sqlitePragmas make a file safe for several goroutines and processes:
// WAL lets readers run beside the writer; busy_timeout makes a writer wait
// for the lock instead of failing; _txlock=immediate takes the write lock at
// BEGIN, because a transaction that reads and then upgrades to write can
// fail with SQLITE_BUSY at once, without waiting, when another writer got in
// between.
const sqlitePragmas = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)" +
	"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"

// parseURL picks the dialect of a database URL and returns the DSN to open.
// Query parameters of an sqlite URL are passed on to the driver after ours.
func parseURL(raw string) (dialect, string, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		// The value is left out: a key=value DSN would carry a password.
		return dialect{}, "", errors.New("store: database URL has no scheme (want postgres:// or sqlite://)")
	}
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		// Without a connect timeout a dial into a partition hangs for the
		// kernel's minutes; the caller's own deadline still applies.
		if !strings.Contains(raw, "connect_timeout=") {
			sep := "?"
			if strings.Contains(raw, "?") {
				sep = "&"
			}
			raw += sep + "connect_timeout=5"
		}
		return postgresDialect, raw, nil
	case "sqlite", "sqlite3":
		path, query, _ := strings.Cut(rest, "?")
		// :memory: would give each pooled connection a database of its own.
		if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
			return dialect{}, "", fmt.Errorf("store: sqlite URL %q: want sqlite://path/to/file.db", raw)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return dialect{}, "", fmt.Errorf("store: create directory for %s: %w", path, err)
		}
		dsn := path + "?" + sqlitePragmas
		if query != "" {
			dsn += "&" + query
		}
		return sqliteDialect, dsn, nil
	}
	return dialect{}, "", fmt.Errorf("store: unsupported database URL scheme %q (want postgres:// or sqlite://)", scheme)
}
