package templates

import (
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"strings"
	texttemplate "text/template"
	"text/template/parse"
)

// compiled is one parsed part. text/template and html/template templates
// are both safe to execute concurrently, so one compiled value serves every
// send that uses its source.
type compiled struct {
	name string // the part; errors from the template carry it
	exec interface {
		Execute(io.Writer, any) error
	}
}

// maxOutput bounds one rendered part. It is far above any real message
// (Gmail clips HTML at 102 KB) and stops a template that prints in a loop
// from holding a worker's memory.
const maxOutput = 256 << 10

var errTooLarge = errors.New("output too large")

// compile parses a part: HTML with html/template so that escaping follows
// the context (attribute, URL, text), everything else with text/template.
// missingkey=error makes a misspelt map key fail instead of printing
// "<no value>"; misspelt fields of Data fail either way.
func compile(part, src string) (*compiled, *Error) {
	c := &compiled{name: part}
	trees := make(map[string]*parse.Tree)
	if part == PartHTML {
		t, err := htmltemplate.New(part).Option("missingkey=error").Parse(src)
		if err != nil {
			return nil, errorAt(part, part, err)
		}
		for _, u := range t.Templates() {
			if u.Tree != nil {
				trees[u.Name()] = u.Tree
			}
		}
		c.exec = t
	} else {
		t, err := texttemplate.New(part).Option("missingkey=error").Parse(src)
		if err != nil {
			return nil, errorAt(part, part, err)
		}
		for _, u := range t.Templates() {
			if u.Tree != nil {
				trees[u.Name()] = u.Tree
			}
		}
		c.exec = t
	}
	if err := checkCost(trees, part); err != nil {
		err.Part = part
		return nil, err
	}
	return c, nil
}

// render executes the part and applies the rules for its kind of output.
func (c *compiled) render(part string, d *Data) (string, *Error) {
	var b strings.Builder
	if err := c.exec.Execute(&limitWriter{w: &b, n: maxOutput}, *d); err != nil {
		if errors.Is(err, errTooLarge) {
			return "", &Error{Part: part, Msg: fmt.Sprintf("output is larger than %d KiB", maxOutput>>10), err: err}
		}
		return "", errorAt(part, c.name, err)
	}
	out := b.String()
	switch part {
	case PartSubject:
		// Surrounding whitespace is the template file's final newline or
		// indentation, never meant; a line break inside would let data
		// (a contact's name) inject email headers.
		out = strings.TrimSpace(out)
		if strings.ContainsAny(out, "\r\n") {
			return "", &Error{Part: part, Msg: "subject must be one line, but the rendered subject contains a line break"}
		}
	case PartText:
		// SMS counts every character; email and chat do not need the
		// template's leading or trailing blank lines either.
		out = strings.TrimSpace(out)
	}
	return out, nil
}

type limitWriter struct {
	w io.Writer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if len(p) > l.n {
		return 0, errTooLarge
	}
	l.n -= len(p)
	return l.w.Write(p)
}

// checkSource is the whole check an override gets when it is saved (and
// each default when the package starts): it must parse and must execute
// against sample data of every kind, with and without the optional fields,
// since a branch like {{if .ContactName}} hides its mistakes from one
// sample.
func checkSource(channel, locale, part, src string) (*compiled, *Error) {
	fail := func(e *Error) (*compiled, *Error) {
		e.Channel, e.Locale, e.Part = channel, locale, part
		return nil, e
	}
	if strings.TrimSpace(src) == "" {
		return fail(&Error{Msg: "template is empty; remove the part to use the default"})
	}
	c, err := compile(part, src)
	if err != nil {
		return fail(err)
	}
	for _, kind := range []string{"nps", "csat", "ces"} {
		full := Sample(kind, locale)
		bare := full
		bare.ContactName, bare.UnsubscribeURL = "", ""
		for _, d := range []*Data{&full, &bare} {
			if _, err := c.render(part, d); err != nil {
				return fail(err)
			}
		}
	}
	return c, nil
}

// Execution cost limits. A template is code an account admin saves through
// the API and every worker runs, so it must not be able to spin: nested
// ranges and {{template}} calls multiply, and text/template can range over
// an integer ({{range 1000000000}}) with no output for the size limit to
// catch. The estimate counts nodes executed, taking every range as
// loopFactor iterations (nps has 11 scores); real templates cost a few
// hundred.
const (
	maxCost    = 100_000
	loopFactor = 11
)

type costChecker struct {
	root   string
	trees  map[string]*parse.Tree
	memo   map[string]int
	active map[string]bool
}

func checkCost(trees map[string]*parse.Tree, root string) *Error {
	k := &costChecker{root: root, trees: trees, memo: map[string]int{}, active: map[string]bool{}}
	// Every tree, not only the root: a define that is never called costs
	// nothing now but shows the admin a mistake before it matters.
	for name := range trees {
		if _, err := k.tree(name); err != nil {
			return err
		}
	}
	return nil
}

func (k *costChecker) tree(name string) (int, *Error) {
	if c, ok := k.memo[name]; ok {
		return c, nil
	}
	t := k.trees[name]
	if t == nil || t.Root == nil {
		return 1, nil // an undefined template fails at execution, with its line
	}
	if k.active[name] {
		return 0, nil // reported by the caller that closed the cycle
	}
	k.active[name] = true
	c, err := k.node(t, t.Root)
	k.active[name] = false
	if err != nil {
		return 0, err
	}
	k.memo[name] = c
	return c, nil
}

func (k *costChecker) node(t *parse.Tree, n parse.Node) (int, *Error) {
	// sum adds costs, stopping as soon as the budget is spent so that the
	// numbers never grow large enough to overflow.
	sum := func(cs ...int) (int, *Error) {
		total := 0
		for _, c := range cs {
			total += c
			if total > maxCost {
				return 0, k.errAt(t, n, "template does too much work (loops nested too deep, or too many {{template}} calls)")
			}
		}
		return total, nil
	}
	list := func(l *parse.ListNode) (int, *Error) {
		if l == nil {
			return 0, nil
		}
		return k.node(t, l)
	}
	branch := func(b *parse.BranchNode, times int) (int, *Error) {
		body, err := list(b.List)
		if err != nil {
			return 0, err
		}
		els, err := list(b.ElseList)
		if err != nil {
			return 0, err
		}
		if body > maxCost/times {
			return sum(maxCost + 1)
		}
		return sum(1, body*times, els)
	}
	switch n := n.(type) {
	case *parse.ListNode:
		total := 0
		for _, m := range n.Nodes {
			c, err := k.node(t, m)
			if err != nil {
				return 0, err
			}
			if total, err = sum(total, c); err != nil {
				return 0, err
			}
		}
		return total, nil
	case *parse.IfNode:
		return branch(&n.BranchNode, 1)
	case *parse.WithNode:
		return branch(&n.BranchNode, 1)
	case *parse.RangeNode:
		if !boundedRange(n.Pipe) {
			return 0, k.errAt(t, n, "range only over a field such as .Scores or $.Scores")
		}
		return branch(&n.BranchNode, loopFactor)
	case *parse.TemplateNode:
		if k.active[n.Name] {
			return 0, k.errAt(t, n, fmt.Sprintf("template %q calls itself", n.Name))
		}
		c, err := k.tree(n.Name)
		if err != nil {
			return 0, err
		}
		return sum(1, c)
	}
	return 1, nil
}

// boundedRange accepts only ranges over data: the only sequences Data has
// are its Scores, and the only integers are scores, so such a range is as
// long as the caller's data. Literals and bare variables could be any
// integer.
func boundedRange(p *parse.PipeNode) bool {
	if p == nil || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return false
	}
	switch a := p.Cmds[0].Args[0].(type) {
	case *parse.FieldNode:
		return true
	case *parse.VariableNode:
		return len(a.Ident) > 1
	}
	return false
}

func (k *costChecker) errAt(t *parse.Tree, n parse.Node, msg string) *Error {
	loc, _ := t.ErrorContext(n)
	line, _ := splitLocation("template: "+loc+": x", k.root)
	return &Error{Line: line, Msg: msg}
}
