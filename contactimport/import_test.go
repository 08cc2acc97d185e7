package contactimport_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/npsgate/npsgate/contactimport"
	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
)

// eachStore runs fn on a fresh SQLite store and, when NPSGATE_TEST_POSTGRES
// is set, on a fresh PostgreSQL one.
func eachStore(t *testing.T, fn func(t *testing.T, st *store.Store)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, testenv.SQLiteStore(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, testenv.PostgresStore(t)) })
}

func run(t *testing.T, st *store.Store, file string, opts contactimport.Options) *store.Import {
	t.Helper()
	imp, err := contactimport.Run(t.Context(), st, strings.NewReader(file), opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkStored(t, st, imp)
	return imp
}

// checkStored compares what Run returned with the import in the store.
func checkStored(t *testing.T, st *store.Store, imp *store.Import) {
	t.Helper()
	got, err := st.GetImport(t.Context(), imp.ID)
	if err != nil {
		t.Fatalf("GetImport: %v", err)
	}
	if !reflect.DeepEqual(got, imp) {
		t.Errorf("Run returned\n %+v\nthe store has\n %+v", imp, got)
	}
	if imp.FinishedAt == nil || imp.Status == store.ImportRunning {
		t.Errorf("import not finished: %+v", imp)
	}
	if n := imp.Imported + imp.Unchanged + imp.Failed; n != imp.Rows {
		t.Errorf("imported %d + unchanged %d + failed %d = %d, want rows %d",
			imp.Imported, imp.Unchanged, imp.Failed, n, imp.Rows)
	}
}

func contact(t *testing.T, st *store.Store, id string) *store.Contact {
	t.Helper()
	c, err := st.GetContact(t.Context(), id)
	if err != nil {
		t.Fatalf("GetContact(%q): %v", id, err)
	}
	return c
}

func wantCounts(t *testing.T, imp *store.Import, rows, imported, unchanged, failed int) {
	t.Helper()
	got := [4]int{imp.Rows, imp.Imported, imp.Unchanged, imp.Failed}
	if want := [4]int{rows, imported, unchanged, failed}; got != want {
		t.Errorf("rows, imported, unchanged, failed = %v, want %v", got, want)
	}
}

func TestRowErrors(t *testing.T) {
	const header = "external_id,name,email,phone,locale,time_zone,plan\n"
	rows := []struct {
		line   string
		field  string // "" with reason "" for a good row
		reason string // a part of the reason
	}{
		{line: "u-1,Ana,ana@example.com,(415) 555-0100,en-us,America/New_York,pro"},
		{line: "u-2,Bad email,not-an-email,,,,", field: "email", reason: `"not-an-email" is not a valid email address`},
		{line: "u-3,Bad phone,,12,,,", field: "phone", reason: "invalid phone number"},
		{line: "u-4,Bad locale,,,en_US_not!,,", field: "locale", reason: "is not a BCP 47 locale"},
		{line: "u-5,Bad zone,,,,Mars/Olympus,", field: "time_zone", reason: `"Mars/Olympus" is not an IANA time zone`},
		{line: "u-6,Local zone,,,,Local,", field: "time_zone", reason: "is not an IANA time zone"},
		{line: ",No id,x@example.com,,,,", field: "external_id", reason: "external_id is required"},
		{line: "u 8,Bad id,,,,,", field: "external_id", reason: "external_id must be 1-128 letters"},
		{line: "u-9,Too,many,,,,,extra", field: "", reason: "the row has 8 cells, the header 7"},
		{line: "u-10,Too few", field: "", reason: "the row has 2 cells, the header 7"},
		{line: "u-11,Nul\x00name,,,,,", field: "name", reason: "NUL"},
		{line: "u-12,,,,,,\xff\xfe", field: "plan", reason: "not valid UTF-8"},
		{line: `"u-13","Quoted, with comma",b@example.com,+44 20 7946 0123,zh-cn,Asia/Shanghai,`},
		{line: "  u-14  ,  Spaces  , c@example.com ,,,UTC,  free  "},
	}
	var file strings.Builder
	file.WriteString(header)
	var wantErrs []store.ImportError
	good := 0
	for i, r := range rows {
		file.WriteString(r.line + "\r\n")
		if r.reason == "" {
			good++
		} else {
			wantErrs = append(wantErrs, store.ImportError{Row: i + 1, Field: r.field, Reason: r.reason})
		}
	}
	eachStore(t, func(t *testing.T, st *store.Store) {
		imp := run(t, st, file.String(), contactimport.Options{Filename: "contacts.csv", PhoneRegion: "US", BatchSize: 4})
		wantCounts(t, imp, len(rows), good, 0, len(wantErrs))
		if imp.Status != store.ImportCompleted || imp.Message != "" || imp.Filename != "contacts.csv" || imp.ErrorsTruncated {
			t.Errorf("import %+v", imp)
		}
		if len(imp.Errors) != len(wantErrs) {
			t.Fatalf("errors %+v\nwant %+v", imp.Errors, wantErrs)
		}
		for i, want := range wantErrs {
			got := imp.Errors[i]
			if got.Row != want.Row || got.Field != want.Field || !strings.Contains(got.Reason, want.Reason) {
				t.Errorf("error %d = %+v, want row %d, field %q, reason with %q", i, got, want.Row, want.Field, want.Reason)
			}
		}

		// Good rows are stored normalised; bad ones not at all.
		c := contact(t, st, "u-1")
		want := store.Contact{ExternalID: "u-1", Name: "Ana", Email: "ana@example.com", Phone: "+14155550100",
			Locale: "en-US", TimeZone: "America/New_York", Attributes: map[string]string{"plan": "pro"}}
		if got := fields(c); !reflect.DeepEqual(got, want) {
			t.Errorf("u-1 = %+v\nwant %+v", got, want)
		}
		c = contact(t, st, "u-13")
		if c.Name != "Quoted, with comma" || c.Phone != "+442079460123" || c.Locale != "zh-CN" || c.Attributes != nil {
			t.Errorf("u-13 = %+v", c)
		}
		c = contact(t, st, "u-14")
		if c.Name != "Spaces" || c.Email != "c@example.com" || c.Attributes["plan"] != "free" {
			t.Errorf("u-14 (trimmed) = %+v", c)
		}
		for _, id := range []string{"u-2", "u-3", "u-4", "u-5", "u-6", "u-9", "u-10", "u-11", "u-12"} {
			if _, err := st.GetContact(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("refused row %s was stored (%v)", id, err)
			}
		}
	})
}

func fields(c *store.Contact) store.Contact {
	return store.Contact{ExternalID: c.ExternalID, Name: c.Name, Email: c.Email, Phone: c.Phone, Locale: c.Locale,
		TimeZone: c.TimeZone, Account: c.Account, Role: c.Role, Tags: c.Tags, Attributes: c.Attributes}
}

func TestReimportChangesNothing(t *testing.T) {
	file := "external_id,email,tags,plan,seats\n" +
		"a-1,a1@example.com,vip;beta,pro,5\n" +
		"a-2,a2@example.com,,free,\n" +
		"a-3,not valid,,,\n" +
		"a-4,,x|y,,\n"
	eachStore(t, func(t *testing.T, st *store.Store) {
		first := run(t, st, file, contactimport.Options{BatchSize: 2})
		wantCounts(t, first, 4, 3, 0, 1)
		before := contact(t, st, "a-1")

		again := run(t, st, file, contactimport.Options{BatchSize: 3})
		wantCounts(t, again, 4, 0, 3, 1)
		if after := contact(t, st, "a-1"); !reflect.DeepEqual(after, before) {
			t.Errorf("identical re-import touched a-1:\n%+v\n%+v", before, after)
		}

		// One change is one import.
		changed := strings.Replace(file, "a2@example.com", "a2@example.org", 1)
		third := run(t, st, changed, contactimport.Options{})
		wantCounts(t, third, 4, 1, 2, 1)
		if first.ID == again.ID || again.ID == third.ID {
			t.Errorf("imports share an id: %s %s %s", first.ID, again.ID, third.ID)
		}
	})
}

func TestHeaderBOMAndAttributes(t *testing.T) {
	file := "\xef\xbb\xbf External_ID ,EMAIL,Tags,Plan,Région,empty\n" +
		"h-1,H@Example.com, vip ; beta|| gamma ;,Pro,Île-de-France,\n" +
		"h-2,,,,,\n"
	eachStore(t, func(t *testing.T, st *store.Store) {
		imp := run(t, st, file, contactimport.Options{})
		wantCounts(t, imp, 2, 2, 0, 0)
		c := contact(t, st, "h-1")
		want := store.Contact{ExternalID: "h-1", Email: "H@Example.com", Tags: []string{"vip", "beta", "gamma"},
			Attributes: map[string]string{"Plan": "Pro", "Région": "Île-de-France"}}
		if got := fields(c); !reflect.DeepEqual(got, want) {
			t.Errorf("h-1 = %+v\nwant %+v", got, want)
		}
		if c := contact(t, st, "h-2"); c.Tags != nil || c.Attributes != nil {
			t.Errorf("empty cells set %+v", c)
		}
	})
}

func TestTags(t *testing.T) {
	for _, tc := range []struct {
		cell string
		want []string
	}{
		{"", nil},
		{"vip", []string{"vip"}},
		{"a;b", []string{"a", "b"}},
		{"a|b", []string{"a", "b"}},
		{" a ; b | c ", []string{"a", "b", "c"}},
		{";;|", nil},
		{"早期用户;vip", []string{"早期用户", "vip"}},
		{"a, b;c", []string{"a, b", "c"}},
	} {
		st := testenv.SQLiteStore(t)
		run(t, st, "external_id,tags\nt-1,"+quote(tc.cell)+"\n", contactimport.Options{})
		if got := contact(t, st, "t-1").Tags; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("tags %q = %q, want %q", tc.cell, got, tc.want)
		}
	}
}

func quote(cell string) string {
	if strings.ContainsAny(cell, `",`) {
		return `"` + strings.ReplaceAll(cell, `"`, `""`) + `"`
	}
	return cell
}

func TestDuplicateExternalID(t *testing.T) {
	// d-1 twice in one batch, d-2 in two batches: the later row wins.
	file := "external_id,name\nd-1,first\nd-1,second\nd-2,early\nd-3,x\nd-2,late\n"
	eachStore(t, func(t *testing.T, st *store.Store) {
		imp := run(t, st, file, contactimport.Options{BatchSize: 3})
		wantCounts(t, imp, 5, 4, 1, 0)
		for id, name := range map[string]string{"d-1": "second", "d-2": "late", "d-3": "x"} {
			if got := contact(t, st, id).Name; got != name {
				t.Errorf("%s = %q, want %q", id, got, name)
			}
		}
	})
}

func TestProgress(t *testing.T) {
	var file strings.Builder
	file.WriteString("external_id,email\n")
	for i := range 25 {
		if i == 7 {
			file.WriteString("p-bad,nope\n")
			continue
		}
		fmt.Fprintf(&file, "p-%02d,p%d@example.com\n", i, i)
	}
	eachStore(t, func(t *testing.T, st *store.Store) {
		var seen []*store.Import
		imp := run(t, st, file.String(), contactimport.Options{ImportID: "imp-progress", BatchSize: 10,
			Progress: func(p *store.Import) {
				// What Progress sees is committed.
				got, err := st.GetImport(context.Background(), p.ID)
				if err != nil || got.Rows != p.Rows || got.Imported != p.Imported || len(got.Errors) != len(p.Errors) {
					t.Errorf("Progress saw %+v, the store has %+v (%v)", p, got, err)
				}
				seen = append(seen, p)
			}})
		if imp.ID != "imp-progress" {
			t.Errorf("ID = %q", imp.ID)
		}
		var rows []int
		for _, p := range seen {
			rows = append(rows, p.Rows)
		}
		if want := []int{10, 20, 25, 25}; !reflect.DeepEqual(rows, want) {
			t.Fatalf("Progress saw rows %v, want %v", rows, want)
		}
		for _, p := range seen[:3] {
			if p.Status != store.ImportRunning || p.FinishedAt != nil || len(p.Errors) != 1 || p.Failed != 1 {
				t.Errorf("progress %+v", p)
			}
		}
		if last := seen[3]; last != imp || last.Status != store.ImportCompleted {
			t.Errorf("last Progress = %+v, want the finished import", last)
		}
		if seen[0] == seen[1] {
			t.Error("Progress got the same value twice")
		}
	})
}

func TestErrorsCapped(t *testing.T) {
	var file strings.Builder
	file.WriteString("external_id,email\n")
	for i := range 1500 {
		fmt.Fprintf(&file, "e-%d,bad-%d\n", i, i)
	}
	file.WriteString("e-ok,ok@example.com\n")
	st := testenv.SQLiteStore(t)
	imp := run(t, st, file.String(), contactimport.Options{BatchSize: 400})
	wantCounts(t, imp, 1501, 1, 0, 1500)
	if len(imp.Errors) != store.MaxImportErrors || !imp.ErrorsTruncated {
		t.Fatalf("kept %d errors, truncated %v", len(imp.Errors), imp.ErrorsTruncated)
	}
	if first, last := imp.Errors[0], imp.Errors[store.MaxImportErrors-1]; first.Row != 1 || last.Row != store.MaxImportErrors {
		t.Errorf("errors run from row %d to %d", first.Row, last.Row)
	}
}

func TestFileErrors(t *testing.T) {
	// csv reads ahead 4 KiB, which the limit does not see.
	big := strings.Repeat("x", contactimport.MaxRowBytes+8192)
	for _, tc := range []struct {
		name     string
		file     string
		maxRows  int
		message  string // a part of the message
		imported []string
	}{
		{name: "empty", file: "", message: "the file is empty"},
		{name: "only a BOM", file: "\xef\xbb\xbf", message: "the file is empty"},
		{name: "no external_id", file: "id,email\n1,a@example.com\n", message: "no external_id column"},
		{name: "duplicate column", file: "external_id,Email,email\n", message: `columns 2 and 3 are both "email"`},
		{name: "duplicate attribute", file: "external_id,plan,plan\n", message: `columns 2 and 3 are both "plan"`},
		{name: "unnamed column", file: "external_id,,plan\n", message: "column 2 of the header has no name"},
		{name: "opted_out_at", file: "external_id,opted_out_at\n", message: `column "opted_out_at" cannot be imported`},
		{name: "UTF-16", file: "\xff\xfee\x00x\x00", message: "UTF-16"},
		{
			name:     "malformed",
			file:     "external_id,name\nm-1,a\nm-2,b\nm-3,bad \"quote\nm-4,d\n",
			message:  "malformed CSV: parse error on line 4",
			imported: []string{"m-1", "m-2"},
		},
		{
			name:     "unclosed quote",
			file:     "external_id,name\nm-1,a\nm-2,\"never closed\nm-3,c\n",
			message:  "malformed CSV",
			imported: []string{"m-1"},
		},
		{
			name:     "row too large",
			file:     "external_id,name\nm-1,a\nm-2," + big + "\nm-3,c\n",
			message:  "data row 2 is larger than",
			imported: []string{"m-1"},
		},
		{
			name:     "too many rows",
			file:     "external_id\nr-1\nr-2\nr-3\nr-4\n",
			maxRows:  3,
			message:  "the file has more than 3 data rows",
			imported: []string{"r-1", "r-2", "r-3"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := testenv.SQLiteStore(t)
			imp, err := contactimport.Run(t.Context(), st, strings.NewReader(tc.file),
				contactimport.Options{MaxRows: tc.maxRows, BatchSize: 1})
			if !errors.Is(err, contactimport.ErrInvalidFile) {
				t.Fatalf("Run error %v, want ErrInvalidFile", err)
			}
			checkStored(t, st, imp)
			if imp.Status != store.ImportFailed || !strings.Contains(imp.Message, tc.message) {
				t.Errorf("import %s: %q, want failed with %q", imp.Status, imp.Message, tc.message)
			}
			want := fmt.Sprintf("the first %d rows were processed, none after", len(tc.imported))
			if len(tc.imported) == 0 {
				want = "no rows were processed"
			}
			if !strings.Contains(imp.Message, want) {
				t.Errorf("message %q does not say %q", imp.Message, want)
			}
			wantCounts(t, imp, len(tc.imported), len(tc.imported), 0, 0)
			page, err := st.ContactsPage(t.Context(), "", 100)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, c := range page {
				ids = append(ids, c.ExternalID)
			}
			if !reflect.DeepEqual(ids, tc.imported) {
				t.Errorf("stored %v, want %v", ids, tc.imported)
			}
		})
	}
}

func TestHeaderOnly(t *testing.T) {
	st := testenv.SQLiteStore(t)
	imp := run(t, st, "external_id,email\n", contactimport.Options{})
	wantCounts(t, imp, 0, 0, 0, 0)
	if imp.Status != store.ImportCompleted {
		t.Errorf("status %s", imp.Status)
	}
}

func TestTakenImportID(t *testing.T) {
	st := testenv.SQLiteStore(t)
	run(t, st, "external_id\nx\n", contactimport.Options{ImportID: "imp-1"})
	imp, err := contactimport.Run(t.Context(), st, strings.NewReader("external_id\ny\n"), contactimport.Options{ImportID: "imp-1"})
	if !errors.Is(err, store.ErrConflict) || imp != nil {
		t.Fatalf("Run with a taken id = %v, %v", imp, err)
	}
	if _, err := st.GetContact(t.Context(), "y"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the refused import wrote y: %v", err)
	}
}

// TestCanceled stops an upload after its first batch: that batch stays,
// and the import is recorded as failed although its context is gone.
func TestCanceled(t *testing.T) {
	eachStore(t, func(t *testing.T, st *store.Store) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		pr, pw := io.Pipe()
		go func() {
			fmt.Fprint(pw, "external_id\nc-1\nc-2\n")
			<-ctx.Done()
			pw.CloseWithError(ctx.Err())
		}()
		imp, err := contactimport.Run(ctx, st, pr, contactimport.Options{BatchSize: 2,
			Progress: func(p *store.Import) {
				if p.Status == store.ImportRunning {
					cancel()
				}
			}})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
		checkStored(t, st, imp)
		wantCounts(t, imp, 2, 2, 0, 0)
		if imp.Status != store.ImportFailed || !strings.Contains(imp.Message, "canceled") {
			t.Errorf("import %+v", imp)
		}
	})
}

// TestDatabaseError takes the contacts table away after the first batch.
func TestDatabaseError(t *testing.T) {
	url := testenv.SQLiteURL(t)
	st, err := store.Open(t.Context(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", strings.TrimPrefix(url, "sqlite://")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	file := "external_id\nx-1\nx-2\nx-3\nx-4\nx-5\n"
	imp, err := contactimport.Run(t.Context(), st, strings.NewReader(file), contactimport.Options{BatchSize: 2,
		Progress: func(p *store.Import) {
			if p.Status == store.ImportRunning {
				if _, err := raw.Exec(`ALTER TABLE contacts RENAME TO contacts_gone`); err != nil {
					t.Error(err)
				}
			}
		}})
	if err == nil || errors.Is(err, contactimport.ErrInvalidFile) {
		t.Fatalf("Run = %v, want the store's error", err)
	}
	checkStored(t, st, imp)
	wantCounts(t, imp, 2, 2, 0, 0)
	if imp.Status != store.ImportFailed || !strings.Contains(imp.Message, "no such table") ||
		!strings.Contains(imp.Message, "the first 2 rows were processed") {
		t.Errorf("import %+v", imp)
	}
}

func TestLogger(t *testing.T) {
	var buf strings.Builder
	st := testenv.SQLiteStore(t)
	run(t, st, "external_id\nl-1\n", contactimport.Options{ImportID: "imp-log", Logger: newLogger(&buf)})
	for _, want := range []string{"contact import started", "contact import completed", "import=imp-log", "rows=1"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, buf.String())
		}
	}
}

func newLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
