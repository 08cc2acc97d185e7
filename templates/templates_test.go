package templates

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode/utf16"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current defaults")

func newSet(t testing.TB) *Set {
	t.Helper()
	s, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func part(m Message, p string) string {
	switch p {
	case PartSubject:
		return m.Subject
	case PartText:
		return m.Text
	case PartHTML:
		return m.HTML
	}
	panic("unknown part " + p)
}

// TestGolden pins every default template, rendered from the fixed sample, so
// a change to wording or markup shows up in review as a diff of the output.
func TestGolden(t *testing.T) {
	s := newSet(t)
	checkGolden(t, filepath.Join("testdata", "golden"), "default", func(ch, loc string) (Message, error) {
		return s.Render(ch, loc, nil, Sample("nps", loc))
	})
}

// checkGolden compares every part of what render gives for each channel
// and locale with its golden file in dir (-update rewrites them), and
// finds golden files nothing renders any more.
func checkGolden(t *testing.T, dir, what string, render func(ch, loc string) (Message, error)) {
	t.Helper()
	s := newSet(t)
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]bool{}
	for _, ch := range s.Channels() {
		for _, loc := range s.Locales(ch) {
			m, err := render(ch, loc)
			if err != nil {
				t.Fatalf("%s/%s: %v", ch, loc, err)
			}
			for _, p := range channelParts[ch] {
				name := fmt.Sprintf("%s_%s_%s.golden", ch, loc, p)
				want[name] = true
				got := part(m, p) + "\n"
				file := filepath.Join(dir, name)
				if *update {
					if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				b, err := os.ReadFile(file)
				if err != nil {
					t.Fatalf("%v (run go test ./templates -update)", err)
				}
				if string(b) != got {
					t.Errorf("%s differs from the rendered %s (run go test ./templates -update and review the diff)\ngot:\n%s", name, what, got)
				}
			}
		}
	}
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !want[f.Name()] {
			if *update {
				_ = os.Remove(filepath.Join(dir, f.Name()))
				continue
			}
			t.Errorf("stale golden file %s has no %s template", f.Name(), what)
		}
	}
}

func TestChannelsAndLocales(t *testing.T) {
	s := newSet(t)
	if got, want := s.Channels(), []string{"chat", "email", "sms"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Channels() = %v, want %v", got, want)
	}
	for _, ch := range s.Channels() {
		if got, want := s.Locales(ch), []string{"en", "zh-CN", "zh-TW"}; !reflect.DeepEqual(got, want) {
			t.Errorf("Locales(%s) = %v, want %v", ch, got, want)
		}
	}
	if got := s.Locales("fax"); got != nil {
		t.Errorf("Locales(fax) = %v, want nil", got)
	}
}

func TestRender(t *testing.T) {
	s := newSet(t)
	tests := []struct {
		channel, locale, kind string
		want                  map[string][]string // part → substrings
		notWant               map[string][]string
	}{
		{"email", "en", "nps", map[string][]string{
			PartSubject: {"Quick question about Acme"},
			PartText:    {"Hi Alex,", "How likely are you to recommend Acme", " 0  https://nps.example.com/r/4Kq9ZbX2?score=0\n", "10  https://nps.example.com/r/4Kq9ZbX2?score=10\n", "Not at all likely", "Unsubscribe: https://nps.example.com/u/4Kq9ZbX2"},
			PartHTML:    {`<html lang="en">`, "Or answer on the web", `href="https://nps.example.com/u/4Kq9ZbX2"`, "Extremely likely"},
		}, nil},
		{"email", "zh-CN", "nps", map[string][]string{
			PartSubject: {"关于Acme的一个小问题"},
			PartText:    {"王芳，您好：", "推荐Acme", "“完全不可能”", "也可以在网页上作答", "退订："},
			PartHTML:    {`<html lang="zh-CN">`, "或在网页上作答", "极有可能", "退订"},
		}, nil},
		{"email", "zh-TW", "nps", map[string][]string{
			PartSubject: {"關於Acme的一個小問題"},
			PartText:    {"陳怡君，您好：", "推薦Acme", "「完全不可能」", "也可以在網頁上作答", "取消訂閱："},
			PartHTML:    {`<html lang="zh-TW">`, "或在網頁上作答", "極有可能", "取消訂閱"},
		}, nil},
		{"email", "en", "csat", map[string][]string{
			PartText: {"from 1 (Very dissatisfied) to 5 (Very satisfied)", " 5  https://nps.example.com/r/4Kq9ZbX2?score=5"},
		}, map[string][]string{
			PartText: {"score=0", "score=6"},
		}},
		{"sms", "en", "nps", map[string][]string{
			PartText: {"How likely are you to recommend Acme to a friend or colleague? Reply with a number 0-10 or answer here: https://nps.example.com/r/4Kq9ZbX2"},
		}, nil},
		{"sms", "en", "ces", map[string][]string{PartText: {"Reply with a number 1-7"}}, nil},
		{"sms", "zh-CN", "nps", map[string][]string{PartText: {"请回复数字0-10，或点此作答：https://"}}, nil},
		{"sms", "zh-TW", "csat", map[string][]string{PartText: {"您對Acme的滿意程度如何？請回覆數字1-5"}}, nil},
		{"chat", "en", "nps", map[string][]string{
			PartText: {"Hi Alex! How likely", "[0](https://nps.example.com/r/4Kq9ZbX2?score=0) · [1](", "[Answer on the web](https://nps.example.com/r/4Kq9ZbX2)"},
		}, nil},
		{"chat", "zh-TW", "nps", map[string][]string{PartText: {"[在網頁上作答](", "0 = 完全不可能，10 = 極有可能"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.channel+"/"+tt.locale+"/"+tt.kind, func(t *testing.T) {
			m, err := s.Render(tt.channel, tt.locale, nil, Sample(tt.kind, tt.locale))
			if err != nil {
				t.Fatal(err)
			}
			for p, subs := range tt.want {
				for _, sub := range subs {
					if !strings.Contains(part(m, p), sub) {
						t.Errorf("%s does not contain %q:\n%s", p, sub, part(m, p))
					}
				}
			}
			for p, subs := range tt.notWant {
				for _, sub := range subs {
					if strings.Contains(part(m, p), sub) {
						t.Errorf("%s contains %q:\n%s", p, sub, part(m, p))
					}
				}
			}
			if tt.channel != "email" && (m.Subject != "" || m.HTML != "") {
				t.Errorf("%s filled parts it does not use: %+v", tt.channel, m)
			}
		})
	}
}

func TestRenderOptionalFields(t *testing.T) {
	s := newSet(t)
	d := Sample("nps", "en")
	d.ContactName, d.UnsubscribeURL = "", ""
	m, err := s.Render("email", "en", nil, d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.Text, "Hi,\n") {
		t.Errorf("text without a name should greet plainly:\n%s", m.Text)
	}
	for _, p := range []string{m.Text, m.HTML} {
		if strings.Contains(p, "nsubscribe") || strings.Contains(p, "/u/") {
			t.Errorf("unsubscribe shown without an UnsubscribeURL:\n%s", p)
		}
	}
	if !strings.Contains(m.HTML, "because you use Acme") {
		t.Error("the why-you-got-this line must stay without an UnsubscribeURL")
	}
}

// TestRenderCompletesData covers what Render fills for a caller that gives
// only the basics.
func TestRenderCompletesData(t *testing.T) {
	s := newSet(t)
	d := Data{Kind: "ces", ProductName: "Acme", Question: "Q?", ReplyURL: "https://x.example/r/t?src=sms"}
	m, err := s.Render("email", "zh-HK", nil, d)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"https://x.example/r/t?src=sms&score=1", "https://x.example/r/t?src=sms&score=7", "「非常困難」", "「非常容易」"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, m.Text)
		}
	}
	d = Sample("nps", "en")
	d.LowLabel, d.HighLabel = "Never", "Absolutely"
	m, err = s.Render("email", "en", nil, d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Text, "from 0 (Never) to 10 (Absolutely)") {
		t.Errorf("caller's labels not used:\n%s", m.Text)
	}
}

func TestLocaleChain(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"en", []string{"en"}},
		{"EN-us", []string{"en-US", "en"}},
		{"zh-TW", []string{"zh-TW", "en"}},
		{"zh_tw", []string{"zh-TW", "en"}},
		{"zh-HK", []string{"zh-HK", "zh-TW", "en"}},
		{"zh-MO", []string{"zh-MO", "zh-TW", "en"}},
		{"zh-Hant", []string{"zh-Hant", "zh-TW", "en"}},
		{"zh-hant-hk", []string{"zh-Hant-HK", "zh-TW", "en"}},
		{"zh-Hans-HK", []string{"zh-Hans-HK", "zh-CN", "en"}},
		{"zh", []string{"zh", "zh-CN", "en"}},
		{"zh-SG", []string{"zh-SG", "zh-CN", "en"}},
		{"zh-Hans", []string{"zh-Hans", "zh-CN", "en"}},
		{"pt-BR", []string{"pt-BR", "pt", "en"}},
		{"es-419", []string{"es-419", "es", "en"}},
		{"", []string{"en"}},
		{"not a locale", []string{"en"}},
		{"en--US", []string{"en"}},
	}
	for _, tt := range tests {
		if got := localeChain(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("localeChain(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestRenderLocaleFallback(t *testing.T) {
	s := newSet(t)
	const en, cn, tw = "Quick question about Acme", "关于Acme的一个小问题", "關於Acme的一個小問題"
	tests := []struct{ locale, want string }{
		{"en", en}, {"en-GB", en}, {"fr-FR", en}, {"", en}, {"%%%", en},
		{"zh-CN", cn}, {"zh", cn}, {"zh-SG", cn}, {"zh-Hans", cn}, {"zh_cn", cn},
		{"zh-TW", tw}, {"zh-HK", tw}, {"zh-MO", tw}, {"zh-Hant", tw}, {"zh-Hant-HK", tw}, {"zh_TW", tw},
	}
	for _, tt := range tests {
		m, err := s.Render("email", tt.locale, nil, Sample("nps", tt.locale))
		if err != nil {
			t.Fatalf("%q: %v", tt.locale, err)
		}
		if m.Subject != tt.want {
			t.Errorf("Render(email, %q).Subject = %q, want %q", tt.locale, m.Subject, tt.want)
		}
	}
}

func TestOverrideReplacesOnlyItsPart(t *testing.T) {
	s := newSet(t)
	d := Sample("nps", "en")
	def, err := s.Render("email", "en", nil, d)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, locale string
		ov           Overrides
		wantSubject  string
		invalid      bool // Validate would refuse it; Render must still cope
	}{
		{"exact locale", "en", Overrides{"email": {"en": {"subject": "{{.ProductName}} wants your opinion"}}}, "Acme wants your opinion", false},
		{"fallback locale uses the en override", "de-DE", Overrides{"email": {"en": {"subject": "Hallo {{.ProductName}}"}}}, "Hallo Acme", false},
		{"non-canonical key", "en-US", Overrides{"email": {"EN_us": {"subject": "US {{.ProductName}}"}}}, "US Acme", false},
		{"other channel's override ignored", "en", Overrides{"sms": {"en": {"text": "sms"}}}, def.Subject, false},
		{"other locale's override ignored", "en", Overrides{"email": {"zh-TW": {"subject": "x"}}}, def.Subject, false},
		{"empty source counts as absent", "en", Overrides{"email": {"en": {"subject": ""}}}, def.Subject, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Validate(tt.ov); (err != nil) != tt.invalid {
				t.Fatalf("Validate: %v, want error: %v", err, tt.invalid)
			}
			m, err := s.Render("email", tt.locale, tt.ov, d)
			if err != nil {
				t.Fatal(err)
			}
			if m.Subject != tt.wantSubject {
				t.Errorf("Subject = %q, want %q", m.Subject, tt.wantSubject)
			}
			if m.Text != def.Text || m.HTML != def.HTML {
				t.Error("an override of the subject changed another part")
			}
		})
	}

	// A locale with its own default beats an override for a locale further
	// down the chain: a Taiwanese contact keeps Traditional Chinese even if
	// the account customized English.
	ov := Overrides{"email": {"en": {"subject": "custom"}}}
	m, err := s.Render("email", "zh-HK", ov, Sample("nps", "zh-HK"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "關於Acme的一個小問題" {
		t.Errorf("zh-HK subject = %q", m.Subject)
	}
}

func TestRenderUnknownChannel(t *testing.T) {
	s := newSet(t)
	_, err := s.Render("fax", "en", nil, Sample("nps", "en"))
	if !errors.Is(err, ErrUnknownChannel) {
		t.Fatalf("err = %v, want ErrUnknownChannel", err)
	}
}

func TestSubjectLineBreakRefused(t *testing.T) {
	s := newSet(t)
	for _, name := range []string{"Acme\r\nBcc: victim@example.com", "Acme\nX", "Acme\rX"} {
		d := Sample("nps", "en")
		d.ProductName = name
		_, err := s.Render("email", "en", nil, d)
		var e *Error
		if !errors.As(err, &e) || e.Part != PartSubject || e.Channel != "email" || e.Locale != "en" {
			t.Errorf("ProductName %q: err = %v, want an *Error for email/en/subject", name, err)
		}
	}
	// Surrounding whitespace is trimmed, not refused.
	m, err := s.Render("email", "en", Overrides{"email": {"en": {"subject": "\n  Hello {{.ProductName}}  \n"}}}, Sample("nps", "en"))
	if err != nil || m.Subject != "Hello Acme" {
		t.Errorf("Subject = %q, %v", m.Subject, err)
	}
}

func TestRenderErrorFromOverride(t *testing.T) {
	s := newSet(t)
	// Unsaved (unvalidated) overrides still fail with a located error.
	ov := Overrides{"chat": {"zh_TW": {"text": "ok\nok\n{{.Nope}}"}}}
	_, err := s.Render("chat", "zh-TW", ov, Sample("nps", "zh-TW"))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v", err)
	}
	if e.Channel != "chat" || e.Locale != "zh_TW" || e.Part != "text" || e.Line != 3 {
		t.Errorf("err = %#v", e)
	}
}

func TestSample(t *testing.T) {
	for kind, n := range map[string]int{"nps": 11, "csat": 5, "ces": 7, "bogus": 11} {
		d := Sample(kind, "en")
		if len(d.Scores) != n {
			t.Errorf("Sample(%s) has %d scores, want %d", kind, len(d.Scores), n)
		}
		for _, sc := range d.Scores {
			if want := fmt.Sprintf("%s?score=%d", d.ReplyURL, sc.Value); sc.URL != want {
				t.Errorf("score URL %q, want %q", sc.URL, want)
			}
		}
		if d.LowLabel == "" || d.HighLabel == "" || d.Question == "" || strings.Contains(d.Question, "{product}") {
			t.Errorf("Sample(%s) incomplete: %+v", kind, d)
		}
	}
	if q := Sample("csat", "zh-Hant").Question; q != "您對Acme的滿意程度如何？" {
		t.Errorf("zh-Hant question = %q", q)
	}
	if !reflect.DeepEqual(Sample("nps", "zh-CN"), Sample("nps", "zh-CN")) {
		t.Error("Sample is not deterministic")
	}
}

// gsm7 is the GSM 03.38 basic character set (the extension table costs two
// characters each, so it is left out: the default must not need it).
const gsm7 = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

// TestSMSFitsOneSegment keeps the default SMS to one segment with the sample
// (a short product and a 34-character link): 160 GSM-7 characters, or 70
// UCS-2 units for Chinese.
func TestSMSFitsOneSegment(t *testing.T) {
	s := newSet(t)
	for _, loc := range s.Locales("sms") {
		for _, kind := range []string{"nps", "csat", "ces"} {
			m, err := s.Render("sms", loc, nil, Sample(kind, loc))
			if err != nil {
				t.Fatal(err)
			}
			if loc == "en" {
				for _, r := range m.Text {
					if !strings.ContainsRune(gsm7, r) {
						t.Errorf("%s/%s: %q is not GSM-7", loc, kind, r)
					}
				}
				if n := len([]rune(m.Text)); n > 160 {
					t.Errorf("%s/%s: %d characters > 160: %s", loc, kind, n, m.Text)
				}
			} else if n := len(utf16.Encode([]rune(m.Text))); n > 70 {
				t.Errorf("%s/%s: %d UCS-2 units > 70: %s", loc, kind, n, m.Text)
			}
		}
	}
}

func TestOverrideCache(t *testing.T) {
	s := newSet(t)
	d := Sample("nps", "en")
	ov := Overrides{"email": {"en": {"subject": "A {{.ProductName}}", "html": "<p>{{.Question}}</p>"}}}
	for i := 0; i < 3; i++ {
		if _, err := s.Render("email", "en", ov, d); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.cache.len(); n != 2 {
		t.Errorf("cache has %d entries after rendering two overrides three times, want 2", n)
	}
	// The same source as a different part is a different template (text vs
	// html escaping), so it must not share the entry.
	ov["email"]["en"]["text"] = "<p>{{.Question}}</p>"
	m, err := s.Render("email", "en", ov, Sample("nps", "en"))
	if err != nil {
		t.Fatal(err)
	}
	if n := s.cache.len(); n != 3 {
		t.Errorf("cache has %d entries, want 3", n)
	}
	if m.Text != "<p>"+d.Question+"</p>" {
		t.Errorf("text part was escaped as HTML: %q", m.Text)
	}

	l := newLRU(2)
	a, b, c := cacheKey("text", "a"), cacheKey("text", "b"), cacheKey("text", "c")
	l.add(a, &compiled{name: "a"})
	l.add(b, &compiled{name: "b"})
	l.get(a) // a is now more recent than b
	l.add(c, &compiled{name: "c"})
	if _, ok := l.get(b); ok {
		t.Error("least recently used entry was not evicted")
	}
	if _, ok := l.get(a); !ok {
		t.Error("recently used entry was evicted")
	}
	if l.len() != 2 {
		t.Errorf("len = %d, want 2", l.len())
	}
}

// TestConcurrentRender is for -race: the cache and html/template's lazy
// escaping on first execution are shared by every sender.
func TestConcurrentRender(t *testing.T) {
	s := newSet(t)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				ov := Overrides{"email": {"en": {"html": fmt.Sprintf("<p>{{.Question}} %d</p>", j%5)}}}
				if _, err := s.Render("email", "en", ov, Sample("nps", "en")); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
