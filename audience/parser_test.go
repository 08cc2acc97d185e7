package audience

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// validCases are expressions and their canonical forms.
var validCases = []struct {
	in, want string
}{
	// The examples marketers write.
	{"role in (decision_maker, operator)", "role in (decision_maker, operator)"},
	{"account.tier = KA", "attributes.tier = KA"},
	{"locale = zh-CN", "locale = zh-CN"},
	{"tags has beta", "tags has beta"},
	{
		"role in (decision_maker, operator) and account.tier = KA and not tags has churned",
		"role in (decision_maker, operator) and attributes.tier = KA and not tags has churned",
	},
	{"(locale = zh-CN or locale = zh-TW) and email exists", "(locale = zh-CN or locale = zh-TW) and email exists"},

	// Everyone.
	{"", ""},
	{" \t\r\n ", ""},

	// Fields: built-in names and prefixes ignore case, attribute names do not.
	{"EMAIL exists", "email exists"},
	{"External_ID = c1", "external_id = c1"},
	{"name = x and phone = x and time_zone = x and account = x", "name = x and phone = x and time_zone = x and account = x"},
	{"Attributes.Tier = KA", "attributes.Tier = KA"},
	{"ACCOUNT.tier = KA", "attributes.tier = KA"},
	{"tier = KA", "attributes.tier = KA"},
	{"attributes.utm.source = google", "attributes.utm.source = google"},
	{"account.account.id = 7", "attributes.account.id = 7"},
	{"attributes.email = x", "attributes.email = x"},
	{"attributes.and = x", "attributes.and = x"},

	// Operators, keywords in any case, spacing.
	{"role!=operator", "role != operator"},
	{"role=operator", "role = operator"},
	{"role IN(a,b ,c)", "role in (a, b, c)"},
	{"role Not In (a)", "role not in (a)"},
	{"email EXISTS", "email exists"},
	{"email not exists", "email not exists"},
	{"email Starts_With li@", "email starts_with li@"},
	{"name contains 'Wei'", "name contains Wei"},
	{"tags in (a, b)", "tags in (a, b)"},
	{"tags not in (a)", "tags not in (a)"},
	{"tags exists", "tags exists"},
	{"tags not exists", "tags not exists"},

	// Precedence: not > and > or; redundant parentheses go, chains flatten.
	{"a = 1 or b = 2 and c = 3", "attributes.a = 1 or attributes.b = 2 and attributes.c = 3"},
	{"(a = 1 or b = 2) and c = 3", "(attributes.a = 1 or attributes.b = 2) and attributes.c = 3"},
	{"a = 1 and (b = 2 or c = 3)", "attributes.a = 1 and (attributes.b = 2 or attributes.c = 3)"},
	{"(a = 1 and b = 2) or c = 3", "attributes.a = 1 and attributes.b = 2 or attributes.c = 3"},
	{"((((a = 1))))", "attributes.a = 1"},
	{"a = 1 or (b = 2 or c = 3)", "attributes.a = 1 or attributes.b = 2 or attributes.c = 3"},
	{"(a = 1 and b = 2) and (c = 3 and d = 4)", "attributes.a = 1 and attributes.b = 2 and attributes.c = 3 and attributes.d = 4"},
	{"not a = 1 and b = 2", "not attributes.a = 1 and attributes.b = 2"},
	{"not (a = 1 and b = 2)", "not (attributes.a = 1 and attributes.b = 2)"},
	{"not (a = 1 or b = 2)", "not (attributes.a = 1 or attributes.b = 2)"},
	{"not (a = 1)", "not attributes.a = 1"},
	{"not not a = 1", "not not attributes.a = 1"},
	{"not a in (x)", "not attributes.a in (x)"},
	{"a not in (x)", "attributes.a not in (x)"},
	{"NOT tags HAS churned OR role = x", "not tags has churned or role = x"},

	// Quoting: names with double quotes, values with either; values are
	// written bare when they can be, else single-quoted.
	{`"plan type" = 'pro plan'`, `"attributes.plan type" = 'pro plan'`},
	{`"attributes.plan type" = "pro plan"`, `"attributes.plan type" = 'pro plan'`},
	{`"email" exists`, "email exists"},
	{`"and" = x`, "attributes.and = x"},
	{`"say \"hi\"" = x`, `"attributes.say \"hi\"" = x`},
	{`role = 'operator'`, "role = operator"},
	{`role = "operator"`, "role = operator"},
	{`role = 'and'`, "role = 'and'"},
	{`role = "NOT"`, "role = 'NOT'"},
	{`role = ''`, "role = ''"},
	{`name = 'it\'s'`, `name = 'it\'s'`},
	{`name = "it's"`, `name = 'it\'s'`},
	{`name = 'a\\b'`, `name = 'a\\b'`},
	{`name = 'say \"hi\"'`, `name = 'say "hi"'`},
	{`time_zone = 'Asia/Shanghai'`, `time_zone = 'Asia/Shanghai'`},
	{`name = '李伟'`, `name = '李伟'`},
	{"email = li@acme.cn", "email = li@acme.cn"},
	{"phone = +8613800000000", "phone = +8613800000000"},
	{"t = 10:30", "attributes.t = 10:30"},
	{"role in ('a b', c, 'in')", "role in ('a b', c, 'in')"},
}

func TestParseCanonical(t *testing.T) {
	for _, tc := range validCases {
		f, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got := f.String(); got != tc.want {
			t.Errorf("Parse(%q).String()\n got %q\nwant %q", tc.in, got, tc.want)
			continue
		}
		g, err := Parse(f.String())
		if err != nil {
			t.Errorf("Parse(%q) (canonical of %q): %v", f.String(), tc.in, err)
			continue
		}
		if g.String() != f.String() {
			t.Errorf("canonical form of %q is not stable: %q then %q", tc.in, f.String(), g.String())
		}
	}
}

// invalidCases are expressions that do not parse, with the column and a
// part of the message.
var invalidCases = []struct {
	in  string
	pos int
	msg string
}{
	{"role =", 7, `expected a value after "=", found end of expression`},
	{"role = and x = y", 8, `expected a value after "=", found keyword "and"`},
	{"role", 5, `expected an operator after role`},
	{"timezone", 9, `expected an operator after attributes.timezone`},
	{"role operator", 6, `expected an operator after role (=, !=, in, not in, has, exists, not exists, starts_with or contains), found "operator"`},
	{"role = decision maker", 17, `expected "and", "or" or end of expression, found "maker" (quote a value that contains spaces`},
	{"(role = a", 10, `expected ")" to close the "(" at column 1, found end of expression`},
	{"(role = a b", 11, `expected "and", "or" or ")", found "b"`},
	{"role = a)", 9, `unexpected ")": there is no "(" to close`},
	{"(", 2, `expected a field, "not" or "(", found end of expression`},
	{")", 1, `expected a field, "not" or "(", found ")"`},
	{"()", 2, `expected a field, "not" or "(", found ")"`},
	{"and = x", 1, `expected a field, "not" or "(", found keyword "and"`},
	{"role = a and", 13, `expected a field, "not" or "(", found end of expression`},
	{"role = a or or b = c", 13, `found keyword "or"`},
	{"not", 4, `expected a field, "not" or "(", found end of expression`},
	{"'role' = x", 1, `single quotes are for values; double-quote a name`},
	{`"" = x`, 1, `empty field name`},
	{"role not foo", 10, `expected "in" or "exists" after "not", found "foo"`},
	{"role in a", 9, `expected "(" after "in", found "a"`},
	{"role not in a", 13, `expected "(" after "not in", found "a"`},
	{"role in ()", 10, `expected a value in the list, found ")"`},
	{"role in (a,)", 12, `expected a value after ",", found ")"`},
	{"role in (a b)", 12, `expected "," or ")" in the list, found "b"`},
	{"role in (a", 11, `expected "," or ")" in the list, found end of expression`},
	{"role in (a, or)", 13, `found keyword "or" (quote it to use it as a value: 'or')`},
	{"tags = beta", 6, `tags is a list: use "tags has VALUE" or "tags in (...)", not "="`},
	{"tags != beta", 6, `tags is a list`},
	{"tags contains bet", 6, `tags is a list`},
	{"tags starts_with b", 6, `tags is a list`},
	{"role has x", 6, `"has" tests tags only: use "=" to compare role`},
	{"tier has x", 6, `"has" tests tags only: use "=" to compare attributes.tier`},
	{"attribute.tier = KA", 1, `unknown field "attribute.tier": attributes are written attributes.tier`},
	{"attrs.tier = KA", 1, `unknown field "attrs.tier"`},
	{"email.domain = x", 1, `field email has no parts`},
	{"utm.source = x", 1, `an attribute whose name contains a dot is written attributes.utm.source`},
	{"attributes = x", 1, `"attributes" needs a name: attributes.NAME`},
	{"attributes. = x", 1, `attribute name missing after "attributes."`},
	{`attributes."plan type" = x`, 1, `attribute name missing after "attributes."`},
	{"role ~ x", 6, `unexpected character '~': use starts_with or contains`},
	{"role == x", 6, `unexpected "==": use "=" to compare`},
	{"role ! x", 6, `unexpected "!": use "!=" to compare or "not" to negate`},
	{"role <> x", 6, `unexpected character '<'`},
	{"a = 1 && b = 2", 7, `unexpected character '&': use "and"`},
	{"a = 1 || b = 2", 7, `unexpected character '|': use "or"`},
	{"time_zone = Asia/Shanghai", 17, `unexpected character '/': quote values that contain it`},
	{"name = 李伟", 8, `unexpected character '李'`},
	{"name = '李伟' x", 13, `found "x"`},
	{"name = 'abc", 8, `unterminated string: no closing '`},
	{`name = "abc`, 8, `unterminated string: no closing "`},
	{`name = 'abc\`, 8, `unterminated string`},
	{`name = 'a\nb'`, 10, `unknown escape "\n"`},
	{"name = \xff", 8, `invalid UTF-8`},
	{"name = '李\xff'", 10, `invalid UTF-8`},
}

func TestParseErrors(t *testing.T) {
	for _, tc := range invalidCases {
		f, err := Parse(tc.in)
		if err == nil {
			t.Errorf("Parse(%q) = %q, want an error", tc.in, f.String())
			continue
		}
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q): error %T %v is not a *SyntaxError", tc.in, err, err)
			continue
		}
		if se.Pos != tc.pos || !strings.Contains(se.Msg, tc.msg) {
			t.Errorf("Parse(%q):\n got column %d: %s\nwant column %d: ...%s...", tc.in, se.Pos, se.Msg, tc.pos, tc.msg)
		}
		if want := fmt.Sprintf("audience filter: column %d: ", se.Pos); !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Parse(%q): Error() = %q, want the prefix %q", tc.in, err.Error(), want)
		}
	}
}

func TestLimits(t *testing.T) {
	long := "role = " + strings.Repeat("a", MaxLength-len("role = "))
	if _, err := Parse(long); err != nil {
		t.Errorf("an expression of exactly MaxLength bytes: %v", err)
	}
	wantErr(t, long+"a", MaxLength+1, "expression is too long: 4097 bytes, at most 4096")
	// "李" (3 bytes) straddles the limit: it is the first character that
	// does not fit.
	straddle := "name = '" + strings.Repeat("a", MaxLength-len("name = '")-1) + "李'"
	wantErr(t, straddle, MaxLength, "expression is too long: 4099 bytes")

	// The canonical form is what is stored, so it is held to the limit too:
	// "x" grows into "attributes.x".
	wantErr(t, "x = "+strings.Repeat("a", MaxLength-len("x = ")), 1, "its canonical form is 4107 bytes")

	// Parentheses and "not" nest MaxDepth deep together; the error is at
	// the token that goes one level deeper.
	for _, tc := range []struct {
		name, ok, over string
		pos            int
	}{
		{"parentheses", strings.Repeat("(", 32) + "a = 1" + strings.Repeat(")", 32),
			strings.Repeat("(", 33) + "a = 1" + strings.Repeat(")", 33), 33},
		{"not", strings.Repeat("not ", 32) + "a = 1",
			strings.Repeat("not ", 33) + "a = 1", 4*32 + 1},
		{"both", strings.Repeat("not (", 16) + "a = 1" + strings.Repeat(")", 16),
			strings.Repeat("not (", 16) + "not a = 1" + strings.Repeat(")", 16), 5*16 + 1},
	} {
		if _, err := Parse(tc.ok); err != nil {
			t.Errorf("%s, %d deep: %v", tc.name, MaxDepth, err)
		}
		wantErr(t, tc.over, tc.pos, "nested too deep: at most 32 levels")
	}
	// Depth is nesting, not count: many siblings are fine.
	if _, err := Parse(strings.TrimSuffix(strings.Repeat("not (a = 1) and ", 100), " and ")); err != nil {
		t.Errorf("100 sibling nots: %v", err)
	}

	// Distinct two-character values, so that the longest list still fits
	// in MaxLength; no i or o, so none is "in" or "or".
	list := func(n int) string {
		const digits = "0123456789abcdefghjklmnpqrstuvwxyz"
		const base = len(digits)
		items := make([]string, n)
		for i := range items {
			items[i] = string([]byte{digits[i/base%base], digits[i%base]})
		}
		return "role in (" + strings.Join(items, ",") + ")"
	}
	f, err := Parse(list(MaxListItems))
	if err != nil {
		t.Fatalf("a list of MaxListItems values: %v", err)
	}
	if got := strings.Count(f.String(), ","); got != MaxListItems-1 {
		t.Errorf("the canonical list has %d commas", got)
	}
	over := list(MaxListItems + 1)
	wantErr(t, over, len(over)-len("rs)")+1, "too many values in the list: at most 1000")
}

func wantErr(t *testing.T, expr string, pos int, msg string) {
	t.Helper()
	_, err := Parse(expr)
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Errorf("Parse(%.40q...): error %v, want a *SyntaxError", expr, err)
		return
	}
	if se.Pos != pos || !strings.Contains(se.Msg, msg) {
		t.Errorf("Parse(%.40q...):\n got column %d: %s\nwant column %d: ...%s...", expr, se.Pos, se.Msg, pos, msg)
	}
}

func TestErrorColumnsCountCharacters(t *testing.T) {
	// "李伟" is six bytes but two columns.
	wantErr(t, "name = '李伟' and", 16, "found end of expression")
	wantErr(t, "name = '李伟' ~", 13, "unexpected character '~'")
}

func TestErrorMessagesStayShort(t *testing.T) {
	_, err := Parse("role = a '" + strings.Repeat("x", 1000) + "'")
	if err == nil || len(err.Error()) > 200 {
		t.Fatalf("error is %d bytes: %v", len(err.Error()), err)
	}
}

func TestMustParse(t *testing.T) {
	if MustParse("role = a").String() != "role = a" {
		t.Fatal("MustParse")
	}
	defer func() {
		if _, ok := recover().(*SyntaxError); !ok {
			t.Fatal("MustParse of a bad expression does not panic with a *SyntaxError")
		}
	}()
	MustParse("role =")
}

func TestTextMarshaling(t *testing.T) {
	var f Filter
	if err := f.UnmarshalText([]byte("ACCOUNT.tier = KA")); err != nil {
		t.Fatal(err)
	}
	b, err := f.MarshalText()
	if err != nil || string(b) != "attributes.tier = KA" {
		t.Fatalf("MarshalText = %q, %v", b, err)
	}
	var se *SyntaxError
	if err := f.UnmarshalText([]byte("tier =")); !errors.As(err, &se) {
		t.Fatalf("UnmarshalText of a bad expression: %v", err)
	}
	if f.String() != "attributes.tier = KA" {
		t.Fatalf("a failed UnmarshalText changed the filter to %q", f.String())
	}
}
