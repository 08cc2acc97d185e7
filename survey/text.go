package survey

import (
	"sort"
	"strings"
)

// Text is what a survey asks in one locale. {product} in any field is
// replaced by the survey's product name when shown.
type Text struct {
	Question string `json:"question"`
	// FollowUp is asked after a score, by the score's category.
	FollowUpPromoter  string `json:"follow_up_promoter"`
	FollowUpPassive   string `json:"follow_up_passive"`
	FollowUpDetractor string `json:"follow_up_detractor"`
	// ContactConsent asks a detractor whether someone may contact them.
	ContactConsent string `json:"contact_consent"`
}

// FollowUp returns the follow-up question for a category.
func (t Text) FollowUp(c Category) string {
	switch c {
	case Promoter:
		return t.FollowUpPromoter
	case Passive:
		return t.FollowUpPassive
	}
	return t.FollowUpDetractor
}

// WithProduct returns the text with {product} replaced.
func (t Text) WithProduct(product string) Text {
	r := strings.NewReplacer("{product}", product)
	return Text{
		Question:          r.Replace(t.Question),
		FollowUpPromoter:  r.Replace(t.FollowUpPromoter),
		FollowUpPassive:   r.Replace(t.FollowUpPassive),
		FollowUpDetractor: r.Replace(t.FollowUpDetractor),
		ContactConsent:    r.Replace(t.ContactConsent),
	}
}

// merge fills the empty fields of t from d.
func (t Text) merge(d Text) Text {
	pick := func(a, b string) string {
		if a != "" {
			return a
		}
		return b
	}
	return Text{
		Question:          pick(t.Question, d.Question),
		FollowUpPromoter:  pick(t.FollowUpPromoter, d.FollowUpPromoter),
		FollowUpPassive:   pick(t.FollowUpPassive, d.FollowUpPassive),
		FollowUpDetractor: pick(t.FollowUpDetractor, d.FollowUpDetractor),
		ContactConsent:    pick(t.ContactConsent, d.ContactConsent),
	}
}

// DefaultLocale is used when a contact's locale has no text.
const DefaultLocale = "en"

var defaults = map[Kind]map[string]Text{
	NPS: {
		"en": {
			Question:          "How likely are you to recommend {product} to a friend or colleague?",
			FollowUpPromoter:  "Thank you! What do you like most about {product}?",
			FollowUpPassive:   "Thank you. What is holding you back from rating {product} higher?",
			FollowUpDetractor: "We are sorry to hear that. What went wrong?",
			ContactConsent:    "May we contact you about your answer?",
		},
		"zh-CN": {
			Question:          "您有多大可能向朋友或同事推荐{product}？",
			FollowUpPromoter:  "谢谢！您最喜欢{product}的哪一点？",
			FollowUpPassive:   "谢谢。是什么让您没有给{product}更高的分数？",
			FollowUpDetractor: "很抱歉给您带来不好的体验。请告诉我们哪里出了问题？",
			ContactConsent:    "我们可以就您的反馈与您联系吗？",
		},
		"zh-TW": {
			Question:          "您有多大可能向朋友或同事推薦{product}？",
			FollowUpPromoter:  "謝謝！您最喜歡{product}的哪一點？",
			FollowUpPassive:   "謝謝。是什麼讓您沒有給{product}更高的分數？",
			FollowUpDetractor: "很抱歉帶給您不好的體驗。請告訴我們哪裡出了問題？",
			ContactConsent:    "我們可以就您的回饋與您聯絡嗎？",
		},
	},
	CSAT: {
		"en": {
			Question:          "How satisfied are you with {product}?",
			FollowUpPromoter:  "Thank you! What did we do well?",
			FollowUpPassive:   "Thank you. What could we do better?",
			FollowUpDetractor: "We are sorry to hear that. What went wrong?",
			ContactConsent:    "May we contact you about your answer?",
		},
		"zh-CN": {
			Question:          "您对{product}的满意程度如何？",
			FollowUpPromoter:  "谢谢！我们哪里做得好？",
			FollowUpPassive:   "谢谢。我们可以在哪些方面做得更好？",
			FollowUpDetractor: "很抱歉给您带来不好的体验。请告诉我们哪里出了问题？",
			ContactConsent:    "我们可以就您的反馈与您联系吗？",
		},
		"zh-TW": {
			Question:          "您對{product}的滿意程度如何？",
			FollowUpPromoter:  "謝謝！我們哪裡做得好？",
			FollowUpPassive:   "謝謝。我們可以在哪些方面做得更好？",
			FollowUpDetractor: "很抱歉帶給您不好的體驗。請告訴我們哪裡出了問題？",
			ContactConsent:    "我們可以就您的回饋與您聯絡嗎？",
		},
	},
	CES: {
		"en": {
			Question:          "How easy was it to get what you needed from {product}?",
			FollowUpPromoter:  "Thank you! What made it easy?",
			FollowUpPassive:   "Thank you. What could have made it easier?",
			FollowUpDetractor: "We are sorry it was hard. What got in your way?",
			ContactConsent:    "May we contact you about your answer?",
		},
		"zh-CN": {
			Question:          "通过{product}解决您的需求有多容易？",
			FollowUpPromoter:  "谢谢！是什么让它变得容易？",
			FollowUpPassive:   "谢谢。怎样可以让它更容易？",
			FollowUpDetractor: "很抱歉让您感到困难。是什么阻碍了您？",
			ContactConsent:    "我们可以就您的反馈与您联系吗？",
		},
		"zh-TW": {
			Question:          "透過{product}解決您的需求有多容易？",
			FollowUpPromoter:  "謝謝！是什麼讓它變得容易？",
			FollowUpPassive:   "謝謝。怎樣可以讓它更容易？",
			FollowUpDetractor: "很抱歉讓您感到困難。是什麼阻礙了您？",
			ContactConsent:    "我們可以就您的回饋與您聯絡嗎？",
		},
	},
}

// Locales lists the locales that have built-in texts, sorted.
func Locales() []string {
	out := make([]string, 0, len(defaults[NPS]))
	for l := range defaults[NPS] {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// MatchLocale picks the best built-in locale for a requested one:
// an exact match, then the language's default script (zh-HK → zh-TW,
// zh / zh-Hans / zh-SG → zh-CN), then English.
func MatchLocale(locale string) string {
	if _, ok := defaults[NPS][locale]; ok {
		return locale
	}
	l := strings.ToLower(strings.ReplaceAll(locale, "_", "-"))
	switch {
	case l == "zh-tw" || l == "zh-hk" || l == "zh-mo" || strings.HasPrefix(l, "zh-hant"):
		return "zh-TW"
	case strings.HasPrefix(l, "zh"):
		return "zh-CN"
	}
	return DefaultLocale
}

// TextFor returns the text a survey of kind k shows in locale, starting from
// the survey's own texts (by locale) and filling any gap from the built-in
// defaults. The locale actually used is returned with it.
func TextFor(k Kind, own map[string]Text, locale string) (Text, string) {
	if t, ok := own[locale]; ok {
		base := defaults[k][MatchLocale(locale)]
		return t.merge(base), locale
	}
	m := MatchLocale(locale)
	if t, ok := own[m]; ok {
		return t.merge(defaults[k][m]), m
	}
	return defaults[k][m], m
}
