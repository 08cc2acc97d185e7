package survey

import (
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
)

func score(n int, rest string) Reply { return Reply{Kind: ReplyScore, Score: n, Rest: rest} }

var (
	ambiguous = Reply{Kind: ReplyAmbiguous}
	optOut    = Reply{Kind: ReplyOptOut}
	optIn     = Reply{Kind: ReplyOptIn}
	help      = Reply{Kind: ReplyHelp}
)

func noScore(rest string) Reply { return Reply{Kind: ReplyNoScore, Rest: rest} }

func TestParseReply(t *testing.T) {
	tests := []struct {
		kind Kind
		in   string
		want Reply
	}{
		// Keywords: the whole message, any case, width and punctuation.
		{NPS, "STOP", optOut},
		{NPS, "stop", optOut},
		{NPS, " Stop! ", optOut},
		{NPS, "STOP.", optOut},
		{NPS, "ＳＴＯＰ", optOut},
		{NPS, "StopAll", optOut},
		{NPS, "unsubscribe", optOut},
		{NPS, "Cancel", optOut},
		{NPS, "END", optOut},
		{NPS, "quit!!!", optOut},
		{NPS, "退订", optOut},
		{NPS, "退訂。", optOut},
		{NPS, "TD", optOut},
		{CSAT, "td", optOut},
		{NPS, "START", optIn},
		{NPS, "unstop", optIn},
		{NPS, "HELP", help},
		{NPS, "info?", help},
		{NPS, "YES", noScore("YES")},
		{NPS, "please stop texting me", noScore("please stop texting me")},
		{NPS, "STOP STOP", noScore("STOP STOP")},
		{NPS, "the end", noScore("the end")},

		// Plain scores.
		{NPS, "9", score(9, "")},
		{NPS, " 10 ", score(10, "")},
		{NPS, "0", score(0, "")},
		{NPS, "09", score(9, "")},
		{NPS, "+9", score(9, "")},
		{NPS, "-0", score(0, "")},
		{NPS, "7!", score(7, "")},
		{NPS, "10.", score(10, "")},
		{NPS, "9.0", score(9, "")},
		{NPS, "a 9", score(9, "")},
		{NPS, "score: 9", score(9, "")},
		{NPS, "I'd say 7", score(7, "")},
		{NPS, "I’d say 7", score(7, "")},
		{NPS, "9 👍", score(9, "👍")},
		{NPS, "👍9👍", score(9, "👍")},
		{NPS, "9️⃣", score(9, "")},
		{NPS, "🔟", score(10, "")},
		{NPS, "⑧", score(8, "")},
		{NPS, "٩", score(9, "")}, // Arabic-Indic
		{NPS, "९", score(9, "")}, // Devanagari
		{NPS, "𝟗", score(9, "")}, // mathematical bold

		// Denominators and the scale.
		{NPS, "9/10", score(9, "")},
		{NPS, "9 / 10", score(9, "")},
		{NPS, "10/10", score(10, "")},
		{NPS, "10/10 would recommend", score(10, "would recommend")},
		{NPS, "9 out of 10", score(9, "")},
		{NPS, "9 of 10", score(9, "")},
		{NPS, "nine out of ten", score(9, "")},
		{NPS, "8 out of ten, fast delivery", score(8, "fast delivery")},
		{NPS, "Out of 10, I'd say 8", score(8, "")},
		{NPS, "On a scale of 1-10, 8", score(8, "")},
		{NPS, "on a scale from 0 to 10 I'd give 6", score(6, "")},
		{NPS, "满分10分，9分", score(9, "")},
		{NPS, "9 points", score(9, "")},
		{CSAT, "5/5", score(5, "")},
		{CSAT, "4 / 5 great", score(4, "great")},
		{CSAT, "4 stars", score(4, "")},
		{CSAT, "one star", score(1, "")},
		{CES, "6/7", score(6, "")},
		{NPS, "4/5", ambiguous},    // a score on another scale
		{CSAT, "9/10", ambiguous},  // ditto
		{NPS, "10/5", ambiguous},   // not a denominator of the range
		{NPS, "9.5/10", ambiguous}, // not an integer

		// Comments after (and before) the score.
		{NPS, "8 - good but slow", score(8, "good but slow")},
		{NPS, "8, good but slow", score(8, "good but slow")},
		{NPS, "8 – good but slow.", score(8, "good but slow.")},
		{NPS, "8: good but slow", score(8, "good but slow")},
		{NPS, "8\ngood but slow", score(8, "good but slow")},
		{NPS, "9/10 - great support!", score(9, "great support!")},
		{NPS, "Great service, 9", score(9, "Great service")},
		{NPS, "Great service! 9", score(9, "Great service!")},
		{NPS, "Great service, 9, but slow delivery", score(9, "Great service, 9, but slow delivery")},
		{NPS, "Service was great, I'd rate it a nine", score(9, "Service was great")},
		{NPS, "Service was great, I'd rate it a nine.", score(9, "Service was great")},
		{NPS, "9 (the app is slow)", score(9, "(the app is slow)")},

		// English number words.
		{NPS, "nine", score(9, "")},
		{NPS, "Ten", score(10, "")},
		{NPS, "TEN!", score(10, "")},
		{NPS, "zero", score(0, "")},
		{NPS, "I'd give it an eight", score(8, "")},
		{NPS, "i'd give it an eight because the app is slow", score(8, "because the app is slow")},
		{NPS, "eight, good but slow", score(8, "good but slow")},
		{NPS, "Seven.", score(7, "")},
		{NPS, "hmm maybe a six", score(6, "")},
		{CSAT, "five", score(5, "")},
		{CES, "seven", score(7, "")},
		{NPS, "one thing: the app is slow", noScore("one thing: the app is slow")},
		{NPS, "no one answered my call", noScore("no one answered my call")},
		{NPS, "it was one of the best", noScore("it was one of the best")},
		{NPS, "the best one I've used", noScore("the best one I've used")},
		{NPS, "a one-off problem", noScore("a one-off problem")},
		{NPS, "zero complaints", noScore("zero complaints")},
		{NPS, "three days late", noScore("three days late")},
		{NPS, "top ten app", noScore("top ten app")},
		{NPS, "great", noScore("great")},

		// Chinese.
		{NPS, "９", score(9, "")},
		{NPS, "１０", score(10, "")},
		{NPS, "９／１０", score(9, "")},
		{NPS, "9分", score(9, "")},
		{NPS, "打9分", score(9, "")},
		{NPS, "我打9分", score(9, "")},
		{NPS, "给9分吧", score(9, "")},
		{NPS, "9分，很好", score(9, "很好")},
		{NPS, "9分。服务很好", score(9, "服务很好")},
		{NPS, "九", score(9, "")},
		{NPS, "九分", score(9, "")},
		{NPS, "打九分", score(9, "")},
		{NPS, "零", score(0, "")},
		{NPS, "零分", score(0, "")},
		{NPS, "两分", score(2, "")},
		{NPS, "十", score(10, "")},
		{NPS, "十分", score(10, "")},
		{NPS, "十分！", score(10, "")},
		{NPS, "给十分", score(10, "")},
		{NPS, "十分，很满意", score(10, "很满意")},
		{NPS, "八，还行", score(8, "还行")},
		{NPS, "八吧", score(8, "")},
		{NPS, "九啊！", score(9, "")},
		{NPS, "8吧，还行", score(8, "还行")},
		{NPS, "9分哈哈，不错", score(9, "不错")},
		{NPS, "9分 哈密瓜很甜", score(9, "哈密瓜很甜")}, // 哈 starts a word here
		{NPS, "还行吧，八吧", score(8, "还行吧")},
		{NPS, "还行，七", score(7, "还行")},
		{NPS, "十分满意", noScore("十分满意")}, // 十分 is "very" here
		{CSAT, "十分满意", noScore("十分满意")},
		{NPS, "十分满意，给9分", score(9, "十分满意")},
		{NPS, "一般", noScore("一般")},
		{NPS, "统一", noScore("统一")},
		{NPS, "第一次用，很好", noScore("第一次用，很好")},
		{NPS, "等了十分钟", noScore("等了十分钟")},
		{NPS, "等了10分钟", noScore("等了10分钟")},
		{NPS, "晚上10点才送到", noScore("晚上10点才送到")},
		{NPS, "3天才到", noScore("3天才到")},
		{NPS, "百分百满意", noScore("百分百满意")},
		{NPS, "七八分", ambiguous},
		{NPS, "九十分", ambiguous}, // 90 points
		{NPS, "十一", ambiguous},
		{CSAT, "五星", score(5, "")},
		{CSAT, "五星好评", score(5, "好评")},
		{CSAT, "四颗星", score(4, "")},
		{CSAT, "我用三星手机", noScore("我用三星手机")},
		{CSAT, "5分", score(5, "")},
		{CSAT, "５", score(5, "")},
		{CES, "七分", score(7, "")},

		// Ambiguous: two scores, not an integer, or out of range.
		{NPS, "between 7 and 8", ambiguous},
		{NPS, "7 or 8", ambiguous},
		{NPS, "7-8", ambiguous},
		{NPS, "7 - 8", ambiguous},
		{NPS, "7–8", ambiguous},
		{NPS, "7,8", ambiguous},
		{NPS, "seven or eight", ambiguous},
		{NPS, "between seven and eight", ambiguous},
		{NPS, "seven-eight", ambiguous},
		{NPS, "9.5", ambiguous},
		{NPS, "9,5", ambiguous},
		{NPS, "11", ambiguous},
		{NPS, "100", ambiguous},
		{NPS, "-1", ambiguous},
		{NPS, "score: -1", ambiguous},
		{NPS, "score −1", ambiguous},
		{NPS, "(-1)", ambiguous},
		{NPS, "great app —9", score(9, "great app")},
		{NPS, "12345", ambiguous},
		{NPS, "12345 was late", ambiguous},
		{NPS, "11 - love it", ambiguous},
		{NPS, "I'd give it 11", ambiguous},
		{NPS, "1000000000000000000000000000000", ambiguous},
		{CSAT, "6", ambiguous},
		{CSAT, "0", ambiguous},
		{CES, "8", ambiguous},
		{CES, "0", ambiguous},

		// Out of range is ignored beside a score; repeats are one score.
		{NPS, "9, 11 if I could", score(9, "11 if I could")},
		{NPS, "9 - yes, 9", score(9, "yes, 9")},
		{NPS, "8, nine if the app were faster", score(8, "nine if the app were faster")},

		// Numbers that are not scores.
		{NPS, "order #12345 was late", noScore("order #12345 was late")},
		{NPS, "order 12345 was late", noScore("order 12345 was late")},
		{NPS, "v2 is slow", noScore("v2 is slow")},
		{NPS, "the 2nd time it broke", noScore("the 2nd time it broke")},
		{NPS, "came at 9am", noScore("came at 9am")},
		{NPS, "came at 10:30", noScore("came at 10:30")},
		{NPS, "delivered 2024-05-01", noScore("delivered 2024-05-01")},
		{NPS, "call me at 555-123-4567", noScore("call me at 555-123-4567")},
		{NPS, "version 1.2.3 crashes", noScore("version 1.2.3 crashes")},
		{NPS, "took 3 days", noScore("took 3 days")},
		{NPS, "waited 45 min", noScore("waited 45 min")},
		{NPS, "100% satisfied", noScore("100% satisfied")},
		{NPS, "paid $5 too much", noScore("paid $5 too much")},
		{NPS, "10x better", noScore("10x better")},

		{NPS, "Number 1 app!", noScore("Number 1 app!")},
		{NPS, "iPhone 12 user", noScore("iPhone 12 user")},
		{NPS, "the app is 1 of a kind", noScore("the app is 1 of a kind")},
		{NPS, "I have 2 kids and one of them hates it", noScore("I have 2 kids and one of them hates it")},
		{NPS, "only 1 problem", noScore("only 1 problem")},
		{NPS, "great app 10 would recommend", score(10, "great app 10 would recommend")},
		{NPS, "I would give it a 9 but the delivery took 2 days", score(9, "but the delivery took 2 days")},
		{NPS, "Love it. 10", score(10, "Love it.")},
		{NPS, "hi, 9", score(9, "")},
		{NPS, "10 :)", score(10, "")},
		{NPS, "10 ❤️", score(10, "❤️")},
		{NPS, "还可以吧，打个8分", score(8, "还可以吧")},
		{NPS, "给个九分吧", score(9, "")},

		// No number at all.
		{NPS, "", noScore("")},
		{NPS, "   ", noScore("")},
		{NPS, "👍", noScore("👍")},
		{NPS, "Great app, love it", noScore("Great app, love it")},
		{NPS, "满意", noScore("满意")},
		{NPS, "\xff\xfe", noScore("\uFFFD")},
		{NPS, "\xff9\xfe", score(9, "\uFFFD")},
	}
	for _, tt := range tests {
		got := ParseReply(tt.kind, tt.in)
		if got != tt.want {
			t.Errorf("ParseReply(%s, %q) = %+v, want %+v", tt.kind, tt.in, got, tt.want)
		}
	}
	if len(tests) < 60 {
		t.Errorf("only %d cases", len(tests))
	}
}

// TestParseReplyIntegers checks every written-out integer in and around each
// range, with and without a denominator.
func TestParseReplyIntegers(t *testing.T) {
	for _, k := range []Kind{NPS, CSAT, CES} {
		lo, hi := k.Range()
		for n := lo - 3; n <= hi+3; n++ {
			want := Reply{Kind: ReplyScore, Score: n}
			if n < lo || n > hi {
				want = ambiguous
			}
			s := strconv.Itoa(n)
			for _, in := range []string{s, " " + s + " ", s + "/" + strconv.Itoa(hi), s + " out of " + strconv.Itoa(hi), "score " + s} {
				if got := ParseReply(k, in); got != want {
					t.Errorf("ParseReply(%s, %q) = %+v, want %+v", k, in, got, want)
				}
			}
		}
	}
}

func TestReplyKindString(t *testing.T) {
	for k, want := range map[ReplyKind]string{
		ReplyNoScore: "no-score", ReplyScore: "score", ReplyAmbiguous: "ambiguous",
		ReplyOptOut: "opt-out", ReplyOptIn: "opt-in", ReplyHelp: "help", ReplyKind(42): "ReplyKind(42)",
	} {
		if got := k.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(k), got, want)
		}
	}
	if (Reply{}).Kind != ReplyNoScore {
		t.Error("the zero Reply must not be a score")
	}
}

func TestKeywordHelpers(t *testing.T) {
	for _, s := range []string{"STOP", "退订", "TD!", "  quit  "} {
		if !IsOptOut(s) || IsOptIn(s) || IsHelp(s) {
			t.Errorf("%q: want opt-out only", s)
		}
	}
	for _, s := range []string{"Start", "UNSTOP."} {
		if !IsOptIn(s) || IsOptOut(s) {
			t.Errorf("%q: want opt-in only", s)
		}
	}
	for _, s := range []string{"stop now", "yes", "", "stopp", strings.Repeat("stop", 100)} {
		if IsOptOut(s) || IsOptIn(s) || IsHelp(s) {
			t.Errorf("%q: no keyword wanted", s)
		}
	}
	if !IsOptOut("stop" + strings.Repeat("!", 10000)) {
		t.Error("trailing punctuation of any length is ignored")
	}
}

// TestWordLists checks that every listed word is lower case, uses the ASCII
// apostrophe and fits in maxWord, or the tokenizer would never match it.
func TestWordLists(t *testing.T) {
	lists := []map[string]bool{leadIn, scoreLead, followOK, labels, scoreUnits, quantityUnits}
	for w := range numberWords {
		lists = append(lists, map[string]bool{w: true, w + "-" + w: true})
	}
	for _, l := range lists {
		for w := range l {
			if len(w) > maxWord || w != strings.ToLower(w) || strings.ContainsRune(w, '’') {
				t.Errorf("word %q cannot match", w)
			}
		}
	}
}

// TestDigitValue checks the Unicode digit table: every decimal digit folds
// to a digit, the first of each run of ten is 0, and ASCII is as expected.
func TestDigitValue(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		v, ok := digitValue(r)
		if ok != unicode.IsDigit(r) {
			t.Fatalf("digitValue(%U) ok = %v", r, ok)
		}
		if ok && v != 0 && !unicode.IsDigit(r-1) {
			t.Fatalf("digitValue(%U) = %d, but it starts a run", r, v)
		}
		if ok && v > 0 {
			if w, _ := digitValue(r - 1); w != v-1 {
				t.Fatalf("digitValue(%U) = %d after %d", r, v, w)
			}
		}
	}
	for r := '0'; r <= '9'; r++ {
		if v, _ := digitValue(r); v != int(r-'0') {
			t.Errorf("digitValue(%q) = %d", r, v)
		}
	}
}

// TestParseReplyLinear guards against quadratic work on long messages of
// the shapes the parser looks back and ahead on.
func TestParseReplyLinear(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	shapes := []string{"9 ", "nine ", "a ", "九", "十分", "1-", "1/", "1.", " ", "of ", "\xff", "🙂"}
	for _, s := range shapes {
		small := strings.Repeat(s, 10_000/len(s))
		big := strings.Repeat(s, 160_000/len(s))
		ts, tb := timeParse(small), timeParse(big)
		// 16x the input must not take 100x the time (quadratic would be 256x).
		if tb > 100*ts && tb > 50*time.Millisecond {
			t.Errorf("%q: %v for 10 KB, %v for 160 KB", s, ts, tb)
		}
	}
}

func timeParse(s string) time.Duration {
	best := time.Duration(1 << 62)
	for i := 0; i < 3; i++ {
		start := time.Now()
		ParseReply(NPS, s)
		best = min(best, time.Since(start))
	}
	return best
}
