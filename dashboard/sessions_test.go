package dashboard_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/npsgate/npsgate/dashboard"
	"github.com/npsgate/npsgate/internal/testenv"
)

// A logout ends the session, not only the cookie of the browser that
// logged out: a copy of the cookie stops working, on every replica.
func TestLogoutEndsCopiedSessions(t *testing.T) {
	for _, tc := range []struct {
		name string
		rdb  func(*testing.T) redis.UniversalClient
	}{
		{"redis", testRedis},
		{"in process", func(*testing.T) redis.UniversalClient { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := testenv.Store(t)
			rdb := tc.rdb(t)
			s := newSite(t, st, rdb, []string{key})
			c, _ := s.login(key)
			copied := s.sessionValue(c)
			if code := withCookie(s, copied); code != 200 {
				t.Fatalf("a copy of the cookie before logout: %d", code)
			}
			var replica *site
			if rdb != nil {
				replica = newSite(t, st, rdb, []string{key})
				if code := withCookie(replica, copied); code != 200 {
					t.Fatalf("the session on another replica: %d", code)
				}
			}
			_, body := s.get(c, "/dashboard/")
			m := csrfField.FindStringSubmatch(body)
			if resp, _ := s.post(c, "/dashboard/logout", url.Values{"csrf": {m[1]}}); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("logout: %d", resp.StatusCode)
			}
			if code := withCookie(s, copied); code != http.StatusSeeOther {
				t.Errorf("a copy of the cookie after logout: %d, want the login page", code)
			}
			if replica != nil {
				if code := withCookie(replica, copied); code != http.StatusSeeOther {
					t.Errorf("the session on another replica after logout: %d", code)
				}
			}
			// Other sessions of the same key go on.
			other, _ := s.login(key)
			if resp, _ := s.get(other, "/dashboard/"); resp.StatusCode != 200 {
				t.Errorf("a new session after the logout: %d", resp.StatusCode)
			}
		})
	}
}

// The session secret is random and kept in Redis: knowing the API keys
// (or a configuration that holds them) does not let anyone sign a cookie.
func TestSessionSecretIsNotDerivedFromKeys(t *testing.T) {
	st := testenv.Store(t)
	rdb := testRedis(t)
	s := newSite(t, st, rdb, []string{key})
	c, _ := s.login(key)
	parts := strings.Split(s.sessionValue(c), ".")

	// What the dashboard used to derive from the configured keys.
	derive := func(keys ...string) []byte {
		sort.Strings(keys)
		m := hmac.New(sha256.New, []byte("npsgate dashboard session v1"))
		for _, k := range keys {
			m.Write([]byte(k))
			m.Write([]byte{0})
		}
		return m.Sum(nil)
	}
	sign := func(secret []byte, fields ...string) string {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(strings.Join(fields, "|")))
		return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	derived := derive(key)

	// A cookie forged as the old dashboard signed them.
	digest := sha256.Sum256([]byte(key))
	fp := sha256.Sum256(append([]byte("fp:"), digest[:]...))
	oldFP := hex.EncodeToString(fp[:8])
	exp := parts[1]
	old := strings.Join([]string{"v1", exp, oldFP, "forged", sign(derived, "session", exp, oldFP, "forged")}, ".")
	if code := withCookie(s, old); code != http.StatusSeeOther {
		t.Errorf("a cookie signed with the key-derived secret: %d, want the login page", code)
	}
	// The live session's own fields signed with the key-derived secret.
	forged := strings.Join([]string{"v2", exp, parts[2], parts[3], sign(derived, "session", exp, parts[2], parts[3])}, ".")
	if code := withCookie(s, forged); code != http.StatusSeeOther {
		t.Errorf("the session re-signed with the key-derived secret: %d, want the login page", code)
	}
	// The same fields signed with the secret in Redis are the session:
	// the forgery above failed for its secret alone.
	raw, err := rdb.Get(context.Background(), "npsgate:dashboard:secret").Result()
	if err != nil {
		t.Fatalf("no session secret in Redis: %v", err)
	}
	secret, err := base64.RawStdEncoding.DecodeString(raw)
	if err != nil || len(secret) < 32 || hmac.Equal(secret, derived) {
		t.Fatalf("session secret in Redis: %d bytes, %v", len(secret), err)
	}
	genuine := strings.Join([]string{"v2", exp, parts[2], parts[3], sign(secret, "session", exp, parts[2], parts[3])}, ".")
	if code := withCookie(s, genuine); code != 200 {
		t.Errorf("the session signed with the secret in Redis: %d", code)
	}
	// Another Redis, other keys or not: another secret.
	s2 := newSite(t, st, nil, []string{key})
	if code := withCookie(s2, genuine); code != http.StatusSeeOther {
		t.Errorf("a session of another Redis: %d", code)
	}
}

// Sign-in attempts are limited before the key is looked at: past the
// limit even the right key gets the 429 page, so guessing gains nothing.
func TestLoginLimit(t *testing.T) {
	attempts := 0
	s := newSite(t, testenv.Store(t), testRedis(t), []string{key}, func(c *dashboard.Config) {
		c.LoginLimit = func(r *http.Request) (bool, time.Duration) {
			attempts++
			return attempts <= 3, 1500 * time.Millisecond
		}
	})
	for i := range 3 {
		if _, resp := s.login("wrong-key-0123456789"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, resp.StatusCode)
		}
	}
	c := s.client()
	_, page := s.get(c, "/dashboard/login", "Accept-Language", "zh-CN")
	tok := csrfField.FindStringSubmatch(page)[1]
	resp, body := s.post(c, "/dashboard/login", url.Values{"csrf": {tok}, "key": {key}}, "Accept-Language", "zh-CN")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" ||
		!strings.Contains(body, "登录尝试过多") || !strings.Contains(body, "2 秒") {
		t.Errorf("past the limit: %d Retry-After %q\n%s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "npsgate_session" {
			t.Error("a refused attempt got a session")
		}
	}
	// A form without its token is refused before it counts.
	before := attempts
	s.post(s.client(), "/dashboard/login", url.Values{"key": {key}})
	if attempts != before {
		t.Error("a login without the form's token counted as an attempt")
	}
}
