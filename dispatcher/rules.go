package dispatcher

import (
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

// DefaultRuleID names the built-in rule: every detractor alerts the
// survey's alert targets.
const DefaultRuleID = "default"

// defaultRule is the rule every survey with alert targets has.
func defaultRule(sv *store.Survey) *store.AlertRule {
	return &store.AlertRule{ID: DefaultRuleID, Name: "Every detractor", Survey: sv.Key,
		Categories: []survey.Category{survey.Detractor}, ScoreMin: -1, ScoreMax: -1, Priority: "P2",
		Targets: sv.AlertTargets, Enabled: true}
}

// Matches reports whether a response (with its contact, which may be nil
// after an erasure) meets every condition of the rule.
func Matches(r *store.AlertRule, resp *store.Response, c *store.Contact) bool {
	if !r.Enabled {
		return false
	}
	if r.Survey != "" && r.Survey != resp.SurveyKey {
		return false
	}
	if len(r.Categories) > 0 {
		in := false
		for _, cat := range r.Categories {
			in = in || cat == resp.Category
		}
		if !in {
			return false
		}
	}
	if r.ScoreMin >= 0 && resp.Score < r.ScoreMin || r.ScoreMax >= 0 && resp.Score > r.ScoreMax {
		return false
	}
	switch r.Comment {
	case "present":
		if resp.Comment == "" {
			return false
		}
	case "absent":
		if resp.Comment != "" {
			return false
		}
	}
	for k, want := range r.Attributes {
		if k == "tag" {
			if c == nil || !hasTag(c.Tags, want) {
				return false
			}
			continue
		}
		got, ok := contactAttribute(c, k)
		if !ok || (want != "*" && got != want) {
			return false
		}
	}
	return true
}

// contactAttribute reads a named field or a free attribute of a contact.
func contactAttribute(c *store.Contact, k string) (string, bool) {
	if c == nil {
		return "", false
	}
	var v string
	switch k {
	case "account":
		v = c.Account
	case "role":
		v = c.Role
	case "locale":
		v = c.Locale
	default:
		var ok bool
		v, ok = c.Attributes[k]
		if !ok {
			return "", false
		}
	}
	return v, v != ""
}

// hasTag reports whether tags holds tag ("tag": "beta" in a rule).
func hasTag(tags []string, tag string) bool {
	for _, t := range tags {
		if t == tag {
			return true
		}
	}
	return false
}
