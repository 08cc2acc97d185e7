package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations
var migrationsFS embed.FS

type migration struct {
	version int64
	name    string
	sql     string
}

// loadMigrations reads dir's files named NNNN_description.sql, in version
// order.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	seen := map[int64]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive version and _", e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// Migrate applies the embedded migrations that the database has not seen,
// each in its own transaction together with its schema_migrations row.
// It is a no-op on an up-to-date database, and several processes may run
// it at once: on PostgreSQL an advisory lock serialises them, on SQLite the
// write lock taken at BEGIN does; either way each re-checks the version
// inside its transaction.
func (s *Store) Migrate(ctx context.Context) error {
	if s.tx != nil {
		return errors.New("store: Migrate cannot run inside a transaction")
	}
	ms, err := loadMigrations(migrationsFS, s.d.migrations)
	if err != nil {
		return fmt.Errorf("store: load migrations: %w", err)
	}
	if err := s.migrateStep(ctx, func(tx *Store) error {
		_, err := tx.q.ExecContext(ctx, s.d.migrationsTable)
		return err
	}); err != nil {
		return wrapErr("create schema_migrations", err)
	}
	for _, m := range ms {
		applied := false
		err := s.migrateStep(ctx, func(tx *Store) error {
			var n int
			if err := tx.q.QueryRowContext(ctx,
				`SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.q.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			if _, err := tx.q.ExecContext(ctx,
				`INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
				return err
			}
			applied = true
			return nil
		})
		if err != nil {
			return wrapErr("migration "+m.name, err)
		}
		if applied {
			s.log.InfoContext(ctx, "applied migration", "dialect", s.d.name, "migration", m.name)
		}
	}
	return nil
}

// migrateStep runs fn in a transaction that first takes the dialect's
// migration lock.
func (s *Store) migrateStep(ctx context.Context, fn func(tx *Store) error) error {
	return s.InTx(ctx, func(tx *Store) error {
		if s.d.lockMigrations != "" {
			if _, err := tx.q.ExecContext(ctx, s.d.lockMigrations); err != nil {
				return err
			}
		}
		return fn(tx)
	})
}
