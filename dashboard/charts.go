package dashboard

import (
	"fmt"
	"html/template"
	"math"
	"strings"

	"github.com/npsgate/npsgate/survey"
)

// Charts are SVG drawn here, on the server: no script, no CDN, the page
// works offline and prints. Colours and type come from app.css through
// classes; sizes are in the viewBox so a chart scales to its card.

// svg collects the elements of one chart.
type svg struct {
	b strings.Builder
}

func (s *svg) f(format string, args ...any) { fmt.Fprintf(&s.b, format, args...) }

// text writes a text element; content is escaped.
func (s *svg) text(x, y float64, class, anchor, content string) {
	s.f(`<text x="%.1f" y="%.1f" class="%s" text-anchor="%s">%s</text>`, x, y, class, anchor, esc(content))
}

func (s *svg) html(w, h float64, class, label string) template.HTML {
	// #nosec G203 -- every value written into the SVG is a number or went through esc.
	return template.HTML(fmt.Sprintf(`<svg viewBox="0 0 %.0f %.0f" class="chart %s" role="img" aria-label="%s">%s</svg>`,
		w, h, class, esc(label), s.b.String()))
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// kindScale is the range a kind's score is drawn on and its colour zones.
type kindScale struct {
	lo, hi float64
	zones  []zone
	signed bool // NPS shows +/−
	unit   string
}

type zone struct {
	to    float64
	class string
}

func scaleOf(k survey.Kind) kindScale {
	switch k {
	case survey.CSAT:
		return kindScale{lo: 0, hi: 100, unit: "%", zones: []zone{{60, "z-bad"}, {80, "z-mid"}, {100, "z-good"}}}
	case survey.CES:
		return kindScale{lo: 1, hi: 7, zones: []zone{{4, "z-bad"}, {5.5, "z-mid"}, {7, "z-good"}}}
	}
	return kindScale{lo: -100, hi: 100, signed: true,
		zones: []zone{{0, "z-bad"}, {30, "z-mid"}, {70, "z-good"}, {100, "z-great"}}}
}

// formatScore writes a score as the kind shows it: NPS signed, CSAT in
// percent, CES as a mean.
func formatScore(k survey.Kind, v float64) string {
	switch k {
	case survey.CSAT:
		return fmt.Sprintf("%.1f%%", v)
	case survey.CES:
		return fmt.Sprintf("%.1f", v)
	}
	if v > 0 {
		return fmt.Sprintf("+%.1f", v)
	}
	if v < 0 {
		return fmt.Sprintf("−%.1f", -v)
	}
	return "0.0"
}

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

// arcPoint is the point of a half circle centred on (cx, cy) at the share
// t (0 left … 1 right) of the way over the top.
func arcPoint(cx, cy, r, t float64) (float64, float64) {
	a := math.Pi * (1 - t)
	return cx + r*math.Cos(a), cy - r*math.Sin(a)
}

// gauge draws a half-circle dial of the score with its colour zones, the
// score in the middle and its margin of error under it.
func gauge(k survey.Kind, s survey.Summary, noData, moeLabel string) template.HTML {
	const (
		w, h   = 280.0, 170.0
		cx, cy = 140.0, 136.0
		r      = 100.0
	)
	sc := scaleOf(k)
	var c svg
	arc := func(from, to float64, class string) {
		t0 := (from - sc.lo) / (sc.hi - sc.lo)
		t1 := (to - sc.lo) / (sc.hi - sc.lo)
		x0, y0 := arcPoint(cx, cy, r, t0)
		x1, y1 := arcPoint(cx, cy, r, t1)
		c.f(`<path d="M%.2f %.2f A%.0f %.0f 0 0 1 %.2f %.2f" class="arc %s"/>`, x0, y0, r, r, x1, y1, class)
	}
	from := sc.lo
	for _, z := range sc.zones {
		arc(from, z.to, z.class)
		from = z.to
	}
	// The scale's ends, under the ends of the dial.
	c.text(cx-r, cy+22, "tick", "middle", trimZero(sc.lo))
	c.text(cx+r, cy+22, "tick", "middle", trimZero(sc.hi))
	if s.Empty() {
		c.text(cx, cy-22, "gauge-empty", "middle", noData)
		return c.html(w, h, "gauge", noData)
	}
	t := (clamp(s.Score, sc.lo, sc.hi) - sc.lo) / (sc.hi - sc.lo)
	// The margin of error as a thin arc outside the dial.
	if s.MarginOfError > 0 {
		a := (clamp(s.Score-s.MarginOfError, sc.lo, sc.hi) - sc.lo) / (sc.hi - sc.lo)
		b := (clamp(s.Score+s.MarginOfError, sc.lo, sc.hi) - sc.lo) / (sc.hi - sc.lo)
		ro := r + 16
		x0, y0 := arcPoint(cx, cy, ro, a)
		x1, y1 := arcPoint(cx, cy, ro, b)
		c.f(`<path d="M%.2f %.2f A%.0f %.0f 0 0 1 %.2f %.2f" class="arc moe"/>`, x0, y0, ro, ro, x1, y1)
	}
	nx, ny := arcPoint(cx, cy, r, t)
	c.f(`<circle cx="%.2f" cy="%.2f" r="9" class="needle"/>`, nx, ny)
	c.text(cx, cy-26, "gauge-value", "middle", formatScore(k, s.Score))
	c.text(cx, cy-2, "gauge-moe", "middle", fmt.Sprintf("%s ±%.1f", moeLabel, s.MarginOfError))
	return c.html(w, h, "gauge", formatScore(k, s.Score))
}

func trimZero(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// trendPoint is what the line chart needs of one period.
type trendPoint struct {
	Label       string
	Empty       bool
	Score, MoE  float64
	N           int
	Change      *float64
	Significant bool
	// Partial is the period still going on.
	Partial bool
}

// niceTicks returns about n round values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step/1e6; v += step {
		out = append(out, math.Round(v*1e6)/1e6)
	}
	return out
}

// lineChart draws the trend: the score of each period, its margin of
// error as a band, a ring on each change larger than the margin, and the
// period still going on (soFar) with a dashed dot.
func lineChart(k survey.Kind, pts []trendPoint, noData, soFar string) template.HTML {
	const (
		w, h                     = 640.0, 250.0
		left, right, top, bottom = 44.0, 36.0, 18.0, 36.0
	)
	var c svg
	sc := scaleOf(k)
	lo, hi := math.Inf(1), math.Inf(-1)
	any := false
	for _, p := range pts {
		if p.Empty {
			continue
		}
		any = true
		lo, hi = math.Min(lo, p.Score-p.MoE), math.Max(hi, p.Score+p.MoE)
	}
	if !any {
		c.text(w/2, h/2, "empty", "middle", noData)
		return c.html(w, h, "line", noData)
	}
	pad := (hi - lo) * 0.12
	if pad < (sc.hi-sc.lo)*0.05 {
		pad = (sc.hi - sc.lo) * 0.05
	}
	lo, hi = clamp(lo-pad, sc.lo, sc.hi), clamp(hi+pad, sc.lo, sc.hi)
	ticks := niceTicks(lo, hi, 4)
	lo, hi = math.Min(lo, ticks[0]), math.Max(hi, ticks[len(ticks)-1])
	y := func(v float64) float64 { return top + (hi-v)/(hi-lo)*(h-top-bottom) }
	step := (w - left - right) / math.Max(1, float64(len(pts)-1))
	x := func(i int) float64 {
		if len(pts) == 1 {
			return (w + left - right) / 2
		}
		return left + float64(i)*step
	}
	for _, t := range ticks {
		c.f(`<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" class="grid%s"/>`, left, w-right, y(t), y(t),
			map[bool]string{true: " zero", false: ""}[t == 0 && sc.signed])
		c.text(left-8, y(t)+4, "tick", "end", trimZero(t))
	}
	// Bands and lines run over consecutive periods that have answers.
	var runs [][]int
	var run []int
	for i, p := range pts {
		if p.Empty {
			if len(run) > 0 {
				runs = append(runs, run)
			}
			run = nil
			continue
		}
		run = append(run, i)
	}
	if len(run) > 0 {
		runs = append(runs, run)
	}
	for _, run := range runs {
		var up, down []string
		for _, i := range run {
			up = append(up, fmt.Sprintf("%.1f,%.1f", x(i), y(clamp(pts[i].Score+pts[i].MoE, lo, hi))))
		}
		for j := len(run) - 1; j >= 0; j-- {
			i := run[j]
			down = append(down, fmt.Sprintf("%.1f,%.1f", x(i), y(clamp(pts[i].Score-pts[i].MoE, lo, hi))))
		}
		if len(run) > 1 {
			c.f(`<polygon points="%s %s" class="band"/>`, strings.Join(up, " "), strings.Join(down, " "))
			var line []string
			for _, i := range run {
				line = append(line, fmt.Sprintf("%.1f,%.1f", x(i), y(pts[i].Score)))
			}
			c.f(`<polyline points="%s" class="line"/>`, strings.Join(line, " "))
		} else {
			i := run[0]
			c.f(`<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" class="whisker"/>`, x(i), x(i),
				y(clamp(pts[i].Score+pts[i].MoE, lo, hi)), y(clamp(pts[i].Score-pts[i].MoE, lo, hi)))
		}
	}
	every := int(math.Ceil(float64(len(pts)) / 7))
	for i, p := range pts {
		if (len(pts)-1-i)%every == 0 {
			c.text(x(i), h-bottom+20, "tick", "middle", p.Label)
		}
		if p.Empty {
			continue
		}
		tip := fmt.Sprintf("%s: %s ±%.1f (n=%d)", p.Label, formatScore(k, p.Score), p.MoE, p.N)
		if p.Partial {
			tip = fmt.Sprintf("%s (%s): %s ±%.1f (n=%d)", p.Label, soFar, formatScore(k, p.Score), p.MoE, p.N)
		}
		if p.Change != nil {
			tip += fmt.Sprintf(", %+.1f", *p.Change)
			if p.Significant {
				tip += " *"
			}
		}
		class := "dot"
		if p.Significant {
			class = "dot sig"
			if p.Change != nil && *p.Change < 0 {
				class = "dot sig down"
			}
		}
		if p.Partial {
			class += " partial"
		}
		c.f(`<g><title>%s</title><circle cx="%.1f" cy="%.1f" r="%d" class="%s"/></g>`, esc(tip), x(i), y(p.Score),
			map[bool]int{true: 6, false: 4}[p.Significant], class)
		if p.Significant && p.Change != nil {
			c.text(x(i), y(p.Score)-12, "delta", "middle", fmt.Sprintf("%+.1f", *p.Change))
		}
	}
	return c.html(w, h, "line", "trend")
}

// distribution draws one bar per score, coloured by its category, with
// the count over it.
func distribution(k survey.Kind, t survey.Tally) template.HTML {
	const (
		w, h        = 560.0, 200.0
		top, bottom = 24.0, 30.0
		left, right = 8.0, 8.0
	)
	scores := k.Scores()
	var c svg
	most := 0
	for _, s := range scores {
		most = max(most, t[s])
	}
	slot := (w - left - right) / float64(len(scores))
	bw := slot * 0.68
	c.f(`<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" class="axis"/>`, left, w-right, h-bottom, h-bottom)
	for i, s := range scores {
		x := left + float64(i)*slot + (slot-bw)/2
		bh := 0.0
		if most > 0 {
			bh = float64(t[s]) / float64(most) * (h - top - bottom)
		}
		cat := k.CategoryOf(s)
		c.f(`<g><title>%d: %d</title><rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="4" class="bar %s"/></g>`,
			s, t[s], x, h-bottom-bh, bw, math.Max(bh, 0), cat)
		c.text(x+bw/2, h-bottom-bh-7, "count", "middle", fmt.Sprint(t[s]))
		c.text(x+bw/2, h-bottom+19, "tick strong", "middle", fmt.Sprint(s))
	}
	return c.html(w, h, "bars", "distribution")
}

// hbar is a horizontal bar of coloured parts that stretches to its box
// (preserveAspectRatio none): CSS gives its height and rounds its ends,
// so it looks the same in a wide card and on a phone. It has no text;
// the numbers are beside it in HTML.
func hbar(class, label string, parts []barPart) template.HTML {
	var c svg
	total := 0.0
	for _, p := range parts {
		total += p.n
	}
	if total > 0 {
		x := 0.0
		for _, p := range parts {
			w := p.n / total * 1000
			if w <= 0 {
				continue
			}
			c.f(`<rect x="%.2f" y="0" width="%.2f" height="10" class="%s"><title>%s</title></rect>`, x, w, p.class, esc(p.title))
			x += w
		}
	}
	// #nosec G203 -- numbers and escaped text only.
	return template.HTML(fmt.Sprintf(`<svg viewBox="0 0 1000 10" preserveAspectRatio="none" class="hbar %s" role="img" aria-label="%s">%s</svg>`,
		class, esc(label), c.b.String()))
}

type barPart struct {
	n     float64
	class string
	title string
}

// split draws the shares of detractors, passives and promoters as one
// bar.
func split(s survey.Summary, labels [3]string) template.HTML {
	return hbar("split", "categories", []barPart{
		{float64(s.Detractors), "detractor", fmt.Sprintf("%s: %d (%.1f%%)", labels[0], s.Detractors, s.Pct(s.Detractors))},
		{float64(s.Passives), "passive", fmt.Sprintf("%s: %d (%.1f%%)", labels[1], s.Passives, s.Pct(s.Passives))},
		{float64(s.Promoters), "promoter", fmt.Sprintf("%s: %d (%.1f%%)", labels[2], s.Promoters, s.Pct(s.Promoters))},
	})
}

// funnelBar is one step of a channel's funnel: n of base.
func funnelBar(step, n, base int) template.HTML {
	rest := base - n
	if base == 0 {
		rest = 1
	}
	return hbar(fmt.Sprintf("funnel step%d", step), "funnel", []barPart{{float64(n), "on", ""}, {float64(max(rest, 0)), "off", ""}})
}

// segmentBar draws a group's score as a bar from the scale's zero (NPS) or
// its low end, with the margin of error as a whisker, on the kind's whole
// range, so that the bars of every group line up.
func segmentBar(k survey.Kind, score, moe float64, n int) template.HTML {
	sc := scaleOf(k)
	x := func(v float64) float64 { return (clamp(v, sc.lo, sc.hi) - sc.lo) / (sc.hi - sc.lo) * 1000 }
	origin := sc.lo
	if sc.signed {
		origin = 0
	}
	var c svg
	for _, t := range niceTicks(sc.lo, sc.hi, 4) {
		c.f(`<line x1="%.1f" x2="%.1f" y1="0" y2="20" class="grid%s" vector-effect="non-scaling-stroke"/>`, x(t), x(t),
			map[bool]string{true: " zero", false: ""}[t == origin])
	}
	x0, x1 := x(origin), x(score)
	class := "pos"
	if score < origin || (!sc.signed && score < sc.zones[0].to) {
		class = "neg"
	}
	c.f(`<rect x="%.1f" y="4" width="%.1f" height="12" class="bar %s"/>`, math.Min(x0, x1), math.Abs(x1-x0), class)
	if moe > 0 {
		a, b := x(score-moe), x(score+moe)
		c.f(`<path d="M%.1f 6V14M%.1f 10H%.1fM%.1f 6V14" class="whisker" vector-effect="non-scaling-stroke"/>`, a, a, b, b)
	}
	// #nosec G203 -- numbers only.
	return template.HTML(fmt.Sprintf(`<svg viewBox="0 0 1000 20" preserveAspectRatio="none" class="sbar" role="img" aria-label="%s ±%.1f (n=%d)">%s</svg>`,
		esc(formatScore(k, score)), moe, n, c.b.String()))
}

// axisTicks are the tick labels under segment bars.
func axisTicks(k survey.Kind) []string {
	sc := scaleOf(k)
	var out []string
	for _, t := range niceTicks(sc.lo, sc.hi, 4) {
		out = append(out, trimZero(t))
	}
	return out
}

// progress draws a campaign's deliveries as a stacked bar: answered, sent
// (not yet answered), waiting, failed or suppressed.
func progress(answered, sent, waiting, failed int) template.HTML {
	return hbar("progress", "progress", []barPart{{float64(answered), "answered", ""}, {float64(sent), "sent", ""},
		{float64(waiting), "waiting", ""}, {float64(failed), "failed", ""}})
}
