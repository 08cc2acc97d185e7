package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/npsgate/npsgate/store"
)

// contactFields is what UpsertContacts writes, for comparing a contact
// read back with the one given.
func contactFields(c *store.Contact) store.Contact {
	return store.Contact{ExternalID: c.ExternalID, Name: c.Name, Email: c.Email, Phone: c.Phone, Locale: c.Locale,
		TimeZone: c.TimeZone, Account: c.Account, Role: c.Role, Tags: c.Tags, Attributes: c.Attributes}
}

func mustContact(t *testing.T, s *store.Store, id string) *store.Contact {
	t.Helper()
	c, err := s.GetContact(t.Context(), id)
	if err != nil {
		t.Fatalf("GetContact(%q): %v", id, err)
	}
	return c
}

func mustUpsertContacts(t *testing.T, s *store.Store, want int, cs ...*store.Contact) {
	t.Helper()
	got, err := s.UpsertContacts(t.Context(), cs)
	if err != nil {
		t.Fatalf("UpsertContacts: %v", err)
	}
	if got != want {
		t.Fatalf("UpsertContacts changed %d, want %d", got, want)
	}
}

func testUpsertContacts(t *testing.T, s *store.Store) {
	ctx := t.Context()
	batch := func() []*store.Contact {
		// Maps are built in a different order each time they are asked for,
		// and a nil slice and an empty one are the same value.
		attrs := map[string]string{}
		for _, kv := range [][2]string{{"seats", "50"}, {"plan", "企业版"}, {"<b>", "a&b"}} {
			attrs[kv[0]] = kv[1]
		}
		return []*store.Contact{
			{ExternalID: "b-1", Name: "王小明", Email: "xm@example.com", Phone: "+8613800000000", Locale: "zh-CN",
				TimeZone: "Asia/Shanghai", Account: "acct-9", Role: "admin", Tags: []string{"vip", "早期用户"},
				Attributes: attrs},
			{ExternalID: "b-2", Email: "two@example.com", Tags: []string{}},
			{ExternalID: "b-3", Phone: "+15550100", Attributes: map[string]string{}},
		}
	}
	if _, err := s.UpsertContact(ctx, &store.Contact{ExternalID: "b-3", Phone: "+15550100"}); err != nil {
		t.Fatalf("UpsertContact: %v", err)
	}
	b3 := mustContact(t, s, "b-3")
	mustUpsertContacts(t, s, 2, batch()...)
	first := map[string]*store.Contact{}
	for _, c := range batch() {
		got := mustContact(t, s, c.ExternalID)
		first[c.ExternalID] = got
		want := contactFields(c)
		if len(want.Tags) == 0 {
			want.Tags = nil
		}
		if len(want.Attributes) == 0 {
			want.Attributes = nil
		}
		wantEqual(t, "contact "+c.ExternalID, contactFields(got), want)
		if got.OptedOutAt != nil || got.CreatedAt.IsZero() || got.CreatedAt.Location() != time.UTC {
			t.Errorf("contact %s: OptedOutAt %v, CreatedAt %v", c.ExternalID, got.OptedOutAt, got.CreatedAt)
		}
	}
	wantEqual(t, "b-3 written by UpsertContact, then the same by UpsertContacts", first["b-3"], b3)
	wantTime(t, "new contact's UpdatedAt", first["b-1"].UpdatedAt, first["b-1"].CreatedAt)

	// The same again changes nothing, not even updated_at.
	mustUpsertContacts(t, s, 0, batch()...)
	for id, before := range first {
		wantEqual(t, "contact "+id+" after an identical upsert", mustContact(t, s, id), before)
	}

	// An opted-out contact stays opted out; only what changed is written.
	if err := s.OptOutContact(ctx, "b-1", "stop", base); err != nil {
		t.Fatalf("OptOutContact: %v", err)
	}
	optedOut := mustContact(t, s, "b-1")
	next := batch()
	next[0].Attributes["seats"] = "51"
	next[0].Tags = nil
	mustUpsertContacts(t, s, 1, next...)
	got := mustContact(t, s, "b-1")
	wantEqual(t, "changed contact", contactFields(got), contactFields(next[0]))
	if got.OptedOutAt == nil || !got.OptedOutAt.Equal(stored(base)) {
		t.Errorf("OptedOutAt after UpsertContacts = %v, want %v", got.OptedOutAt, stored(base))
	}
	wantTime(t, "CreatedAt after a change", got.CreatedAt, optedOut.CreatedAt)
	if got.UpdatedAt.Before(optedOut.UpdatedAt) {
		t.Errorf("UpdatedAt went back: %v < %v", got.UpdatedAt, optedOut.UpdatedAt)
	}
	wantEqual(t, "unchanged b-2", mustContact(t, s, "b-2"), first["b-2"])

	// Every column counts as a change, and an empty value clears.
	for _, edit := range []func(c *store.Contact){
		func(c *store.Contact) { c.Name = "x" },
		func(c *store.Contact) { c.Email = "" },
		func(c *store.Contact) { c.Phone = "+15550101" },
		func(c *store.Contact) { c.Locale = "en" },
		func(c *store.Contact) { c.TimeZone = "UTC" },
		func(c *store.Contact) { c.Account = "a" },
		func(c *store.Contact) { c.Role = "r" },
		func(c *store.Contact) { c.Tags = []string{"t"} },
		func(c *store.Contact) { c.Attributes = map[string]string{"k": "v"} },
	} {
		c := mustContact(t, s, "b-2")
		edit(c)
		mustUpsertContacts(t, s, 1, c)
		wantEqual(t, "edited b-2", contactFields(mustContact(t, s, "b-2")), contactFields(c))
		mustUpsertContacts(t, s, 0, c)
	}

	// Within one call the last of an external id wins.
	mustUpsertContacts(t, s, 2,
		&store.Contact{ExternalID: "dup", Name: "first"},
		&store.Contact{ExternalID: "b-4", Name: "other"},
		&store.Contact{ExternalID: "dup", Name: "second"},
		&store.Contact{ExternalID: "dup", Name: "last"},
	)
	if c := mustContact(t, s, "dup"); c.Name != "last" {
		t.Errorf("duplicate external id: name %q, want the last one's", c.Name)
	}

	// A refused call writes nothing.
	if n, err := s.UpsertContacts(ctx, []*store.Contact{{ExternalID: "b-5"}, {Name: "no id"}}); err == nil {
		t.Errorf("UpsertContacts with an empty external id = %d, nil", n)
	}
	if _, err := s.GetContact(ctx, "b-5"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused call wrote b-5: %v", err)
	}
	if n, err := s.UpsertContacts(ctx, nil); n != 0 || err != nil {
		t.Errorf("UpsertContacts(nil) = %d, %v", n, err)
	}

	// Inside a transaction that fails, nothing stays.
	errBoom := errors.New("boom")
	err := s.InTx(ctx, func(tx *store.Store) error {
		if _, err := tx.UpsertContacts(ctx, []*store.Contact{{ExternalID: "b-6"}, {ExternalID: "b-2", Name: "rolled back"}}); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("InTx = %v", err)
	}
	if _, err := s.GetContact(ctx, "b-6"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rolled back UpsertContacts left b-6: %v", err)
	}
	if c := mustContact(t, s, "b-2"); c.Name == "rolled back" {
		t.Error("rolled back UpsertContacts changed b-2")
	}
}

// testUpsertContactsChunks writes more rows than one statement holds.
func testUpsertContactsChunks(t *testing.T, s *store.Store) {
	const n = 1234
	gen := func(v string) []*store.Contact {
		cs := make([]*store.Contact, n)
		for i := range cs {
			cs[i] = &store.Contact{ExternalID: fmt.Sprintf("k-%05d", i), Name: "n" + v,
				Tags: []string{"t"}, Attributes: map[string]string{"i": fmt.Sprint(i)}}
		}
		return cs
	}
	mustUpsertContacts(t, s, n, gen("1")...)
	mustUpsertContacts(t, s, 0, gen("1")...)
	cs := gen("1")
	changed := 0
	for i := 0; i < n; i += 7 {
		cs[i].Name = "n2"
		changed++
	}
	mustUpsertContacts(t, s, changed, cs...)
	got := 0
	for after := ""; ; {
		page, err := s.ContactsPage(t.Context(), after, 1000)
		if err != nil {
			t.Fatalf("ContactsPage: %v", err)
		}
		got += len(page)
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].ExternalID
	}
	if got != n {
		t.Errorf("%d contacts stored, want %d", got, n)
	}
}

func testContactsPage(t *testing.T, s *store.Store) {
	ctx := t.Context()
	page, err := s.ContactsPage(ctx, "", 10)
	if err != nil || len(page) != 0 {
		t.Fatalf("ContactsPage of nothing = %d, %v", len(page), err)
	}
	var want []string
	var cs []*store.Contact
	for i := range 25 {
		id := fmt.Sprintf("p-%03d", i)
		want = append(want, id)
		cs = append(cs, &store.Contact{ExternalID: id, Email: id + "@example.com", Tags: []string{"x"}})
	}
	// Inserted out of order.
	mustUpsertContacts(t, s, 25, append(cs[13:], cs[:13]...)...)
	if err := s.OptOutContact(ctx, "p-004", "stop", base); err != nil {
		t.Fatal(err)
	}

	var got []string
	var sizes []int
	for after := ""; ; {
		page, err := s.ContactsPage(ctx, after, 10)
		if err != nil {
			t.Fatalf("ContactsPage(%q): %v", after, err)
		}
		sizes = append(sizes, len(page))
		for _, c := range page {
			got = append(got, c.ExternalID)
		}
		if len(page) < 10 {
			break
		}
		after = page[len(page)-1].ExternalID
	}
	wantEqual(t, "paged ids", got, want)
	wantEqual(t, "page sizes", sizes, []int{10, 10, 5})

	page, err = s.ContactsPage(ctx, "p-003", 1)
	if err != nil || len(page) != 1 {
		t.Fatalf("ContactsPage(p-003, 1) = %d, %v", len(page), err)
	}
	wantEqual(t, "a paged contact", page[0], mustContact(t, s, "p-004"))
	if page[0].OptedOutAt == nil {
		t.Error("ContactsPage dropped OptedOutAt")
	}
	if page, err := s.ContactsPage(ctx, "", 0); err != nil || len(page) != 25 {
		t.Errorf("ContactsPage with the default limit = %d, %v", len(page), err)
	}
	if page, err := s.ContactsPage(ctx, "p-024", 10); err != nil || len(page) != 0 {
		t.Errorf("ContactsPage after the last = %d, %v", len(page), err)
	}
}

func importErrors(from, n int) []store.ImportError {
	out := make([]store.ImportError, n)
	for i := range out {
		out[i] = store.ImportError{Row: from + i, Field: "email", Reason: fmt.Sprintf("bad %d «é»", from+i)}
	}
	return out
}

func testImports(t *testing.T, s *store.Store) {
	ctx := t.Context()
	before := time.Now().Add(-time.Second)
	imp := &store.Import{Filename: "contacts 2026.csv", Rows: 9, Errors: importErrors(1, 1)}
	if err := s.CreateImport(ctx, imp); err != nil {
		t.Fatalf("CreateImport: %v", err)
	}
	if !strings.HasPrefix(imp.ID, "imp_") || imp.Status != store.ImportRunning || imp.Rows != 0 || imp.Errors != nil ||
		imp.StartedAt.Before(before) || !imp.UpdatedAt.Equal(imp.StartedAt) || imp.FinishedAt != nil {
		t.Fatalf("CreateImport filled %+v", imp)
	}
	got, err := s.GetImport(ctx, imp.ID)
	if err != nil {
		t.Fatalf("GetImport: %v", err)
	}
	wantTime(t, "StartedAt", got.StartedAt, imp.StartedAt)
	wantEqual(t, "GetImport", got, imp)

	wantErr(t, "CreateImport with a taken id", s.CreateImport(ctx, &store.Import{ID: imp.ID}), store.ErrConflict)
	other := &store.Import{ID: "imp-given"}
	if err := s.CreateImport(ctx, other); err != nil || other.ID != "imp-given" {
		t.Fatalf("CreateImport with an id = %q, %v", other.ID, err)
	}

	// Totals replace, errors append.
	if err := s.UpdateImportProgress(ctx, imp.ID, 10, 6, 2, 2, importErrors(3, 2)); err != nil {
		t.Fatalf("UpdateImportProgress: %v", err)
	}
	if err := s.UpdateImportProgress(ctx, imp.ID, 20, 14, 4, 2, nil); err != nil {
		t.Fatalf("UpdateImportProgress without errors: %v", err)
	}
	got, err = s.GetImport(ctx, imp.ID)
	if err != nil {
		t.Fatalf("GetImport: %v", err)
	}
	wantEqual(t, "counts", []int{got.Rows, got.Imported, got.Unchanged, got.Failed}, []int{20, 14, 4, 2})
	wantEqual(t, "errors", got.Errors, importErrors(3, 2))
	if got.ErrorsTruncated || got.Status != store.ImportRunning || got.UpdatedAt.Before(imp.UpdatedAt) {
		t.Errorf("after progress: %+v", got)
	}

	// The first MaxImportErrors are kept, in order.
	if err := s.UpdateImportProgress(ctx, imp.ID, 2000, 14, 4, 1982, importErrors(21, 997)); err != nil {
		t.Fatalf("UpdateImportProgress: %v", err)
	}
	if got, _ := s.GetImport(ctx, imp.ID); got == nil || len(got.Errors) != 999 || got.ErrorsTruncated {
		t.Fatalf("999 errors: %v", got)
	}
	if err := s.UpdateImportProgress(ctx, imp.ID, 3000, 14, 4, 2982, importErrors(1018, 5)); err != nil {
		t.Fatalf("UpdateImportProgress past the cap: %v", err)
	}
	if err := s.UpdateImportProgress(ctx, imp.ID, 4000, 14, 4, 3982, importErrors(2000, 1500)); err != nil {
		t.Fatalf("UpdateImportProgress past the cap: %v", err)
	}
	got, err = s.GetImport(ctx, imp.ID)
	if err != nil {
		t.Fatalf("GetImport: %v", err)
	}
	want := append(append(importErrors(3, 2), importErrors(21, 997)...), importErrors(1018, 1)...)
	if len(got.Errors) != store.MaxImportErrors || !got.ErrorsTruncated {
		t.Fatalf("kept %d errors, truncated %v; want %d, true", len(got.Errors), got.ErrorsTruncated, store.MaxImportErrors)
	}
	wantEqual(t, "kept errors", got.Errors, want)
	if got.Failed != 3982 {
		t.Errorf("Failed = %d", got.Failed)
	}

	// A progress write that rolls back leaves nothing.
	errBoom := errors.New("boom")
	err = s.InTx(ctx, func(tx *store.Store) error {
		if err := tx.UpdateImportProgress(ctx, other.ID, 5, 5, 0, 0, importErrors(1, 3)); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("InTx = %v", err)
	}
	if got, _ := s.GetImport(ctx, other.ID); got == nil || got.Rows != 0 || len(got.Errors) != 0 {
		t.Errorf("rolled back progress stayed: %+v", got)
	}

	if err := s.FinishImport(ctx, imp.ID, store.ImportCompleted, "done"); err != nil {
		t.Fatalf("FinishImport: %v", err)
	}
	got, err = s.GetImport(ctx, imp.ID)
	if err != nil {
		t.Fatalf("GetImport: %v", err)
	}
	if got.Status != store.ImportCompleted || got.Message != "done" || got.FinishedAt == nil ||
		got.FinishedAt.Before(got.StartedAt) || got.FinishedAt.Location() != time.UTC || !got.UpdatedAt.Equal(*got.FinishedAt) {
		t.Errorf("finished import: %+v", got)
	}
	wantErr(t, "FinishImport twice", s.FinishImport(ctx, imp.ID, store.ImportFailed, "x"), store.ErrConflict)
	wantErr(t, "UpdateImportProgress after finish",
		s.UpdateImportProgress(ctx, imp.ID, 1, 1, 0, 0, nil), store.ErrConflict)
	if err := s.FinishImport(ctx, other.ID, "done", ""); err == nil {
		t.Error("FinishImport with an unknown status succeeded")
	}
	if err := s.FinishImport(ctx, other.ID, store.ImportFailed, "malformed CSV on line 3"); err != nil {
		t.Fatalf("FinishImport failed: %v", err)
	}
	if got, _ := s.GetImport(ctx, other.ID); got == nil || got.Status != store.ImportFailed || got.Message != "malformed CSV on line 3" {
		t.Errorf("failed import: %+v", got)
	}

	_, err = s.GetImport(ctx, "missing")
	wantErr(t, "GetImport of a missing import", err, store.ErrNotFound)
	wantErr(t, "UpdateImportProgress of a missing import",
		s.UpdateImportProgress(ctx, "missing", 1, 1, 0, 0, nil), store.ErrNotFound)
	wantErr(t, "FinishImport of a missing import",
		s.FinishImport(ctx, "missing", store.ImportCompleted, ""), store.ErrNotFound)
}
