package templates

import (
	"strconv"
	"strings"
)

// Sample returns realistic Data for a kind and locale: what a preview shows
// and what Validate executes an override against. An unknown kind gives nps
// data; an unknown locale gives English text. The result is the same on
// every call, so previews and golden files are stable.
func Sample(kind, locale string) Data {
	if _, ok := scoreRange[kind]; !ok {
		kind = "nps"
	}
	chain := localeChain(locale)
	q := sampleQuestions[kind][pickLocale(sampleQuestions[kind], chain)]
	name := sampleNames[pickLocale(sampleNames, chain)]
	const reply = "https://nps.example.com/r/4Kq9ZbX2"
	d := Data{
		Kind:           kind,
		ProductName:    sampleProduct,
		Question:       strings.ReplaceAll(q, "{product}", sampleProduct),
		ContactName:    name,
		ReplyURL:       reply,
		UnsubscribeURL: "https://nps.example.com/u/4Kq9ZbX2",
	}
	return complete(d, chain)
}

const sampleProduct = "Acme"

// scoreRange mirrors survey.Kind.Range; templates may not import survey.
var scoreRange = map[string][2]int{
	"nps":  {0, 10},
	"csat": {1, 5},
	"ces":  {1, 7},
}

// scoresFor lists a kind's scores with their one-click reply links. A
// ReplyURL that already has a query gets the score appended to it.
func scoresFor(kind, replyURL string) []Score {
	r, ok := scoreRange[kind]
	if !ok {
		return nil
	}
	sep := "?"
	if strings.Contains(replyURL, "?") {
		sep = "&"
	}
	out := make([]Score, 0, r[1]-r[0]+1)
	for v := r[0]; v <= r[1]; v++ {
		out = append(out, Score{Value: v, URL: replyURL + sep + "score=" + strconv.Itoa(v)})
	}
	return out
}

// labels are the default names of a scale's ends: kind → locale → {low, high}.
var labels = map[string]map[string][2]string{
	"nps": {
		"en":    {"Not at all likely", "Extremely likely"},
		"zh-CN": {"完全不可能", "极有可能"},
		"zh-TW": {"完全不可能", "極有可能"},
	},
	"csat": {
		"en":    {"Very dissatisfied", "Very satisfied"},
		"zh-CN": {"非常不满意", "非常满意"},
		"zh-TW": {"非常不滿意", "非常滿意"},
	},
	"ces": {
		"en":    {"Very difficult", "Very easy"},
		"zh-CN": {"非常困难", "非常容易"},
		"zh-TW": {"非常困難", "非常容易"},
	},
}

func labelsFor(kind string, chain []string) (low, high string) {
	byLoc := labels[kind]
	if byLoc == nil {
		return "", ""
	}
	l := byLoc[pickLocale(byLoc, chain)]
	return l[0], l[1]
}

// sampleQuestions are the survey package's built-in questions, copied so a
// preview reads like a real message.
var sampleQuestions = map[string]map[string]string{
	"nps": {
		"en":    "How likely are you to recommend {product} to a friend or colleague?",
		"zh-CN": "您有多大可能向朋友或同事推荐{product}？",
		"zh-TW": "您有多大可能向朋友或同事推薦{product}？",
	},
	"csat": {
		"en":    "How satisfied are you with {product}?",
		"zh-CN": "您对{product}的满意程度如何？",
		"zh-TW": "您對{product}的滿意程度如何？",
	},
	"ces": {
		"en":    "How easy was it to get what you needed from {product}?",
		"zh-CN": "通过{product}解决您的需求有多容易？",
		"zh-TW": "透過{product}解決您的需求有多容易？",
	},
}

var sampleNames = map[string]string{
	"en":    "Alex",
	"zh-CN": "王芳",
	"zh-TW": "陳怡君",
}

// pickLocale returns the first locale of the chain present in m; the chain
// always ends in "en", which every table here has.
func pickLocale[V any](m map[string]V, chain []string) string {
	for _, l := range chain {
		if _, ok := m[l]; ok {
			return l
		}
	}
	return fallbackLocale
}
