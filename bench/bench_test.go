package bench

import (
	"strings"
	"testing"
	"time"
)

func TestQuantiles(t *testing.T) {
	var s samples
	for i := 1; i <= 100; i++ {
		s.add(time.Duration(i) * time.Millisecond)
	}
	q := s.quantiles(0.5, 0.99, 1)
	if q[0] != 50 || q[1] != 99 || q[2] != 100 {
		t.Fatalf("quantiles %v", q)
	}
	var empty samples
	if q := empty.quantiles(0.5); q[0] != 0 {
		t.Fatalf("empty: %v", q)
	}
}

func TestNum(t *testing.T) {
	for in, want := range map[float64]string{1234567: "1,234,567", 999: "999", 12.34: "12.3", 0.456: "0.46", 100000: "100,000"} {
		if got := num(in); got != want {
			t.Errorf("num(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestSelectFigures(t *testing.T) {
	if n := len(selectFigures("all")); n != len(figures) {
		t.Fatalf("all: %d", n)
	}
	got := selectFigures("limits,trigger")
	if len(got) != 6 || got[0].name != "limit-redis" || got[5].name != "trigger" {
		t.Fatalf("limits,trigger: %v", got)
	}
}

func TestCumOwn(t *testing.T) {
	top := `File: npsbench
Type: cpu
      flat  flat%   sum%        cum   cum%
     0.01s  0.43%  0.43%      0.55s 23.81%  github.com/hibiken/asynq.(*Client).EnqueueContext
     0.01s  0.43%  0.87%      0.44s 19.05%  github.com/npsgate/npsgate/store.(*Store).insertDeliveries
     0.01s  0.43%  0.87%      0.40s 19.05%  github.com/npsgate/npsgate/bench.runFanout`
	got := cumOwn(top, 10)
	if !strings.Contains(got, "insertDeliveries") || strings.Contains(got, "EnqueueContext") || strings.Contains(got, "bench.run") {
		t.Fatalf("cumOwn:\n%s", got)
	}
}

func TestCPUSince(t *testing.T) {
	// Backend 1 lives through, 2 exits (its time is lost), 3 is new.
	a := cpuSnapshot{at: time.Unix(0, 0), ticks: map[string]uint64{"gateway": 100}, busy: 1000,
		pgPIDs: map[int]uint64{1: 50, 2: 900}}
	b := cpuSnapshot{at: time.Unix(10, 0), ticks: map[string]uint64{"gateway": 1100}, busy: 3500,
		pgPIDs: map[int]uint64{1: 350, 3: 200}}
	c := cpuSince(a, b)
	if c["gateway"] != 1 || c["postgres"] != 0.5 || c["machine"] != 2.5 || c["other"] != 1 {
		t.Fatalf("cpuSince: %v", c)
	}
}
