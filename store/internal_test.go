package store

import (
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"
)

// The contract suite checks that range queries on SQLite are right; this
// pins down why: the stored text itself.
func TestSQLiteStoresFixedWidthUTC(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "t.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "2026-01-02T03:04:05.000000Z"},
		{time.Date(2026, 1, 2, 3, 4, 5, 100_000_000, time.UTC), "2026-01-02T03:04:05.100000Z"},
		{time.Date(2026, 1, 2, 11, 4, 5, 123_456_789, time.FixedZone("CST", 8*3600)), "2026-01-02T03:04:05.123456Z"},
	} {
		m := &OutboxMessage{Channel: "email", CreatedAt: tc.in}
		if err := s.KeepOutbox(ctx, m); err != nil {
			t.Fatal(err)
		}
		var raw string
		if err := s.db.QueryRowContext(ctx, `SELECT created_at FROM outbox_messages WHERE id = $1`, m.ID).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if raw != tc.want {
			t.Errorf("%v stored as %q, want %q", tc.in, raw, tc.want)
		}
	}
}

func TestLoadMigrations(t *testing.T) {
	for _, d := range []dialect{postgresDialect, sqliteDialect} {
		ms, err := loadMigrations(migrationsFS, d.migrations)
		if err != nil || len(ms) == 0 || ms[0].version != 1 {
			t.Errorf("%s: %d migrations, %v", d.name, len(ms), err)
		}
	}
	ms, err := loadMigrations(fstest.MapFS{
		"m/0010_b.sql": {Data: []byte("b")},
		"m/0002_a.sql": {Data: []byte("a")},
		"m/README.md":  {Data: []byte("not a migration")},
	}, "m")
	if err != nil || len(ms) != 2 || ms[0].version != 2 || ms[1].sql != "b" {
		t.Errorf("loadMigrations = %+v, %v; want 0002 then 0010", ms, err)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"duplicate version": {"m/0001_a.sql": {}, "m/1_b.sql": {}},
		"no version":        {"m/init.sql": {}},
		"zero version":      {"m/0000_init.sql": {}},
	} {
		if _, err := loadMigrations(fsys, "m"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
