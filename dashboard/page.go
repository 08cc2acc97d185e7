package dashboard

import (
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	timezone "github.com/npsgate/npsgate/internal/zone"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

// page is what every page's template gets: the language, the navigation,
// the chosen survey and range, and the session's CSRF token.
type page struct {
	Lang    string
	Name    string // the active navigation entry
	Prefix  string
	Path    string // the request's path and query, for the language switch
	CSRF    string
	Surveys []*store.Survey
	Survey  *store.Survey
	Range   string
	Ranges  []option
	// From is where Range starts (zero for all time).
	From time.Time
	// Loc is the zone every time on the page is shown in and the trend
	// is cut in: the tz parameter, else dashboard.time_zone.
	Loc *time.Location
	// TZ is the tz parameter as given (empty: the configured zone); the
	// page's links and forms carry it, like the survey and range.
	TZ string
	// Chips are the page's active filters, each shown with a link that
	// clears it.
	Chips []filterChip
	// keep are the page's own query parameters (tabs, filters, search):
	// its links to itself and its survey form carry them along, so that
	// moving around a filtered page keeps it filtered.
	keep url.Values
}

// filterChip is an active filter: the query parameter and its label.
type filterChip struct{ Key, Value, Label string }

// Keep makes the page's links to itself carry key=value (nothing for an
// empty value).
func (p *page) Keep(key, value string) {
	if value == "" {
		return
	}
	if p.keep == nil {
		p.keep = url.Values{}
	}
	p.keep.Set(key, value)
}

// Filter keeps key=value and shows it as a chip.
func (p *page) Filter(key, value, label string) {
	p.Keep(key, value)
	p.Chips = append(p.Chips, filterChip{Key: key, Value: value, Label: label})
}

// self is the page's own path.
func (p page) self() string {
	if p.Name == "overview" {
		return "/"
	}
	return "/" + p.Name
}

// Hidden are the kept parameters and the time zone as hidden form
// fields, but for the fields the form has itself (except).
func (p page) Hidden(except ...string) []option {
	var out []option
	for k, vs := range p.keep {
		if !slices.Contains(except, k) {
			out = append(out, option{Value: k, Label: vs[0]})
		}
	}
	if p.TZ != "" && !slices.Contains(except, "tz") {
		out = append(out, option{Value: "tz", Label: p.TZ})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Value < out[j].Value })
	return out
}

// ClearLink is this page without the filter key.
func (p page) ClearLink(key string) string { return p.Link(p.self(), key, "") }

// ClearFilters is this page without any of its chips' filters.
func (p page) ClearFilters() string {
	var kv []string
	for _, c := range p.Chips {
		kv = append(kv, c.Key, "")
	}
	return p.Link(p.self(), kv...)
}

type option struct {
	Value, Label string
	Selected     bool
}

var ranges = []string{"30d", "90d", "12m", "all"}

func (d *Dashboard) newPage(r *http.Request, name string) page {
	p := page{Lang: d.lang(r), Name: name, Prefix: d.prefix, Path: r.URL.RequestURI(), Loc: d.loc}
	return p
}

// badInput is a query parameter the dashboard cannot follow. Unlike a
// tab or an order it cannot fall back to a default: the page would show
// other numbers than the ones asked for, looking right.
type badInput struct{ Field, Value string }

func (e *badInput) Error() string { return fmt.Sprintf("dashboard: %s %q", e.Field, e.Value) }

// zone reads the tz parameter: an IANA zone, as /v1/results takes it;
// empty is the configured zone.
func (d *Dashboard) zone(r *http.Request) (loc *time.Location, tz string, err error) {
	tz = r.URL.Query().Get("tz")
	if tz == "" {
		return d.loc, "", nil
	}
	// "Local" is the server's own zone, which a link must not depend on.
	loc, ok := timezone.Named(tz)
	if !ok {
		return nil, "", &badInput{Field: "tz", Value: tz}
	}
	return loc, tz, nil
}

// withSession fills the survey list, the chosen survey, range and time
// zone, and the CSRF token.
func (d *Dashboard) withSession(r *http.Request, name string, s session) (page, error) {
	p := d.newPage(r, name)
	var err error
	if p.Loc, p.TZ, err = d.zone(r); err != nil {
		return p, err
	}
	sg, err := d.signer(r.Context())
	if err != nil {
		return p, err
	}
	p.CSRF = sg.csrfToken(s.ID)
	list, err := d.store.ListSurveys(r.Context())
	if err != nil {
		return p, err
	}
	p.Surveys = list
	want := r.URL.Query().Get("survey")
	for _, sv := range list {
		if sv.Key == want {
			p.Survey = sv
		}
	}
	if p.Survey == nil && len(list) > 0 {
		p.Survey = list[0]
	}
	p.Range = r.URL.Query().Get("range")
	if p.Range == "" {
		p.Range = "90d"
	}
	// Days and months are counted in the page's zone, where a day
	// around a change of daylight saving time is not 24 hours.
	now := d.now().In(p.Loc)
	switch p.Range {
	case "30d":
		p.From = now.AddDate(0, 0, -30)
	case "90d":
		p.From = now.AddDate(0, 0, -90)
	case "12m":
		p.From = now.AddDate(-1, 0, 0)
	default:
		p.Range = "all"
	}
	for _, v := range ranges {
		p.Ranges = append(p.Ranges, option{Value: v, Label: p.T("range_" + v), Selected: v == p.Range})
	}
	return p, nil
}

// T is the page's word for key.
func (p page) T(key string) string {
	if s, ok := texts[p.Lang][key]; ok {
		return s
	}
	if s, ok := texts["en"][key]; ok {
		return s
	}
	return key
}

// Tf is T with fmt.Sprintf arguments.
func (p page) Tf(key string, args ...any) string { return fmt.Sprintf(p.T(key), args...) }

// Link is a dashboard URL that keeps the chosen survey and range and, to
// the page itself, the page's own parameters (Keep); kv set further query
// pairs (an empty value removes one). A page's offset is never kept: a new
// tab or filter starts at the first page.
func (p page) Link(path string, kv ...string) string {
	q := url.Values{}
	if path == p.self() {
		for k, vs := range p.keep {
			q[k] = vs
		}
	}
	if p.Survey != nil {
		q.Set("survey", p.Survey.Key)
	}
	if p.Range != "" && p.Range != "90d" {
		q.Set("range", p.Range)
	}
	if p.TZ != "" {
		q.Set("tz", p.TZ)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			q.Del(kv[i])
		} else {
			q.Set(kv[i], kv[i+1])
		}
	}
	u := p.Prefix + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// Zone names the page's time zone, as /v1/results/trend's time_zone does.
func (p page) Zone() string { return p.loc().String() }

// When is a time in the page's zone; empty for none.
func (p page) When(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(p.loc()).Format("2006-01-02 15:04")
}

// WhenP is a short time in the page's zone, "–" for none.
func (p page) WhenP(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "–"
	}
	return t.In(p.loc()).Format("01-02 15:04")
}

func (p page) loc() *time.Location {
	if p.Loc == nil {
		return time.UTC
	}
	return p.Loc
}

// NavLink is another page of the dashboard, for the same survey and range
// but none of this page's filters.
func (p page) NavLink(path string) string {
	p.keep = nil
	return p.Link(path)
}

// LangLink switches the language and comes back here.
func (p page) LangLink(lang string) string {
	return p.Prefix + "/lang?to=" + url.QueryEscape(lang) + "&next=" + url.QueryEscape(p.Path)
}

// KT is T for a survey's kind: the kind's own words (csat_<key>,
// ces_<key>) where it has them, NPS's otherwise.
func (p page) KT(k survey.Kind, key string) string {
	if k != survey.NPS && k != "" {
		if _, ok := texts["en"][string(k)+"_"+key]; ok {
			return p.T(string(k) + "_" + key)
		}
	}
	return p.T(key)
}

// KindName is the name of a survey's score.
func (p page) KindName(k survey.Kind) string { return p.T("kind_" + string(k)) }

// CategoryName is the category's name for the survey's kind (promoter for
// NPS, satisfied for CSAT, easy for CES).
func (p page) CategoryName(k survey.Kind, c survey.Category) string {
	if k == survey.NPS || k == "" {
		return p.T(string(c))
	}
	return p.T(string(k) + "_" + string(c))
}

func (d *Dashboard) lang(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil {
		return matchLang(c.Value)
	}
	al := r.Header.Get("Accept-Language")
	if i := strings.IndexAny(al, ",;"); i >= 0 {
		al = al[:i]
	}
	return matchLang(strings.TrimSpace(al))
}

// matchLang picks en or zh-CN.
func matchLang(s string) string {
	if strings.HasPrefix(strings.ToLower(s), "zh") {
		return "zh-CN"
	}
	return "en"
}

var funcs = template.FuncMap{
	"score": func(k survey.Kind, v float64) string { return formatScore(k, v) },
	"num":   formatInt,
	"pct":   func(v float64) string { return fmt.Sprintf("%.1f%%", v) },
	"pctOf": func(part, whole int) string {
		if whole == 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f%%", math.Round(1000*float64(part)/float64(whole))/10)
	},
	"raw1": func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"add":  func(a, b int) int { return a + b },
	"list": func(s ...string) []string { return s },
	"navPath": func(name string) string {
		if name == "overview" {
			return "/"
		}
		return "/" + name
	},
	"deref2": func(b *bool) bool { return b != nil && *b },
	"deref3": func(n *int) int {
		if n == nil {
			return 0
		}
		return *n
	},
	"deref": func(f *float64) float64 {
		if f == nil {
			return 0
		}
		return *f
	},
	"initial": func(s string) string {
		for _, r := range s {
			return strings.ToUpper(string(r))
		}
		return "?"
	},
}

// formatInt writes n with thousands separators.
func formatInt(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
