package bench

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// row is one line of the table.
type row struct {
	id, what, size, result, p50, p99, rss, limit, ratio, target, met string
}

// check is one target of the issue, met or missed.
type check struct {
	figure, target, got string
	met, measured       bool
}

type report struct {
	r      *run
	rows   []row
	checks []check
}

func (r *run) get(name string) *Result {
	res := r.Results[name]
	if res == nil || res.Err != "" {
		return nil
	}
	return res
}

func (res *Result) m(k string) (float64, bool) {
	if res == nil {
		return 0, false
	}
	v, ok := res.Metrics[k]
	return v, ok
}

func (res *Result) mv(k string) float64 {
	v, _ := res.m(k)
	return v
}

// num formats with thousands separators and sensible precision.
func num(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "n/a"
	case v >= 1000:
		s := fmt.Sprintf("%.0f", v)
		var b strings.Builder
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		return b.String()
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func ms(res *Result, k string) string {
	if v, ok := res.m(k); ok {
		return num(v) + " ms"
	}
	return ""
}

func rss(res *Result) string {
	if res == nil || res.MaxRSSMB == 0 {
		return ""
	}
	return num(res.MaxRSSMB) + " MB"
}

func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func (r *run) sizeOf(res *Result) string {
	if res == nil || res.Full == 0 {
		return ""
	}
	s := num(float64(res.Size))
	if p, _ := res.m("partial"); p == 1 {
		done := res.mv("messages")
		if v, ok := res.m("rows"); ok {
			done = min(v, res.mv("tasks"))
		}
		return fmt.Sprintf("%s of %s (cut at %.0fs)", num(done), s, res.mv("seconds"))
	}
	if res.Size != res.Full {
		s += fmt.Sprintf(" (full: %s)", num(float64(res.Full)))
	}
	return s
}

func failed(r *run, name string) string {
	if res := r.Results[name]; res != nil && res.Err != "" {
		return "FAILED: " + firstLine(res.Err)
	}
	return "not run"
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

func mark(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func buildReport(r *run) *report {
	rep := &report{r: r}
	add := func(x row) { rep.rows = append(rep.rows, x) }
	redisR, smtpR, asynqR, ginR, storeR := r.get("limit-redis"), r.get("limit-smtp"), r.get("limit-asynq"), r.get("limit-gin"), r.get("limit-store")

	// --- the figures ---
	if fo := r.get("fanout"); fo != nil {
		perS := fo.mv("per_s")
		full := float64(fo.Full)
		secs := fo.mv("seconds")
		result := fmt.Sprintf("%s s, %s deliveries/s", num(secs), num(perS))
		projected := secs
		if fo.Size != fo.Full || fo.mv("partial") == 1 {
			projected = full / perS
			result += fmt.Sprintf(" (1,000,000 in ~%s s at that rate)", num(projected))
		}
		limit, lr := "", ""
		if asynqR != nil && storeR != nil {
			a, s := asynqR.mv("enqueue_per_s"), storeR.mv("batched_rows_per_s")
			if a <= s {
				limit, lr = fmt.Sprintf("L4 asynq enqueue %s/s", num(a)), ratio(perS, a)
			} else {
				limit, lr = fmt.Sprintf("L9 batched INSERT %s rows/s", num(s)), ratio(perS, s)
			}
		}
		ok := projected < 60 && fo.MaxRSSMB < 300
		add(row{"F1", "Fan-out: campaign, rows + tasks queued", r.sizeOf(fo), result, "", "", rss(fo), limit, lr,
			"< 60 s for 1,000,000; RSS < 300 MB", mark(ok)})
		rep.checks = append(rep.checks,
			check{"fanout", "1,000,000 queued in < 60 s", fmt.Sprintf("%s s%s", num(projected), map[bool]string{true: " (projected)", false: ""}[projected != secs]), projected < 60, true},
			check{"fanout", "peak RSS < 300 MB", rss(fo), fo.MaxRSSMB < 300, true})
	} else {
		add(row{id: "F1", what: "Fan-out: campaign, rows + tasks queued", result: failed(r, "fanout")})
	}

	asynqProc := asynqR.mv("process_per_s")
	for i, mode := range []string{"email", "sms", "webhook", "mixed"} {
		name := "dispatch-" + mode
		id := fmt.Sprintf("F%d", 2+i)
		what := "Dispatch " + mode + ": gate, render, send"
		if mode == "mixed" {
			what = "Dispatch mixed (email/SMS/webhook)"
		}
		d := r.get(name)
		if d == nil {
			add(row{id: id, what: what, result: failed(r, name)})
			continue
		}
		rate := d.mv("msgs_per_s")
		limit := fmt.Sprintf("L5 asynq no-op %s/s", num(asynqProc))
		rt := ratio(rate, asynqProc)
		target := "≥ 3× L5"
		ok := asynqProc > 0 && rate >= 3*asynqProc
		rep.checks = append(rep.checks, check{name, "≥ 3× asynq no-op process rate", fmt.Sprintf("%s/s = %s", num(rate), rt), ok, asynqProc > 0})
		if mode == "email" {
			if smtpR != nil {
				limit += fmt.Sprintf("; L3 SMTP %s/s", num(smtpR.mv("msgs_per_s")))
				rt += "; " + ratio(rate, smtpR.mv("msgs_per_s"))
			}
			target += "; ≥ 8,500/s"
			ok = ok && rate >= 8500
			rep.checks = append(rep.checks, check{name, "≥ 8,500 personalized emails/s", num(rate) + "/s", rate >= 8500, true})
		}
		add(row{id, what, r.sizeOf(d), num(rate) + " msg/s", "", "", rss(d), limit, rt, target, mark(ok)})
	}

	if t := r.get("trigger"); t != nil {
		p99 := t.mv("e2e_p99_ms")
		limit, rt := "", ""
		if asynqR != nil {
			limit = fmt.Sprintf("L6 asynq p99 %s ms", num(asynqR.mv("latency_p99_ms")))
			rt = ratio(p99, asynqR.mv("latency_p99_ms"))
		}
		lost := t.mv("accepted") - t.mv("arrived")
		res := fmt.Sprintf("%s/s offered, %s accepted, %s arrived", num(t.mv("offered_per_s")), num(t.mv("accepted")), num(t.mv("arrived")))
		ok := p99 < 250 && lost == 0
		p50s, p99s := ms(t, "e2e_p50_ms"), ms(t, "e2e_p99_ms")
		if lost > 0 {
			p50s, p99s = "≥ "+p50s, "≥ "+p99s
			res += " (the rest still queued)"
		}
		add(row{"F6", "Trigger → SMTP sink at 1,000/s", r.sizeOf(t), res, p50s, p99s, rss(t), limit, rt, "p99 < 250 ms", mark(ok)})
		if n := t.mv("low_sent"); n > 0 {
			add(row{"F6b", fmt.Sprintf("Trigger → SMTP sink at %d/s (the floor)", lowRate), num(n),
				fmt.Sprintf("%s of %s arrived", num(t.mv("low_arrived")), num(n)), ms(t, "low_p50_ms"), ms(t, "low_p99_ms"), "",
				limit, ratio(t.mv("low_p99_ms"), asynqR.mv("latency_p99_ms")), "(information)", ""})
		}
		rep.checks = append(rep.checks, check{"trigger", "trigger → provider p99 < 250 ms at 1,000/s", p99s, p99 < 250, true})
		if lost > 0 {
			rep.checks = append(rep.checks, check{"trigger", "every accepted trigger reaches the provider within 20 s of the load's end", fmt.Sprintf("%s still queued (backlog)", num(lost)), false, true})
		}
	} else {
		add(row{id: "F6", what: "Trigger → SMTP sink at 1,000/s", result: failed(r, "trigger")})
	}

	if in := r.get("inbound"); in != nil {
		gin := ginR.mv("req_per_s")
		for i, k := range []struct{ key, what string }{{"reply", "Inbound: reply-page POST"}, {"sms", "Inbound: signed Twilio SMS webhook"}} {
			rate := in.mv(k.key + "_per_s")
			p99 := in.mv(k.key + "_p99_ms")
			ok := gin > 0 && rate >= 0.3*gin && p99 < 25 && in.mv(k.key+"_refused") == 0
			size := r.sizeOf(in)
			if done := in.mv(k.key + "_done"); done > 0 && int(done) < in.Size {
				size = fmt.Sprintf("%s of %s (cut at %.0fs)", num(done), num(float64(in.Size)), in.mv(k.key+"_seconds"))
			}
			res := fmt.Sprintf("%s req/s, %s accepted", num(rate), num(in.mv(k.key+"_accepted")))
			if bad := in.mv(k.key + "_refused"); bad > 0 {
				res += fmt.Sprintf(", %s refused", num(bad))
			}
			add(row{fmt.Sprintf("F%d", 7+i), k.what, size, res,
				ms(in, k.key+"_p50_ms"), ms(in, k.key+"_p99_ms"), rss(in), fmt.Sprintf("L7 gin %s req/s", num(gin)), ratio(rate, gin),
				"≥ 0.30× L7; p99 < 25 ms", mark(ok)})
			rep.checks = append(rep.checks,
				check{"inbound", strings.TrimPrefix(k.what, "Inbound: ") + " ≥ 30% of bare gin", fmt.Sprintf("%s/s = %s", num(rate), ratio(rate, gin)), gin > 0 && rate >= 0.3*gin, gin > 0},
				check{"inbound", strings.TrimPrefix(k.what, "Inbound: ") + " p99 < 25 ms", ms(in, k.key+"_p99_ms"), p99 < 25, true})
		}
		lost := in.mv("lost")
		add(row{"F9", "Inbound: responses stored = accepted", "", fmt.Sprintf("%s stored of %s accepted", num(in.mv("stored")), num(in.mv("accepted"))),
			"", "", "", "", "", "0 lost", mark(lost == 0)})
		rep.checks = append(rep.checks, check{"inbound", "zero responses lost", fmt.Sprintf("%.0f lost (%s accepted, %s stored)", lost, num(in.mv("accepted")), num(in.mv("stored"))), lost == 0, true})
	} else {
		add(row{id: "F7", what: "Inbound: reply page and SMS webhooks", result: failed(r, "inbound")})
	}

	// --- the limits ---
	if redisR != nil {
		add(row{"L1", "Limit: Redis, 1 command per round trip", "", num(redisR.mv("ops_per_s")) + " ops/s", ms(redisR, "op_p50_ms"), ms(redisR, "op_p99_ms"), rss(redisR), "", "", "", ""})
		add(row{"L2", "Limit: Redis, pipelined ×100", "", num(redisR.mv("pipelined_ops_per_s")) + " ops/s", "", "", "", "", "", "", ""})
	} else {
		add(row{id: "L1", what: "Limit: Redis", result: failed(r, "limit-redis")})
	}
	if smtpR != nil {
		add(row{"L3", fmt.Sprintf("Limit: minimal SMTP client, %d conns", smtpPool), "", num(smtpR.mv("msgs_per_s")) + " msg/s", ms(smtpR, "msg_p50_ms"), ms(smtpR, "msg_p99_ms"), rss(smtpR), "", "", "", ""})
	} else {
		add(row{id: "L3", what: "Limit: minimal SMTP client", result: failed(r, "limit-smtp")})
	}
	if asynqR != nil {
		add(row{"L4", "Limit: asynq enqueue, 1 no-op task/msg", r.sizeOf(asynqR), num(asynqR.mv("enqueue_per_s")) + " tasks/s", "", "", rss(asynqR), "", "", "", ""})
		add(row{"L4b", "Limit: asynq enqueue, one after the other", "", num(asynqR.mv("enqueue_seq_per_s")) + " tasks/s", "", "", "", "", "", "", ""})
		add(row{"L5", "Limit: asynq process, no-op handler", r.sizeOf(asynqR), num(asynqProc) + " tasks/s", "", "", "", "", "", "", ""})
		add(row{"L6", "Limit: asynq enqueue → handler at 1,000/s", "", "", ms(asynqR, "latency_p50_ms"), ms(asynqR, "latency_p99_ms"), "", "", "", "", ""})
	} else {
		add(row{id: "L4", what: "Limit: asynq", result: failed(r, "limit-asynq")})
	}
	if ginR != nil {
		add(row{"L7", "Limit: bare gin JSON handler, 32 conns", "", num(ginR.mv("req_per_s")) + " req/s", ms(ginR, "req_p50_ms"), ms(ginR, "req_p99_ms"), rss(ginR), "", "", "", ""})
	} else {
		add(row{id: "L7", what: "Limit: bare gin", result: failed(r, "limit-gin")})
	}
	if storeR != nil {
		add(row{"L8", "Limit: store INSERT, 1 row, 20 conns", "", num(storeR.mv("rows_per_s")) + " rows/s", ms(storeR, "insert_p50_ms"), ms(storeR, "insert_p99_ms"), rss(storeR), "", "", "", ""})
		add(row{"L9", "Limit: store INSERT, 500 rows/stmt, 4 conns", "", num(storeR.mv("batched_rows_per_s")) + " rows/s", "", "", "", "", "", "", ""})
	} else {
		add(row{id: "L8", what: "Limit: store inserts", result: failed(r, "limit-store")})
	}
	kept := rep.rows[:0]
	for _, x := range rep.rows {
		if x.result != "not run" {
			kept = append(kept, x)
		}
	}
	rep.rows = kept
	return rep
}

var header = row{"#", "Figure", "Size", "Result", "p50", "p99", "Peak RSS", "Limit (same run)", "Ratio", "Target", "Met"}

func (x row) cells() []string {
	return []string{x.id, x.what, x.size, x.result, x.p50, x.p99, x.rss, x.limit, x.ratio, x.target, x.met}
}

func widths(rows []row) []int {
	w := make([]int, len(header.cells()))
	for _, r := range append([]row{header}, rows...) {
		for i, c := range r.cells() {
			w[i] = max(w[i], len([]rune(c)))
		}
	}
	return w
}

func pad(s string, w int) string { return s + strings.Repeat(" ", max(0, w-len([]rune(s)))) }

// table is the aligned table; md adds the Markdown pipes and rule.
func (rep *report) table(md bool) string {
	w := widths(rep.rows)
	var b strings.Builder
	line := func(cells []string) {
		for i, c := range cells {
			if md {
				b.WriteString("| ")
			} else if i > 0 {
				b.WriteString("  ")
			}
			b.WriteString(pad(c, w[i]))
			if md {
				b.WriteByte(' ')
			}
		}
		if md {
			b.WriteByte('|')
		}
		b.WriteString("\n")
	}
	line(header.cells())
	rule := make([]string, len(w))
	for i := range w {
		rule[i] = strings.Repeat("-", w[i])
	}
	line(rule)
	for _, x := range rep.rows {
		line(x.cells())
	}
	return b.String()
}

func (rep *report) terminal() string {
	var b strings.Builder
	m := rep.r.Machine
	fmt.Fprintf(&b, "npsgate benchmarks — %s, %d cores, %.1f GB, %s, scale %g, %.0fs\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), m.Cores, m.MemMB/1024, m.Go, rep.r.opts.scale, rep.r.Took.Seconds())
	b.WriteString(rep.table(false))
	missed := 0
	for _, c := range rep.checks {
		if !c.met {
			missed++
		}
	}
	fmt.Fprintf(&b, "\n%d of %d targets met.\n", len(rep.checks)-missed, len(rep.checks))
	return b.String()
}

func (rep *report) markdown() string {
	r := rep.r
	m := r.Machine
	var b strings.Builder
	b.WriteString("# npsgate benchmarks\n\n")
	b.WriteString("Written by `make bench` (`bench/cmd/npsbench`); do not edit by hand, run it again. ")
	b.WriteString("Ratios compare figures with limits measured in the same run on the same machine, which is what a change should be judged by; absolute numbers move with the machine.\n\n")
	fmt.Fprintf(&b, "- **Date:** %s\n", r.Started.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "- **Source:** `%s`, %s\n", m.Commit, m.Go)
	fmt.Fprintf(&b, "- **Machine:** %d cores (`nproc`), %.1f GB memory, %s\n", m.Cores, m.MemMB/1024, m.CPU)
	fmt.Fprintf(&b, "- **Services:** PostgreSQL %s (%s), Redis %s, on the same machine; local providers in a process of their own\n", m.Postgres, m.PostgresSettings, m.Redis)
	fmt.Fprintf(&b, "- **Run:** `-scale %g`, %.0f s in all\n", r.opts.scale, r.Took.Seconds())
	fmt.Fprintf(&b, "- **Gateway:** `gateway.New` on a `config.Config` with the defaults (worker concurrency %d per channel family, SMTP pool %d, poll interval %s, log level info formatted and discarded) except: ", workerConcurrency, smtpPool, defaultPoll)
	b.WriteString("SMS/WhatsApp token buckets 1,000,000/s and the reply page's limit per IP lifted (all load comes from 127.0.0.1), private webhook targets allowed (the sink is on loopback)\n")
	if len(r.opts.set) > 0 {
		var kv []string
		for k, v := range r.opts.set {
			kv = append(kv, "`"+k+"="+v+"`")
		}
		sort.Strings(kv)
		fmt.Fprintf(&b, "- **Experiment (-set):** %s\n", strings.Join(kv, ", "))
	}
	b.WriteString("\n")

	b.WriteString("## Results\n\n")
	b.WriteString(rep.table(true))
	b.WriteString("\nPeak RSS is the `ru_maxrss` of the child process that ran the figure: the gateway plus the load generator (F6–F9) or the poller (F1), not the providers, Redis or PostgreSQL. ")
	fmt.Fprintf(&b, "Latencies are exact quantiles of every sample. Limits L1–L9 use the gateway's own concurrency (%d workers, %d SMTP connections, %d HTTP connections).\n\n", workerConcurrency, smtpPool, loadConns)

	b.WriteString("## Targets\n\n")
	for _, c := range rep.checks {
		fmt.Fprintf(&b, "- [%s] **%s** %s: %s\n", map[bool]string{true: "x", false: " "}[c.met], c.figure, c.target, c.got)
	}
	b.WriteString("\n")

	b.WriteString("## CPU during each measured window (cores; the machine has " + fmt.Sprint(m.Cores) + ")\n\n")
	b.WriteString("\"other\" is what the rest of the machine used meanwhile (other builds and tests on a shared box): the noise a figure ran under. ")
	b.WriteString("PostgreSQL's CPU cannot be told apart from other databases on a shared server when the pool keeps opening and closing connections (see the connections column below), so its column is the busy time of the figure's own database (`pg_stat_database.active_time`: statements running, including their waits), an upper bound of its CPU; it is not in \"other\".\n\n")
	b.WriteString("| figure | npsgate (+load) | postgres busy | redis | providers | other | whole machine |\n|---|--:|--:|--:|--:|--:|--:|\n")
	for _, name := range r.Order {
		res := r.Results[name]
		if res == nil || len(res.CPU) == 0 {
			continue
		}
		c := res.CPU
		pg := "–"
		if v, ok := c["pg_busy"]; ok {
			pg = fmt.Sprintf("%.2f", v)
		}
		fmt.Fprintf(&b, "| %s | %.2f | %s | %.2f | %.2f | %.2f | %.2f |\n", name, c["gateway"], pg, c["redis"], c["providers"], c["other"], c["machine"])
	}
	b.WriteString("\n")

	b.WriteString(rep.cpuPerOpTable())

	// Profiles of the figures that missed a target.
	missed := map[string]bool{}
	for _, c := range rep.checks {
		if !c.met {
			missed[c.figure] = true
		}
	}
	var names []string
	for _, name := range r.Order {
		res := r.Results[name]
		if res == nil || res.Profile == "" {
			continue
		}
		if missed[name] || (strings.HasPrefix(name, "dispatch-") && missed[name]) {
			names = append(names, name)
		}
	}
	if len(names) > 0 {
		b.WriteString("## CPU profiles of the missed targets\n\n")
		b.WriteString("Each run child wrote a CPU profile of its measured window (gateway and load generator in one process) to `bench/profiles/<figure>.pprof`; ")
		b.WriteString("open one with `go tool pprof -http=: bench/profiles/<figure>.pprof`. The top of each:\n\n")
		for _, name := range names {
			p := r.Results[name].Profile
			if _, err := os.Stat(p); err != nil {
				continue
			}
			fmt.Fprintf(&b, "### %s\n\n`go tool pprof -top -nodecount=20 bench/profiles/%s`\n\n```\n%s\n```\n\n", name, filepath.Base(p), pprofTop(p, false, 20))
			fmt.Fprintf(&b, "Cumulative (`-cum`), the npsgate frames show where the time goes:\n\n```\n%s\n```\n\n", cumOwn(pprofTop(p, true, 400), 25))
		}
	}

	b.WriteString("## Notes\n\n")
	for _, name := range r.Order {
		res := r.Results[name]
		if res == nil {
			continue
		}
		var notes []string
		if res.Err != "" {
			notes = append(notes, "FAILED: "+res.Err)
		}
		notes = append(notes, res.Notes...)
		if v, ok := res.m("providers_rss_mb"); ok && v > 0 {
			notes = append(notes, fmt.Sprintf("providers' process peak RSS %s MB", num(v)))
		}
		if len(notes) == 0 {
			continue
		}
		fmt.Fprintf(&b, "- **%s** (run %.1f s): %s\n", name, res.Wall.Seconds(), strings.Join(notes, "; "))
	}
	b.WriteString("\n")

	if len(r.Micro) > 0 || r.MicroErr != "" {
		b.WriteString("## Hot functions (`go test -bench`, miniredis and SQLite)\n\n")
		if len(r.Micro) > 0 {
			b.WriteString("| package | benchmark | ns/op | B/op | allocs/op |\n|---|---|--:|--:|--:|\n")
			sort.SliceStable(r.Micro, func(i, j int) bool { return r.Micro[i].Pkg < r.Micro[j].Pkg })
			for _, x := range r.Micro {
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", x.Pkg, x.Name, num(x.NsPerOp), num(x.BytesPerOp), num(x.AllocsOp))
			}
			b.WriteString("\n")
		}
		if r.MicroErr != "" {
			fmt.Fprintf(&b, "```\n%s\n```\n\n", strings.TrimSpace(r.MicroErr))
		}
	}

	if r.opts.analysis != "" {
		if a, err := os.ReadFile(r.opts.analysis); err == nil {
			b.WriteString(strings.TrimSpace(string(a)))
			b.WriteString("\n")
		}
	}
	return b.String()
}

// cumOwn keeps the header and the first n lines of a -cum listing that
// are npsgate's own functions.
func cumOwn(top string, n int) string {
	var out []string
	kept := 0
	for _, l := range strings.Split(top, "\n") {
		if !strings.Contains(l, "%") || strings.Contains(l, "flat%") {
			if kept == 0 && strings.TrimSpace(l) != "" && !strings.HasPrefix(strings.TrimSpace(l), "Showing") {
				out = append(out, l)
			}
			continue
		}
		if strings.Contains(l, "npsgate/npsgate/") && !strings.Contains(l, "npsgate/npsgate/bench.") {
			out = append(out, l)
			kept++
			if kept >= n {
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// cpuPerOpTable is the CPU each process group spent per operation: the
// cost of one message or request, which a busy machine hardly changes.
func (rep *report) cpuPerOpTable() string {
	type op struct{ figure, prefix, what string }
	ops := []op{
		{"limit-asynq", "task", "L5 asynq no-op task (client + server)"},
		{"limit-smtp", "smtpmsg", "L3 pre-rendered email, minimal SMTP client"},
		{"limit-gin", "req", "L7 bare gin JSON request (server + load)"},
		{"fanout", "delivery", "F1 fan-out, per delivery queued"},
		{"dispatch-email", "msg", "F2 dispatch, per email"},
		{"dispatch-sms", "msg", "F3 dispatch, per SMS"},
		{"dispatch-webhook", "msg", "F4 dispatch, per webhook"},
		{"dispatch-mixed", "msg", "F5 dispatch, per mixed message"},
		{"trigger", "trigger", "F6 trigger, accepted and sent"},
		{"inbound", "reply", "F7 reply-page POST (server + load)"},
		{"inbound", "sms", "F8 SMS webhook (server + load)"},
	}
	var b strings.Builder
	b.WriteString("## CPU per operation (µs)\n\n")
	b.WriteString("CPU time spent per message or request by each process during the measured window. Unlike wall time it hardly depends on what else the machine is doing, so it is the number to compare across runs and against the limits: on 2 cores, T µs of CPU per message caps a figure at 2,000,000 / T per second, before PostgreSQL's share.\n\n")
	b.WriteString("The PostgreSQL columns come from `pg_stat_database` of the figure's own database: busy time per operation (statements running, waits included: an upper bound of its CPU), transactions (every statement outside a transaction is one), rows inserted, updated or deleted, and connections opened per 1,000 operations (each makes PostgreSQL fork and initialise a backend).\n\n")
	b.WriteString("| operation | npsgate (+load) CPU | redis CPU | providers CPU | CPU without PG | PG busy | PG transactions | PG rows written | PG connections per 1,000 |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, o := range ops {
		res := rep.r.get(o.figure)
		if res == nil {
			continue
		}
		g, ok := res.m(o.prefix + "_cpu_us_gateway")
		if !ok {
			continue
		}
		r, pv := res.mv(o.prefix+"_cpu_us_redis"), res.mv(o.prefix+"_cpu_us_providers")
		pa, xs, rs, ss := "", "", "", ""
		if v, ok := res.m(o.prefix + "_pg_xacts"); ok {
			pa, xs, rs, ss = num(res.mv(o.prefix+"_pg_active_us")), num(v), num(res.mv(o.prefix+"_pg_rows")), num(max(0, res.mv(o.prefix+"_pg_sessions_per_1000")))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", o.what, num(g), num(r), num(pv), num(g+r+pv), pa, xs, rs, ss)
	}
	b.WriteString("\n")
	return b.String()
}
