package dashboard

import (
	"encoding/xml"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/npsgate/npsgate/survey"
)

// elem is an SVG element, decoded generically.
type elem struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Kids    []elem     `xml:",any"`
}

func (e elem) attr(name string) string {
	for _, a := range e.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (e elem) num(t *testing.T, name string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(e.attr(name), 64)
	if err != nil {
		t.Fatalf("<%s %s=%q>: %v", e.XMLName.Local, name, e.attr(name), err)
	}
	return v
}

// find returns the elements named tag whose class has every class given.
func (e elem) find(tag string, classes ...string) []elem {
	var out []elem
	var walk func(elem)
	walk = func(x elem) {
		if x.XMLName.Local == tag {
			have := strings.Fields(x.attr("class"))
			ok := true
			for _, c := range classes {
				found := false
				for _, h := range have {
					found = found || h == c
				}
				ok = ok && found
			}
			if ok {
				out = append(out, x)
			}
		}
		for _, k := range x.Kids {
			walk(k)
		}
	}
	walk(e)
	return out
}

// texts are the contents of every <text> of a class.
func (e elem) texts(class string) []string {
	var out []string
	for _, x := range e.find("text", class) {
		out = append(out, x.Text)
	}
	return out
}

func parseSVG(t *testing.T, s string) elem {
	t.Helper()
	var e elem
	if err := xml.Unmarshal([]byte(s), &e); err != nil {
		t.Fatalf("not well-formed SVG: %v\n%s", err, s)
	}
	if e.XMLName.Local != "svg" {
		t.Fatalf("root is %s", e.XMLName.Local)
	}
	return e
}

func TestDistributionBarsPerKind(t *testing.T) {
	for _, tc := range []struct {
		kind   survey.Kind
		tally  survey.Tally
		scores []int
		cats   map[int]survey.Category
	}{
		{survey.NPS, survey.Tally{0: 2, 6: 1, 7: 3, 9: 6, 10: 12}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
			map[int]survey.Category{0: survey.Detractor, 6: survey.Detractor, 7: survey.Passive, 8: survey.Passive, 9: survey.Promoter}},
		{survey.CSAT, survey.Tally{1: 1, 3: 2, 4: 4, 5: 8}, []int{1, 2, 3, 4, 5},
			map[int]survey.Category{2: survey.Detractor, 3: survey.Passive, 4: survey.Promoter}},
		{survey.CES, survey.Tally{1: 1, 4: 2, 5: 3, 7: 6}, []int{1, 2, 3, 4, 5, 6, 7},
			map[int]survey.Category{4: survey.Detractor, 5: survey.Passive, 6: survey.Promoter}},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			svg := parseSVG(t, string(distribution(tc.kind, tc.tally)))
			bars := svg.find("rect", "bar")
			if len(bars) != len(tc.scores) {
				t.Fatalf("%d bars, want one per score (%d)", len(bars), len(tc.scores))
			}
			ticks := svg.texts("tick")
			counts := svg.texts("count")
			most := 0
			for _, n := range tc.tally {
				most = max(most, n)
			}
			var tallest float64
			for _, b := range bars {
				tallest = math.Max(tallest, b.num(t, "height"))
			}
			for i, s := range tc.scores {
				if ticks[i] != strconv.Itoa(s) || counts[i] != strconv.Itoa(tc.tally[s]) {
					t.Errorf("bar %d: score %q count %q, want %d and %d", i, ticks[i], counts[i], s, tc.tally[s])
				}
				if want, ok := tc.cats[s]; ok && !strings.Contains(bars[i].attr("class"), string(want)) {
					t.Errorf("score %d bar class %q, want %s", s, bars[i].attr("class"), want)
				}
				// Heights are proportional to counts, the largest full.
				if h, want := bars[i].num(t, "height"), tallest*float64(tc.tally[s])/float64(most); math.Abs(h-want) > 0.11 {
					t.Errorf("score %d bar height %.1f, want %.1f", s, h, want)
				}
				if i > 0 && bars[i].num(t, "x") <= bars[i-1].num(t, "x") {
					t.Errorf("bars out of order at score %d", s)
				}
			}
		})
	}
}

func TestDistributionEmpty(t *testing.T) {
	svg := parseSVG(t, string(distribution(survey.NPS, survey.Tally{})))
	bars := svg.find("rect", "bar")
	if len(bars) != 11 {
		t.Fatalf("%d bars", len(bars))
	}
	for _, b := range bars {
		if h := b.num(t, "height"); h != 0 || math.IsNaN(h) {
			t.Errorf("empty bar height %v", h)
		}
	}
}

func TestGaugeNeedle(t *testing.T) {
	const cx, cy, r = 140.0, 136.0, 100.0
	nps := func(score float64) survey.Summary {
		return survey.Summary{Kind: survey.NPS, Responses: 100, Score: score, MarginOfError: 8}
	}
	for _, tc := range []struct {
		name   string
		kind   survey.Kind
		s      survey.Summary
		x, y   float64
		value  string
		bounds [2]string
	}{
		{"NPS 0 at the top", survey.NPS, nps(0), cx, cy - r, "0.0", [2]string{"-100", "100"}},
		{"NPS −100 at the left", survey.NPS, nps(-100), cx - r, cy, "−100.0", [2]string{"-100", "100"}},
		{"NPS +100 at the right", survey.NPS, nps(100), cx + r, cy, "+100.0", [2]string{"-100", "100"}},
		// +50 is three quarters of the way: 45° right of the top.
		{"NPS +50", survey.NPS, nps(50), cx + r*math.Sqrt2/2, cy - r*math.Sqrt2/2, "+50.0", [2]string{"-100", "100"}},
		{"NPS −50", survey.NPS, nps(-50), cx - r*math.Sqrt2/2, cy - r*math.Sqrt2/2, "−50.0", [2]string{"-100", "100"}},
		{"CSAT 50%", survey.CSAT, survey.Summary{Kind: survey.CSAT, Responses: 10, Score: 50, MarginOfError: 5}, cx, cy - r, "50.0%", [2]string{"0", "100"}},
		{"CES 4 of 1-7", survey.CES, survey.Summary{Kind: survey.CES, Responses: 10, Score: 4, MarginOfError: .5}, cx, cy - r, "4.0", [2]string{"1", "7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svg := parseSVG(t, string(gauge(tc.kind, tc.s, "No answers yet", "MoE")))
			needles := svg.find("circle", "needle")
			if len(needles) != 1 {
				t.Fatalf("%d needles", len(needles))
			}
			if x, y := needles[0].num(t, "cx"), needles[0].num(t, "cy"); math.Abs(x-tc.x) > 0.01 || math.Abs(y-tc.y) > 0.01 {
				t.Errorf("needle at (%.2f, %.2f), want (%.2f, %.2f)", x, y, tc.x, tc.y)
			}
			if v := svg.texts("gauge-value"); len(v) != 1 || v[0] != tc.value {
				t.Errorf("value %v, want %s", v, tc.value)
			}
			if ticks := svg.texts("tick"); len(ticks) != 2 || ticks[0] != tc.bounds[0] || ticks[1] != tc.bounds[1] {
				t.Errorf("scale ends %v, want %v", ticks, tc.bounds)
			}
			if len(svg.find("path", "moe")) != 1 {
				t.Error("no margin-of-error arc")
			}
		})
	}
	// A score outside the scale (a bug upstream) stays on the dial.
	svg := parseSVG(t, string(gauge(survey.NPS, nps(130), "", "MoE")))
	if n := svg.find("circle", "needle")[0]; math.Abs(n.num(t, "cx")-(cx+r)) > 0.01 {
		t.Errorf("needle of +130 at x=%v", n.attr("cx"))
	}
}

func TestGaugeEmpty(t *testing.T) {
	svg := parseSVG(t, string(gauge(survey.NPS, survey.Summary{Kind: survey.NPS}, "No answers yet", "MoE")))
	if len(svg.find("circle", "needle")) != 0 || len(svg.find("path", "moe")) != 0 {
		t.Error("an empty gauge has a needle or a margin")
	}
	if got := svg.texts("gauge-empty"); len(got) != 1 || got[0] != "No answers yet" {
		t.Errorf("empty state %v", got)
	}
	if len(svg.find("path", "arc")) != 4 {
		t.Error("the empty gauge lacks its zones")
	}
	if svg.attr("aria-label") != "No answers yet" {
		t.Errorf("aria-label %q", svg.attr("aria-label"))
	}
}

func TestLineChart(t *testing.T) {
	up, down := 12.0, -3.0
	pts := []trendPoint{
		{Label: "2026-01", Score: 10, MoE: 5, N: 40},
		{Label: "2026-02", Empty: true},
		{Label: "2026-03", Score: 30, MoE: 4, N: 50, Change: &up, Significant: true},
		{Label: "2026-04", Score: 27, MoE: 6, N: 20, Change: &down, Partial: true},
	}
	svg := parseSVG(t, string(lineChart(survey.NPS, pts, "No answers yet", "so far")))
	dots := svg.find("circle", "dot")
	if len(dots) != 3 {
		t.Fatalf("%d dots, want one per period with answers", len(dots))
	}
	if !strings.Contains(dots[1].attr("class"), "sig") || strings.Contains(dots[0].attr("class"), "sig") {
		t.Errorf("significant dot classes: %q %q", dots[0].attr("class"), dots[1].attr("class"))
	}
	if !strings.Contains(dots[2].attr("class"), "partial") {
		t.Errorf("the period still going on is not marked: %q", dots[2].attr("class"))
	}
	if d := svg.texts("delta"); len(d) != 1 || d[0] != "+12.0" {
		t.Errorf("change labels %v, want the significant one", d)
	}
	// Higher scores are drawn higher.
	if dots[1].num(t, "cy") >= dots[0].num(t, "cy") {
		t.Error("30 is not above 10")
	}
	// The empty February breaks the line: January stands alone.
	if len(svg.find("polyline", "line")) != 1 || len(svg.find("line", "whisker")) != 1 {
		t.Error("the line does not break at the empty period")
	}
	empty := parseSVG(t, string(lineChart(survey.NPS, []trendPoint{{Label: "a", Empty: true}}, "No answers yet", "so far")))
	if got := empty.texts("empty"); len(got) != 1 || got[0] != "No answers yet" || len(empty.find("circle", "dot")) != 0 {
		t.Errorf("empty trend: %v", got)
	}
}

// Every word has its Chinese.
func TestTextsTranslated(t *testing.T) {
	for k := range texts["en"] {
		if _, ok := texts["zh-CN"][k]; !ok {
			t.Errorf("%q has no zh-CN text", k)
		}
	}
	for k := range texts["zh-CN"] {
		if _, ok := texts["en"][k]; !ok {
			t.Errorf("%q is in zh-CN only", k)
		}
	}
}
