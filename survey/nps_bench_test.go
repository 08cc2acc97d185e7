package survey_test

import (
	"testing"

	"github.com/npsgate/npsgate/survey"
)

// BenchmarkTallyAdd counts 10,000 scores, as results do for a survey's
// responses.
func BenchmarkTallyAdd(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var t survey.Tally
		for i := range 10_000 {
			t.Add(i % 11)
		}
	}
}

// BenchmarkSummarize is the NPS, categories and margin of error of a tally.
func BenchmarkSummarize(b *testing.B) {
	t := survey.Tally{120, 80, 95, 110, 130, 300, 420, 900, 1500, 1800, 2100}
	b.ReportAllocs()
	for b.Loop() {
		survey.Summarize(survey.NPS, t)
	}
}
