package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/npsgate/npsgate/store"
)

func mustCreateImport(t *testing.T, s *store.Store, filename string) *store.Import {
	t.Helper()
	imp := &store.Import{Filename: filename}
	if err := s.CreateImport(t.Context(), imp); err != nil {
		t.Fatalf("CreateImport: %v", err)
	}
	return imp
}

func mustGetImport(t *testing.T, s *store.Store, id string) *store.Import {
	t.Helper()
	imp, err := s.GetImport(t.Context(), id)
	if err != nil {
		t.Fatalf("GetImport(%q): %v", id, err)
	}
	return imp
}

func importIDs(list []*store.Import) []string {
	ids := []string{}
	for _, imp := range list {
		ids = append(ids, imp.ID)
	}
	return ids
}

// testListImports: newest first, by status, in pages, counts without the
// errors.
func testListImports(t *testing.T, s *store.Store) {
	ctx := t.Context()
	list, err := s.ListImports(ctx, store.ImportFilter{})
	if err != nil || len(list) != 0 {
		t.Fatalf("ListImports of nothing = %v, %v", list, err)
	}
	a := mustCreateImport(t, s, "a.csv")
	b := mustCreateImport(t, s, "b.csv")
	c := mustCreateImport(t, s, "c.csv")
	if err := s.UpdateImportProgress(ctx, a.ID, 3, 1, 1, 1, importErrors(2, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishImport(ctx, a.ID, store.ImportCompleted, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishImport(ctx, b.ID, store.ImportFailed, "malformed CSV"); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateImportProgress(ctx, c.ID, 7, 7, 0, 0, nil); err != nil {
		t.Fatal(err)
	}

	list, err = s.ListImports(ctx, store.ImportFilter{})
	if err != nil {
		t.Fatalf("ListImports: %v", err)
	}
	wantEqual(t, "newest first", importIDs(list), []string{c.ID, b.ID, a.ID})
	for _, imp := range list {
		want := mustGetImport(t, s, imp.ID)
		want.Errors = nil
		wantEqual(t, "listed "+imp.ID, imp, want)
	}
	if got := list[2]; got.Status != store.ImportCompleted || got.Rows != 3 || got.Failed != 1 {
		t.Errorf("listed a = %+v", got)
	}

	for _, tc := range []struct {
		name string
		f    store.ImportFilter
		want []string
	}{
		{"running", store.ImportFilter{Status: store.ImportRunning}, []string{c.ID}},
		{"failed", store.ImportFilter{Status: store.ImportFailed}, []string{b.ID}},
		{"first page", store.ImportFilter{Limit: 2}, []string{c.ID, b.ID}},
		{"second page", store.ImportFilter{Limit: 2, Before: b.ID}, []string{a.ID}},
		{"past the end", store.ImportFilter{Before: a.ID}, []string{}},
		{"page of a status", store.ImportFilter{Status: store.ImportCompleted, Before: c.ID}, []string{a.ID}},
	} {
		list, err := s.ListImports(ctx, tc.f)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		wantEqual(t, tc.name, importIDs(list), tc.want)
	}
	_, err = s.ListImports(ctx, store.ImportFilter{Before: "imp_missing"})
	wantErr(t, "ListImports before a missing import", err, store.ErrNotFound)

	// Imports started within the same microsecond page by ID.
	same := []string{"imp-same-1", "imp-same-2", "imp-same-3"}
	for _, id := range same {
		if err := s.CreateImport(ctx, &store.Import{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	var paged []string
	for before := ""; ; {
		list, err := s.ListImports(ctx, store.ImportFilter{Limit: 1, Before: before})
		if err != nil {
			t.Fatalf("ListImports: %v", err)
		}
		if len(list) == 0 {
			break
		}
		paged = append(paged, list[0].ID)
		before = list[0].ID
	}
	if len(paged) != 6 {
		t.Errorf("paging one at a time saw %v, want all 6 imports once", paged)
	}
	seen := map[string]bool{}
	for _, id := range paged {
		if seen[id] {
			t.Errorf("paging saw %s twice: %v", id, paged)
		}
		seen[id] = true
	}
}

// testFailStaleImports: a running import that stopped recording progress
// is ended as failed with its counts and errors; a live one, and finished
// ones, are left alone.
func testFailStaleImports(t *testing.T, s *store.Store) {
	ctx := t.Context()
	dead := mustCreateImport(t, s, "dead.csv")
	if err := s.UpdateImportProgress(ctx, dead.ID, 5, 3, 1, 1, importErrors(4, 1)); err != nil {
		t.Fatal(err)
	}
	done := mustCreateImport(t, s, "done.csv")
	if err := s.FinishImport(ctx, done.ID, store.ImportCompleted, ""); err != nil {
		t.Fatal(err)
	}
	doneBefore := mustGetImport(t, s, done.ID)
	deadBefore := mustGetImport(t, s, dead.ID)

	// Anything changed after cutoff is live. Stored times are whole
	// microseconds, so once the clock is past cutoff every later write is
	// at or after it.
	cutoff := deadBefore.UpdatedAt
	if doneBefore.UpdatedAt.After(cutoff) {
		cutoff = doneBefore.UpdatedAt
	}
	cutoff = cutoff.Add(time.Microsecond)
	for !time.Now().After(cutoff) {
	}
	live := mustCreateImport(t, s, "live.csv")

	var asked []*store.Import
	message := func(imp *store.Import) string {
		was := *imp
		asked = append(asked, &was)
		return fmt.Sprintf("interrupted after %d rows", imp.Rows)
	}
	failed, err := s.FailStaleImports(ctx, cutoff, message)
	if err != nil {
		t.Fatalf("FailStaleImports: %v", err)
	}
	if len(asked) != 1 || asked[0].ID != dead.ID || asked[0].Rows != 5 || asked[0].Status != store.ImportRunning {
		t.Fatalf("message was asked about %+v, want the dead import as it was", asked)
	}
	if len(failed) != 1 {
		t.Fatalf("FailStaleImports ended %v, want only %s", importIDs(failed), dead.ID)
	}
	got := mustGetImport(t, s, dead.ID)
	got.Errors = nil
	wantEqual(t, "the ended import as returned and as stored", failed[0], got)
	got = mustGetImport(t, s, dead.ID)
	if got.Status != store.ImportFailed || got.Message != "interrupted after 5 rows" || got.FinishedAt == nil ||
		got.FinishedAt.Before(cutoff) || !got.UpdatedAt.Equal(*got.FinishedAt) {
		t.Errorf("stale import after the sweep: %+v", got)
	}
	wantEqual(t, "counts kept", []int{got.Rows, got.Imported, got.Unchanged, got.Failed}, []int{5, 3, 1, 1})
	wantEqual(t, "errors kept", got.Errors, importErrors(4, 1))
	wantErr(t, "progress of a swept import", s.UpdateImportProgress(ctx, dead.ID, 6, 4, 1, 1, nil), store.ErrConflict)
	wantErr(t, "finishing a swept import", s.FinishImport(ctx, dead.ID, store.ImportCompleted, ""), store.ErrConflict)

	if got := mustGetImport(t, s, live.ID); got.Status != store.ImportRunning {
		t.Errorf("live import swept: %+v", got)
	}
	wantEqual(t, "finished import", mustGetImport(t, s, done.ID), doneBefore)

	// Nothing is stale twice.
	asked = nil
	if failed, err := s.FailStaleImports(ctx, cutoff, message); err != nil || len(failed) != 0 || len(asked) != 0 {
		t.Errorf("second sweep ended %v (asked %d), %v", importIDs(failed), len(asked), err)
	}
	// The live one goes stale too once the cutoff passes it.
	later := mustGetImport(t, s, live.ID).UpdatedAt.Add(time.Microsecond)
	if failed, err := s.FailStaleImports(ctx, later, message); err != nil || len(failed) != 1 || failed[0].ID != live.ID {
		t.Errorf("sweep after the live import's last change ended %v, %v", importIDs(failed), err)
	}
}
