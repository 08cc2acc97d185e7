package dashboard_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/npsgate/npsgate/dashboard"
	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

const key = "dash-key-0123456789abcdef"

// testRedis is a clean Redis for one test, shared by the sites it makes.
func testRedis(t *testing.T) redis.UniversalClient {
	t.Helper()
	opt, err := redis.ParseURL(testenv.RedisURL(t, testenv.RedisDBDashboard))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// staticKeys accepts the keys listed, as the API would plain keys; a key's
// id is a hash of it, as the API's is.
type staticKeys []string

func keyIDOf(k string) string {
	sum := sha256.Sum256([]byte("test:" + k))
	return hex.EncodeToString(sum[:8])
}

func (k staticKeys) Check(key string) (string, bool) {
	for _, s := range k {
		if s == key {
			return keyIDOf(s), true
		}
	}
	return "", false
}

func (k staticKeys) Accepted(id string) bool {
	for _, s := range k {
		if keyIDOf(s) == id {
			return true
		}
	}
	return false
}

// site is a dashboard on a test server with a clock the test moves.
type site struct {
	t     *testing.T
	srv   *httptest.Server
	store *store.Store
	now   atomic.Int64
}

// newSite serves a dashboard that accepts keys, keeping its sessions in
// rdb (nil: in the process).
func newSite(t *testing.T, st *store.Store, rdb redis.UniversalClient, keys []string, tweak ...func(*dashboard.Config)) *site {
	t.Helper()
	s := &site{t: t, store: st}
	s.now.Store(time.Now().Unix())
	cfg := dashboard.Config{Store: st, Keys: staticKeys(keys), Redis: rdb, Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return time.Unix(s.now.Load(), 0) }}
	for _, f := range tweak {
		f(&cfg)
	}
	s.srv = httptest.NewServer(dashboard.New(cfg))
	t.Cleanup(s.srv.Close)
	return s
}

// client does not follow redirects, so tests see them.
func (s *site) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (s *site) get(c *http.Client, path string, header ...string) (*http.Response, string) {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.srv.URL+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (s *site) post(c *http.Client, path string, form url.Values, header ...string) (*http.Response, string) {
	s.t.Helper()
	req, _ := http.NewRequest("POST", s.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login signs in with the key through the form and returns the client.
func (s *site) login(k string) (*http.Client, *http.Response) {
	s.t.Helper()
	c := s.client()
	_, page := s.get(c, "/dashboard/login?next=%2Fdashboard%2Fcomments")
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		s.t.Fatalf("no CSRF token on the login form: %s", page)
	}
	resp, _ := s.post(c, "/dashboard/login", url.Values{"csrf": {m[1]}, "key": {k}, "next": {"/dashboard/comments"}})
	return c, resp
}

func TestLoginSessionAndCSRF(t *testing.T) {
	s := newSite(t, testenv.Store(t), testRedis(t), []string{key, "other-key-0123456789"})
	anon := s.client()

	resp, _ := s.get(anon, "/dashboard/segments?survey=x")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/dashboard/login?next=%2Fdashboard%2Fsegments%3Fsurvey%3Dx" {
		t.Errorf("anonymous: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := s.get(anon, "/dashboard"); resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/dashboard/" {
		t.Errorf("/dashboard: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := s.post(anon, "/dashboard/logout", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous POST: %d", resp.StatusCode)
	}

	// The login form is CSRF-protected too.
	resp, body := s.post(s.client(), "/dashboard/login", url.Values{"key": {key}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "expired") {
		t.Errorf("login without the form's token: %d", resp.StatusCode)
	}
	c := s.client()
	_, page := s.get(c, "/dashboard/login")
	tok := csrfField.FindStringSubmatch(page)[1]
	if resp, _ := s.post(c, "/dashboard/login", url.Values{"csrf": {tok + "x"}, "key": {key}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("login with a wrong token: %d", resp.StatusCode)
	}
	_, page = s.get(c, "/dashboard/login")
	tok = csrfField.FindStringSubmatch(page)[1]
	resp, body = s.post(c, "/dashboard/login", url.Values{"csrf": {tok}, "key": {"wrong-key-0123456789"}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "not valid") || len(resp.Cookies()) == 0 {
		t.Errorf("wrong key: %d", resp.StatusCode)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "npsgate_session" {
			t.Error("a wrong key got a session")
		}
	}

	c, resp = s.login(key)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/dashboard/comments" {
		t.Fatalf("login: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "npsgate_session" {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/dashboard/" ||
		session.Secure || session.MaxAge != 12*3600 || strings.Contains(session.Value, key) {
		t.Fatalf("session cookie: %+v", session)
	}
	resp, body = s.get(c, "/dashboard/")
	if resp.StatusCode != 200 || !strings.Contains(body, "No surveys yet") {
		t.Fatalf("overview with no surveys: %d %s", resp.StatusCode, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("CSP %q", csp)
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", resp.Header)
	}

	// Logout needs the session's CSRF token.
	m := csrfField.FindStringSubmatch(body)
	if resp, _ := s.post(c, "/dashboard/logout", url.Values{"csrf": {"forged"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout with a forged token: %d", resp.StatusCode)
	}
	if resp, _ := s.post(c, "/dashboard/logout", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout without a token: %d", resp.StatusCode)
	}
	if resp, _ := s.get(c, "/dashboard/"); resp.StatusCode != 200 {
		t.Errorf("still logged in after refused logouts: %d", resp.StatusCode)
	}
	// A token of another session does not work either.
	other, _ := s.login(key)
	_, otherBody := s.get(other, "/dashboard/")
	if om := csrfField.FindStringSubmatch(otherBody); om == nil || om[1] == m[1] {
		t.Fatalf("two sessions share a CSRF token")
	} else if resp, _ := s.post(c, "/dashboard/logout", url.Values{"csrf": {om[1]}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout with another session's token: %d", resp.StatusCode)
	}
	resp, _ = s.post(c, "/dashboard/logout", url.Values{"csrf": {m[1]}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("logout: %d", resp.StatusCode)
	}
	if resp, _ := s.get(c, "/dashboard/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after logout: %d", resp.StatusCode)
	}

	// Sessions expire.
	c, _ = s.login("other-key-0123456789")
	if resp, _ := s.get(c, "/dashboard/"); resp.StatusCode != 200 {
		t.Fatalf("second key: %d", resp.StatusCode)
	}
	s.now.Add(int64(12*time.Hour/time.Second) + 1)
	if resp, _ := s.get(c, "/dashboard/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after 12 hours: %d", resp.StatusCode)
	}
}

func TestSessionForgeryAndKeyRotation(t *testing.T) {
	st := testenv.Store(t)
	rdb := testRedis(t)
	keys := []string{key, "old-key-0123456789abc"}
	s := newSite(t, st, rdb, keys)
	c, _ := s.login("old-key-0123456789abc")
	value := s.sessionValue(c)
	parts := strings.Split(value, ".")
	if len(parts) != 5 {
		t.Fatalf("session %q", value)
	}
	if code := withCookie(s, value); code != 200 {
		t.Fatalf("the session itself: %d", code)
	}
	longer := append([]string(nil), parts...)
	longer[1] = "9999999999"
	otherID := append([]string(nil), parts...)
	otherID[3] = "AAAAAAAAAAAAAAAAAAAAAAAA"
	for name, v := range map[string]string{
		"longer expiry": strings.Join(longer, "."), "no mac": strings.Join(parts[:4], "."), "garbage": "v2.x.y.z.w",
		"other mac": strings.Join(append(parts[:4:4], "AAAA"), "."), "other session": strings.Join(otherID, "."),
	} {
		if code := withCookie(s, v); code != http.StatusSeeOther {
			t.Errorf("%s: %d", name, code)
		}
	}
	// Another replica, or a restart, on the same Redis: the same secret
	// and sessions.
	if code := withCookie(newSite(t, st, rdb, keys), value); code != 200 {
		t.Errorf("the session on another replica: %d", code)
	}
	// The old key removed from the configuration: its sessions end.
	if code := withCookie(newSite(t, st, rdb, []string{key}), value); code != http.StatusSeeOther {
		t.Errorf("a session of a removed key: %d", code)
	}
	// A configured secret replaces the one in Redis: setting or changing
	// it ends every session.
	configured := newSite(t, st, rdb, keys, func(c *dashboard.Config) { c.Secret = []byte("a configured secret, 32 bytes or more") })
	if code := withCookie(configured, value); code != http.StatusSeeOther {
		t.Errorf("a session signed with another secret: %d", code)
	}
}

// sessionValue is the session cookie the client holds.
func (s *site) sessionValue(c *http.Client) string {
	s.t.Helper()
	u, _ := url.Parse(s.srv.URL + "/dashboard/")
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "npsgate_session" {
			return ck.Value
		}
	}
	s.t.Fatal("no session cookie")
	return ""
}

// withCookie opens the overview with only this session cookie.
func withCookie(s *site, value string) int {
	s.t.Helper()
	c := s.client()
	u, _ := url.Parse(s.srv.URL + "/dashboard/")
	c.Jar.SetCookies(u, []*http.Cookie{{Name: "npsgate_session", Value: value, Path: "/dashboard/"}})
	resp, _ := s.get(c, "/dashboard/")
	return resp.StatusCode
}

func TestLoginRedirectStaysOnTheDashboard(t *testing.T) {
	s := newSite(t, testenv.Store(t), testRedis(t), []string{key})
	for _, next := range []string{"//evil.example/", "https://evil.example/dashboard/", "/dashboard/\\evil", "/v1/results", ""} {
		c := s.client()
		_, page := s.get(c, "/dashboard/login")
		tok := csrfField.FindStringSubmatch(page)[1]
		resp, _ := s.post(c, "/dashboard/login", url.Values{"csrf": {tok}, "key": {key}, "next": {next}})
		if loc := resp.Header.Get("Location"); loc != "/dashboard/" {
			t.Errorf("next %q went to %q", next, loc)
		}
	}
	c, _ := s.login(key)
	resp, _ := s.get(c, "/dashboard/lang?to=zh-CN&next=https://evil.example/")
	if loc := resp.Header.Get("Location"); loc != "/dashboard/" {
		t.Errorf("language switch went to %q", loc)
	}
}

func TestLoginSecureCookieBehindTLS(t *testing.T) {
	s := newSite(t, testenv.Store(t), testRedis(t), []string{key})
	c := s.client()
	_, page := s.get(c, "/dashboard/login")
	tok := csrfField.FindStringSubmatch(page)[1]
	resp, _ := s.post(c, "/dashboard/login", url.Values{"csrf": {tok}, "key": {key}}, "X-Forwarded-Proto", "https")
	for _, ck := range resp.Cookies() {
		if ck.Name == "npsgate_session" && !ck.Secure {
			t.Error("session cookie without Secure behind HTTPS")
		}
	}
}

// Every page renders, for every kind of survey, with data and filters, in
// both languages.
func TestPagesRender(t *testing.T) {
	st := testenv.Store(t)
	seed(t, st, time.Now())
	s := newSite(t, st, testRedis(t), []string{key})
	c, _ := s.login(key)
	for _, lang := range []string{"en", "zh-CN"} {
		for _, path := range []string{
			"/dashboard/", "/dashboard/?survey=support&range=30d", "/dashboard/?survey=checkout&range=12m&period=quarter",
			"/dashboard/?survey=onboarding&range=all&period=week", "/dashboard/?survey=nope&period=day&range=forever",
			"/dashboard/segments?survey=onboarding&by=attr.tier", "/dashboard/segments?survey=support&by=campaign",
			"/dashboard/segments?by=nonsense", "/dashboard/comments?survey=onboarding&range=all&category=detractor&score=0-6",
			"/dashboard/comments?survey=onboarding&q=%E5%A4%AA%E6%85%A2&sort=newest&account=Globex&attr.tier=KA&offset=5",
			"/dashboard/comments?survey=checkout&category=fans&score=x", "/dashboard/campaigns",
			"/dashboard/deliveries?survey=onboarding&status=failed", "/dashboard/deliveries?offset=50", "/dashboard/outbox",
		} {
			resp, body := s.get(c, path, "Accept-Language", lang)
			if resp.StatusCode != 200 {
				t.Errorf("%s %s: %d %s", lang, path, resp.StatusCode, body)
				continue
			}
			if !strings.Contains(body, `<html lang="`+lang+`">`) {
				t.Errorf("%s %s: not in %s", lang, path, lang)
			}
		}
	}
	_, body := s.get(c, "/dashboard/comments?survey=onboarding&range=all&category=detractor")
	if !strings.Contains(body, `data-category="detractor"`) || strings.Contains(body, `<article class="comment card" data-category="promoter"`) {
		t.Error("detractor comments page shows other categories")
	}
	_, body = s.get(c, "/dashboard/?survey=support&range=all", "Accept-Language", "zh-CN")
	if !strings.Contains(body, "满意") || !strings.Contains(body, "CSAT") {
		t.Error("CSAT overview in Chinese lacks its words")
	}
	resp, css := s.get(c, "/dashboard/static/app.css")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") || len(css) < 1000 {
		t.Errorf("stylesheet: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestOverviewNumbersMatchTheStore(t *testing.T) {
	st := testenv.Store(t)
	ctx := context.Background()
	if err := st.CreateSurvey(ctx, &store.Survey{Key: "s", Kind: survey.NPS}); err != nil {
		t.Fatal(err)
	}
	scores := []int{10, 10, 9, 8, 3, 0, 10}
	for i, sc := range scores {
		d := &store.Delivery{ID: "d" + string(rune('a'+i)), SurveyKey: "s", ContactID: "c", Channel: "email",
			Token: "t" + string(rune('a'+i)), Status: store.StatusResponded}
		if _, _, err := st.CreateDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SaveResponse(ctx, &store.Response{DeliveryID: d.ID, Score: sc}); err != nil {
			t.Fatal(err)
		}
	}
	var tally survey.Tally
	for _, sc := range scores {
		tally.Add(sc)
	}
	want := survey.Summarize(survey.NPS, tally)
	s := newSite(t, st, testRedis(t), []string{key})
	c, _ := s.login(key)
	_, body := s.get(c, "/dashboard/?survey=s&range=all")
	for metric, v := range map[string]string{
		"score": "28.6", "responses": "7", "promoters": "4", "passives": "1", "detractors": "2",
	} {
		if !strings.Contains(body, `data-metric="`+metric+`" data-value="`+v+`"`) {
			t.Errorf("overview lacks %s = %s (summary %+v)", metric, v, want)
		}
	}
	if want.Score != 28.6 {
		t.Fatalf("NPS of the fixture is %v", want.Score)
	}
}
