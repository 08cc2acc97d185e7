package dashboard

import (
	"errors"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
	_ "time/tzdata" // the zones must resolve on a host without tzdata

	"github.com/npsgate/npsgate/analytics"
	"github.com/npsgate/npsgate/store"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// A time on a page is the wall clock of the page's zone.
func TestTimesInThePagesZone(t *testing.T) {
	at := time.Date(2026, 3, 1, 20, 0, 0, 0, time.UTC) // a Sunday evening in UTC
	for _, tc := range []struct {
		zone        string
		when, whenP string
	}{
		{"", "2026-03-01 20:00", "03-01 20:00"}, // no zone: UTC
		{"UTC", "2026-03-01 20:00", "03-01 20:00"},
		{"Asia/Shanghai", "2026-03-02 04:00", "03-02 04:00"},
		{"America/Los_Angeles", "2026-03-01 12:00", "03-01 12:00"},
		{"Asia/Kolkata", "2026-03-02 01:30", "03-02 01:30"},
	} {
		t.Run(tc.zone, func(t *testing.T) {
			var p page
			if tc.zone != "" {
				p.Loc = mustZone(t, tc.zone)
			}
			if got := p.When(at); got != tc.when {
				t.Errorf("When = %q, want %q", got, tc.when)
			}
			if got := p.WhenP(&at); got != tc.whenP {
				t.Errorf("WhenP = %q, want %q", got, tc.whenP)
			}
			// The same instant in any zone reads the same.
			if got := p.When(at.In(mustZone(t, "Europe/Berlin"))); got != tc.when {
				t.Errorf("When of the instant in Berlin = %q, want %q", got, tc.when)
			}
			wantZone := tc.zone
			if wantZone == "" {
				wantZone = "UTC"
			}
			if p.Zone() != wantZone {
				t.Errorf("Zone = %q, want %q", p.Zone(), wantZone)
			}
		})
	}
	var p page
	if p.When(time.Time{}) != "" || p.WhenP(nil) != "–" {
		t.Error("no time must show as nothing")
	}
}

// The trend's periods are cut in the page's zone, so one answer moves
// between weeks and months with it.
func TestTrendBoundsInAZone(t *testing.T) {
	now := time.Date(2026, 4, 15, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		zone   string
		period analytics.Period
		at     time.Time
		label  string
	}{
		{"Sunday evening in UTC", "UTC", analytics.Week, time.Date(2026, 3, 1, 20, 0, 0, 0, time.UTC), "2026-W09"},
		{"is Monday morning in Shanghai", "Asia/Shanghai", analytics.Week, time.Date(2026, 3, 1, 20, 0, 0, 0, time.UTC), "2026-W10"},
		{"last evening of February in UTC", "UTC", analytics.Month, time.Date(2026, 2, 28, 20, 0, 0, 0, time.UTC), "2026-02"},
		{"is March in Shanghai", "Asia/Shanghai", analytics.Month, time.Date(2026, 2, 28, 20, 0, 0, 0, time.UTC), "2026-03"},
		{"first hours of April in UTC", "UTC", analytics.Month, time.Date(2026, 4, 1, 3, 0, 0, 0, time.UTC), "2026-04"},
		{"are March in San Francisco", "America/Los_Angeles", analytics.Month, time.Date(2026, 4, 1, 3, 0, 0, 0, time.UTC), "2026-03"},
		{"last evening of March in UTC", "UTC", analytics.Quarter, time.Date(2026, 3, 31, 17, 0, 0, 0, time.UTC), "2026-Q1"},
		{"is the second quarter in Shanghai", "Asia/Shanghai", analytics.Quarter, time.Date(2026, 3, 31, 17, 0, 0, 0, time.UTC), "2026-Q2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := analytics.Bounds(tc.period, time.Time{}, now, mustZone(t, tc.zone))
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			for i := 0; i+1 < len(b); i++ {
				if !tc.at.Before(b[i]) && tc.at.Before(b[i+1]) {
					got = tc.period.Label(b[i])
				}
			}
			if got != tc.label {
				t.Errorf("%s falls in %q, want %q (bounds %v)", tc.at, got, tc.label, b)
			}
		})
	}
}

func TestZoneParameter(t *testing.T) {
	sh := mustZone(t, "Asia/Shanghai")
	d := &Dashboard{loc: sh}
	for _, tc := range []struct {
		query    string
		zone, tz string
		bad      bool
	}{
		{"", "Asia/Shanghai", "", false}, // the configured zone
		{"tz=", "Asia/Shanghai", "", false},
		{"tz=UTC", "UTC", "UTC", false},
		{"tz=America%2FLos_Angeles", "America/Los_Angeles", "America/Los_Angeles", false},
		{"tz=Mars%2FOlympus", "", "", true},
		{"tz=Local", "", "", true}, // the server's zone is no zone for a link
		{"tz=%2E%2E%2Fetc%2Fpasswd", "", "", true},
		{"tz=asia%2Fshanghai", "", "", true},
	} {
		t.Run(tc.query, func(t *testing.T) {
			loc, tz, err := d.zone(httptest.NewRequest("GET", "/dashboard/?"+tc.query, nil))
			var bad *badInput
			if tc.bad {
				if !errors.As(err, &bad) || bad.Field != "tz" {
					t.Fatalf("err %v, want a bad tz", err)
				}
				return
			}
			if err != nil || loc.String() != tc.zone || tz != tc.tz {
				t.Errorf("zone %v %q %v, want %s %q", loc, tz, err, tc.zone, tc.tz)
			}
		})
	}
}

// A tz given to a page goes with every link and form that stays on the
// dashboard; without one, links name none (the configured zone applies).
func TestLinksKeepTheZone(t *testing.T) {
	p := page{Name: "comments", Prefix: "/dashboard", Survey: &store.Survey{Key: "s"}, Range: "all", TZ: "Asia/Shanghai"}
	p.Keep("sort", "newest")
	for _, u := range []string{p.Link("/comments"), p.NavLink("/segments"), p.Link("/", "period", "week"), p.ClearLink("sort")} {
		q := mustQuery(t, u)
		if q.Get("tz") != "Asia/Shanghai" || q.Get("survey") != "s" || q.Get("range") != "all" {
			t.Errorf("%s: lost the zone, survey or range", u)
		}
	}
	if q := mustQuery(t, p.Link("/", "tz", "UTC")); q.Get("tz") != "UTC" {
		t.Errorf("a link may name another zone: %v", q)
	}
	hidden := map[string]string{}
	for _, o := range p.Hidden() {
		hidden[o.Value] = o.Label
	}
	if hidden["tz"] != "Asia/Shanghai" || hidden["sort"] != "newest" {
		t.Errorf("hidden fields %v", hidden)
	}
	for _, o := range p.Hidden("tz") {
		if o.Value == "tz" {
			t.Error("a form with its own tz field got a hidden one")
		}
	}
	p.TZ = ""
	if q := mustQuery(t, p.Link("/comments")); q.Has("tz") {
		t.Errorf("a link without a chosen zone names one: %v", q)
	}
	for _, o := range p.Hidden() {
		if o.Value == "tz" {
			t.Error("hidden tz without a chosen zone")
		}
	}
}

func mustQuery(t *testing.T, link string) url.Values {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}
