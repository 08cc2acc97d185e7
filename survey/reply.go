package survey

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ReplyKind says what an inbound text message means to a survey.
type ReplyKind int

const (
	// ReplyNoScore is a message with no number to read as a score. It may
	// be a comment on an earlier score; Reply.Rest holds it. It is the zero
	// value, so a Reply that was never filled in cannot pass for a score of 0.
	ReplyNoScore ReplyKind = iota
	// ReplyScore is a message that gives one score in the survey's range.
	ReplyScore
	// ReplyAmbiguous is a message with a number that cannot be taken as the
	// answer: two different scores ("7 or 8"), a fraction ("9.5", "4/5" for
	// nps) or only numbers out of range ("11", "-1", "12345 was late"). The
	// caller should ask for a number in range.
	ReplyAmbiguous
	// ReplyOptOut is a carrier opt-out keyword (STOP, 退订, TD, ...).
	ReplyOptOut
	// ReplyOptIn is a carrier opt-in keyword (START, UNSTOP).
	ReplyOptIn
	// ReplyHelp is a carrier help keyword (HELP, INFO).
	ReplyHelp
)

var replyKindNames = [...]string{
	ReplyNoScore:   "no-score",
	ReplyScore:     "score",
	ReplyAmbiguous: "ambiguous",
	ReplyOptOut:    "opt-out",
	ReplyOptIn:     "opt-in",
	ReplyHelp:      "help",
}

func (k ReplyKind) String() string {
	if k >= 0 && int(k) < len(replyKindNames) {
		return replyKindNames[k]
	}
	return "ReplyKind(" + strconv.Itoa(int(k)) + ")"
}

// Reply is what ParseReply read from a message.
type Reply struct {
	Kind ReplyKind
	// Score is the score when Kind is ReplyScore, and 0 otherwise.
	Score int
	// Rest is a comment candidate, taken from the message as written:
	//   - ReplyScore: the text after the score, its denominator and unit
	//     ("/10", "out of ten", "分", "stars"), with leading separators
	//     trimmed ("8 - good but slow" → "good but slow"). Text of only
	//     punctuation or Chinese particles is nothing ("八吧", "给9分吧!" have
	//     no rest). When nothing follows the score, the text before it
	//     unless that is only a lead-in ("I'd say", "score:", "打"); when
	//     there is real text on both sides, the whole trimmed message.
	//   - ReplyNoScore: the whole trimmed message.
	//   - otherwise empty.
	Rest string
}

// ParseReply reads an inbound message sent in answer to a survey of kind k
// (scores in k.Range()). It is pure, never panics, runs in time linear in
// the length of the text and accepts any bytes (invalid UTF-8 is read as
// U+FFFD).
//
// Keywords come first: a message that is exactly an opt-out, opt-in or help
// keyword (see IsOptOut, IsOptIn, IsHelp) is that, whatever the kind.
//
// Otherwise the message is searched for numbers, folding full-width and other
// Unicode decimal digits to ASCII, and sorted by how sure they are:
//
//   - Sure: numbers written with digits ("9", "９", "٩", "9.0", "9/10",
//     "9 out of 10", "打9分", "①", "🔟"), and Chinese numerals followed by
//     分 or 星 ("九分", "五星"). Numbers that name or count something are
//     ignored: glued to Latin letters ("v2", "2nd", "9am"), next to a
//     currency, '#' or '%' sign, after a label ("order 12345", "number 1",
//     "iPhone 12"), before a unit of quantity ("3 days", "10 minutes",
//     "1 of a kind", "3天", "10点"), between two plain words of a sentence
//     ("I have 2 kids"), and dates, times, versions and phone numbers
//     ("2024-05-01", "10:30", "1.2.3", "555-123-4567").
//   - Unsure: English number words zero to ten and bare Chinese numerals
//     零 一 二 两 三 四 五 六 七 八 九 十. They count only where they look like
//     an answer: a word when it opens the message after lead-in words ("I'd
//     give it an eight") or follows a scoring word ("rate it a nine"), and is
//     followed by the end, punctuation, a denominator or words like "because"
//     ("nine, fast delivery" but not "one thing: slow", "no one answered");
//     a Chinese numeral when nothing Chinese is glued to it on either side
//     except a scoring verb before (打 给 评 选 是 为) or a particle after
//     (吧 啊 呀 ...), so 一般 and 统一 hold no number.
//
// The first group with a number in range decides: one distinct value is
// ReplyScore, two or more ("7 or 8", "7-8", "between seven and eight",
// "七八分") or a non-integer in range ("9.5", "4/5" for nps) is
// ReplyAmbiguous. A number out of range is ignored when some number is in
// range ("9, 11 if I could" is 9) and otherwise makes the message
// ReplyAmbiguous ("11", "-1", "12345 was late"). A message with no number,
// or whose numbers were all ignored, is ReplyNoScore ("order 12345 was
// late").
//
// A denominator equal to the top of the range is not a second number ("9/10",
// "9 out of 10", "5/5" for csat), and neither is a mention of the scale
// ("out of 10, I'd say 8", "on a scale of 1-10: 8", "满分10分，9分").
//
// 十分 is read as 10 points when it stands alone or before punctuation
// ("十分", "给十分！"), but as the adverb "very" when more Chinese follows
// ("十分满意" is very satisfied): that reply has no score (ReplyNoScore),
// which is also what 满意 alone gives. The same holds for 百分 and for any
// numeral before 分钟 (minutes), 分之 (a fraction) or 分制 (a scale).
func ParseReply(k Kind, text string) Reply {
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	switch kw := keyword(text); {
	case isOptOut(kw):
		return Reply{Kind: ReplyOptOut}
	case isOptIn(kw):
		return Reply{Kind: ReplyOptIn}
	case isHelp(kw):
		return Reply{Kind: ReplyHelp}
	}
	lo, hi := k.Range()
	p := newParser(text, lo, hi)
	return p.parse()
}

// IsOptOut reports whether a message is a carrier opt-out keyword: STOP,
// STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, 退订 (退訂) or TD, the Chinese
// carriers' convention. The keyword must be the whole message; case, width,
// surrounding space and punctuation are ignored ("Stop!" is, "please stop
// texting me" is not).
func IsOptOut(text string) bool { return isOptOut(keyword(text)) }

func isOptOut(kw string) bool {
	switch kw {
	case "stop", "stopall", "unsubscribe", "cancel", "end", "quit", "退订", "退訂", "td":
		return true
	}
	return false
}

// IsOptIn reports whether a message is a carrier opt-in keyword: START or
// UNSTOP, as for IsOptOut. YES is not one: it answers too many questions.
func IsOptIn(text string) bool { return isOptIn(keyword(text)) }

func isOptIn(kw string) bool {
	switch kw {
	case "start", "unstop":
		return true
	}
	return false
}

// IsHelp reports whether a message is a carrier help keyword: HELP or INFO,
// as for IsOptOut.
func IsHelp(text string) bool { return isHelp(keyword(text)) }

func isHelp(kw string) bool {
	switch kw {
	case "help", "info":
		return true
	}
	return false
}

// keyword returns the message folded for keyword matching (lower case,
// half width, no surrounding space or punctuation), or "" when it is too long
// to be a keyword.
func keyword(text string) string {
	t := strings.TrimFunc(text, func(r rune) bool {
		f := foldRune(r)
		return unicode.IsSpace(r) || f == ' ' || unicode.IsPunct(f)
	})
	if len(t) > 4*len("unsubscribe") {
		return ""
	}
	var b strings.Builder
	for _, r := range t {
		b.WriteRune(unicode.ToLower(foldRune(r)))
	}
	return b.String()
}

// maxNum caps the value of a long run of digits; anything this big is out of
// every range.
const maxNum = 1_000_000

// foldRune maps the many ways of writing what the parser looks for to one:
// ASCII letters to lower case, full-width ASCII to ASCII, every decimal digit
// to its ASCII digit, spaces to ' ', dashes and minus signs to '-', and
// typographic apostrophes to the ASCII apostrophe.
func foldRune(r rune) rune {
	switch {
	case r >= 'A' && r <= 'Z':
		return r + ('a' - 'A')
	case r < utf8.RuneSelf:
		if r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f' {
			return ' '
		}
		return r
	case r >= 0xFF01 && r <= 0xFF5E: // full-width ASCII
		return foldRune(r - 0xFEE0)
	case r == '\u2018' || r == '\u2019' || r == '\u02BC' || r == '\u2032':
		return '\''
	case r >= '\u2010' && r <= '\u2015', r == '\u2212', r == '\uFE58', r == '\uFE63':
		return '-'
	case r == '\u2044' || r == '\u2215':
		return '/'
	case unicode.IsSpace(r):
		return ' '
	}
	if d, ok := digitValue(r); ok {
		return '0' + rune(d)
	}
	return r
}

// digitValue is the value of any Unicode decimal digit (category Nd). The
// Unicode stability policy keeps decimal digits in contiguous runs of ten
// in ascending order from 0, so the value is the offset in its run modulo 10
// (some ranges, such as the mathematical digits, hold several runs).
func digitValue(r rune) (int, bool) {
	if r < utf8.RuneSelf {
		if r >= '0' && r <= '9' {
			return int(r - '0'), true
		}
		return 0, false
	}
	if r <= 0xFFFF {
		for _, g := range unicode.Nd.R16 {
			if uint16(r) < g.Lo {
				return 0, false
			}
			if uint16(r) <= g.Hi {
				return int(uint16(r)-g.Lo) % 10, true
			}
		}
	}
	for _, g := range unicode.Nd.R32 {
		if uint32(r) < g.Lo {
			return 0, false
		}
		if uint32(r) <= g.Hi {
			return int(uint32(r)-g.Lo) % 10, true
		}
	}
	return 0, false
}

// enclosedNumber reads the single characters that stand for a number:
// circled digits ⓪ ① ... ⑩, their negative and sans-serif forms, and the
// keycap ten emoji 🔟. (A keycap digit such as 9️⃣ is already a digit.)
func enclosedNumber(r rune) (int, bool) {
	switch {
	case r == '\u24EA':
		return 0, true
	case r >= '\u2460' && r <= '\u2469':
		return int(r-'\u2460') + 1, true
	case r >= '\u2776' && r <= '\u2793': // ❶-❿, ➀-➉, ➊-➓
		return int(r-'\u2776')%10 + 1, true
	case r == '\U0001F51F':
		return 10, true
	}
	return 0, false
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

// isCased reports a letter of a script that writes words with spaces and
// has case (Latin, Greek, Cyrillic, ...): a number touching one is part of a
// word or an ID. Chinese has no case, so "9分" and "打9" stay numbers.
func isCased(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
	}
	return unicode.IsLower(r) || unicode.IsUpper(r) || unicode.IsTitle(r)
}

// hanNumeral is the value of a Chinese numeral character; 十 is 10 and 百 is
// 100.
func hanNumeral(r rune) (int, bool) {
	switch r {
	case '零', '〇':
		return 0, true
	case '一':
		return 1, true
	case '二', '两', '兩':
		return 2, true
	case '三':
		return 3, true
	case '四':
		return 4, true
	case '五':
		return 5, true
	case '六':
		return 6, true
	case '七':
		return 7, true
	case '八':
		return 8, true
	case '九':
		return 9, true
	case '十':
		return 10, true
	case '百':
		return 100, true
	}
	return 0, false
}

// hanValues reads a run of Chinese numerals: 九 → 9, 十 → 10, 十二 → 12,
// 二十 → 20, 九十九 → 99, anything with 百 → 100 (out of every range), and a
// run of two digits without 十 as the two numbers it lists (七八 is "seven or
// eight"). Anything else (十十, 一二三) is not a score: nil.
func hanValues(rs []rune) []int {
	var v [3]int
	if len(rs) > len(v) {
		return nil
	}
	ten := -1
	for i, r := range rs {
		v[i], _ = hanNumeral(r)
		switch v[i] {
		case 100:
			return []int{100}
		case 10:
			if ten >= 0 {
				return nil
			}
			ten = i
		}
	}
	switch {
	case ten < 0 && len(rs) == 1:
		return []int{v[0]}
	case ten < 0 && len(rs) == 2:
		return []int{v[0], v[1]}
	case ten < 0:
		return nil
	}
	tens, units := 1, 0
	if ten == 1 {
		tens = v[0]
	} else if ten != 0 {
		return nil
	}
	if ten+1 < len(rs) {
		units = v[ten+1]
	}
	if ten > 1 || tens == 0 || ten+2 < len(rs) {
		return nil
	}
	return []int{10*tens + units}
}

// Word lists. All are lower case, with ASCII apostrophes.
var (
	numberWords = map[string]int{
		"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
		"six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
	}
	// leadIn words may come before a score without saying anything of
	// their own: "I'd say", "my score is", "hmm ok, a".
	leadIn = wordSet("i i'd id i'll i'm im would will could say said give gave giving " +
		"it it's its a an the my our score scores scored rating rate rated is was be " +
		"maybe probably prob definitely def solid strong about around like hmm hm um umm uh " +
		"ok okay well me that's thats that answer reply you yes yeah yep yup sure oh hi hello hey " +
		"honestly tbh so overall just easily absolutely nps on scale of from out to or and between " +
		"thanks thank thx ty you guys")
	// scoreLead words make the next number word a score even in the middle
	// of a message: "service was great, I'd rate it a nine".
	scoreLead = wordSet("a an give gave giving rate rated rating score scored say said solid " +
		"strong maybe probably is was be it's its")
	// followOK words may follow a number word that is a score: "nine
	// because ...", "eight overall", "ten stars".
	followOK = wordSet("because cause cuz coz bc but since as though tho overall maybe probably " +
		"i im i'm i'd it it's its really honestly tbh thanks thank thx ty please pls lol " +
		"definitely star stars point points pt pts")
	// labels before a number make it a name or an ID: "number 1", "order
	// 12345", "iPhone 12".
	labels = wordSet("number no num nr order id ref ticket case invoice version ver room table " +
		"seat gate flight step page chapter level lvl plan tier option model iphone galaxy " +
		"pixel windows ios android")
	// scoreUnits after a number belong to the score: "9 points", "4 stars".
	scoreUnits = wordSet("point points pt pts star stars")
	// quantityUnits after a number make it a quantity, not a score.
	quantityUnits = wordSet("sec secs second seconds min mins minute minutes hr hrs hour hours " +
		"day days week weeks wk wks month months year years yr yrs time times am pm " +
		"percent pct dollar dollars usd eur euro euros bucks pound pounds gbp rmb yuan " +
		"people person persons item items order orders call calls email emails text texts " +
		"message messages kg lb lbs km mi miles mile")
	// quantityHan after a number make it a quantity: 3天, 2次, 10点, 5号.
	quantityHan = runeSet("天次个個块塊元毛角点點号號年月周週岁歲台件位人秒米条條张張瓶杯斤公小")
	// scoreVerbHan before a bare Chinese numeral make it an answer: 打九, 给十.
	scoreVerbHan = runeSet("打给給评評选選是为為")
	// leadInHan may come before a score without saying anything: 我打9分.
	leadInHan = runeSet("我打给給评評分数數选選是为為就嗯吧个個觉覺得应應该該大概可能满滿的会會")
	// particleHan may follow a bare numeral: 八吧, 九啊.
	particleHan = runeSet("吧啊呀哦喔嘛呢啦哈嗯噢")
)

func wordSet(s string) map[string]bool {
	m := make(map[string]bool)
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

func runeSet(s string) map[rune]bool {
	m := make(map[rune]bool)
	for _, r := range s {
		m[r] = true
	}
	return m
}

// numberWordValues reads an English number word, or two joined by a hyphen
// ("seven-eight"). Other hyphenated words ("one-off") are not numbers.
func numberWordValues(w string) []int {
	if v, ok := numberWords[w]; ok {
		return []int{v}
	}
	a, b, ok := strings.Cut(w, "-")
	if !ok {
		return nil
	}
	va, oka := numberWords[a]
	vb, okb := numberWords[b]
	if !oka || !okb {
		return nil
	}
	return []int{va, vb}
}

type tokKind uint8

const (
	tkSpace  tokKind = iota // a run of spaces
	tkOther                 // one rune: punctuation, symbol, emoji, one CJK letter
	tkWord                  // letters of a cased script, with inner ' and -
	tkNum                   // digits: 9, 9.0, 7-8, 9/10, 2024-05-01, 10:30, ①
	tkHanNum                // Chinese numerals: 九, 十, 二十, 七八
)

type token struct {
	i, j int  // runes [i, j) of the folded message
	r    rune // tkOther
	kind tokKind
	// ident marks a tkNum that is not a score: a date, time, version, phone
	// number, or one glued to letters or to a currency, '#' or '%'.
	ident bool
	num   int32 // tkNum: index in parser.nums
	// word is the index in parser.words of a tkWord, lower-cased, when it
	// is short enough to be in a word list; 0 is "". Tokens hold no
	// pointers, which keeps long messages cheap for the garbage collector.
	word int32
}

// maxWord is the length of the longest word in the word lists; longer
// words are not kept.
const maxWord = len("seven-seven")

// numChain is the value of a tkNum: up to two parts joined by sep ('-' or
// '/').
type numChain struct {
	parts [2]numPart
	n     int
	sep   rune
}

type numPart struct {
	v    int  // absolute value, at most maxNum
	neg  bool // written with '-'
	frac bool // has a non-zero fraction: 9.5
}

func (p numPart) value() int {
	if p.neg {
		return -p.v
	}
	return p.v
}

// cand is a number that may be the score.
type cand struct {
	v     int
	exact bool // an integer; false for 9.5 or 4/5 when the range ends at 10
	sure  bool
	i, j  int // token span, including its denominator and unit
}

type parser struct {
	text   string
	rs     []rune
	off    []int // off[i] is the byte offset of rs[i] in text; off[len(rs)] == len(text)
	toks   []token
	nums   []numChain
	words  []string
	lo, hi int
	lead   int // tokens [0, lead) are a lead-in phrase
}

func newParser(text string, lo, hi int) *parser {
	n := utf8.RuneCountInString(text)
	p := &parser{text: text, lo: lo, hi: hi,
		rs: make([]rune, 0, n), off: make([]int, 0, n+1), words: []string{""},
		// There is at most one token per rune; one allocation of that bound
		// costs less than growing the slice.
		toks: make([]token, 0, n)}
	for i, r := range text {
		p.rs = append(p.rs, foldRune(r))
		p.off = append(p.off, i)
	}
	p.off = append(p.off, len(text))
	p.tokenize()
	for p.lead < len(p.toks) && p.isLeadIn(p.lead) {
		p.lead++
	}
	return p
}

func (p *parser) at(i int) rune {
	if i < 0 || i >= len(p.rs) {
		return 0
	}
	return p.rs[i]
}

func (p *parser) tokenize() {
	rs := p.rs
	n := len(rs)
	for i := 0; i < n; {
		r := rs[i]
		t := token{kind: tkOther, i: i, r: r}
		j := i + 1
		switch {
		case r == ' ':
			t.kind = tkSpace
			for j < n && rs[j] == ' ' {
				j++
			}
		case isDigit(r) || (r == '-' || r == '+') && isDigit(p.at(i+1)) && p.signAllowed(i):
			var c numChain
			t, c, j = p.scanNum(i)
			t.num = int32(len(p.nums))
			p.nums = append(p.nums, c)
		case isCased(r):
			for j < n {
				if isCased(rs[j]) {
					j++
				} else if (rs[j] == '\'' || rs[j] == '-') && j+1 < n && isCased(rs[j+1]) {
					j += 2
				} else {
					break
				}
			}
			t.kind = tkWord
			if j-i <= maxWord {
				t.word = int32(len(p.words))
				p.words = append(p.words, strings.ToLower(string(rs[i:j])))
			}
		default:
			if _, ok := hanNumeral(r); ok {
				t.kind = tkHanNum
				for j < n {
					if _, ok := hanNumeral(rs[j]); !ok {
						break
					}
					j++
				}
			} else if v, ok := enclosedNumber(r); ok {
				t.kind = tkNum
				t.num = int32(len(p.nums))
				p.nums = append(p.nums, numChain{parts: [2]numPart{{v: v}}, n: 1})
			}
		}
		t.j = j
		p.toks = append(p.toks, t)
		i = j
	}
}

// signAllowed reports whether the '+' or '-' at i, just before a digit, is a
// sign: it is a plus, hyphen-minus or minus sign (not an en or em dash) and
// does not follow a letter or digit ("score -1", "(-1)", but "7-8" is a
// range and "app —9" a dash).
func (p *parser) signAllowed(i int) bool {
	switch r, _ := utf8.DecodeRuneInString(p.text[p.off[i]:]); r {
	case '+', '-', '\u2212', '\uFE63', '\uFF0B', '\uFF0D':
	default:
		return false
	}
	prev := p.at(i - 1)
	return !isDigit(prev) && !unicode.IsLetter(prev)
}

// scanNum reads a chain of numbers joined by '-', '/' or ':' without spaces,
// each with an optional fraction.
func (p *parser) scanNum(i int) (token, numChain, int) {
	t := token{kind: tkNum, i: i}
	var c numChain
	start := i
	neg := false
	if p.rs[i] == '-' || p.rs[i] == '+' {
		neg = p.rs[i] == '-'
		i++
	}
	parts := 0
	for {
		var np numPart
		for isDigit(p.at(i)) {
			np.v = min(np.v*10+int(p.rs[i]-'0'), maxNum)
			i++
		}
		dots := 0
		for p.at(i) == '.' && isDigit(p.at(i+1)) {
			dots++
			i++
			for isDigit(p.at(i)) {
				np.frac = np.frac || p.rs[i] != '0'
				i++
			}
		}
		if dots > 1 { // 1.2.3, 10.05.2024
			t.ident = true
		}
		if parts == 0 {
			np.neg = neg
		}
		if parts < len(c.parts) {
			c.parts[parts] = np
		}
		parts++
		s := p.at(i)
		if (s == '-' || s == '/' || s == ':') && isDigit(p.at(i+1)) {
			if s == ':' { // 10:30
				t.ident = true
			}
			c.sep = s
			i++
			continue
		}
		break
	}
	// A keycap digit: 9️⃣ is 9, U+FE0F, U+20E3.
	if p.at(i) == '\uFE0F' {
		i++
	}
	if p.at(i) == '\u20E3' {
		i++
	}
	c.n = min(parts, len(c.parts))
	if parts > 2 { // 2024-05-01, 555-123-4567, 10/10/2024
		t.ident = true
	}
	before, after := p.at(start-1), p.at(i)
	if isCased(before) || isCased(after) || // v2, 2nd, 9am, A1
		strings.ContainsRune("#$€£¥₹@_&", before) || strings.ContainsRune("%‰@_#$€£¥", after) ||
		before == '第' { // 第3 is "the third"
		t.ident = true
	}
	return t, c, i
}

// next returns the index of the first token after t that is not space, or -1.
func (p *parser) next(t int) int {
	for t++; t < len(p.toks); t++ {
		if p.toks[t].kind != tkSpace {
			return t
		}
	}
	return -1
}

// prev returns the index of the last token before t that is not space, or -1.
func (p *parser) prev(t int) int {
	for t--; t >= 0; t-- {
		if p.toks[t].kind != tkSpace {
			return t
		}
	}
	return -1
}

func (p *parser) isWord(t int, words ...string) bool {
	if t < 0 || p.toks[t].kind != tkWord {
		return false
	}
	for _, w := range words {
		if p.words[p.toks[t].word] == w {
			return true
		}
	}
	return false
}

func (p *parser) isRune(t int, r rune) bool {
	return t >= 0 && p.toks[t].kind == tkOther && p.toks[t].r == r
}

// single returns the value of token t when it is one plain integer in any
// form (digits, word or Chinese), as a denominator or scale needs.
func (p *parser) single(t int) (int, bool) {
	if t < 0 {
		return 0, false
	}
	tk := &p.toks[t]
	switch tk.kind {
	case tkNum:
		c := &p.nums[tk.num]
		if tk.ident || c.n != 1 || c.parts[0].frac {
			return 0, false
		}
		return c.parts[0].value(), true
	case tkWord:
		v, ok := numberWords[p.words[tk.word]]
		return v, ok
	case tkHanNum:
		if vs := hanValues(p.rs[tk.i:tk.j]); len(vs) == 1 {
			return vs[0], true
		}
	}
	return 0, false
}

func (p *parser) isNumber(t int) bool {
	if t < 0 {
		return false
	}
	switch p.toks[t].kind {
	case tkNum:
		return !p.toks[t].ident
	case tkHanNum:
		return true
	case tkWord:
		return numberWordValues(p.words[p.toks[t].word]) != nil
	}
	return false
}

// denominator returns the last token of "/ 10", "out of 10" or "of ten"
// after token t when the number is the top of the range, or -1.
func (p *parser) denominator(t int) int {
	n := p.next(t)
	switch {
	case p.isRune(n, '/'):
	case p.isWord(n, "out") && p.isWord(p.next(n), "of"):
		n = p.next(n)
	case p.isWord(n, "of"):
	default:
		return -1
	}
	d := p.next(n)
	if v, ok := p.single(d); ok && v == p.hi {
		return d
	}
	return -1
}

// scaleMention reports whether the number at t only names the scale: the
// top of the range after "/", "of" or 满分 ("out of 10, I'd say 8"), or the
// range itself after "scale", "of" or "from" ("on a scale of 1-10", "from 0
// to 10"; people say 1-10 for nps too). It returns the last token of the
// mention.
func (p *parser) scaleMention(t int) (int, bool) {
	tk := &p.toks[t]
	pr := p.prev(t)
	if tk.kind == tkNum && p.nums[tk.num].n == 2 {
		c := &p.nums[tk.num]
		a, b := c.parts[0], c.parts[1]
		if !tk.ident && c.sep == '-' && !a.frac && !b.frac && (a.value() == p.lo || a.value() == 1) &&
			b.value() == p.hi && p.isWord(pr, "scale", "of", "from") {
			return t, true
		}
		return 0, false
	}
	v, ok := p.single(t)
	if !ok {
		return 0, false
	}
	if v == p.hi && (p.isRune(pr, '/') || p.isWord(pr, "of") ||
		p.isRune(pr, '分') && (p.at(p.toks[pr].i-1) == '满' || p.at(p.toks[pr].i-1) == '滿')) {
		return t, true
	}
	if (v == p.lo || v == 1) && p.isWord(pr, "scale", "of", "from") {
		to := p.next(t)
		if p.isWord(to, "to") || p.isRune(to, '-') {
			if w, ok := p.single(p.next(to)); ok && w == p.hi {
				return p.next(to), true
			}
		}
	}
	return 0, false
}

// named reports whether the digits at t name or count something rather
// than score: after a label ("number 1", "iPhone 12"), or between two words
// of a sentence ("I have 2 kids"), unless the words around it belong to a
// score ("I'd give it a 9 but ...", "great app 10 would recommend").
func (p *parser) named(t int) bool {
	pr, nx := p.prev(t), p.next(t)
	if pr < 0 || p.toks[pr].kind != tkWord {
		return false
	}
	if labels[p.words[p.toks[pr].word]] {
		return true
	}
	if leadIn[p.words[p.toks[pr].word]] || nx < 0 || p.toks[nx].kind != tkWord {
		return false
	}
	w := p.words[p.toks[nx].word]
	return !followOK[w] && !leadIn[w] && !scoreUnits[w] && p.denominator(t) < 0
}

// unit looks at what follows a number ending at token t. It returns the last
// token of a score unit (分, 星, 颗星, "points", "stars"), t when there is
// none, and drop when a unit of quantity makes the number not a score
// ("3 days", "10分钟", "3天", "10%").
func (p *parser) unit(t int) (end int, drop bool) {
	n := p.next(t)
	if n < 0 {
		return t, false
	}
	tk := &p.toks[n]
	switch tk.kind {
	case tkWord:
		switch {
		case scoreUnits[p.words[tk.word]]:
			return n, false
		case quantityUnits[p.words[tk.word]]:
			return t, true
		case p.words[tk.word] == "of" && !p.isNumber(p.next(n)):
			return t, true // "1 of a kind", "2 of my orders"
		}
	case tkOther:
		switch tk.r {
		case '分':
			switch p.at(tk.j) {
			case '钟', '鐘', '鍾', '之', '制': // minutes, a fraction, a scale
				return t, true
			}
			return n, false
		case '星':
			return n, false
		case '颗', '顆', '个', '個':
			if p.at(tk.j) == '星' {
				return n + 1, false
			}
		case '%', '‰':
			return t, true
		}
		if quantityHan[tk.r] {
			return t, true
		}
	}
	return t, false
}

// isLeadIn reports whether token t says nothing of its own before a score:
// space, punctuation, symbols, numbers, number words, lead-in words and
// characters.
func (p *parser) isLeadIn(t int) bool {
	tk := &p.toks[t]
	switch tk.kind {
	case tkWord:
		return leadIn[p.words[tk.word]] || numberWordValues(p.words[tk.word]) != nil
	case tkOther:
		if unicode.IsLetter(tk.r) {
			return leadInHan[tk.r]
		}
		return true
	}
	return true
}

// wordIsScore reports whether the number word at t is used as an answer.
func (p *parser) wordIsScore(t int) bool {
	pr := p.prev(t)
	if p.isRune(pr, ':') {
		pr = p.prev(pr)
	}
	before := t < p.lead ||
		pr >= 0 && p.toks[pr].kind == tkWord && scoreLead[p.words[p.toks[pr].word]] ||
		p.isWord(pr, "or", "to", "and") && p.isNumber(p.prev(pr))
	if !before {
		return false
	}
	n := p.next(t)
	if n < 0 {
		return true
	}
	tk := &p.toks[n]
	switch tk.kind {
	case tkNum, tkHanNum:
		return true
	case tkOther:
		return !unicode.IsLetter(tk.r) || tk.r == '分' || tk.r == '星'
	}
	switch {
	case followOK[p.words[tk.word]]:
		return true
	case p.isWord(n, "or", "to", "and", "of"):
		return p.isNumber(p.next(n))
	case p.isWord(n, "out"):
		return p.isWord(p.next(n), "of") && p.isNumber(p.next(p.next(n)))
	}
	return false
}

// hanIsScore reports whether the Chinese numerals at t are an answer, and
// whether surely so (followed by 分 or 星).
func (p *parser) hanIsScore(t int, vals []int) (ok, sure bool) {
	tk := &p.toks[t]
	before, after := p.at(tk.i-1), p.at(tk.j)
	switch after {
	case '分':
		next := p.at(tk.j + 1)
		switch next {
		case '钟', '鐘', '鍾', '之', '制':
			return false, false
		}
		// 十分满意, 百分百: "very", "a hundred percent".
		if (vals[0] == 10 && tk.j-tk.i == 1 || vals[0] == 100) &&
			unicode.IsLetter(next) && !particleHan[next] {
			return false, false
		}
		return true, true
	case '星', '颗', '顆', '个', '個':
		end := tk.j
		if after != '星' {
			if p.at(tk.j+1) != '星' {
				return false, false
			}
			end++
		}
		// 五星好评 is five stars; 三星手机 is a Samsung phone.
		next := p.at(end + 1)
		if unicode.IsLetter(next) && !particleHan[next] && next != '好' {
			return false, false
		}
		return true, true
	}
	if unicode.IsLetter(after) && !particleHan[after] {
		return false, false
	}
	if unicode.IsLetter(before) && !scoreVerbHan[before] {
		return false, false
	}
	return true, false
}

func (p *parser) candidates() []cand {
	var out []cand
	add := func(t, end int, sure bool, parts ...numPart) {
		for _, np := range parts {
			out = append(out, cand{v: np.value(), exact: !np.frac, sure: sure, i: t, j: end})
		}
	}
	for t := 0; t < len(p.toks); t++ {
		tk := &p.toks[t]
		var parts []numPart
		sure := true
		switch tk.kind {
		case tkNum:
			if tk.ident || p.named(t) {
				continue
			}
			c := &p.nums[tk.num]
			parts = append(parts, c.parts[:c.n]...)
			if c.n == 2 && c.sep == '/' {
				if b := c.parts[1]; b.frac || b.value() != p.hi {
					// 4/5 on a 0-10 scale: a score on another scale.
					parts[0].frac = true
				}
				parts = parts[:1]
			}
		case tkWord:
			vs := numberWordValues(p.words[tk.word])
			if vs == nil || !p.wordIsScore(t) {
				continue
			}
			sure = false
			for _, v := range vs {
				parts = append(parts, numPart{v: v})
			}
		case tkHanNum:
			vs := hanValues(p.rs[tk.i:tk.j])
			if vs == nil {
				continue
			}
			ok, s := p.hanIsScore(t, vs)
			if !ok {
				continue
			}
			sure = s
			for _, v := range vs {
				parts = append(parts, numPart{v: v})
			}
		default:
			continue
		}
		if end, ok := p.scaleMention(t); ok {
			t = end
			continue
		}
		end := t
		if len(parts) == 1 {
			if d := p.denominator(t); d >= 0 {
				end = d
			}
		}
		end, drop := p.unit(end)
		if !drop {
			add(t, end, sure, parts...)
		}
		t = end
	}
	return out
}

func (p *parser) parse() Reply {
	cs := p.candidates()
	var out bool
	for _, sure := range []bool{true, false} {
		first := -1
		ambiguous := false
		for i, c := range cs {
			if c.sure != sure {
				continue
			}
			if c.v < p.lo || c.v > p.hi {
				out = true
				continue
			}
			switch {
			case !c.exact:
				ambiguous = true
			case first < 0:
				first = i
			case cs[first].v != c.v:
				ambiguous = true
			}
		}
		if ambiguous {
			return Reply{Kind: ReplyAmbiguous}
		}
		if first >= 0 {
			return Reply{Kind: ReplyScore, Score: cs[first].v, Rest: p.rest(cs[first])}
		}
	}
	if out {
		return Reply{Kind: ReplyAmbiguous}
	}
	return Reply{Kind: ReplyNoScore, Rest: strings.TrimSpace(p.text)}
}

// rest is the comment candidate around the score c (see Reply.Rest).
func (p *parser) rest(c cand) string {
	end := p.off[p.toks[c.j].j]
	after := strings.TrimSpace(trimLead(p.text[end:]))
	if !hasContent(after) {
		after = ""
	}
	leadIn := true
	for t := 0; t < c.i && leadIn; t++ {
		leadIn = p.isLeadIn(t)
	}
	if leadIn {
		return after
	}
	// Before the score, leave out the words that introduce it, back to the
	// end of the sentence: "Service was great, I'd rate it a nine" has the
	// comment "Service was great", "Love it. 10" has "Love it.".
	s := c.i
	for s > 0 && p.introduces(s-1) {
		s--
	}
	before := strings.TrimSpace(strings.TrimRightFunc(p.text[:p.off[p.toks[s].i]], func(r rune) bool {
		return foldRune(r) == ' ' || strings.ContainsRune(",;:-/|=、", foldRune(r))
	}))
	switch {
	case after == "":
		return before
	case !hasContent(before):
		return after
	}
	return strings.TrimSpace(p.text)
}

// trimLead trims what may separate a score from the comment after it:
// space, separators, and Chinese particles that end the score's own phrase
// ("8吧，还行" → "还行", "9分哈哈，不错" → "不错"). A particle that starts a
// word stays: 哈密瓜 is a melon.
func trimLead(s string) string {
	sep := func(r rune) bool {
		f := foldRune(r)
		return f == ' ' || strings.ContainsRune(",.;:!?-/|=~、。…·", f)
	}
	for {
		s = strings.TrimLeftFunc(s, sep)
		r, n := utf8.DecodeRuneInString(s)
		if n == 0 || !particleHan[r] {
			return s
		}
		next, m := utf8.DecodeRuneInString(s[n:])
		if m > 0 && !particleHan[next] && !sep(next) {
			return s
		}
		s = s[n:]
	}
}

// introduces reports whether token t is a space or a lead-in word or
// character, which may introduce a score inside a sentence.
func (p *parser) introduces(t int) bool {
	tk := &p.toks[t]
	switch tk.kind {
	case tkSpace:
		return true
	case tkWord:
		return leadIn[p.words[tk.word]]
	case tkOther:
		return leadInHan[tk.r]
	}
	return false
}

// hasContent reports whether s holds more than punctuation, space and
// Chinese sentence-final particles: a letter, a digit or a symbol such as an
// emoji. A particle alone (the 吧 of 八吧, "eight, I guess") softens the
// score and says nothing a comment should keep.
func hasContent(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) && !particleHan[r] || unicode.IsNumber(r) || unicode.Is(unicode.So, r) {
			return true
		}
	}
	return false
}
