package audience

import (
	"strings"

	"github.com/npsgate/npsgate/store"
)

// Filter is a compiled audience expression. The zero value, a nil *Filter
// and the Filter of "" all match every contact. A Filter is immutable and
// safe for concurrent use.
type Filter struct {
	root node   // nil: everyone
	text string // canonical form
}

// Match reports whether the contact is in the audience. A nil contact is
// never in it.
func (f *Filter) Match(c *store.Contact) bool {
	if c == nil {
		return false
	}
	if f == nil || f.root == nil {
		return true
	}
	return f.root.match(c)
}

// String returns the canonical form of the filter, which Parse reads back
// to an equal filter; "" for everyone.
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	return f.text
}

// MarshalText returns the canonical form, so that a Filter can sit in JSON
// and YAML documents as a string.
func (f *Filter) MarshalText() ([]byte, error) {
	return []byte(f.String()), nil
}

// UnmarshalText parses text into f; the error is a *SyntaxError.
func (f *Filter) UnmarshalText(text []byte) error {
	g, err := Parse(string(text))
	if err != nil {
		return err
	}
	*f = *g
	return nil
}

// Operator precedence, for writing the canonical form.
const (
	precOr = iota + 1
	precAnd
	precUnary
)

// node is a compiled expression.
type node interface {
	match(c *store.Contact) bool
	prec() int
	write(sb *strings.Builder)
}

// writeOperand writes n, in parentheses when it binds looser than prec.
func writeOperand(sb *strings.Builder, n node, prec int) {
	if n.prec() < prec {
		sb.WriteByte('(')
		n.write(sb)
		sb.WriteByte(')')
		return
	}
	n.write(sb)
}

// orNode holds when any operand holds; it has two or more operands, none of
// them an orNode.
type orNode []node

func (n orNode) match(c *store.Contact) bool {
	for _, x := range n {
		if x.match(c) {
			return true
		}
	}
	return false
}

func (orNode) prec() int { return precOr }

func (n orNode) write(sb *strings.Builder) {
	for i, x := range n {
		if i > 0 {
			sb.WriteString(" or ")
		}
		writeOperand(sb, x, precAnd)
	}
}

// andNode holds when every operand holds; it has two or more operands, none
// of them an andNode.
type andNode []node

func (n andNode) match(c *store.Contact) bool {
	for _, x := range n {
		if !x.match(c) {
			return false
		}
	}
	return true
}

func (andNode) prec() int { return precAnd }

func (n andNode) write(sb *strings.Builder) {
	for i, x := range n {
		if i > 0 {
			sb.WriteString(" and ")
		}
		writeOperand(sb, x, precUnary)
	}
}

// notNode negates its operand.
type notNode struct{ x node }

func (n notNode) match(c *store.Contact) bool { return !n.x.match(c) }

func (notNode) prec() int { return precUnary }

func (n notNode) write(sb *strings.Builder) {
	sb.WriteString("not ")
	writeOperand(sb, n.x, precUnary)
}

// fieldKind says which part of a contact a field reads.
type fieldKind int

const (
	fieldAttribute fieldKind = iota
	fieldExternalID
	fieldName
	fieldEmail
	fieldPhone
	fieldLocale
	fieldTimeZone
	fieldAccount
	fieldRole
	fieldTags
)

// fieldNames are the canonical names of the contact fields.
var fieldNames = [...]string{
	fieldExternalID: "external_id",
	fieldName:       "name",
	fieldEmail:      "email",
	fieldPhone:      "phone",
	fieldLocale:     "locale",
	fieldTimeZone:   "time_zone",
	fieldAccount:    "account",
	fieldRole:       "role",
	fieldTags:       "tags",
}

// builtinFields maps the lower-case name of each contact field to its kind.
var builtinFields = map[string]fieldKind{
	"external_id": fieldExternalID,
	"name":        fieldName,
	"email":       fieldEmail,
	"phone":       fieldPhone,
	"locale":      fieldLocale,
	"time_zone":   fieldTimeZone,
	"account":     fieldAccount,
	"role":        fieldRole,
	"tags":        fieldTags,
}

// field is what a comparison reads: a contact field or an attribute.
type field struct {
	kind fieldKind
	attr string // the attribute's name, for fieldAttribute
}

// value reads a string field of c; a missing attribute is "".
func (f field) value(c *store.Contact) string {
	switch f.kind {
	case fieldExternalID:
		return c.ExternalID
	case fieldName:
		return c.Name
	case fieldEmail:
		return c.Email
	case fieldPhone:
		return c.Phone
	case fieldLocale:
		return c.Locale
	case fieldTimeZone:
		return c.TimeZone
	case fieldAccount:
		return c.Account
	case fieldRole:
		return c.Role
	}
	return c.Attributes[f.attr]
}

// String is the field's canonical name.
func (f field) String() string {
	if f.kind != fieldAttribute {
		return fieldNames[f.kind]
	}
	name := "attributes." + f.attr
	if isBareWord(name) {
		return name
	}
	return `"` + escapeQuoted(name, '"') + `"`
}

// op is a comparison operator.
type op int

const (
	opEq op = iota
	opNeq
	opIn
	opNotIn
	opHas
	opExists
	opNotExists
	opStartsWith
	opContains
)

var opNames = [...]string{
	opEq:         "=",
	opNeq:        "!=",
	opIn:         "in",
	opNotIn:      "not in",
	opHas:        "has",
	opExists:     "exists",
	opNotExists:  "not exists",
	opStartsWith: "starts_with",
	opContains:   "contains",
}

func (o op) String() string { return opNames[o] }

// cmpNode is one comparison.
type cmpNode struct {
	field  field
	op     op
	values []string            // as written: one for =, !=, has, starts_with, contains; the list for in
	set    map[string]struct{} // folded values, for in and not in
	want   string              // the folded value, for =, != and has; the lower-case one for starts_with and contains
}

// newCmp compiles a comparison; values were checked by the parser.
func newCmp(f field, o op, values []string) *cmpNode {
	n := &cmpNode{field: f, op: o, values: values}
	switch o {
	case opEq, opNeq, opHas:
		n.want = n.fold(values[0])
	case opStartsWith, opContains:
		n.want = strings.ToLower(values[0])
	case opIn, opNotIn:
		n.set = make(map[string]struct{}, len(values))
		for _, v := range values {
			n.set[n.fold(v)] = struct{}{}
		}
	}
	return n
}

// fold maps a value to the form it is compared in: locales ignore case,
// everything else is exact.
func (n *cmpNode) fold(s string) string {
	if n.field.kind == fieldLocale {
		return strings.ToLower(s)
	}
	return s
}

func (n *cmpNode) match(c *store.Contact) bool {
	if n.field.kind == fieldTags {
		return n.matchTags(c.Tags)
	}
	v := n.field.value(c)
	switch n.op {
	case opEq:
		return n.fold(v) == n.want
	case opNeq:
		return n.fold(v) != n.want
	case opIn, opNotIn:
		_, ok := n.set[n.fold(v)]
		return ok == (n.op == opIn)
	case opExists:
		return v != ""
	case opNotExists:
		return v == ""
	case opStartsWith:
		return strings.HasPrefix(strings.ToLower(v), n.want)
	case opContains:
		return strings.Contains(strings.ToLower(v), n.want)
	}
	return false
}

// matchTags applies has, in, not in, exists and not exists to a tag list.
func (n *cmpNode) matchTags(tags []string) bool {
	switch n.op {
	case opHas:
		for _, t := range tags {
			if t == n.want {
				return true
			}
		}
		return false
	case opIn, opNotIn:
		found := false
		for _, t := range tags {
			if _, ok := n.set[t]; ok {
				found = true
				break
			}
		}
		return found == (n.op == opIn)
	case opExists, opNotExists:
		found := false
		for _, t := range tags {
			if t != "" {
				found = true
				break
			}
		}
		return found == (n.op == opExists)
	}
	return false
}

func (*cmpNode) prec() int { return precUnary }

func (n *cmpNode) write(sb *strings.Builder) {
	sb.WriteString(n.field.String())
	sb.WriteByte(' ')
	sb.WriteString(n.op.String())
	switch n.op {
	case opExists, opNotExists:
	case opIn, opNotIn:
		sb.WriteString(" (")
		for i, v := range n.values {
			if i > 0 {
				sb.WriteString(", ")
			}
			writeValue(sb, v)
		}
		sb.WriteByte(')')
	default:
		sb.WriteByte(' ')
		writeValue(sb, n.values[0])
	}
}

// writeValue writes v bare when it can be, else single-quoted.
func writeValue(sb *strings.Builder, v string) {
	if isBareWord(v) && !isKeyword(v) {
		sb.WriteString(v)
		return
	}
	sb.WriteByte('\'')
	sb.WriteString(escapeQuoted(v, '\''))
	sb.WriteByte('\'')
}
