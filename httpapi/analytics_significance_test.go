package httpapi_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/npsgate/npsgate/survey"
)

// The trend says why a change is not significant: within the margin, or
// too few answers to tell; and which period is still going on.
func TestResultsTrendSignificanceReason(t *testing.T) {
	h := newHarness(t)
	h.now = time.Date(2026, 4, 20, 12, 0, 0, 0, time.UTC)
	var rows []seeded
	for i := range 60 {
		// January: mostly detractors. February: 5 promoters only.
		// March: mostly promoters, like February but on 60 answers.
		// April: as March, a little lower.
		jan := 0
		if i%6 == 0 {
			jan = 10
		}
		rows = append(rows, seeded{"nps", fmt.Sprintf("j%d", i), "email", jan, "", time.Date(2026, 1, 5, 9, i, 0, 0, time.UTC)})
		if i < 5 {
			rows = append(rows, seeded{"nps", fmt.Sprintf("f%d", i), "email", 10, "", time.Date(2026, 2, 5, 9, i, 0, 0, time.UTC)})
		}
		rows = append(rows, seeded{"nps", fmt.Sprintf("m%d", i), "email", 9 + i%2, "", time.Date(2026, 3, 5, 9, i, 0, 0, time.UTC)})
		apr := 10
		if i%20 == 0 {
			apr = 7
		}
		rows = append(rows, seeded{"nps", fmt.Sprintf("a%d", i), "email", apr, "", time.Date(2026, 4, 5, 9, i, 0, 0, time.UTC)})
	}
	h.seedAnalytics(survey.NPS, "nps", rows)
	a := h.do("GET", "/v1/results/trend?survey=nps&from=2026-01-01", nil)
	if a.status != 200 || num(a.body["min_responses"]) != 10 {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	pts := a.body["points"].([]any)
	if len(pts) != 4 {
		t.Fatalf("points: %s", a.raw)
	}
	for i, want := range []struct {
		significance any
		significant  bool
		partial      bool
	}{
		{nil, false, false},
		// −66.7 → +100 is beyond any margin, but on 5 answers: too few.
		{"too_few", false, false},
		{"too_few", false, false},
		{"within_margin", false, true},
	} {
		p := pts[i].(map[string]any)
		if p["significance"] != want.significance || p["significant"] != want.significant || p["partial"] != want.partial {
			t.Errorf("%s: significance %v significant %v partial %v, want %v %v %v", p["label"], p["significance"],
				p["significant"], p["partial"], want.significance, want.significant, want.partial)
		}
	}
	a = h.do("GET", "/v1/results/trend?survey=nps&period=quarter&from=2025-10-01", nil)
	pts = a.body["points"].([]any)
	if q1 := pts[1].(map[string]any); q1["significance"] != nil || q1["change"] != nil {
		t.Errorf("2025-Q4 (empty) → 2026-Q1: %v", q1)
	}
	// Q1: NPS +20 on 125 answers; Q2 so far: +95 on 60.
	if q2 := pts[2].(map[string]any); q2["significance"] != "significant" || q2["significant"] != true || q2["partial"] != true {
		t.Errorf("2026-Q1 → 2026-Q2: %v", q2)
	}
}
