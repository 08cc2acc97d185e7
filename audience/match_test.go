package audience

import (
	"slices"
	"strings"
	"testing"

	"github.com/npsgate/npsgate/store"
)

// contacts is the cast the Match tests run over.
var contacts = []*store.Contact{
	{
		ExternalID: "c1", Name: "Li Wei", Email: "li@acme.cn", Phone: "+8613800000001",
		Locale: "zh-CN", TimeZone: "Asia/Shanghai", Account: "acme", Role: "decision_maker",
		Tags: []string{"beta"}, Attributes: map[string]string{"tier": "KA", "plan type": "pro plan", "utm.source": "google"},
	},
	{
		ExternalID: "c2", Name: "Chen Jing", Locale: "zh-tw", Account: "acme", Role: "operator",
		Tags: []string{"churned", "beta"}, Attributes: map[string]string{"tier": "KA"},
	},
	{
		ExternalID: "c3", Name: "Bob Smith", Email: "Bob@Globex.com", Locale: "en-US", TimeZone: "America/New_York",
		Account: "globex", Role: "operator", Attributes: map[string]string{"tier": "SMB", "Tier": "x"},
	},
	{ExternalID: "c4", Email: "x@example.com", Locale: "ZH-CN", Role: "user", Tags: []string{""}},
	{ExternalID: "c5"},
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want string // matching external IDs, space-separated
	}{
		{"", "c1 c2 c3 c4 c5"},
		{"role in (decision_maker, operator)", "c1 c2 c3"},
		{"account.tier = KA", "c1 c2"},
		{"attributes.tier = KA", "c1 c2"},
		{"tier = KA", "c1 c2"},
		{"Tier = x", "c3"},
		{"tier = ka", ""},
		{"locale = zh-CN", "c1 c4"},
		{"locale = ZH-cn", "c1 c4"},
		{"locale != zh-cn", "c2 c3 c5"},
		{"locale in (zh-cn, ZH-TW)", "c1 c2 c4"},
		{"locale not in (zh-cn, ZH-TW)", "c3 c5"},
		{"locale = zh", ""},
		{"locale starts_with ZH", "c1 c2 c4"},
		{"tags has beta", "c1 c2"},
		{"tags has BETA", ""},
		{"role in (decision_maker, operator) and account.tier = KA and not tags has churned", "c1"},
		{"(locale = zh-CN or locale = zh-TW) and email exists", "c1 c4"},
		{"role = Operator", ""},
		{"role = operator", "c2 c3"},
		{"role != operator", "c1 c4 c5"},
		{"role not in (operator, user)", "c1 c5"},
		{"email starts_with bob", "c3"},
		{"email contains GLOBEX.COM", "c3"},
		{"email contains ''", "c1 c2 c3 c4 c5"},
		{"name contains wei", "c1"},
		{"name starts_with 'li w'", "c1"},
		{"tier != KA", "c3 c4 c5"},
		{"tier not exists", "c4 c5"},
		{"tier exists", "c1 c2 c3"},
		{"tier = ''", "c4 c5"},
		{"tags exists", "c1 c2"},
		{"tags not exists", "c3 c4 c5"},
		{"tags in (churned, vip)", "c2"},
		{"tags not in (churned)", "c1 c3 c4 c5"},
		{"tags in ('')", "c4"},
		{"account exists", "c1 c2 c3"},
		{"account = acme", "c1 c2"},
		{"external_id in (c1, c5)", "c1 c5"},
		{"phone starts_with '+86'", "c1"},
		{"time_zone = 'Asia/Shanghai'", "c1"},
		{`"plan type" = 'pro plan'`, "c1"},
		{"attributes.utm.source = google", "c1"},
		{"not role = operator", "c1 c4 c5"},
		{"not not role = operator", "c2 c3"},
		{"missing not exists", "c1 c2 c3 c4 c5"},
	} {
		f, err := Parse(tc.expr)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.expr, err)
			continue
		}
		if got := matching(f); got != tc.want {
			t.Errorf("%q matches [%s], want [%s]", tc.expr, got, tc.want)
		}
	}
}

func matching(f *Filter) string {
	var ids []string
	for _, c := range contacts {
		if f.Match(c) {
			ids = append(ids, c.ExternalID)
		}
	}
	return strings.Join(ids, " ")
}

func TestPrecedence(t *testing.T) {
	// Each row holds for the same contacts whichever way it is written.
	for _, tc := range []struct{ expr, same string }{
		// and binds tighter than or.
		{"role = user or role = operator and tier = SMB", "role = user or (role = operator and tier = SMB)"},
		{"role = operator and tier = SMB or role = user", "(role = operator and tier = SMB) or role = user"},
		// not binds tighter than and and or.
		{"not tags has churned and role = operator", "(not tags has churned) and role = operator"},
		{"not role = operator or tier = KA", "(not role = operator) or tier = KA"},
		// a not-in comparison is the negation of in.
		{"role not in (operator)", "not role in (operator)"},
		{"tags not exists", "not tags exists"},
	} {
		a, b := MustParse(tc.expr), MustParse(tc.same)
		if matching(a) != matching(b) {
			t.Errorf("%q matches [%s] but %q matches [%s]", tc.expr, matching(a), tc.same, matching(b))
		}
	}
	// And the grouping really matters for these contacts.
	loose := MustParse("(role = user or role = operator) and tier = SMB")
	tight := MustParse("role = user or role = operator and tier = SMB")
	if matching(loose) == matching(tight) {
		t.Errorf("grouping does not matter: both match [%s]", matching(loose))
	}
}

func TestMatchEdges(t *testing.T) {
	var nilFilter *Filter
	if !nilFilter.Match(contacts[0]) || nilFilter.String() != "" {
		t.Error("a nil *Filter is everyone")
	}
	var zero Filter
	if !zero.Match(contacts[0]) {
		t.Error("the zero Filter is everyone")
	}
	for _, f := range []*Filter{nilFilter, &zero, MustParse(""), MustParse("role exists")} {
		if f.Match(nil) {
			t.Errorf("%q matches a nil contact", f.String())
		}
	}
}

func TestMatchLargeList(t *testing.T) {
	items := make([]string, 0, 600)
	for i := range 600 {
		items = append(items, "c"+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	items = append(items, "c3")
	f := MustParse("external_id in (" + strings.Join(items, ",") + ")")
	if got := matching(f); got != "c3" {
		t.Fatalf("matches [%s]", got)
	}
	if !slices.Contains(f.root.(*cmpNode).values, "c3") {
		t.Fatal("the list keeps its values for String")
	}
}

func BenchmarkMatch(b *testing.B) {
	f := MustParse("role in (decision_maker, operator) and account.tier = KA and not tags has churned and (locale = zh-CN or locale = zh-TW)")
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range contacts {
			f.Match(c)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	const expr = "role in (decision_maker, operator) and account.tier = KA and not tags has churned and (locale = zh-CN or locale = zh-TW)"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(expr); err != nil {
			b.Fatal(err)
		}
	}
}
