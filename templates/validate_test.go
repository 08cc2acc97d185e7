package templates

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	three := func(line3 string) string { return "line one\nline two\n" + line3 + "\nline four" }
	tests := []struct {
		name    string
		ov      Overrides
		want    *Error // nil: valid
		msgHas  string
		wantErr error // matched with errors.Is when set
	}{
		{name: "nil", ov: nil},
		{name: "valid every part", ov: Overrides{
			"email": {"en": {"subject": "Hi {{.ContactName}}", "text": three("{{range .Scores}}{{.Value}} {{.URL}}\n{{end}}"), "html": "<p>{{.Question}}</p>"}},
			"sms":   {"zh-TW": {"text": "{{.Question}} {{.ReplyURL}}"}},
			"chat":  {"zh_cn": {"text": "{{.Question}}"}},
		}},
		{name: "unknown field at exec", ov: Overrides{"email": {"en": {"html": three("<p>{{.Nope}}</p>")}}},
			want: &Error{Channel: "email", Locale: "en", Part: "html", Line: 3}, msgHas: "can't evaluate field Nope"},
		{name: "unknown field in text", ov: Overrides{"sms": {"en": {"text": three("{{.Nope}}")}}},
			want: &Error{Channel: "sms", Locale: "en", Part: "text", Line: 3}, msgHas: "Nope"},
		{name: "unknown function at parse", ov: Overrides{"email": {"en": {"html": three("{{foo .Question}}")}}},
			want: &Error{Channel: "email", Locale: "en", Part: "html", Line: 3, Msg: `function "foo" not defined`}},
		{name: "unclosed action", ov: Overrides{"email": {"zh-TW": {"subject": "{{.ProductName"}}},
			want: &Error{Channel: "email", Locale: "zh-TW", Part: "subject", Line: 1}, msgHas: "unclosed action"},
		{name: "unknown field inside a Score", ov: Overrides{"chat": {"en": {"text": "{{range .Scores}}\n{{.Label}}{{end}}"}}},
			want: &Error{Channel: "chat", Locale: "en", Part: "text", Line: 2}, msgHas: "Label"},
		{name: "error only when ContactName is empty", ov: Overrides{"email": {"en": {"text": "{{if .ContactName}}Hi {{.ContactName}}{{else}}\n{{.Customer}}{{end}}"}}},
			want: &Error{Channel: "email", Locale: "en", Part: "text", Line: 2}, msgHas: "Customer"},
		{name: "error only for csat", ov: Overrides{"email": {"en": {"text": "{{if eq .Kind \"csat\"}}{{index .Scores 9}}{{end}}"}}},
			want: &Error{Channel: "email", Locale: "en", Part: "text", Line: 1}, msgHas: "index out of range"},
		{name: "html in an ambiguous context", ov: Overrides{"email": {"en": {"html": "<p>\n<a href=\"{{.ReplyURL}}"}}},
			want: &Error{Channel: "email", Locale: "en", Part: "html"}, msgHas: "non-text context"},
		{name: "undefined template", ov: Overrides{"email": {"en": {"text": "\n{{template \"footer\" .}}"}}},
			want: &Error{Channel: "email", Locale: "en", Part: "text", Line: 2}, msgHas: "footer"},
		{name: "multi-line subject", ov: Overrides{"email": {"en": {"subject": "Hello\nBcc: x@example.com"}}},
			want: &Error{Channel: "email", Locale: "en", Part: "subject"}, msgHas: "one line"},
		{name: "empty part", ov: Overrides{"email": {"en": {"text": "  \n"}}},
			want: &Error{Channel: "email", Locale: "en", Part: "text"}, msgHas: "empty"},
		{name: "unknown part", ov: Overrides{"email": {"en": {"body": "x"}}},
			want: &Error{Channel: "email", Locale: "en", Part: "body"}, msgHas: "unknown part"},
		{name: "part of another channel", ov: Overrides{"sms": {"en": {"subject": "x"}}},
			want: &Error{Channel: "sms", Locale: "en", Part: "subject"}, msgHas: "unknown part"},
		{name: "unknown channel", ov: Overrides{"fax": {"en": {"text": "x"}}},
			want: &Error{Channel: "fax", Msg: "unknown channel"}, wantErr: ErrUnknownChannel},
		{name: "bad locale", ov: Overrides{"email": {"english please": {"text": "x"}}},
			want: &Error{Channel: "email", Locale: "english please"}, msgHas: "locale"},
		{name: "two keys for one locale", ov: Overrides{"email": {"zh-TW": {"text": "a"}, "zh_tw": {"text": "b"}}},
			want: &Error{Channel: "email", Locale: "zh_tw"}, msgHas: `"zh-TW"`},
		{name: "range over an integer", ov: Overrides{"sms": {"en": {"text": "x\n{{range 1000000000}}{{end}}"}}},
			want: &Error{Channel: "sms", Locale: "en", Part: "text", Line: 2}, msgHas: "range only over a field"},
		{name: "range over a variable", ov: Overrides{"sms": {"en": {"text": "{{$n := 1000000000}}{{range $n}}{{end}}"}}},
			want: &Error{Channel: "sms", Locale: "en", Part: "text", Line: 1}, msgHas: "range only over a field"},
		{name: "loops nested too deep", ov: Overrides{"sms": {"en": {"text": strings.Repeat("{{range $.Scores}}", 6) + "x" + strings.Repeat("{{end}}", 6)}}},
			want: &Error{Channel: "sms", Locale: "en", Part: "text", Line: 1}, msgHas: "too much work"},
		{name: "template calls itself", ov: Overrides{"email": {"en": {"text": "{{define \"a\"}}\n{{template \"a\" .}}{{end}}{{template \"a\" .}}"}}},
			want: &Error{Channel: "email", Locale: "en", Part: "text", Line: 2}, msgHas: `"a" calls itself`},
		{name: "templates call each other", ov: Overrides{"email": {"en": {"html": "{{define \"a\"}}{{template \"b\" .}}{{end}}{{define \"b\"}}{{template \"a\" .}}{{end}}{{template \"a\" .}}"}}},
			want: &Error{Channel: "email", Locale: "en", Part: "html", Line: 1}, msgHas: "calls itself"},
		{name: "exponential template calls", ov: Overrides{"email": {"en": {"text": fanOut(30)}}},
			want: &Error{Channel: "email", Locale: "en", Part: "text", Line: 1}, msgHas: "too much work"},
		{name: "output too large", ov: Overrides{"email": {"en": {"text": `{{range .Scores}}{{range $.Scores}}{{printf "%900000d" 1}}{{end}}{{end}}`}}},
			want: &Error{Channel: "email", Locale: "en", Part: "text"}, msgHas: "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.ov)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Validate = %v (%T), want *Error", err, err)
			}
			if e.Channel != tt.want.Channel || e.Locale != tt.want.Locale || e.Part != tt.want.Part || e.Line != tt.want.Line {
				t.Errorf("Validate = %q\n got %s/%s/%s line %d\nwant %s/%s/%s line %d",
					e, e.Channel, e.Locale, e.Part, e.Line, tt.want.Channel, tt.want.Locale, tt.want.Part, tt.want.Line)
			}
			if tt.want.Msg != "" && e.Msg != tt.want.Msg {
				t.Errorf("Msg = %q, want %q", e.Msg, tt.want.Msg)
			}
			if !strings.Contains(e.Msg, tt.msgHas) {
				t.Errorf("Msg = %q, want it to mention %q", e.Msg, tt.msgHas)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantErr)
			}
		})
	}
}

// fanOut builds n templates each calling the next twice: no loop and no
// recursion, yet 2^n calls.
func fanOut(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "{{define \"t%d\"}}", i)
		if i+1 < n {
			fmt.Fprintf(&b, "{{template \"t%d\" .}}{{template \"t%d\" .}}", i+1, i+1)
		} else {
			b.WriteString("x")
		}
		b.WriteString("{{end}}")
	}
	b.WriteString("{{template \"t0\" .}}")
	return b.String()
}

func TestErrorString(t *testing.T) {
	err := Validate(Overrides{"email": {"en": {"html": "<p>\n<p>\n{{foo}}"}}})
	if got, want := err.Error(), `email/en/html: line 3: function "foo" not defined`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	err = Validate(Overrides{"email": {"en": {"html": "<p>\n<p>\n{{.Nope}}"}}})
	if got, want := err.Error(), `email/en/html: line 3: at <.Nope>: can't evaluate field Nope in type templates.Data`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := (&Error{Channel: "fax", Msg: "unknown channel"}).Error(), "fax: unknown channel"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestDefaultsValidate holds the shipped defaults to the rules overrides
// must meet, so copying a default is always a valid starting point.
func TestDefaultsValidate(t *testing.T) {
	ov := Overrides{}
	for ch := range channelParts {
		ov[ch] = map[string]map[string]string{}
		entries, err := defaultFS.ReadDir("defaults/" + ch)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			ov[ch][e.Name()] = map[string]string{}
			for _, p := range channelParts[ch] {
				b, err := defaultFS.ReadFile("defaults/" + ch + "/" + e.Name() + "/" + p + ".tmpl")
				if err != nil {
					t.Fatal(err)
				}
				ov[ch][e.Name()][p] = string(b)
			}
		}
	}
	if err := Validate(ov); err != nil {
		t.Fatal(err)
	}
}

func FuzzValidate(f *testing.F) {
	for _, seed := range []struct{ ch, loc, part, src string }{
		{"email", "en", "html", "<p>{{.Question}}</p>"},
		{"email", "zh-TW", "subject", "{{.ProductName}}"},
		{"email", "en", "text", "{{range $i, $s := .Scores}}{{if $i}},{{end}}{{$s.Value}}{{end}}"},
		{"sms", "en", "text", "{{.Nope}}"},
		{"chat", "x", "text", "{{define \"a\"}}{{template \"a\"}}{{end}}"},
		{"email", "en", "html", "<a href=\"{{.ReplyURL}}"},
		{"email", "en", "html", "<script>var x = {{.Scores}};</script><style>{{.Kind}}</style>"},
		{"fax", "", "", ""},
		{"sms", "en", "text", "{{block \"b\" .}}{{with .Scores}}{{index . 3}}{{end}}{{end}}"},
		{"email", "en", "text", "{{range .Scores}}{{break}}{{end}}{{slice .Question 1 2}}"},
	} {
		f.Add(seed.ch, seed.loc, seed.part, seed.src)
	}
	s := newSet(f)
	f.Fuzz(func(t *testing.T, ch, loc, part, src string) {
		// Arbitrary keys exercise the channel, locale and part checks...
		_ = Validate(Overrides{ch: {loc: {part: src}}})
		// ...but would rarely reach the template itself, so the source is
		// also tried as every part of a real channel.
		for _, p := range channelParts["email"] {
			ov := Overrides{"email": {"en": {p: src}}}
			if Validate(ov) != nil {
				continue
			}
			// What Validate accepts must render, at least for the data it
			// checked against.
			if _, err := s.Render("email", "en", ov, Sample("nps", "en")); err != nil {
				t.Fatalf("Validate accepted %s %q but Render failed: %v", p, src, err)
			}
		}
	})
}
