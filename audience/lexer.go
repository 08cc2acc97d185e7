package audience

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// tokenKind is the lexical class of a token.
type tokenKind int

const (
	tokEOF     tokenKind = iota
	tokWord              // bare word: [A-Za-z0-9_.@+:-]+, keywords included
	tokSQuoted           // 'single-quoted' text: a value only
	tokDQuoted           // "double-quoted" text: a field name or a value
	tokLParen            // (
	tokRParen            // )
	tokComma             // ,
	tokEq                // =
	tokNeq               // !=
)

// token is one lexeme. text is the decoded text of words and quoted strings.
type token struct {
	kind tokenKind
	text string
	col  int // 1-based column of the first character
}

// keywords are reserved words; they are matched case-insensitively and may
// be neither a bare field name nor a bare value.
var keywords = map[string]bool{
	"and": true, "or": true, "not": true, "in": true, "has": true,
	"exists": true, "starts_with": true, "contains": true,
}

// isKeyword reports whether w is a keyword in any letter case.
func isKeyword(w string) bool {
	if len(w) < 2 || len(w) > len("starts_with") {
		return false
	}
	return keywords[strings.ToLower(w)]
}

// is reports whether t is the keyword kw (given in lower case).
func (t token) is(kw string) bool {
	return t.kind == tokWord && strings.EqualFold(t.text, kw)
}

// describe names the token for an error message.
func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of expression"
	case tokWord:
		if isKeyword(t.text) {
			return fmt.Sprintf("keyword %q", strings.ToLower(t.text))
		}
		return `"` + shorten(t.text) + `"`
	case tokSQuoted:
		return "'" + shorten(escapeQuoted(t.text, '\'')) + "'"
	case tokDQuoted:
		return `"` + shorten(escapeQuoted(t.text, '"')) + `"`
	case tokLParen:
		return `"("`
	case tokRParen:
		return `")"`
	case tokComma:
		return `","`
	case tokEq:
		return `"="`
	case tokNeq:
		return `"!="`
	}
	return "?"
}

// isWordByte reports whether b may appear in a bare word.
func isWordByte(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	switch b {
	case '_', '.', '@', '+', ':', '-':
		return true
	}
	return false
}

// isBareWord reports whether s can be written as a bare word (it may still
// be a keyword).
func isBareWord(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isWordByte(s[i]) {
			return false
		}
	}
	return true
}

// lexer turns the expression into tokens on demand, so that the first error
// by position is the one reported.
type lexer struct {
	src string
	off int // byte offset of the next unread byte
	col int // 1-based column of src[off]
}

// next returns the next token, or a *SyntaxError.
func (l *lexer) next() (token, error) {
	for l.off < len(l.src) {
		switch l.src[l.off] {
		case ' ', '\t', '\n', '\r':
			l.off++
			l.col++
			continue
		}
		break
	}
	if l.off >= len(l.src) {
		return token{kind: tokEOF, col: l.col}, nil
	}
	start := l.col
	b := l.src[l.off]
	single := func(k tokenKind) (token, error) {
		l.off++
		l.col++
		return token{kind: k, col: start}, nil
	}
	switch {
	case b == '(':
		return single(tokLParen)
	case b == ')':
		return single(tokRParen)
	case b == ',':
		return single(tokComma)
	case b == '=':
		if l.off+1 < len(l.src) && l.src[l.off+1] == '=' {
			return token{}, errAt(start, `unexpected "==": use "=" to compare`)
		}
		return single(tokEq)
	case b == '!':
		if l.off+1 < len(l.src) && l.src[l.off+1] == '=' {
			l.off += 2
			l.col += 2
			return token{kind: tokNeq, col: start}, nil
		}
		return token{}, errAt(start, `unexpected "!": use "!=" to compare or "not" to negate`)
	case b == '\'' || b == '"':
		return l.quoted(b)
	case isWordByte(b):
		i := l.off
		for i < len(l.src) && isWordByte(l.src[i]) {
			i++
		}
		w := l.src[l.off:i]
		l.col += i - l.off
		l.off = i
		return token{kind: tokWord, text: w, col: start}, nil
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.off:])
	return token{}, errAt(start, unexpectedChar(r))
}

// unexpectedChar explains a character that starts no token.
func unexpectedChar(r rune) string {
	msg := fmt.Sprintf("unexpected character %q", r)
	switch r {
	case '~':
		return msg + `: use starts_with or contains`
	case '<', '>':
		return msg + `: values are compared as text with =, != and in`
	case '&':
		return msg + `: use "and"`
	case '|':
		return msg + `: use "or"`
	case '[', '{':
		return msg + `: lists are written in (a, b)`
	}
	return msg + `: quote values that contain it, e.g. 'Asia/Shanghai'`
}

// quoted reads a string quoted with q; escapes are \', \" and \\.
func (l *lexer) quoted(q byte) (token, error) {
	start := l.col
	kind := tokSQuoted
	if q == '"' {
		kind = tokDQuoted
	}
	l.off++
	l.col++
	var sb strings.Builder
	for l.off < len(l.src) {
		b := l.src[l.off]
		switch {
		case b == q:
			l.off++
			l.col++
			return token{kind: kind, text: sb.String(), col: start}, nil
		case b == '\\':
			if l.off+1 >= len(l.src) {
				return token{}, errAt(start, fmt.Sprintf("unterminated string: no closing %c", q))
			}
			e := l.src[l.off+1]
			if e != '\'' && e != '"' && e != '\\' {
				r, _ := utf8.DecodeRuneInString(l.src[l.off+1:])
				return token{}, errAt(l.col, fmt.Sprintf(`unknown escape "\%c": the escapes are \', \" and \\`, r))
			}
			sb.WriteByte(e)
			l.off += 2
			l.col += 2
		default:
			_, size := utf8.DecodeRuneInString(l.src[l.off:])
			sb.WriteString(l.src[l.off : l.off+size])
			l.off += size
			l.col++
		}
	}
	return token{}, errAt(start, fmt.Sprintf("unterminated string: no closing %c", q))
}

// escapeQuoted escapes text for quoting with q.
func escapeQuoted(s string, q byte) string {
	if strings.IndexByte(s, q) < 0 && strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == q || s[i] == '\\' {
			sb.WriteByte('\\')
		}
		sb.WriteByte(s[i])
	}
	return sb.String()
}

// shorten cuts s to a length fit for an error message.
func shorten(s string) string {
	const limit = 40
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	n := 0
	for i := range s {
		if n == limit {
			return s[:i] + "…"
		}
		n++
	}
	return s
}
