package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/npsgate/npsgate/httpapi"
	"github.com/npsgate/npsgate/internal/testenv"
)

var dashCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// dashLogin fills the dashboard's login form with key, from the client
// address ip (X-Forwarded-For, which a trusted proxy sets), and returns the
// answer's status and whether it set a session cookie.
func (h *harness) dashLogin(key, ip string) (int, bool) {
	h.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path string, form url.Values) (*http.Response, string) {
		req, _ := http.NewRequest(method, h.srv.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if ip != "" {
			req.Header.Set("X-Forwarded-For", ip)
		}
		resp, err := c.Do(req)
		if err != nil {
			h.t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	_, page := do("GET", "/dashboard/login", nil)
	m := dashCSRF.FindStringSubmatch(page)
	if m == nil {
		h.t.Fatalf("no login form: %s", page)
	}
	resp, _ := do("POST", "/dashboard/login", url.Values{"csrf": {m[1]}, "key": {key}})
	session := false
	for _, ck := range resp.Cookies() {
		session = session || (ck.Name == "npsgate_session" && ck.Value != "")
	}
	if session {
		// The session opens the results.
		if r, _ := do("GET", "/dashboard/", nil); r.StatusCode != http.StatusOK {
			h.t.Errorf("overview after logging in with %q: %d", key, r.StatusCode)
		}
	}
	return resp.StatusCode, session
}

// The dashboard's login takes keys by the API's rules: a sha256: key logs
// in with the key, not with its configured form, and a key limited to
// triggers reads nothing here either.
func TestDashboardLoginUsesAPIKeyRules(t *testing.T) {
	const (
		hashed  = "hashed-key-0123456789abcdef"
		trigger = "crm-trigger-key-0123456789"
	)
	sum := sha256.Sum256([]byte(hashed))
	digest := "sha256:" + hex.EncodeToString(sum[:])
	h := newHarness(t, func(c *httpapi.Config) {
		c.APIKeys = []string{apiKey, digest, "triggers=" + trigger}
	})
	for _, tc := range []struct {
		name, key string
		ok        bool
	}{
		{"plain key", apiKey, true},
		{"the key of a sha256: entry", hashed, true},
		{"the sha256: entry itself", digest, false},
		{"a triggers-only key", trigger, false},
		{"a triggers-only entry as configured", "triggers=" + trigger, false},
		{"nothing", "", false},
	} {
		status, session := h.dashLogin(tc.key, "")
		if tc.ok && (status != http.StatusSeeOther || !session) {
			t.Errorf("%s: %d, session %v; want to log in", tc.name, status, session)
		}
		if !tc.ok && (status != http.StatusUnauthorized || session) {
			t.Errorf("%s: %d, session %v; want 401", tc.name, status, session)
		}
	}
	// The trigger key still does what it is for.
	a := h.do("POST", "/v1/triggers", map[string]any{}, "Authorization", "Bearer "+trigger)
	if a.status == http.StatusUnauthorized || a.status == http.StatusForbidden {
		t.Errorf("trigger key on /v1/triggers: %d", a.status)
	}
}

// Sign-in attempts are limited per client IP, as gin sees it (trusted
// proxies honoured): ten a minute, then 429 even for the right key, while
// another address still signs in.
func TestDashboardLoginLimitedPerIP(t *testing.T) {
	h := newHarness(t, func(c *httpapi.Config) { c.TrustedProxies = []string{"127.0.0.1", "::1"} })
	for i := range 10 {
		if status, _ := h.dashLogin("wrong-key-0123456789abc", "203.0.113.7"); status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, status)
		}
	}
	if status, session := h.dashLogin(apiKey, "203.0.113.7"); status != http.StatusTooManyRequests || session {
		t.Errorf("11th attempt in a minute, right key: %d, session %v; want 429", status, session)
	}
	if status, session := h.dashLogin(apiKey, "198.51.100.2"); status != http.StatusSeeOther || !session {
		t.Errorf("another address: %d, session %v", status, session)
	}
}

// With Redis configured the dashboard keeps its secret and sessions there.
func TestDashboardSessionsInRedis(t *testing.T) {
	opt, err := redis.ParseURL(testenv.RedisURL(t, testenv.RedisDBHTTPAPI))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	h := newHarness(t, func(c *httpapi.Config) { c.Dashboard.Redis = rdb })
	if status, session := h.dashLogin(apiKey, ""); status != http.StatusSeeOther || !session {
		t.Fatalf("login: %d", status)
	}
	ctx := context.Background()
	if n, err := rdb.Exists(ctx, "npsgate:dashboard:secret").Result(); err != nil || n != 1 {
		t.Errorf("no session secret in Redis: %d %v", n, err)
	}
	if keys, err := rdb.Keys(ctx, "npsgate:dashboard:session:*").Result(); err != nil || len(keys) != 1 {
		t.Errorf("sessions in Redis: %v %v", keys, err)
	}
}
