package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// samples keeps every latency of a figure; quantiles sort a copy. A
// figure has at most a few hundred thousand, so exact beats a sketch.
type samples struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *samples) add(d time.Duration) {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
}

func (s *samples) n() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.d)
}

// quantiles returns the q-quantiles (0..1) in milliseconds, nearest rank.
func (s *samples) quantiles(qs ...float64) []float64 {
	s.mu.Lock()
	d := append([]time.Duration(nil), s.d...)
	s.mu.Unlock()
	out := make([]float64, len(qs))
	if len(d) == 0 {
		return out
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	for i, q := range qs {
		k := int(q*float64(len(d))+0.5) - 1
		k = min(max(k, 0), len(d)-1)
		out[i] = float64(d[k]) / float64(time.Millisecond)
	}
	return out
}

// record sets <prefix>_p50_ms, _p99_ms and _max_ms on r.
func (s *samples) record(r *Result, prefix string) {
	q := s.quantiles(0.5, 0.99, 1)
	r.set(prefix+"_p50_ms", q[0])
	r.set(prefix+"_p99_ms", q[1])
	r.set(prefix+"_max_ms", q[2])
}

// cpuSnapshot is the CPU time used so far by the process groups that
// share the machine during a figure, in clock ticks.
type cpuSnapshot struct {
	at    time.Time
	ticks map[string]uint64
	busy  uint64 // all CPUs, from /proc/stat
	// pgPIDs are the PostgreSQL backends' ticks by pid: the pool opens and
	// closes connections, so a sum over whatever backends live at each
	// snapshot can shrink; deltas per pid cannot.
	pgPIDs map[int]uint64
	// pg are the figure's database's counters (pg_stat_database):
	// transactions (every autocommit statement is one) and rows written.
	pgXacts, pgRows, pgSessions int64
	pgActiveMs                  float64
	pgOK                        bool
}

// clockTicks is USER_HZ, 100 on every Linux the bench runs on.
const clockTicks = 100

// snapshotCPU reads /proc: this process ("gateway": the run child, which
// is the gateway plus its load generator), PostgreSQL's processes,
// Redis, and the providers' process. With dbName, "postgres" is only the
// backends connected to that database (their process title names it), so
// other people's databases on the same server do not count; a backend
// that exits between two snapshots takes its time with it, which is why
// the report also counts connections opened.
func snapshotCPU(providersPID int, dbName string) cpuSnapshot {
	s := cpuSnapshot{at: time.Now(), ticks: map[string]uint64{}, pgPIDs: map[int]uint64{}}
	self := os.Getpid()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		comm, t, _, ok := procTicks(d)
		if !ok {
			continue
		}
		switch {
		case pid == self:
			s.ticks["gateway"] += t
		case pid == providersPID:
			s.ticks["providers"] += t
		case comm == "postgres":
			if dbName != "" {
				cmd, _ := os.ReadFile(d + "/cmdline")
				if !bytes.Contains(cmd, []byte(" "+dbName+" ")) {
					continue
				}
			}
			s.pgPIDs[pid] = t
		case strings.HasPrefix(comm, "redis-server"):
			s.ticks["redis"] += t
		}
	}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := bytes.Cut(b, []byte("\n"))
		f := strings.Fields(string(line))
		// cpu user nice system idle iowait irq softirq steal …
		for i := 1; i < len(f); i++ {
			if i == 4 || i == 5 { // idle, iowait
				continue
			}
			v, _ := strconv.ParseUint(f[i], 10, 64)
			s.busy += v
		}
	}
	return s
}

// procTicks returns the command name and the CPU of /proc/<pid> (utime,
// stime) and of its children that exited (cutime, cstime).
func procTicks(dir string) (comm string, own, children uint64, ok bool) {
	b, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return "", 0, 0, false
	}
	open, close := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || close < open {
		return "", 0, 0, false
	}
	comm = string(b[open+1 : close])
	f := strings.Fields(string(b[close+1:]))
	if len(f) < 15 {
		return "", 0, 0, false
	}
	var t [4]uint64
	for k, i := range []int{11, 12, 13, 14} {
		t[k], _ = strconv.ParseUint(f[i], 10, 64)
	}
	return comm, t[0] + t[1], t[2] + t[3], true
}

// cpuSince is the cores each group used between two snapshots; "machine"
// is every CPU's busy time.
func cpuSince(a, b cpuSnapshot) map[string]float64 {
	wall := b.at.Sub(a.at).Seconds()
	out := map[string]float64{}
	if wall <= 0 {
		return out
	}
	for k, v := range b.ticks {
		d := float64(v - min(v, a.ticks[k]))
		out[k] = d / clockTicks / wall
	}
	var pg uint64
	for pid, v := range b.pgPIDs {
		pg += v - min(v, a.pgPIDs[pid]) // a new backend counts from zero
	}
	out["postgres"] = float64(pg) / clockTicks / wall
	out["machine"] = float64(b.busy-min(b.busy, a.busy)) / clockTicks / wall
	ours := out["postgres"]
	for k := range b.ticks {
		ours += out[k]
	}
	// Whatever else ran on the machine meanwhile (other people's builds and
	// tests on a shared box): the noise the figure ran under.
	out["other"] = max(0, out["machine"]-ours)
	return out
}

// machineBusy is how many cores were busy over d.
func machineBusy(d time.Duration) float64 {
	a := snapshotCPU(-1, "")
	time.Sleep(d)
	b := snapshotCPU(-1, "")
	return cpuSince(a, b)["machine"]
}

// waitQuiet waits up to limit for the machine to be nearly idle (under
// 0.3 cores busy) and returns the load it last saw.
func waitQuiet(limit time.Duration) float64 {
	deadline := time.Now().Add(limit)
	for {
		busy := machineBusy(500 * time.Millisecond)
		if busy < 0.3 || time.Now().After(deadline) {
			return busy
		}
	}
}

// cpuPerOp sets <prefix>_cpu_us_<group>: the CPU each process group spent
// per operation since from, in microseconds. CPU time, unlike wall time,
// is nearly the same on a busy machine and an idle one, so it is the
// figure to compare across runs.
func (c *childCtx) cpuPerOp(from cpuSnapshot, ops int, prefix string) {
	if ops <= 0 || from.at.IsZero() {
		return
	}
	to := c.cpuMark()
	if from.pgOK && to.pgOK {
		c.res.set(prefix+"_pg_xacts", float64(to.pgXacts-from.pgXacts)/float64(ops))
		c.res.set(prefix+"_pg_rows", float64(to.pgRows-from.pgRows)/float64(ops))
		c.res.set(prefix+"_pg_sessions_per_1000", 1000*float64(to.pgSessions-from.pgSessions-1)/float64(ops))
		c.res.set(prefix+"_pg_active_us", (to.pgActiveMs-from.pgActiveMs)*1000/float64(ops))
	}
	wall := to.at.Sub(from.at).Seconds()
	for k, cores := range cpuSince(from, to) {
		if k == "machine" || k == "other" {
			continue
		}
		c.res.set(prefix+"_cpu_us_"+k, cores*wall/float64(ops)*1e6)
	}
}

// memTotalMB is MemTotal from /proc/meminfo.
func memTotalMB() float64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// stallDump writes the goroutines of this process to <profile>.stall.txt
// once, when a figure has made no progress for a while: the owners need
// to see where the pipeline stopped.
func (c *childCtx) stallDump(why string) {
	if c.stalled || c.env.CPUProfile == "" {
		return
	}
	c.stalled = true
	p := strings.TrimSuffix(c.env.CPUProfile, ".pprof") + ".stall.txt"
	f, err := os.Create(p)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s\n\n", why)
	_ = pprof.Lookup("goroutine").WriteTo(f, 1)
	c.res.note("%s: goroutines dumped to bench/profiles/%s", why, filepath.Base(p))
	c.logf("%s: goroutines dumped to %s", why, p)
}
