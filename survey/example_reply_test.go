package survey_test

import (
	"fmt"

	"github.com/npsgate/npsgate/survey"
)

func ExampleParseReply() {
	for _, text := range []string{
		"9/10 - quick and friendly",
		"I'd give it an eight",
		"打9分，服务很好",
		"7 or 8",
		"11",
		"STOP",
		"the courier was late",
	} {
		r := survey.ParseReply(survey.NPS, text)
		switch r.Kind {
		case survey.ReplyScore:
			fmt.Printf("%q: score %d (%s), comment %q\n", text, r.Score, survey.NPS.CategoryOf(r.Score), r.Rest)
		case survey.ReplyAmbiguous:
			lo, hi := survey.NPS.Range()
			fmt.Printf("%q: ask again: please reply with a number from %d to %d\n", text, lo, hi)
		case survey.ReplyNoScore:
			fmt.Printf("%q: no score; a comment if the contact already answered\n", text)
		default:
			fmt.Printf("%q: %s\n", text, r.Kind)
		}
	}
	// Output:
	// "9/10 - quick and friendly": score 9 (promoter), comment "quick and friendly"
	// "I'd give it an eight": score 8 (passive), comment ""
	// "打9分，服务很好": score 9 (promoter), comment "服务很好"
	// "7 or 8": ask again: please reply with a number from 0 to 10
	// "11": ask again: please reply with a number from 0 to 10
	// "STOP": opt-out
	// "the courier was late": no score; a comment if the contact already answered
}
