package survey_test

import (
	"testing"

	"github.com/npsgate/npsgate/survey"
)

// BenchmarkParseReply reads the SMS replies people send, from a bare digit
// to a comment with no score; every inbound SMS goes through it.
func BenchmarkParseReply(b *testing.B) {
	cases := []struct{ name, text string }{
		{"digit", "9"},
		{"fraction", "9/10"},
		{"score_comment", "8 - good but slow"},
		{"lead_in", "I'd say 7, the onboarding was rough"},
		{"word", "nine"},
		{"fullwidth", "９"},
		{"chinese_score", "给十分！"},
		{"chinese_adverb", "十分满意"},
		{"stop", "STOP"},
		{"comment_only", "The invoices were wrong three months in a row and nobody answered my emails about it."},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				survey.ParseReply(survey.NPS, c.text)
			}
		})
	}
}
