package dispatcher

import (
	"testing"

	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

func TestMatches(t *testing.T) {
	ka := &store.Contact{ExternalID: "c", Account: "42", Role: "admin", Attributes: map[string]string{"tier": "KA"}}
	smb := &store.Contact{ExternalID: "d", Account: "7", Attributes: map[string]string{"tier": "SMB"}}
	det := &store.Response{SurveyKey: "s", Score: 3, Category: survey.Detractor, Comment: "slow"}
	pas := &store.Response{SurveyKey: "s", Score: 7, Category: survey.Passive}
	rule := func(f func(r *store.AlertRule)) *store.AlertRule {
		r := &store.AlertRule{ScoreMin: -1, ScoreMax: -1, Enabled: true}
		f(r)
		return r
	}
	tests := []struct {
		name string
		r    *store.AlertRule
		resp *store.Response
		c    *store.Contact
		want bool
	}{
		{"empty rule matches", rule(func(*store.AlertRule) {}), pas, smb, true},
		{"disabled", rule(func(r *store.AlertRule) { r.Enabled = false }), det, ka, false},
		{"other survey", rule(func(r *store.AlertRule) { r.Survey = "x" }), det, ka, false},
		{"category", rule(func(r *store.AlertRule) { r.Categories = []survey.Category{survey.Detractor} }), pas, ka, false},
		{"score range in", rule(func(r *store.AlertRule) { r.ScoreMin, r.ScoreMax = 0, 4 }), det, ka, true},
		{"score range out", rule(func(r *store.AlertRule) { r.ScoreMin, r.ScoreMax = 0, 2 }), det, ka, false},
		{"tier KA", rule(func(r *store.AlertRule) { r.Attributes = map[string]string{"tier": "KA"} }), det, ka, true},
		{"tier KA, SMB contact", rule(func(r *store.AlertRule) { r.Attributes = map[string]string{"tier": "KA"} }), det, smb, false},
		{"account field", rule(func(r *store.AlertRule) { r.Attributes = map[string]string{"account": "42"} }), det, ka, true},
		{"any role", rule(func(r *store.AlertRule) { r.Attributes = map[string]string{"role": "*"} }), det, smb, false},
		{"erased contact", rule(func(r *store.AlertRule) { r.Attributes = map[string]string{"tier": "KA"} }), det, nil, false},
		{"comment present", rule(func(r *store.AlertRule) { r.Comment = "present" }), pas, ka, false},
		{"tag", rule(func(r *store.AlertRule) { r.Attributes = map[string]string{"tag": "beta"} }), det, &store.Contact{Tags: []string{"beta"}}, true},
		{"tag missing", rule(func(r *store.AlertRule) { r.Attributes = map[string]string{"tag": "beta"} }), det, ka, false},
		{"comment absent", rule(func(r *store.AlertRule) { r.Comment = "absent" }), pas, ka, true},
	}
	for _, tt := range tests {
		if got := Matches(tt.r, tt.resp, tt.c); got != tt.want {
			t.Errorf("%s: got %v", tt.name, got)
		}
	}
}
