package dashboard

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
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

// Keys checks the keys typed at login by the API's own rule (plain keys,
// sha256:<hex> digests, scopes): the dashboard never sees the configured
// key strings, only whether a typed key is one of them.
type Keys interface {
	// Check returns a stable, non-secret id of key when key is an accepted
	// API key that may read results; a key limited to triggers is not.
	Check(key string) (id string, ok bool)
	// Accepted reports whether id is still the id of such a key, so that a
	// session ends when its key leaves the configuration.
	Accepted(id string) bool
}

// signer signs cookies and CSRF tokens with the session secret.
type signer struct{ secret []byte }

func (s signer) mac(parts ...string) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(strings.Join(parts, "|")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// secretFor is how long a replica keeps the store's secret before reading
// it again: if Redis loses it (a flush, a new server), the replicas agree
// on the new one within this time instead of refusing each other's
// cookies until they restart.
const secretFor = 30 * time.Second

// signer returns the configured secret, or the one the session store made.
func (d *Dashboard) signer(ctx context.Context) (signer, error) {
	if len(d.cfg.Secret) > 0 {
		return signer{d.cfg.Secret}, nil
	}
	d.secretMu.Lock()
	defer d.secretMu.Unlock()
	// The wall clock, not d.now: tests move d.now by hours.
	if d.secret == nil || time.Since(d.secretAt) > secretFor {
		b, err := d.sessions.secret(ctx)
		if err != nil {
			return signer{}, err
		}
		d.secret, d.secretAt = b, time.Now()
	}
	return signer{d.secret}, nil
}

func randomToken() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// session is a login: v2.<expiry>.<key id>.<session id>.<mac> in the
// cookie, and the session id in the session store until logout or expiry.
type session struct {
	ID      string
	KeyID   string
	Expires time.Time
}

func (s signer) cookie(v session) string {
	exp := strconv.FormatInt(v.Expires.Unix(), 10)
	return strings.Join([]string{"v2", exp, v.KeyID, v.ID, s.mac("session", exp, v.KeyID, v.ID)}, ".")
}

// parse returns the session a cookie value names when it is well signed
// and not expired; whether the session is still live is the store's say.
func (s signer) parse(value string, now time.Time) (session, bool) {
	p := strings.Split(value, ".")
	if len(p) != 5 || p[0] != "v2" {
		return session{}, false
	}
	if !hmac.Equal([]byte(p[4]), []byte(s.mac("session", p[1], p[2], p[3]))) {
		return session{}, false
	}
	exp, err := strconv.ParseInt(p[1], 10, 64)
	if err != nil || !now.Before(time.Unix(exp, 0)) {
		return session{}, false
	}
	return session{ID: p[3], KeyID: p[2], Expires: time.Unix(exp, 0)}, true
}

// csrfToken is the token every form of a session carries: an HMAC of the
// session's ID, so it needs no storage and dies with the session.
func (s signer) csrfToken(sessionID string) string { return s.mac("csrf", sessionID) }

// loginToken protects the login form itself (login CSRF) with a nonce
// cookie set when the form is shown.
func (s signer) loginToken(nonce string) string { return s.mac("login", nonce) }

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

// currentSession returns the request's session when its cookie is well
// signed, unexpired, made with a key that is still accepted, and the
// session has not ended (logout) in the store.
func (d *Dashboard) currentSession(r *http.Request) (session, bool, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false, nil
	}
	sg, err := d.signer(r.Context())
	if err != nil {
		return session{}, false, err
	}
	s, ok := sg.parse(c.Value, d.now())
	if !ok || !d.keys.Accepted(s.KeyID) {
		return session{}, false, nil
	}
	keyID, live, err := d.sessions.load(r.Context(), s.ID)
	if err != nil || !live || keyID != s.KeyID {
		return session{}, false, err
	}
	return s, true, nil
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
	if _, ok, err := d.currentSession(r); err != nil {
		d.fail(w, r, err)
		return
	} else if ok {
		http.Redirect(w, r, d.safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	d.showLogin(w, r, http.StatusOK, "")
}

// showLogin shows the form with msg, already in the page's language.
func (d *Dashboard) showLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	sg, err := d.signer(r.Context())
	if err != nil {
		d.fail(w, r, err)
		return
	}
	nonce := randomToken()
	d.setCookie(w, r, loginCookie, nonce, 30*time.Minute)
	v := loginView{page: d.newPage(r, "login"), Token: sg.loginToken(nonce), Next: d.safeNext(r.FormValue("next")),
		Hours: int(d.ttl.Hours()), Error: msg}
	d.render(w, status, "login", v)
}

func (d *Dashboard) loginPost(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "malformed form", http.StatusBadRequest)
		return
	}
	sg, err := d.signer(r.Context())
	if err != nil {
		d.fail(w, r, err)
		return
	}
	p := d.newPage(r, "login")
	nonce, err := r.Cookie(loginCookie)
	if err != nil || !tokenOK(r.PostForm.Get("csrf"), sg.loginToken(nonce.Value)) {
		d.showLogin(w, r, http.StatusForbidden, p.T("login_expired"))
		return
	}
	// Every attempt counts, a right key too: counting only failures would
	// still tell a guesser when a guess is right.
	if d.cfg.LoginLimit != nil {
		if ok, retry := d.cfg.LoginLimit(r); !ok {
			d.log.Warn("dashboard: too many sign-in attempts", "remote", r.RemoteAddr)
			secs := max(int((retry+time.Second-1)/time.Second), 1)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			d.showLogin(w, r, http.StatusTooManyRequests, p.Tf("login_throttled", secs))
			return
		}
	}
	keyID, ok := d.keys.Check(strings.TrimSpace(r.PostForm.Get("key")))
	if !ok || keyID == "" || strings.ContainsAny(keyID, ".|") {
		d.log.Warn("dashboard: login refused", "remote", r.RemoteAddr)
		d.showLogin(w, r, http.StatusUnauthorized, p.T("login_bad_key"))
		return
	}
	s := session{ID: randomToken(), KeyID: keyID, Expires: d.now().Add(d.ttl)}
	if err := d.sessions.save(r.Context(), s.ID, s.KeyID, d.ttl); err != nil {
		d.fail(w, r, err)
		return
	}
	d.setCookie(w, r, sessionCookie, sg.cookie(s), d.ttl)
	d.setCookie(w, r, loginCookie, "", -1)
	http.Redirect(w, r, d.safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

// logout ends the session in the store, so a copy of the cookie is worth
// nothing either, and deletes the cookie.
func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request, s session) {
	if err := d.sessions.remove(r.Context(), s.ID); err != nil {
		d.fail(w, r, fmt.Errorf("logout: %w", err))
		return
	}
	d.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, d.prefix+"/login", http.StatusSeeOther)
}

// requireSession sends visitors without a session to the login page and
// checks the CSRF token of every POST.
func (d *Dashboard) requireSession(next func(http.ResponseWriter, *http.Request, session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok, err := d.currentSession(r)
		if err != nil {
			d.fail(w, r, err)
			return
		}
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
			sg, err := d.signer(r.Context())
			if err != nil {
				d.fail(w, r, err)
				return
			}
			if !tokenOK(r.PostForm.Get("csrf"), sg.csrfToken(s.ID)) {
				http.Error(w, "invalid or missing CSRF token: reload the page and try again", http.StatusForbidden)
				return
			}
		}
		next(w, r, s)
	}
}
