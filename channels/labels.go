package channels

import "github.com/npsgate/npsgate/survey"

// linkLabels are the words on the one link or button of a chat message that
// has no score buttons: a survey's "answer on the page", an alert's "view
// the response", a digest's "view the results". They live here, not in each
// chat provider, so that every provider says the same thing in the same
// language; the survey's locale picks the table as it picks its texts.
var linkLabels = map[string]map[string]string{
	"en":    {"survey": "Answer", "alert": "View response", "digest": "View results"},
	"zh-CN": {"survey": "回答", "alert": "查看回复", "digest": "查看结果"},
	"zh-TW": {"survey": "回答", "alert": "查看回覆", "digest": "查看結果"},
}

// LinkLabel is the label of m's link in its locale: survey.MatchLocale's
// choice of the locales above, English for anything else. A kind without a
// label of its own (a survey sent as Kind "") reads as a survey.
func LinkLabel(locale, kind string) string {
	l, ok := linkLabels[survey.MatchLocale(locale)]
	if !ok {
		l = linkLabels[survey.DefaultLocale]
	}
	if s, ok := l[kind]; ok {
		return s
	}
	return l["survey"]
}
