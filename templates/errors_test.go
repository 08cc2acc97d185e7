package templates

import (
	"fmt"
	htmltemplate "html/template"
	"strings"
	"testing"
	texttemplate "text/template"
)

func TestSplitLocation(t *testing.T) {
	tests := []struct {
		in, name string
		line     int
		msg      string
	}{
		{`template: html:3: function "foo" not defined`, "html", 3, `function "foo" not defined`},
		{`template: text:12:7: executing "text" at <.Nope>: can't evaluate field Nope`, "text", 12, `at <.Nope>: can't evaluate field Nope`},
		{`template: text:2:3: executing "footer" at <.X>: boom`, "text", 2, `executing "footer" at <.X>: boom`},
		{`template: text: "text" is an incomplete template`, "text", 0, `"text" is an incomplete template`},
		{`html/template:html:4:9: {{.X}} appears in an ambiguous context`, "html", 4, `{{.X}} appears in an ambiguous context`},
		{`html/template:html: ends in a non-text context: {stateURL}`, "html", 0, `ends in a non-text context: {stateURL}`},
		{`html/template:html:7: bad`, "html", 7, `bad`},
		// Names with colons and digits: the known name is cut first.
		{`template: a:1:b:5: oops`, "a:1:b", 5, `oops`},
		{`template: 12:34:56: oops`, "12:34", 56, `oops`},
		// Unknown name: first ":LINE:" wins.
		{`template: other:8:2: oops`, "html", 8, `oops`},
		{`something else entirely`, "html", 0, `something else entirely`},
		{`template: html:99999999999: huge`, "html", 0, `99999999999: huge`},
		{`template: html:0: zero`, "html", 0, `0: zero`},
		{``, "", 0, ``},
	}
	for _, tt := range tests {
		line, msg := splitLocation(tt.in, tt.name)
		if line != tt.line || msg != tt.msg {
			t.Errorf("splitLocation(%q, %q) = %d, %q; want %d, %q", tt.in, tt.name, line, msg, tt.line, tt.msg)
		}
	}
}

// TestSplitLocationRealErrors ties the parser to what the standard library
// says today, so a change of format in a new Go release fails here rather
// than turning every error into "line 0".
func TestSplitLocationRealErrors(t *testing.T) {
	src := "a\nb\n{{.Nope}}"
	_, err := texttemplate.New("x").Parse("a\nb\n{{foo}}")
	if line, _ := splitLocation(err.Error(), "x"); line != 3 {
		t.Errorf("text parse error %q: line %d", err, line)
	}
	tt := texttemplate.Must(texttemplate.New("x").Parse(src))
	err = tt.Execute(new(strings.Builder), struct{}{})
	if line, _ := splitLocation(err.Error(), "x"); line != 3 {
		t.Errorf("text exec error %q: line %d", err, line)
	}
	ht := htmltemplate.Must(htmltemplate.New("x").Parse(src))
	err = ht.Execute(new(strings.Builder), struct{}{})
	if line, _ := splitLocation(err.Error(), "x"); line != 3 {
		t.Errorf("html exec error %q: line %d", err, line)
	}
	ht = htmltemplate.Must(htmltemplate.New("x").Parse("a\n{{if .}}<a href=\"{{else}}<p>{{end}}"))
	err = ht.Execute(new(strings.Builder), true)
	if err == nil {
		t.Fatal("no escaping error")
	}
	if line, _ := splitLocation(err.Error(), "x"); line != 2 {
		t.Errorf("html escape error %q: line %d", err, line)
	}
}

func FuzzLineOf(f *testing.F) {
	f.Add("html", 3, 5, `function "foo" not defined`)
	f.Add("a:1:b", 12, 0, "x")
	f.Add("", 1, 1, "")
	f.Add("12:34", 7, 99, ": : 1:2:")
	f.Fuzz(func(t *testing.T, name string, line, col int, msg string) {
		// Arbitrary input must never panic or give a negative line.
		if l, _ := splitLocation(name+msg, name); l < 0 {
			t.Fatalf("negative line %d", l)
		}
		if l, _ := splitLocation("template: "+name+msg, ""); l < 0 {
			t.Fatalf("negative line %d", l)
		}
		if line < 1 || line > 999_999_999 || col < 0 {
			return
		}
		msg = strings.TrimSpace(msg)
		forms := []string{
			fmt.Sprintf("template: %s:%d: %s", name, line, msg),
			fmt.Sprintf("template: %s:%d:%d: %s", name, line, col, msg),
			fmt.Sprintf("html/template:%s:%d:%d: %s", name, line, col, msg),
		}
		for _, in := range forms {
			l, m := splitLocation(in, name)
			if l != line {
				t.Errorf("splitLocation(%q) line = %d, want %d", in, l, line)
			}
			if !strings.HasSuffix(in, m) || (m != msg && !strings.HasPrefix(msg, `executing "`)) {
				t.Errorf("splitLocation(%q) msg = %q, want %q", in, m, msg)
			}
		}
	})
}
