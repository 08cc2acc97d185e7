package gateway_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
)

// TestStaleImportSweptAtStart: an import left running by a process that
// died is ended as failed ("interrupted") when a gateway starts, its rows
// kept and counted; a live one is left alone.
func TestStaleImportSweptAtStart(t *testing.T) {
	dbURL := testenv.DatabaseURL(t)
	ctx := t.Context()
	st, err := store.Open(ctx, dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	dead := &store.Import{Filename: "dead.csv"}
	live := &store.Import{Filename: "live.csv"}
	for _, imp := range []*store.Import{dead, live} {
		if err := st.CreateImport(ctx, imp); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.UpsertContacts(ctx, []*store.Contact{{ExternalID: "x-1"}, {ExternalID: "x-2"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.UpdateImportProgress(ctx, dead.ID, 2, 2, 0, 0, nil); err != nil {
		t.Fatal(err)
	}
	backdate(t, dbURL, dead.ID, time.Now().Add(-time.Hour))
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	r := start(t, map[string]string{"NPSGATE_DATABASE_URL": dbURL})
	var got map[string]any
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, got = r.api("GET", "/v1/imports/"+dead.ID, nil)
		if got["status"] != "running" || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	msg, _ := got["message"].(string)
	if got["status"] != "failed" || got["rows"] != 2.0 || got["imported"] != 2.0 ||
		!strings.HasPrefix(msg, "interrupted") || !strings.Contains(msg, "the first 2 rows were processed") {
		t.Fatalf("stale import after start-up: %v", got)
	}
	if _, got := r.api("GET", "/v1/imports/"+live.ID, nil); got["status"] != "running" {
		t.Errorf("live import: %v", got)
	}
}

// backdate makes an import look as if its process had stopped at when,
// writing the time as each dialect stores it.
func backdate(t *testing.T, dbURL, id string, when time.Time) {
	t.Helper()
	driver, dsn, at := "pgx", dbURL, any(when.UTC())
	if path, ok := strings.CutPrefix(dbURL, "sqlite://"); ok {
		driver, dsn, at = "sqlite", path+"?_pragma=busy_timeout(5000)", when.UTC().Format("2006-01-02T15:04:05.000000Z")
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, `UPDATE imports SET updated_at = $1 WHERE id = $2`, at, id); err != nil {
		t.Fatal(err)
	}
}
