package audience

import (
	"errors"
	"testing"
	"unicode/utf8"
)

// FuzzParse: Parse never panics; an error is a *SyntaxError inside the
// expression; a filter's canonical form parses back to the same canonical
// form and the same answers.
func FuzzParse(f *testing.F) {
	for _, tc := range validCases {
		f.Add(tc.in)
	}
	for _, tc := range invalidCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		flt, err := Parse(expr)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q): %T %v is not a *SyntaxError", expr, err, err)
			}
			if se.Pos < 1 || se.Pos > utf8.RuneCountInString(expr)+1 || se.Msg == "" {
				t.Fatalf("Parse(%q): column %d of %d characters, message %q", expr, se.Pos, utf8.RuneCountInString(expr), se.Msg)
			}
			return
		}
		canon := flt.String()
		again, err := Parse(canon)
		if err != nil {
			t.Fatalf("Parse(%q) gives %q, which does not parse: %v", expr, canon, err)
		}
		if again.String() != canon {
			t.Fatalf("Parse(%q) gives %q, which gives %q", expr, canon, again.String())
		}
		for _, c := range contacts {
			if flt.Match(c) != again.Match(c) {
				t.Fatalf("%q and its canonical form %q disagree on %s", expr, canon, c.ExternalID)
			}
		}
	})
}
