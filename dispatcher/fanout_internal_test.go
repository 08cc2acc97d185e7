package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/npsgate/npsgate/store"
)

func TestContactLocation(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Skip("no zone database:", err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	for _, tc := range []struct {
		name, zone, fallback string
		want                 *time.Location
	}{
		{"contact zone", "Asia/Tokyo", "Europe/Berlin", tokyo},
		{"campaign zone when the contact has none", "", "Europe/Berlin", berlin},
		{"invalid contact zone falls back to the campaign's", "Mars/Olympus_Mons", "Europe/Berlin", berlin},
		{"both invalid is UTC", "Mars/Olympus_Mons", "Not/AZone", time.UTC},
		{"none is UTC", "", "", time.UTC},
		{"UTC by name", "UTC", "Asia/Tokyo", time.UTC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Twice: the second answer comes from the cache.
			for i := 0; i < 2; i++ {
				got := contactLocation(&store.Contact{TimeZone: tc.zone}, tc.fallback)
				if got.String() != tc.want.String() {
					t.Fatalf("call %d: %v, want %v", i+1, got, tc.want)
				}
			}
		})
	}
	// The cache hands back the same location, not a new load.
	a := contactLocation(&store.Contact{TimeZone: "Asia/Tokyo"}, "")
	b := contactLocation(&store.Contact{TimeZone: "Asia/Tokyo"}, "")
	if a != b {
		t.Fatal("Asia/Tokyo loaded twice")
	}
	// An invalid name keeps failing from the cache.
	if l := loadLocation("Mars/Olympus_Mons"); l != nil {
		t.Fatalf("invalid zone loaded: %v", l)
	}
}

func TestContactLocationConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				zone := []string{"America/New_York", "Asia/Shanghai", "bad/zone", ""}[j%4]
				if l := contactLocation(&store.Contact{TimeZone: zone}, "UTC"); l == nil {
					t.Error("nil location")
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkContactLocation(b *testing.B) {
	ct := &store.Contact{TimeZone: "America/Sao_Paulo"}
	for b.Loop() {
		contactLocation(ct, "UTC")
	}
}

func TestScheduleAll(t *testing.T) {
	boom := errors.New("redis down")
	deliveries := func(n int) []*store.Delivery {
		ds := make([]*store.Delivery, n)
		for i := range ds {
			ds[i] = &store.Delivery{ID: fmt.Sprintf("d%04d", i)}
		}
		return ds
	}
	for _, tc := range []struct {
		name     string
		n        int                             // deliveries
		par      int                             // parallelism
		failWhen func(id string) bool            // which enqueues fail
		cancel   bool                            // the caller's context is cancelled first
		wantErr  string                          // "" = nil
		wantAll  bool                            // every delivery was scheduled exactly once
		check    func(t *testing.T, calls int64) // extra check on the number of calls
	}{
		{name: "none", n: 0, par: 16, wantAll: true},
		{name: "one", n: 1, par: 16, wantAll: true},
		{name: "sequential", n: 50, par: 1, wantAll: true},
		{name: "concurrent", n: 1000, par: 16, wantAll: true},
		{name: "fewer than workers", n: 5, par: 16, wantAll: true},
		{name: "one fails", n: 1000, par: 16, failWhen: func(id string) bool { return id == "d0500" }, wantErr: "redis down"},
		{name: "all fail stops early", n: 1000, par: 4, failWhen: func(string) bool { return true }, wantErr: "redis down",
			check: func(t *testing.T, calls int64) {
				if calls > 100 {
					t.Fatalf("%d enqueues tried after Redis failed; want it to stop", calls)
				}
			}},
		{name: "sequential failure", n: 10, par: 1, failWhen: func(id string) bool { return id == "d0003" }, wantErr: "redis down",
			check: func(t *testing.T, calls int64) {
				if calls != 4 {
					t.Fatalf("%d calls, want 4", calls)
				}
			}},
		{name: "cancelled context", n: 100, par: 8, cancel: true, wantErr: "context canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				cancel()
			}
			var (
				calls    atomic.Int64
				inFlight atomic.Int64
				maxSeen  atomic.Int64
				mu       sync.Mutex
				seen     = map[string]int{}
			)
			err := scheduleAll(ctx, deliveries(tc.n), tc.par, func(ctx context.Context, d *store.Delivery) error {
				calls.Add(1)
				cur := inFlight.Add(1)
				defer inFlight.Add(-1)
				for {
					m := maxSeen.Load()
					if cur <= m || maxSeen.CompareAndSwap(m, cur) {
						break
					}
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				time.Sleep(50 * time.Microsecond)
				if tc.failWhen != nil && tc.failWhen(d.ID) {
					return fmt.Errorf("enqueue %s: %w", d.ID, boom)
				}
				mu.Lock()
				seen[d.ID]++
				mu.Unlock()
				return nil
			})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if tc.failWhen != nil && !errors.Is(err, boom) {
				t.Fatalf("error %v does not wrap the enqueue's error", err)
			}
			if m := maxSeen.Load(); m > int64(max(tc.par, 1)) {
				t.Fatalf("%d enqueues at once, limit %d", m, tc.par)
			}
			if tc.wantAll {
				if len(seen) != tc.n {
					t.Fatalf("%d scheduled, want %d", len(seen), tc.n)
				}
				for id, k := range seen {
					if k != 1 {
						t.Fatalf("%s scheduled %d times", id, k)
					}
				}
			}
			if tc.check != nil {
				tc.check(t, calls.Load())
			}
		})
	}
}

// TestBatchSize: a big group goes in full batches; a small one is spread
// over several tasks, down to one delivery each.
func TestBatchSize(t *testing.T) {
	for _, tc := range []struct{ n, want int }{
		{1, 1}, {15, 1}, {24, 1}, {32, 2}, {600, 37}, {800, 50}, {1000, 50}, {100000, 50},
	} {
		if got := batchSize(tc.n); got != tc.want {
			t.Errorf("batchSize(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
}
