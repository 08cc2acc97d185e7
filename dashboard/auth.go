package dashboard

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Cookie names. Every cookie is scoped to the dashboard's path.
const (
	sessionCookie = "npsgate_session"
	loginCookie   = "npsgate_login"
	langCookie    = "npsgate_lang"
)

// keyring checks API keys and signs sessions.
type keyring struct {
	// keys are the SHA-256 digests of the accepted API keys.
	keys   [][32]byte
	secret []byte
}

func newKeyring(apiKeys []string, secret []byte) *keyring {
	k := &keyring{}
	for _, key := range apiKeys {
		if key != "" {
			k.keys = append(k.keys, sha256.Sum256([]byte(key)))
		}
	}
	if len(secret) == 0 {
		// Derived from the keys, so that changing the keys also ends every
		// session; only a key holder can derive it, and a key holder may
		// log in anyway.
		sorted := append([]string(nil), apiKeys...)
		sort.Strings(sorted)
		m := hmac.New(sha256.New, []byte("npsgate dashboard session v1"))
		for _, key := range sorted {
			m.Write([]byte(key))
			m.Write([]byte{0})
		}
		secret = m.Sum(nil)
	}
	k.secret = secret
	return k
}

// match returns the index of the key, or -1. Keys are compared as SHA-256
// digests in constant time, as the API does, so neither their content nor
// their length leaks through timing.
func (k *keyring) match(key string) int {
	sum := sha256.Sum256([]byte(key))
	found := -1
	for i, want := range k.keys {
		if subtle.ConstantTimeCompare(sum[:], want[:]) == 1 {
			found = i
		}
	}
	return found
}

// fingerprint names a key in a session without revealing it: a session
// ends when its key is removed from the configuration.
func fingerprint(digest [32]byte) string {
	fp := sha256.Sum256(append([]byte("fp:"), digest[:]...))
	return hex.EncodeToString(fp[:8])
}

func (k *keyring) mac(parts ...string) string {
	m := hmac.New(sha256.New, k.secret)
	m.Write([]byte(strings.Join(parts, "|")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func randomToken() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// session is a signed, expiring login: v1.<expiry>.<key fingerprint>.<id>.<mac>.
type session struct {
	ID      string
	Expires time.Time
}

func (k *keyring) issue(keyIndex int, expires time.Time) (string, session) {
	s := session{ID: randomToken(), Expires: expires}
	exp := strconv.FormatInt(expires.Unix(), 10)
	fp := fingerprint(k.keys[keyIndex])
	return strings.Join([]string{"v1", exp, fp, s.ID, k.mac("session", exp, fp, s.ID)}, "."), s
}

// verify returns the session of a cookie value that is well signed, not
// expired and made with a key that is still accepted.
func (k *keyring) verify(value string, now time.Time) (session, bool) {
	p := strings.Split(value, ".")
	if len(p) != 5 || p[0] != "v1" {
		return session{}, false
	}
	if !hmac.Equal([]byte(p[4]), []byte(k.mac("session", p[1], p[2], p[3]))) {
		return session{}, false
	}
	exp, err := strconv.ParseInt(p[1], 10, 64)
	if err != nil || !now.Before(time.Unix(exp, 0)) {
		return session{}, false
	}
	known := false
	for _, d := range k.keys {
		if subtle.ConstantTimeCompare([]byte(fingerprint(d)), []byte(p[2])) == 1 {
			known = true
		}
	}
	if !known {
		return session{}, false
	}
	return session{ID: p[3], Expires: time.Unix(exp, 0)}, true
}

// csrfToken is the token every form of a session carries: an HMAC of the
// session's ID, so it needs no storage and dies with the session.
func (k *keyring) csrfToken(sessionID string) string { return k.mac("csrf", sessionID) }

// loginToken protects the login form itself (login CSRF) with a nonce
// cookie set when the form is shown.
func (k *keyring) loginToken(nonce string) string { return k.mac("login", nonce) }

func tokenOK(got, want string) bool {
	return got != "" && hmac.Equal([]byte(got), []byte(want))
}

// secure reports whether the request came over HTTPS (directly or through
// a proxy that says so), where cookies get the Secure flag.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (d *Dashboard) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	c := &http.Cookie{
		Name: name, Value: value, Path: d.prefix + "/", HttpOnly: true, Secure: secure(r),
		SameSite: http.SameSiteLaxMode,
	}
	if maxAge < 0 {
		c.MaxAge = -1
	} else if maxAge > 0 {
		c.MaxAge = int(maxAge.Seconds())
		c.Expires = d.now().Add(maxAge)
	}
	http.SetCookie(w, c)
}

// currentSession returns the request's valid session, if any.
func (d *Dashboard) currentSession(r *http.Request) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	return d.keys.verify(c.Value, d.now())
}

// safeNext keeps a post-login redirect on the dashboard.
func (d *Dashboard) safeNext(next string) string {
	if strings.HasPrefix(next, d.prefix+"/") && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return d.prefix + "/"
}

type loginView struct {
	page
	Token, Next, Error string
	Hours              int
}

func (d *Dashboard) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := d.currentSession(r); ok {
		http.Redirect(w, r, d.safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	d.showLogin(w, r, http.StatusOK, "")
}

func (d *Dashboard) showLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	nonce := randomToken()
	d.setCookie(w, r, loginCookie, nonce, 30*time.Minute)
	v := loginView{page: d.newPage(r, "login"), Token: d.keys.loginToken(nonce), Next: d.safeNext(r.FormValue("next")),
		Hours: int(d.ttl.Hours())}
	if msg != "" {
		v.Error = v.T(msg)
	}
	d.render(w, status, "login", v)
}

func (d *Dashboard) loginPost(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "malformed form", http.StatusBadRequest)
		return
	}
	nonce, err := r.Cookie(loginCookie)
	if err != nil || !tokenOK(r.PostForm.Get("csrf"), d.keys.loginToken(nonce.Value)) {
		d.showLogin(w, r, http.StatusForbidden, "login_expired")
		return
	}
	i := d.keys.match(strings.TrimSpace(r.PostForm.Get("key")))
	if i < 0 {
		d.log.Warn("dashboard: login refused", "remote", r.RemoteAddr)
		d.showLogin(w, r, http.StatusUnauthorized, "login_bad_key")
		return
	}
	value, _ := d.keys.issue(i, d.now().Add(d.ttl))
	d.setCookie(w, r, sessionCookie, value, d.ttl)
	d.setCookie(w, r, loginCookie, "", -1)
	http.Redirect(w, r, d.safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request) {
	d.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, d.prefix+"/login", http.StatusSeeOther)
}

// requireSession sends visitors without a session to the login page and
// checks the CSRF token of every POST.
func (d *Dashboard) requireSession(next func(http.ResponseWriter, *http.Request, session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := d.currentSession(r)
		if !ok {
			if r.Method != http.MethodGet {
				http.Error(w, "not logged in", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, d.prefix+"/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				http.Error(w, "malformed form", http.StatusBadRequest)
				return
			}
			if !tokenOK(r.PostForm.Get("csrf"), d.keys.csrfToken(s.ID)) {
				http.Error(w, "invalid or missing CSRF token: reload the page and try again", http.StatusForbidden)
				return
			}
		}
		next(w, r, s)
	}
}
