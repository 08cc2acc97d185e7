package analytics

import (
	"math"

	"github.com/npsgate/npsgate/survey"
)

// Point is one period of a trend.
type Point struct {
	Label   string
	Summary survey.Summary
	// Change is Summary.Score minus the previous period's, nil when
	// either period has no responses.
	Change *float64
	// ChangeMargin is the 95% margin of error of Change: the two periods'
	// margins combined as independent samples, √(m₁² + m₂²). It is wider
	// than either margin alone.
	ChangeMargin *float64
	// Significant is true when |Change| is larger than ChangeMargin: a
	// move the sample sizes cannot explain (at 95%). It is never true
	// when either period has fewer than MinResponses answers.
	Significant bool
}

// MinResponses is the fewest answers a period needs for a change from or
// to it to be called significant: below it the margin of error itself is
// unreliable (one answer has a margin of 0).
const MinResponses = 10

// Compare returns the change from prev to cur, its margin of error and
// whether it is significant; ok is false when either has no responses.
func Compare(prev, cur survey.Summary) (change, margin float64, significant, ok bool) {
	if prev.Empty() || cur.Empty() {
		return 0, 0, false, false
	}
	change = round1(cur.Score - prev.Score)
	margin = round1(math.Hypot(prev.MarginOfError, cur.MarginOfError))
	// A move of 0 never is significant.
	significant = math.Abs(change) > margin && prev.Responses >= MinResponses && cur.Responses >= MinResponses
	return change, margin, significant, true
}

// Trend summarizes tallies[i], the responses of the period labelled
// labels[i], and compares each period with the one before.
func Trend(kind survey.Kind, labels []string, tallies []survey.Tally) []Point {
	out := make([]Point, len(tallies))
	for i, t := range tallies {
		out[i] = Point{Summary: survey.Summarize(kind, t)}
		if i < len(labels) {
			out[i].Label = labels[i]
		}
		if i == 0 {
			continue
		}
		if c, m, sig, ok := Compare(out[i-1].Summary, out[i].Summary); ok {
			out[i].Change, out[i].ChangeMargin, out[i].Significant = &c, &m, sig
		}
	}
	return out
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }
