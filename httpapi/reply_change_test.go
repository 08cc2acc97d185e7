package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/npsgate/npsgate/survey"
)

// TestChangedAnswerLeavesTheOldBand: a detractor who said "you may contact
// me" changes to a promoter score within the edit window, on the reply
// page (its form sends the comment box and the hidden consent choice back
// as they were, or only the score) or by a bare score in a text. The
// answer is no longer flagged for contact, and the comment that answered
// "what went wrong?" is dropped, so the thanks asks the promoter's
// question; a survey that asks both bands the same follow-up keeps it.
func TestChangedAnswerLeavesTheOldBand(t *testing.T) {
	const shared = "Anything else you want to tell us?"
	cases := []struct {
		name, survey string
		change       func(h *harness, token, phone string) (status int, page string)
		wantComment  string
		wantAsk      string // the follow-up the thanks asks, "" for none
	}{
		{"reply page, the form as it was", "onboarding", func(h *harness, token, _ string) (int, string) {
			a := h.form("/r/"+token, url.Values{"score": {"9"}, "comment": {"support was slow"}, "may_contact": {"yes"}})
			return a.status, a.raw
		}, "", "What do you like most about Acme Cloud?"},
		{"reply page, the score alone", "onboarding", func(h *harness, token, _ string) (int, string) {
			a := h.form("/r/"+token, url.Values{"score": {"10"}})
			return a.status, a.raw
		}, "", "What do you like most about Acme Cloud?"},
		{"reply page, same question", "shared", func(h *harness, token, _ string) (int, string) {
			a := h.form("/r/"+token, url.Values{"score": {"9"}, "comment": {"support was slow"}, "may_contact": {"yes"}})
			return a.status, a.raw
		}, "support was slow", ""},
		{"text, a bare score", "onboarding", func(h *harness, _, phone string) (int, string) {
			return h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, "9"))
		}, "", "What do you like most about Acme Cloud?"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.createSurvey()
			a := h.do("POST", "/v1/surveys", map[string]any{"key": "shared", "kind": "nps", "product_name": "Acme Cloud",
				"channels": []string{"sms"}, "texts": map[string]any{"en": map[string]any{
					"follow_up_detractor": shared, "follow_up_promoter": shared}}})
			if a.status != http.StatusCreated {
				t.Fatalf("create survey: %d %s", a.status, a.raw)
			}
			phone := "+1415555070" + string(rune('0'+i))
			d := h.sentSMSOf(tc.survey, "c-change", phone, "en")

			first := h.form("/r/"+d.Token, url.Values{"score": {"3"}, "comment": {"support was slow"}, "may_contact": {"yes"}})
			r := h.response(d.ID)
			if first.status != http.StatusOK || r == nil || r.Category != survey.Detractor || r.MayContact == nil || !*r.MayContact {
				t.Fatalf("first answer: %d, %+v", first.status, r)
			}

			status, page := tc.change(h, d.Token, phone)
			if status != http.StatusOK {
				t.Fatalf("change: %d %s", status, page)
			}
			r = h.response(d.ID)
			if r.Score < 9 || r.Category != survey.Promoter || r.MayContact != nil || r.Comment != tc.wantComment {
				t.Fatalf("changed answer: score %d %s, comment %q, may contact %v; want promoter, %q, not flagged",
					r.Score, r.Category, r.Comment, r.MayContact != nil, tc.wantComment)
			}
			if tc.wantAsk != "" && !strings.Contains(page, tc.wantAsk) {
				t.Errorf("the thanks does not ask %q: %.400s", tc.wantAsk, page)
			}
			if tc.wantAsk == "" && strings.Contains(page, `name="comment"`) {
				t.Errorf("the thanks asks for a comment it has: %.400s", page)
			}
		})
	}
}
