package analytics

import (
	"math"

	"github.com/npsgate/npsgate/survey"
)

// Significance says what a change from one period to the next means.
type Significance string

const (
	// Significant is a change larger than its margin of error: a move the
	// sample sizes cannot explain (at 95%).
	Significant Significance = "significant"
	// WithinMargin is a change no larger than its margin of error.
	WithinMargin Significance = "within_margin"
	// TooFew is a change between periods of which one has fewer than
	// MinResponses answers: too few to tell, whatever the numbers.
	TooFew Significance = "too_few"
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
	// Significance is what Change means; empty when Change is nil.
	Significance Significance
	// Significant is Significance == Significant, for the API's old
	// boolean.
	Significant bool
}

// MinResponses is the fewest answers a period needs for a change from or
// to it to be called significant: below it the margin of error itself is
// unreliable (one answer has a margin of 0).
const MinResponses = 10

// Compare returns the change from prev to cur, its margin of error and
// what it means; ok is false when either has no responses.
func Compare(prev, cur survey.Summary) (change, margin float64, sig Significance, ok bool) {
	if prev.Empty() || cur.Empty() {
		return 0, 0, "", false
	}
	change = round1(cur.Score - prev.Score)
	margin = round1(math.Hypot(prev.MarginOfError, cur.MarginOfError))
	switch {
	case prev.Responses < MinResponses || cur.Responses < MinResponses:
		sig = TooFew
	case math.Abs(change) > margin: // a move of 0 never is
		sig = Significant
	default:
		sig = WithinMargin
	}
	return change, margin, sig, true
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
			out[i].Change, out[i].ChangeMargin = &c, &m
			out[i].Significance, out[i].Significant = sig, sig == Significant
		}
	}
	return out
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }
