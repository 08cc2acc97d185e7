package audience

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits on an expression. Exceeding one is a *SyntaxError.
const (
	// MaxLength is the most bytes an expression, and its canonical form,
	// may have.
	MaxLength = 4096
	// MaxDepth is how deep parentheses and "not" may nest, together.
	MaxDepth = 32
	// MaxListItems is the most values an in-list may hold.
	MaxListItems = 1000
)

// SyntaxError is why an expression does not parse.
type SyntaxError struct {
	// Pos is the 1-based column, in characters, where the problem is.
	Pos int
	// Msg says what was expected and what was found there.
	Msg string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("audience filter: column %d: %s", e.Pos, e.Msg)
}

func errAt(col int, msg string) *SyntaxError {
	return &SyntaxError{Pos: col, Msg: msg}
}

// Parse compiles an audience expression; "" (or only white space) is
// everyone. The grammar is in the package documentation. Every error is a
// *SyntaxError.
func Parse(expr string) (*Filter, error) {
	if len(expr) > MaxLength {
		// The column of the first character that does not fit.
		end := MaxLength
		for end > 0 && !utf8.RuneStart(expr[end]) {
			end--
		}
		return nil, errAt(utf8.RuneCountInString(expr[:end])+1,
			fmt.Sprintf("expression is too long: %d bytes, at most %d", len(expr), MaxLength))
	}
	if !utf8.ValidString(expr) {
		col := 1
		for i, r := range expr {
			if r == utf8.RuneError {
				if _, size := utf8.DecodeRuneInString(expr[i:]); size == 1 {
					break
				}
			}
			col++
		}
		return nil, errAt(col, "invalid UTF-8")
	}
	p := &parser{lx: lexer{src: expr, col: 1}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tokEOF {
		return &Filter{}, nil
	}
	root, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	switch p.tok.kind {
	case tokEOF:
	case tokRParen:
		return nil, errAt(p.tok.col, `unexpected ")": there is no "(" to close`)
	default:
		return nil, p.expectedAfterOperand("end of expression")
	}
	var sb strings.Builder
	root.write(&sb)
	if sb.Len() > MaxLength {
		return nil, errAt(1, fmt.Sprintf("expression is too long: its canonical form is %d bytes, at most %d", sb.Len(), MaxLength))
	}
	return &Filter{root: root, text: sb.String()}, nil
}

// MustParse is Parse for expressions known to be valid, such as constants
// in code and tests; it panics on an error.
func MustParse(expr string) *Filter {
	f, err := Parse(expr)
	if err != nil {
		panic(err)
	}
	return f
}

// parser is a recursive-descent parser with one token of lookahead.
type parser struct {
	lx    lexer
	tok   token // the current token
	depth int   // parentheses and "not" around the current token
}

func (p *parser) advance() error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

// expected is the error for the current token when want was expected.
func (p *parser) expected(want string) *SyntaxError {
	return errAt(p.tok.col, fmt.Sprintf("expected %s, found %s", want, p.tok.describe()))
}

// expectedAfterOperand is the error for a token that cannot follow a
// complete operand; end names what else may come ("end of expression" or
// `")"`).
func (p *parser) expectedAfterOperand(end string) *SyntaxError {
	err := p.expected(`"and", "or" or ` + end)
	if p.tok.kind == tokWord && !isKeyword(p.tok.text) || p.tok.kind == tokSQuoted || p.tok.kind == tokDQuoted {
		err.Msg += ` (quote a value that contains spaces: 'two words')`
	}
	return err
}

// enter counts one more level of nesting at col.
func (p *parser) enter(col int) error {
	p.depth++
	if p.depth > MaxDepth {
		return errAt(col, fmt.Sprintf("nested too deep: at most %d levels of parentheses and \"not\"", MaxDepth))
	}
	return nil
}

// parseOr: and_expr { "or" and_expr }.
func (p *parser) parseOr() (node, error) {
	x, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	if !p.tok.is("or") {
		return x, nil
	}
	var items orNode
	items = appendFlat(items, x)
	for p.tok.is("or") {
		if err := p.advance(); err != nil {
			return nil, err
		}
		y, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		items = appendFlat(items, y)
	}
	return items, nil
}

// parseAnd: unary { "and" unary }.
func (p *parser) parseAnd() (node, error) {
	x, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	if !p.tok.is("and") {
		return x, nil
	}
	var items andNode
	items = appendFlat(items, x)
	for p.tok.is("and") {
		if err := p.advance(); err != nil {
			return nil, err
		}
		y, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		items = appendFlat(items, y)
	}
	return items, nil
}

// appendFlat appends x to a chain of the same kind, splicing in x's own
// operands when x is that kind too ("(a or b) or c" is "a or b or c").
func appendFlat[T ~[]node](chain T, x node) T {
	if same, ok := x.(T); ok {
		return append(chain, same...)
	}
	return append(chain, x)
}

// parseUnary: "not" unary | "(" expr ")" | comparison.
func (p *parser) parseUnary() (node, error) {
	switch {
	case p.tok.is("not"):
		if err := p.enter(p.tok.col); err != nil {
			return nil, err
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		p.depth--
		return notNode{x}, nil
	case p.tok.kind == tokLParen:
		open := p.tok.col
		if err := p.enter(open); err != nil {
			return nil, err
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		x, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		switch p.tok.kind {
		case tokRParen:
		case tokEOF:
			return nil, p.expected(fmt.Sprintf(`")" to close the "(" at column %d`, open))
		default:
			return nil, p.expectedAfterOperand(`")"`)
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		p.depth--
		return x, nil
	}
	return p.parseComparison()
}

// parseComparison: field operator [value | list].
func (p *parser) parseComparison() (node, error) {
	f, err := p.parseField()
	if err != nil {
		return nil, err
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	opTok := p.tok
	var o op
	switch {
	case p.tok.kind == tokEq:
		o = opEq
	case p.tok.kind == tokNeq:
		o = opNeq
	case p.tok.is("in"):
		o = opIn
	case p.tok.is("has"):
		o = opHas
	case p.tok.is("exists"):
		o = opExists
	case p.tok.is("starts_with"):
		o = opStartsWith
	case p.tok.is("contains"):
		o = opContains
	case p.tok.is("not"):
		if err := p.advance(); err != nil {
			return nil, err
		}
		switch {
		case p.tok.is("in"):
			o = opNotIn
		case p.tok.is("exists"):
			o = opNotExists
		default:
			return nil, p.expected(`"in" or "exists" after "not"`)
		}
	default:
		return nil, p.expected(fmt.Sprintf("an operator after %s (=, !=, in, not in, has, exists, not exists, starts_with or contains)", f))
	}
	if err := checkOperator(f, o, opTok.col); err != nil {
		return nil, err
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	var values []string
	switch o {
	case opExists, opNotExists:
	case opIn, opNotIn:
		if values, err = p.parseList(o); err != nil {
			return nil, err
		}
	default:
		v, err := p.parseValue(fmt.Sprintf("after %q", o.String()))
		if err != nil {
			return nil, err
		}
		values = []string{v}
	}
	return newCmp(f, o, values), nil
}

// checkOperator rejects an operator the field does not take.
func checkOperator(f field, o op, col int) error {
	switch {
	case f.kind == fieldTags && (o == opEq || o == opNeq || o == opStartsWith || o == opContains):
		return errAt(col, fmt.Sprintf(`tags is a list: use "tags has VALUE" or "tags in (...)", not %q`, o.String()))
	case f.kind != fieldTags && o == opHas:
		return errAt(col, fmt.Sprintf(`"has" tests tags only: use "=" to compare %s`, f.String()))
	}
	return nil
}

// parseField reads the current token as a field name.
func (p *parser) parseField() (field, error) {
	t := p.tok
	switch t.kind {
	case tokWord:
		if isKeyword(t.text) {
			return field{}, p.expected(`a field, "not" or "("`)
		}
	case tokDQuoted:
	case tokSQuoted:
		return field{}, errAt(t.col, "expected a field, found "+t.describe()+`: single quotes are for values; double-quote a name ("plan type")`)
	default:
		return field{}, p.expected(`a field, "not" or "("`)
	}
	f, msg := resolveField(t.text)
	if msg != "" {
		return field{}, errAt(t.col, msg)
	}
	return f, nil
}

// resolveField maps a written name to a field, or explains why it cannot.
func resolveField(name string) (field, string) {
	if name == "" {
		return field{}, "empty field name"
	}
	if k, ok := builtinFields[strings.ToLower(name)]; ok {
		return field{kind: k}, ""
	}
	dot := strings.IndexByte(name, '.')
	if dot < 0 {
		if strings.EqualFold(name, "attributes") {
			return field{}, `"attributes" needs a name: attributes.NAME`
		}
		return field{kind: fieldAttribute, attr: name}, ""
	}
	prefix, rest := strings.ToLower(name[:dot]), name[dot+1:]
	switch prefix {
	case "attributes", "account":
		if rest == "" {
			return field{}, fmt.Sprintf("attribute name missing after %q", name)
		}
		return field{kind: fieldAttribute, attr: rest}, ""
	case "attribute", "attr", "attrs":
		return field{}, fmt.Sprintf("unknown field %q: attributes are written attributes.%s", shorten(name), shorten(rest))
	}
	if _, ok := builtinFields[prefix]; ok {
		return field{}, fmt.Sprintf("field %s has no parts: %q is not a field", prefix, shorten(name))
	}
	return field{}, fmt.Sprintf("unknown field %q: an attribute whose name contains a dot is written attributes.%s", shorten(name), shorten(name))
}

// parseValue reads the current token as a value; where says where the value
// was wanted, for the error.
func (p *parser) parseValue(where string) (string, error) {
	t := p.tok
	switch t.kind {
	case tokWord:
		if isKeyword(t.text) {
			err := p.expected("a value " + where)
			err.Msg += fmt.Sprintf(" (quote it to use it as a value: '%s')", t.text)
			return "", err
		}
	case tokSQuoted, tokDQuoted:
	default:
		return "", p.expected("a value " + where)
	}
	if err := p.advance(); err != nil {
		return "", err
	}
	return t.text, nil
}

// parseList: "(" value { "," value } ")".
func (p *parser) parseList(o op) ([]string, error) {
	if p.tok.kind != tokLParen {
		return nil, p.expected(fmt.Sprintf(`"(" after %q`, o.String()))
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	var values []string
	for {
		if len(values) == MaxListItems {
			return nil, errAt(p.tok.col, fmt.Sprintf("too many values in the list: at most %d", MaxListItems))
		}
		where := "in the list"
		if len(values) > 0 {
			where = `after ","`
		}
		v, err := p.parseValue(where)
		if err != nil {
			return nil, err
		}
		values = append(values, v)
		switch p.tok.kind {
		case tokComma:
			if err := p.advance(); err != nil {
				return nil, err
			}
		case tokRParen:
			if err := p.advance(); err != nil {
				return nil, err
			}
			return values, nil
		default:
			return nil, p.expected(`"," or ")" in the list`)
		}
	}
}
