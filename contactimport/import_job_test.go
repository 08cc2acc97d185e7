package contactimport_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/npsgate/npsgate/contactimport"
	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
)

// waitFor polls cond until it holds, failing the test after 20 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func getImport(t *testing.T, st *store.Store, id string) *store.Import {
	t.Helper()
	imp, err := st.GetImport(context.Background(), id)
	if err != nil {
		t.Fatalf("GetImport: %v", err)
	}
	return imp
}

// cutUpload is an upload whose connection drops after file: the read
// fails and, as an HTTP server does, the request's context is canceled
// at the same moment.
type cutUpload struct {
	r      io.Reader
	cancel context.CancelFunc
}

func (u *cutUpload) Read(p []byte) (int, error) {
	n, err := u.r.Read(p)
	if errors.Is(err, io.EOF) {
		u.cancel()
		return n, errors.New("read tcp: connection reset by peer")
	}
	return n, err
}

// TestDroppedUploadKeepsRowsRead: every row read before the upload broke
// is written and counted, although the request's context is gone by the
// time they are written.
func TestDroppedUploadKeepsRowsRead(t *testing.T) {
	const rows = 2500
	var file strings.Builder
	file.WriteString("external_id,email\n")
	for i := range rows {
		fmt.Fprintf(&file, "cut-%04d,cut%d@example.com\n", i, i)
	}
	eachStore(t, func(t *testing.T, st *store.Store) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		imp, err := contactimport.Run(ctx, st, &cutUpload{r: strings.NewReader(file.String()), cancel: cancel},
			contactimport.Options{BatchSize: 1000, FlushInterval: time.Hour})
		if err == nil || !strings.Contains(err.Error(), "connection reset") {
			t.Fatalf("Run = %v, want the read's error", err)
		}
		checkStored(t, st, imp)
		wantCounts(t, imp, rows, rows, 0, 0)
		if imp.Status != store.ImportFailed || !strings.Contains(imp.Message, "the first 2500 rows were processed") {
			t.Errorf("import %s: %q", imp.Status, imp.Message)
		}
		if page, err := st.ContactsPage(t.Context(), "", 1000); err != nil || len(page) != 1000 {
			t.Fatalf("ContactsPage = %d, %v", len(page), err)
		}
		contact(t, st, fmt.Sprintf("cut-%04d", rows-1))
	})
}

// TestSlowFileShowsProgress: rows that arrive too slowly to fill a batch
// are written within FlushInterval, so the import's progress follows the
// upload rather than jumping at the end.
func TestSlowFileShowsProgress(t *testing.T) {
	eachStore(t, func(t *testing.T, st *store.Store) {
		pr, pw := io.Pipe()
		defer pr.Close()
		ids := make(chan string, 1)
		done := make(chan *store.Import, 1)
		go func() {
			imp, err := contactimport.Run(t.Context(), st, pr, contactimport.Options{
				FlushInterval: 20 * time.Millisecond,
				Started:       func(imp *store.Import) { ids <- imp.ID },
			})
			if err != nil {
				t.Errorf("Run: %v", err)
			}
			done <- imp
		}()
		id := <-ids
		fmt.Fprint(pw, "external_id,email\ns-1,s1@example.com\ns-2,bad\ns-3,s3@example.com\n")
		waitFor(t, "the first rows to be written", func() bool { return getImport(t, st, id).Rows == 3 })
		got := getImport(t, st, id)
		if got.Status != store.ImportRunning || got.Imported != 2 || got.Failed != 1 || len(got.Errors) != 1 {
			t.Fatalf("mid-upload: %+v", got)
		}
		contact(t, st, "s-3")
		fmt.Fprint(pw, "s-4,s4@example.com\n")
		waitFor(t, "the next row to be written", func() bool { return getImport(t, st, id).Rows == 4 })
		pw.Close()
		imp := <-done
		checkStored(t, st, imp)
		wantCounts(t, imp, 4, 3, 0, 1)
	})
}

// TestHeartbeat: an import waiting for its file still records that it is
// alive.
func TestHeartbeat(t *testing.T) {
	eachStore(t, testHeartbeat)
}

func testHeartbeat(t *testing.T, st *store.Store) {
	pr, pw := io.Pipe()
	defer pr.Close()
	ids := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := contactimport.Run(t.Context(), st, pr, contactimport.Options{
			Heartbeat: 10 * time.Millisecond, Started: func(imp *store.Import) { ids <- imp.ID },
		}); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	id := <-ids
	started := getImport(t, st, id)
	waitFor(t, "a heartbeat", func() bool { return getImport(t, st, id).UpdatedAt.After(started.UpdatedAt) })
	if got := getImport(t, st, id); got.Status != store.ImportRunning || got.Rows != 0 {
		t.Errorf("after a heartbeat: %+v", got)
	}
	fmt.Fprint(pw, "external_id\n")
	pw.Close()
	<-done
}

// TestStarted: the import is recorded, and its id told, before the file
// is read.
func TestStarted(t *testing.T) {
	st := testenv.SQLiteStore(t)
	var read atomic.Bool
	var started *store.Import
	r := readFunc(func(p []byte) (int, error) {
		read.Store(true)
		return 0, io.EOF
	})
	imp, err := contactimport.Run(t.Context(), st, r, contactimport.Options{Filename: "f.csv",
		Started: func(imp *store.Import) {
			if read.Load() {
				t.Error("the file was read before Started")
			}
			started = imp
			got := getImport(t, st, imp.ID)
			if got.Status != store.ImportRunning || got.Filename != "f.csv" {
				t.Errorf("recorded at Started: %+v", got)
			}
		}})
	if !errors.Is(err, contactimport.ErrInvalidFile) {
		t.Fatalf("Run = %v", err)
	}
	if started == nil || started.ID != imp.ID || started == imp {
		t.Errorf("Started got %+v, Run returned %+v", started, imp)
	}
}

type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }

// TestSweepStale: an import whose process died is ended as failed, its
// rows kept and counted; a live one goes on.
func TestSweepStale(t *testing.T) {
	eachStore(t, func(t *testing.T, st *store.Store) {
		ctx := t.Context()
		dead := &store.Import{Filename: "dead.csv"}
		if err := st.CreateImport(ctx, dead); err != nil {
			t.Fatal(err)
		}
		if _, err := st.UpsertContacts(ctx, []*store.Contact{{ExternalID: "d-1"}, {ExternalID: "d-2"}}); err != nil {
			t.Fatal(err)
		}
		if err := st.UpdateImportProgress(ctx, dead.ID, 3, 2, 0, 1,
			[]store.ImportError{{Row: 3, Field: "email", Reason: "bad"}}); err != nil {
			t.Fatal(err)
		}
		cutoff := getImport(t, st, dead.ID).UpdatedAt.Add(time.Microsecond)
		waitFor(t, "the clock to pass the dead import", func() bool { return time.Now().After(cutoff) })

		pr, pw := io.Pipe()
		defer pr.Close()
		ids := make(chan string, 1)
		done := make(chan *store.Import, 1)
		go func() {
			imp, err := contactimport.Run(ctx, st, pr, contactimport.Options{
				Started: func(imp *store.Import) { ids <- imp.ID }})
			if err != nil {
				t.Errorf("live Run: %v", err)
			}
			done <- imp
		}()
		live := <-ids

		swept, err := contactimport.SweepStale(ctx, st, cutoff)
		if err != nil {
			t.Fatalf("SweepStale: %v", err)
		}
		if len(swept) != 1 || swept[0].ID != dead.ID {
			t.Fatalf("swept %+v, want only the dead import", swept)
		}
		got := getImport(t, st, dead.ID)
		if got.Status != store.ImportFailed || got.FinishedAt == nil ||
			!strings.HasPrefix(got.Message, "interrupted: the process running the import stopped") ||
			!strings.Contains(got.Message, "the first 3 rows were processed, none after") {
			t.Errorf("swept import: %+v", got)
		}
		wantCounts(t, got, 3, 2, 0, 1)
		if len(got.Errors) != 1 {
			t.Errorf("errors %+v", got.Errors)
		}

		if got := getImport(t, st, live); got.Status != store.ImportRunning {
			t.Fatalf("live import swept: %+v", got)
		}
		fmt.Fprint(pw, "external_id\nl-1\n")
		pw.Close()
		imp := <-done
		checkStored(t, st, imp)
		if imp.Status != store.ImportCompleted {
			t.Errorf("live import: %+v", imp)
		}
	})
}

// TestSweeper: the sweeper ends a quiet import on its own, and stops with
// its context.
func TestSweeper(t *testing.T) {
	eachStore(t, testSweeper)
}

func testSweeper(t *testing.T, st *store.Store) {
	dead := &store.Import{Filename: "dead.csv"}
	if err := st.CreateImport(t.Context(), dead); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		(&contactimport.Sweeper{Store: st, Interval: 10 * time.Millisecond, StaleAfter: time.Millisecond}).Run(ctx)
	}()
	waitFor(t, "the sweeper", func() bool { return getImport(t, st, dead.ID).Status == store.ImportFailed })
	if got := getImport(t, st, dead.ID); !strings.Contains(got.Message, "interrupted") ||
		!strings.Contains(got.Message, "no rows were processed") {
		t.Errorf("swept: %q", got.Message)
	}
	cancel()
	<-stopped
}
