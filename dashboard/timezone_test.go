package dashboard_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones must resolve on a host without tzdata

	"github.com/npsgate/npsgate/dashboard"
	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

// respondAt records an answer of score given at the instant, on a
// delivery of its own sent an hour before.
func respondAt(t *testing.T, st *store.Store, surveyKey, id string, at time.Time, score int, comment string) {
	t.Helper()
	ctx := context.Background()
	sent := at.Add(-time.Hour)
	d := &store.Delivery{ID: id, SurveyKey: surveyKey, ContactID: "c-" + id, Channel: "email", Token: "tok" + id + "0123456789",
		Status: store.StatusResponded, CreatedAt: sent, ExpiresAt: sent.Add(30 * 24 * time.Hour), SentAt: &sent, RespondedAt: &at}
	if _, _, err := st.CreateDelivery(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SaveResponse(ctx, &store.Response{DeliveryID: id, Score: score, Comment: comment, CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
}

// trendTitle is a point of the trend chart: its label, score and n.
var trendTitle = regexp.MustCompile(`<title>([^ :<]+)[^:<]*: ([^ <]+) ±[0-9.]+ \(n=(\d+)\)`)

// trendCounts reads the trend chart's answers per period, periods with
// answers only.
func trendCounts(body string) map[string]int {
	out := map[string]int{}
	for _, m := range trendTitle.FindAllStringSubmatch(body, -1) {
		n, _ := strconv.Atoi(m[3])
		out[m[1]] = n
	}
	return out
}

// trendPoints reads the trend chart as "n score" per period with answers,
// the score with one decimal.
func trendPoints(t *testing.T, body string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range trendTitle.FindAllStringSubmatch(body, -1) {
		score, err := strconv.ParseFloat(strings.NewReplacer("+", "", "−", "-", "%", "").Replace(m[2]), 64)
		if err != nil {
			t.Fatalf("trend point %q: %v", m[0], err)
		}
		out[m[1]] = fmt.Sprintf("%s %.1f", m[3], score)
	}
	return out
}

// Answers near midnight fall into the week and month of the page's zone:
// the configured one, or the tz a page asks for.
func TestTrendAndTimesFollowTheZone(t *testing.T) {
	st := testenv.Store(t)
	ctx := context.Background()
	if err := st.CreateSurvey(ctx, &store.Survey{Key: "tz", Kind: survey.NPS}); err != nil {
		t.Fatal(err)
	}
	// A Saturday evening in UTC that is Sunday 1 March in Shanghai; a
	// Sunday evening in UTC that is Monday (the next ISO week) in
	// Shanghai; the last evening of March in UTC that is April in
	// Shanghai; and the first hours of April in UTC that are still March
	// in San Francisco.
	respondAt(t, st, "tz", "a", time.Date(2026, 2, 28, 20, 0, 0, 0, time.UTC), 10, "")
	respondAt(t, st, "tz", "b", time.Date(2026, 3, 1, 20, 0, 0, 0, time.UTC), 0, "answered on a Sunday evening in UTC")
	respondAt(t, st, "tz", "c", time.Date(2026, 3, 31, 17, 0, 0, 0, time.UTC), 9, "")
	respondAt(t, st, "tz", "d", time.Date(2026, 4, 1, 3, 0, 0, 0, time.UTC), 7, "")

	now := time.Date(2026, 4, 15, 12, 0, 0, 0, time.UTC)
	plain := newSite(t, st, nil, []string{key})
	shanghai := newSite(t, st, nil, []string{key}, func(c *dashboard.Config) {
		loc, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			t.Fatal(err)
		}
		c.TimeZone = loc
	})
	for _, s := range []*site{plain, shanghai} {
		s.now.Store(now.Unix())
	}
	for _, tc := range []struct {
		name  string
		site  *site
		query string
		zone  string
		weeks map[string]int
		month map[string]int
		// shown is when answer b was given, on the comments page.
		shown string
	}{
		{"default UTC", plain, "", "UTC",
			map[string]int{"2026-W09": 2, "2026-W14": 2}, map[string]int{"2026-02": 1, "2026-03": 2, "2026-04": 1}, "2026-03-01 20:00"},
		{"tz Shanghai", plain, "&tz=Asia%2FShanghai", "Asia/Shanghai",
			map[string]int{"2026-W09": 1, "2026-W10": 1, "2026-W14": 2}, map[string]int{"2026-03": 2, "2026-04": 2}, "2026-03-02 04:00"},
		{"configured Shanghai", shanghai, "", "Asia/Shanghai",
			map[string]int{"2026-W09": 1, "2026-W10": 1, "2026-W14": 2}, map[string]int{"2026-03": 2, "2026-04": 2}, "2026-03-02 04:00"},
		{"tz UTC over configured Shanghai", shanghai, "&tz=UTC", "UTC",
			map[string]int{"2026-W09": 2, "2026-W14": 2}, map[string]int{"2026-02": 1, "2026-03": 2, "2026-04": 1}, "2026-03-01 20:00"},
		{"tz San Francisco", plain, "&tz=America%2FLos_Angeles", "America/Los_Angeles",
			map[string]int{"2026-W09": 2, "2026-W14": 2}, map[string]int{"2026-02": 1, "2026-03": 3}, "2026-03-01 12:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := tc.site.login(key)
			for period, want := range map[string]map[string]int{"week": tc.weeks, "month": tc.month} {
				resp, body := tc.site.get(c, "/dashboard/?survey=tz&range=all&period="+period+tc.query)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: %d", period, resp.StatusCode)
				}
				if got := trendCounts(body); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%s trend %v, want %v", period, got, want)
				}
				if !strings.Contains(visible(body), "times in "+tc.zone) || strings.Contains(body, "times in UTC") && tc.zone != "UTC" {
					t.Errorf("%s: the page does not say its times are in %s", period, tc.zone)
				}
			}
			_, body := tc.site.get(c, "/dashboard/comments?survey=tz&range=all"+tc.query)
			if !strings.Contains(body, tc.shown) {
				t.Errorf("comments page does not show the answer's time as %s", tc.shown)
			}
			_, body = tc.site.get(c, "/dashboard/deliveries?survey=tz"+tc.query)
			if sent := tc.shown[5:]; !strings.Contains(body, `<td class="nowrap">`+sent+`</td>`) {
				t.Errorf("deliveries page does not show the answer's time as %s", sent)
			}
			_, body = tc.site.get(c, "/dashboard/?survey=tz&range=all"+tc.query, "Accept-Language", "zh-CN")
			if !strings.Contains(visible(body), "时间为 "+tc.zone) {
				t.Errorf("the Chinese page does not name the zone %s", tc.zone)
			}
		})
	}
}

// With a tz, every link to a dashboard page and every form keeps it, so
// moving around never falls back to another zone.
func TestZoneKeptAcrossLinksAndForms(t *testing.T) {
	st := testenv.Store(t)
	seed(t, st, time.Now())
	s := newSite(t, st, nil, []string{key})
	c, _ := s.login(key)
	link := regexp.MustCompile(`href="(/dashboard[^"]*)"`)
	for _, path := range []string{
		"/dashboard/?survey=onboarding&range=all&period=week&tz=Asia%2FShanghai",
		"/dashboard/segments?survey=onboarding&by=account&tz=Asia%2FShanghai",
		"/dashboard/comments?survey=onboarding&account=Globex&attr.tier=KA&tz=Asia%2FShanghai",
		"/dashboard/campaigns?tz=Asia%2FShanghai",
		"/dashboard/deliveries?survey=onboarding&campaign=cmp-q-rel&tz=Asia%2FShanghai",
		"/dashboard/outbox?tz=Asia%2FShanghai",
	} {
		resp, body := s.get(c, path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		n := 0
		for _, m := range link.FindAllStringSubmatch(body, -1) {
			href := m[1]
			if strings.HasPrefix(href, "/dashboard/static/") {
				continue
			}
			n++
			q := mustParseQuery(t, href)
			if strings.HasPrefix(href, "/dashboard/lang") {
				q = mustParseQuery(t, q.Get("next"))
			}
			if q.Get("tz") != "Asia/Shanghai" {
				t.Errorf("%s: link %s loses the zone", path, href)
			}
		}
		if n < 5 {
			t.Errorf("%s: only %d links", path, n)
		}
		for _, form := range []string{"toolbar", "filters card"} {
			if !strings.Contains(body, `<form class="`+form) {
				continue
			}
			if got := hidden(t, body, form).Get("tz"); got != "Asia/Shanghai" {
				t.Errorf("%s: form %s sends tz=%q", path, form, got)
			}
		}
	}
}

// A zone the dashboard does not know is a 400 that names tz, in the
// visitor's language; it does not silently show UTC numbers.
func TestBadZoneIsRefused(t *testing.T) {
	st := testenv.Store(t)
	if err := st.CreateSurvey(context.Background(), &store.Survey{Key: "s", Kind: survey.NPS}); err != nil {
		t.Fatal(err)
	}
	s := newSite(t, st, nil, []string{key})
	c, _ := s.login(key)
	for _, tc := range []struct{ path, lang, says string }{
		{"/dashboard/?survey=s&tz=Mars%2FOlympus", "en", `The time zone "Mars/Olympus" (tz) is not one`},
		{"/dashboard/segments?tz=Local", "en", `"Local" (tz)`},
		{"/dashboard/comments?tz=%3Cscript%3E", "en", `"<script>" (tz)`},
		{"/dashboard/deliveries?tz=EST5EDT%2Fx", "zh-CN", `无法识别时区 "EST5EDT/x"（tz）`},
		{"/dashboard/campaigns?tz=Asia%2FNowhere", "zh-CN", `（tz）`},
		{"/dashboard/outbox?tz=+08:00", "en", `(tz)`},
	} {
		resp, body := s.get(c, tc.path, "Accept-Language", tc.lang)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `data-field="tz"`) || strings.Contains(body, "<script>") ||
			!strings.Contains(html.UnescapeString(body), tc.says) || !strings.Contains(body, "Asia/Shanghai") {
			t.Errorf("%s: %d %s", tc.path, resp.StatusCode, body)
		}
	}
}

func mustParseQuery(t *testing.T, link string) url.Values {
	t.Helper()
	u, err := url.Parse(html.UnescapeString(link))
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// The dashboard's trend is /v1/results/trend's with the same zone, on a
// whole gateway with dashboard.time_zone set through the environment:
// answers on Sunday evenings and month-end evenings in UTC, which are
// Monday mornings and the next month in Shanghai.
func TestTrendMatchesTheAPIInAZone(t *testing.T) {
	g := startGateway(t, map[string]string{"NPSGATE_DASHBOARD_TIME_ZONE": "Asia/Shanghai"})
	st := g.g.Store
	if err := st.CreateSurvey(context.Background(), &store.Survey{Key: "midnight", Kind: survey.NPS}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	sunday := lastSundayEvening(now)
	n := 0
	for week := range 8 {
		at := sunday.AddDate(0, 0, -7*week)
		n++
		respondAt(t, st, "midnight", fmt.Sprintf("w%d", n), at, (week*3)%11, "")
		n++
		respondAt(t, st, "midnight", fmt.Sprintf("w%d", n), at.AddDate(0, 0, -3).Add(-8*time.Hour), 10-week%3, "")
	}
	for month := 1; month <= 5; month++ {
		// Day 0 of a month is the last day of the one before.
		at := time.Date(now.Year(), now.Month()-time.Month(month)+1, 0, 20, 0, 0, 0, time.UTC)
		for i := range month {
			n++
			respondAt(t, st, "midnight", fmt.Sprintf("m%d", n), at.Add(time.Duration(i)*time.Minute), (month+i*4)%11, "")
		}
	}

	get := dashClient(t, g.base)
	seen := map[string]map[string]string{}
	for _, tc := range []struct{ dash, api string }{
		{"", "Asia/Shanghai"}, // the configured zone
		{"&tz=Asia%2FShanghai", "Asia/Shanghai"},
		{"&tz=UTC", "UTC"},
		{"&tz=America%2FLos_Angeles", "America/Los_Angeles"},
	} {
		for _, period := range []string{"week", "month"} {
			code, body := get("/dashboard/?survey=midnight&range=all&period=" + period + tc.dash)
			if code != http.StatusOK {
				t.Fatalf("dashboard %s%s: %d", period, tc.dash, code)
			}
			got := trendPoints(t, body)
			want := g.trend("midnight", period, tc.api)
			if len(want) < 3 || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s in %s: dashboard %v, /v1/results/trend %v", period, tc.api, got, want)
			}
			if !strings.Contains(body, `data-tz="`+tc.api+`"`) {
				t.Errorf("%s in %s: the page does not name the zone", period, tc.api)
			}
			seen[period+" "+tc.api] = got
		}
	}
	for _, period := range []string{"week", "month"} {
		if fmt.Sprint(seen[period+" UTC"]) == fmt.Sprint(seen[period+" Asia/Shanghai"]) {
			t.Errorf("the %ss are the same in UTC and Shanghai: the fixture does not test the zone", period)
		}
	}
}

// trend is /v1/results/trend in the zone as trendPoints reads the
// dashboard's: "n score" per period with answers.
func (g *gw) trend(surveyKey, period, tz string) map[string]string {
	g.t.Helper()
	var res struct {
		TimeZone string `json:"time_zone"`
		Points   []struct {
			Label     string   `json:"label"`
			Responses int      `json:"responses"`
			Score     *float64 `json:"score"`
		} `json:"points"`
	}
	q := url.Values{"survey": {surveyKey}, "period": {period}, "tz": {tz}}
	if code := g.api("GET", "/v1/results/trend?"+q.Encode(), nil, &res); code != 200 || res.TimeZone != tz {
		g.t.Fatalf("/v1/results/trend?%s: %d in %q", q.Encode(), code, res.TimeZone)
	}
	out := map[string]string{}
	for _, p := range res.Points {
		if p.Score != nil {
			out[p.Label] = fmt.Sprintf("%d %.1f", p.Responses, *p.Score)
		}
	}
	return out
}

// lastSundayEvening is the last Sunday 20:00 UTC before now: Monday
// morning, of the next ISO week, in Shanghai.
func lastSundayEvening(now time.Time) time.Time {
	at := time.Date(now.Year(), now.Month(), now.Day(), 20, 0, 0, 0, time.UTC)
	for at.Weekday() != time.Sunday || !at.Before(now) {
		at = at.AddDate(0, 0, -1)
	}
	return at
}

// dashClient logs in to a gateway's dashboard and returns a GET.
func dashClient(t *testing.T, base string) func(path string) (int, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	do := func(req *http.Request) (int, string) {
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	get := func(path string) (int, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		return do(req)
	}
	_, page := get("/dashboard/login")
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no login form: %s", page)
	}
	req, _ := http.NewRequest("POST", base+"/dashboard/login", strings.NewReader(url.Values{"csrf": {m[1]}, "key": {apiKey}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if code, body := do(req); code != http.StatusOK {
		t.Fatalf("login: %d %s", code, body)
	}
	return get
}
