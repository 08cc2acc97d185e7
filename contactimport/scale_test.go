package contactimport_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/npsgate/npsgate/contactimport"
	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
)

// generate streams a CSV of n contacts through a pipe, a row at a time:
// the file never exists whole, in memory or anywhere else. Every 1000th
// row is invalid. The reader is closed when the test ends, which stops the
// writer if Run did not read to the end.
func generate(tb testing.TB, n int) io.Reader {
	pr, pw := io.Pipe()
	tb.Cleanup(func() { pr.Close() })
	go func() {
		w := bufio.NewWriterSize(pw, 32<<10)
		fmt.Fprintln(w, "external_id,name,email,phone,locale,time_zone,account,role,tags,plan,seats")
		for i := range n {
			email := fmt.Sprintf("user%d@example.com", i)
			if i%1000 == 999 {
				email = "not an email"
			}
			fmt.Fprintf(w, "c-%07d,Customer %d,%s,+1415555%04d,en-us,America/New_York,acct-%d,admin,vip;beta,pro,%d\n",
				i, i, email, i%10000, i%500, i%100)
		}
		pw.CloseWithError(w.Flush())
	}()
	return pr
}

// memoryTestRows is the size of TestMemoryFlat's file, and
// memoryTestLiveOnly makes it measure the heap only after a collection at
// the end of each batch, rather than every 5ms as well (see race_test.go).
var (
	memoryTestRows     = 200_000
	memoryTestLiveOnly = false
)

// TestMemoryFlat imports 200,000 rows and checks that the Go heap in use
// does not grow with the file.
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 200,000 rows")
	}
	rows := memoryTestRows
	const limit = 50 << 20
	st := testenv.SQLiteStore(t)
	src := generate(t, rows)

	var mu sync.Mutex
	var peak uint64
	sample := func() {
		if memoryTestLiveOnly {
			runtime.GC()
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		mu.Lock()
		peak = max(peak, m.HeapInuse)
		mu.Unlock()
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		if memoryTestLiveOnly {
			return
		}
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				sample()
			}
		}
	})

	start := time.Now()
	imp, err := contactimport.Run(t.Context(), st, src, contactimport.Options{PhoneRegion: "US",
		Progress: func(*store.Import) { sample() }})
	elapsed := time.Since(start)
	close(done)
	wg.Wait()
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	wantCounts(t, imp, rows, rows-rows/1000, 0, rows/1000)
	if len(imp.Errors) != rows/1000 || imp.Errors[0].Row != 1000 {
		t.Errorf("%d errors, the first %+v", len(imp.Errors), imp.Errors[0])
	}

	growth := int64(peak) - int64(before.HeapInuse)
	t.Logf("%d rows in %v (%.0f rows/s); heap in use %.1f MB before, peak %.1f MB (+%.1f MB); allocated %.0f bytes per row",
		rows, elapsed.Round(time.Millisecond), float64(rows)/elapsed.Seconds(),
		mb(before.HeapInuse), mb(peak), float64(growth)/(1<<20),
		float64(after.TotalAlloc-before.TotalAlloc)/float64(rows))
	if growth > limit {
		t.Errorf("heap in use grew by %.1f MB importing %d rows, want under %d MB", float64(growth)/(1<<20), rows, limit>>20)
	}
	if c, err := st.GetContact(t.Context(), fmt.Sprintf("c-%07d", rows-2)); err != nil || c.Phone == "" || c.Locale != "en-US" {
		t.Errorf("last contact = %+v, %v", c, err)
	}
}

func mb(n uint64) float64 { return float64(n) / (1 << 20) }

// BenchmarkRun imports 100,000 new rows per iteration into a fresh
// database, and then the same rows again (all unchanged), and reports
// rows/s. PostgreSQL runs when NPSGATE_TEST_POSTGRES is set.
func BenchmarkRun(b *testing.B) {
	const rows = 100_000
	for _, db := range []struct {
		name string
		open func(testing.TB) *store.Store
	}{
		{"sqlite", testenv.SQLiteStore},
		{"postgres", testenv.PostgresStore},
	} {
		if db.name == "postgres" && os.Getenv(testenv.PostgresEnv) == "" {
			continue
		}
		for _, again := range []bool{false, true} {
			name := db.name + "/new"
			if again {
				name = db.name + "/unchanged"
			}
			b.Run(name, func(b *testing.B) {
				for range b.N {
					b.StopTimer()
					st := db.open(b)
					if again {
						if _, err := contactimport.Run(b.Context(), st, generate(b, rows), contactimport.Options{}); err != nil {
							b.Fatal(err)
						}
					}
					src := generate(b, rows)
					b.StartTimer()
					imp, err := contactimport.Run(b.Context(), st, src, contactimport.Options{})
					if err != nil {
						b.Fatal(err)
					}
					if imp.Rows != rows {
						b.Fatalf("imported %d rows", imp.Rows)
					}
				}
				b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}
