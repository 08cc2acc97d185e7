package survey

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzParseReply(f *testing.F) {
	for _, s := range []string{
		"9", " 10 ", "9/10", "9 / 10", "8 - good but slow", "I'd say 7", "score: 9",
		"９", "１０", "9分", "十分", "十分满意", "打9分", "nine", "I'd give it an eight",
		"between 7 and 8", "7-8", "9.5", "-1", "+9", "order 12345 was late", "v2",
		"STOP", "退订", "TD", "9 👍", "9️⃣", "🔟", "七八分", "五星好评", "on a scale of 1-10, 8",
		"out of ten, nine", "2024-05-01", "10:30", "1.2.3", "\xff9\xfe", "seven-eight",
		"九十九", "一百分", "\u0669", "𝟗", "score −1", "(-1)", "I have 2 kids",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		valid := strings.ToValidUTF8(text, "\uFFFD")
		for _, k := range []Kind{NPS, CSAT, CES} {
			lo, hi := k.Range()
			r := ParseReply(k, text)
			if r2 := ParseReply(k, text); r2 != r {
				t.Fatalf("%s %q: not deterministic: %+v then %+v", k, text, r, r2)
			}
			if r.Kind < ReplyNoScore || r.Kind > ReplyHelp {
				t.Fatalf("%s %q: kind %d", k, text, r.Kind)
			}
			if r.Kind == ReplyScore && (r.Score < lo || r.Score > hi) {
				t.Fatalf("%s %q: score %d out of %d-%d", k, text, r.Score, lo, hi)
			}
			if r.Kind != ReplyScore && r.Score != 0 {
				t.Fatalf("%s %q: score %d with kind %s", k, text, r.Score, r.Kind)
			}
			if !utf8.ValidString(r.Rest) || !strings.Contains(valid, r.Rest) {
				t.Fatalf("%s %q: rest %q is not part of the message", k, text, r.Rest)
			}
			if r.Rest != strings.TrimSpace(r.Rest) {
				t.Fatalf("%s %q: rest %q is not trimmed", k, text, r.Rest)
			}
			if n, err := strconv.Atoi(text); err == nil && n >= lo && n <= hi {
				if r.Kind != ReplyScore || r.Score != n {
					t.Fatalf("%s %q: got %+v, want score %d", k, text, r, n)
				}
			}
			// Full-width digits read as ASCII ones.
			if wide := strings.Map(func(r rune) rune {
				if r >= '0' && r <= '9' {
					return r - '0' + '０'
				}
				return r
			}, valid); wide != valid {
				if r2 := ParseReply(k, wide); r2.Kind != r.Kind || r2.Score != r.Score {
					t.Fatalf("%s %q: %+v, but full width %+v", k, text, r, r2)
				}
			}
			// Space around a message changes nothing.
			if r2 := ParseReply(k, " \t"+text+"\n "); r2 != r {
				t.Fatalf("%s %q: %+v, but padded %+v", k, text, r, r2)
			}
			if (r.Kind == ReplyOptOut) != IsOptOut(text) || (r.Kind == ReplyHelp) != IsHelp(text) {
				t.Fatalf("%s %q: %s disagrees with the keyword helpers", k, text, r.Kind)
			}
		}
	})
}
