package survey_test

import (
	"fmt"

	"github.com/npsgate/npsgate/survey"
)

func ExampleSummarize() {
	var t survey.Tally
	for _, score := range []int{10, 9, 9, 8, 7, 6, 3, 10} {
		t.Add(score)
	}
	s := survey.Summarize(survey.NPS, t)
	fmt.Printf("NPS %.1f ± %.1f from %d responses (%.1f%% promoters, %.1f%% detractors)\n",
		s.Score, s.MarginOfError, s.Responses, s.Pct(s.Promoters), s.Pct(s.Detractors))
	// Output: NPS 25.0 ± 57.5 from 8 responses (50.0% promoters, 25.0% detractors)
}

func ExampleKind_CategoryOf() {
	for _, score := range []int{10, 8, 4} {
		c := survey.NPS.CategoryOf(score)
		fmt.Println(score, c)
	}
	tx, _ := survey.TextFor(survey.NPS, nil, "en")
	fmt.Println(tx.FollowUp(survey.Passive))
	// Output:
	// 10 promoter
	// 8 passive
	// 4 detractor
	// Thank you. What is holding you back from rating {product} higher?
}
