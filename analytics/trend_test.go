package analytics_test

import (
	"testing"

	"github.com/npsgate/npsgate/analytics"
	"github.com/npsgate/npsgate/survey"
)

func TestCompareSignificance(t *testing.T) {
	nps := func(tally survey.Tally) survey.Summary { return survey.Summarize(survey.NPS, tally) }
	tests := []struct {
		name      string
		prev, cur survey.Summary
		change    float64
		sig       analytics.Significance
		ok        bool
	}{
		{"no answers before", nps(survey.Tally{}), nps(survey.Tally{10: 20}), 0, "", false},
		{"no answers now", nps(survey.Tally{10: 20}), nps(survey.Tally{}), 0, "", false},
		// −100 to +100 is far beyond any margin, but on 3 and 4 answers
		// the margin itself means nothing: too few, not "within".
		{"too few before", nps(survey.Tally{0: 3}), nps(survey.Tally{10: 40}), 200, analytics.TooFew, true},
		{"too few now", nps(survey.Tally{10: 40}), nps(survey.Tally{0: 4}), -200, analytics.TooFew, true},
		{"nine is too few", nps(survey.Tally{0: 30, 10: 30}), nps(survey.Tally{0: 1, 10: 8}), 77.8, analytics.TooFew, true},
		{"ten is enough", nps(survey.Tally{0: 30, 10: 30}), nps(survey.Tally{10: 10}), 100, analytics.Significant, true},
		{"large move", nps(survey.Tally{0: 50, 10: 10}), nps(survey.Tally{9: 30, 10: 30}), 166.7, analytics.Significant, true},
		{"small move", nps(survey.Tally{10: 57, 7: 3}), nps(survey.Tally{10: 54, 7: 6}), -5, analytics.WithinMargin, true},
		{"no move", nps(survey.Tally{10: 20, 0: 20}), nps(survey.Tally{10: 20, 0: 20}), 0, analytics.WithinMargin, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			change, margin, sig, ok := analytics.Compare(tt.prev, tt.cur)
			if ok != tt.ok || sig != tt.sig || (ok && change != tt.change) {
				t.Errorf("Compare = %v ±%v %q %v, want %v %q %v", change, margin, sig, ok, tt.change, tt.sig, tt.ok)
			}
		})
	}
}

func TestTrendSignificance(t *testing.T) {
	pts := analytics.Trend(survey.NPS, []string{"a", "b", "c", "d"}, []survey.Tally{
		{0: 3}, {10: 4}, {}, {10: 30, 0: 30},
	})
	want := []struct {
		sig       analytics.Significance
		hasChange bool
	}{{"", false}, {analytics.TooFew, true}, {"", false}, {"", false}}
	for i, p := range pts {
		if p.Significance != want[i].sig || (p.Change != nil) != want[i].hasChange || p.Significant != (p.Significance == analytics.Significant) {
			t.Errorf("point %s: %q change %v significant %v", p.Label, p.Significance, p.Change, p.Significant)
		}
	}
	pts = analytics.Trend(survey.CSAT, nil, []survey.Tally{{1: 20, 5: 5}, {5: 20, 1: 5}})
	if pts[1].Significance != analytics.Significant || !pts[1].Significant {
		t.Errorf("CSAT 20%% → 80%% on 25 answers each: %q", pts[1].Significance)
	}
}
