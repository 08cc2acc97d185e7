package store

import (
	"context"
	"database/sql"
	"log/slog"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"
)

// Store is the persistence of npsgate. Its methods are safe for concurrent
// use. A Store handed to an InTx callback is bound to that transaction.
type Store struct {
	db  *sql.DB
	q   querier // db, or tx inside InTx
	tx  *sql.Tx
	d   dialect
	log *slog.Logger
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Open connects to the database at url (postgres://…, postgresql://… or
// sqlite://path/to/file.db, whose directory is created) and pings it. It
// does not migrate; call Migrate. A database that cannot be reached gives
// an error that is ErrUnavailable. A nil logger discards.
func Open(ctx context.Context, url string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d, dsn, err := parseURL(url)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open(d.driver, dsn)
	if err != nil {
		return nil, wrapErr("open", err)
	}
	d.pool(db)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, wrapErr("open "+d.name, err)
	}
	return &Store{db: db, q: db, d: d, log: logger}, nil
}

// Close closes the database. On a Store bound to a transaction it does
// nothing: the transaction belongs to InTx.
func (s *Store) Close() error {
	if s.tx != nil {
		return nil
	}
	return s.db.Close()
}

// Ping checks that the database answers, for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	return wrapErr("ping", s.db.PingContext(ctx))
}

// Dialect is "postgres" or "sqlite".
func (s *Store) Dialect() string { return s.d.name }

// InTx runs fn with a Store bound to one transaction, committing if fn
// returns nil and rolling back otherwise (also when fn panics). fn's error
// is returned as is. Called on a Store that is already bound, fn joins the
// outer transaction, so methods that use InTx themselves compose.
//
// On SQLite the transaction holds the database's write lock from its start,
// so keep fn short and do no I/O other than the store in it.
func (s *Store) InTx(ctx context.Context, fn func(tx *Store) error) error {
	if s.tx != nil {
		return fn(s)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrapErr("begin transaction", err)
	}
	done := false
	defer func() {
		if !done {
			_ = tx.Rollback()
		}
	}()
	if err := fn(&Store{db: s.db, q: tx, tx: tx, d: s.d, log: s.log}); err != nil {
		return err
	}
	done = true
	return wrapErr("commit", tx.Commit())
}
