package templates

import (
	"errors"
	"strconv"
	"strings"
)

// ErrUnknownChannel is matched (errors.Is) by the error for a channel that
// has no templates.
var ErrUnknownChannel = errors.New("templates: unknown channel")

// Error says which template is wrong and where, in words an account admin
// can act on: `email/en/html: line 3: function "foo" not defined`.
type Error struct {
	Channel, Locale, Part string
	Line                  int // 1-based; 0 when the problem has no line
	Msg                   string
	err                   error
}

func (e *Error) Error() string {
	var b strings.Builder
	for _, s := range []string{e.Channel, e.Locale, e.Part} {
		if s == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(s)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap exposes the cause, such as ErrUnknownChannel.
func (e *Error) Unwrap() error { return e.err }

// errorAt turns a text/template or html/template error about the template
// called name into an *Error with its line.
func errorAt(part, name string, err error) *Error {
	line, msg := splitLocation(err.Error(), name)
	return &Error{Part: part, Line: line, Msg: msg, err: err}
}

// splitLocation takes apart the messages of text/template and html/template,
// whose only structure is a prefix:
//
//	template: NAME:LINE: msg                 (parse)
//	template: NAME:LINE:COL: executing ...   (exec)
//	template: NAME: msg                      (no position)
//	html/template:NAME:LINE:COL: msg         (escaping)
//	html/template:NAME: msg
//
// It returns the line (0 if none) and the message without the prefix. The
// template's name is passed in because a name may itself contain colons and
// digits; if the message does not carry that name, the first ":LINE:" after
// the prefix is taken. Anything unrecognised comes back whole, with line 0.
func splitLocation(s, name string) (line int, msg string) {
	rest, ok := strings.CutPrefix(s, "template: ")
	if !ok {
		if rest, ok = strings.CutPrefix(s, "html/template:"); !ok {
			return 0, s
		}
	}
	if after, ok := strings.CutPrefix(rest, name+":"); ok {
		line, msg, ok = lineCol(after)
		if !ok {
			return 0, tidy(strings.TrimSpace(after), name)
		}
		return line, tidy(msg, name)
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] != ':' {
			continue
		}
		if line, msg, ok = lineCol(rest[i+1:]); ok {
			return line, tidy(msg, name)
		}
	}
	return 0, s
}

// lineCol parses "LINE: msg" or "LINE:COL: msg".
func lineCol(s string) (line int, msg string, ok bool) {
	line, s, ok = leadingInt(s)
	if !ok || line < 1 || !strings.HasPrefix(s, ":") {
		return 0, "", false
	}
	s = s[1:]
	if _, r, ok := leadingInt(s); ok && strings.HasPrefix(r, ":") {
		s = r[1:]
	}
	return line, strings.TrimSpace(s), true
}

// leadingInt reads up to 9 digits, enough for any real line and too few to
// overflow.
func leadingInt(s string) (int, string, bool) {
	n := 0
	for n < len(s) && n < 10 && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	if n == 0 || n > 9 {
		return 0, s, false
	}
	v, err := strconv.Atoi(s[:n])
	if err != nil {
		return 0, s, false
	}
	return v, s[n:], true
}

// tidy drops the "executing "NAME" at" that text/template puts before every
// exec error: the admin wrote one template and the line already says where.
// A nested {{define}} keeps its name, since that does help.
func tidy(msg, name string) string {
	if r, ok := strings.CutPrefix(msg, `executing "`+name+`" at `); ok {
		return "at " + r
	}
	return msg
}
