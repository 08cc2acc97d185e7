// Package dashboard is npsgate's HTML dashboard: results (NPS gauge, trend,
// score distribution, categories, funnel per channel), segments, comments,
// campaigns, deliveries and the outbox, rendered on the server with SVG
// charts and one stylesheet, in English and Simplified Chinese. It needs
// no script and no network beyond the gateway itself.
//
// Visitors log in with an API key that may read results; the dashboard then
// keeps a session on the server (Redis) and an HMAC-signed, HttpOnly,
// SameSite=Lax cookie naming it, and every form it serves carries a CSRF
// token bound to the session. A logout ends the session, not only the
// cookie.
package dashboard

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/npsgate/npsgate/analytics"
	"github.com/npsgate/npsgate/store"
)

// Config is what the dashboard needs.
type Config struct {
	Store *store.Store
	// Keys checks the API keys typed at login, by the API's own rule.
	// Required.
	Keys Keys
	// Redis keeps the sessions and the random session secret, shared by
	// every API replica and kept across restarts. Nil keeps them in this
	// process: logins end when it restarts and work on this replica only.
	Redis redis.UniversalClient
	// Secret, when set, signs sessions and CSRF tokens instead of the
	// random secret kept in Redis; changing it ends every session. Use at
	// least 32 random bytes.
	Secret []byte
	// SessionTTL is how long a login lasts. Default 12 hours.
	SessionTTL time.Duration
	// LoginLimit, when set, is asked before each sign-in attempt is
	// checked; false refuses the attempt (429) for retryAfter. The API
	// limits per client IP, which only it knows behind a proxy.
	LoginLimit func(r *http.Request) (ok bool, retryAfter time.Duration)
	// Words counts comment words; nil makes one (share the API's to load
	// the Chinese dictionary once).
	Words *analytics.Words
	// Prefix is the path the dashboard is mounted at. Default /dashboard.
	Prefix string
	// TimeZone is the zone times are shown in and the trend's weeks,
	// months and quarters are cut in, unless a page's tz parameter names
	// another. Nil is UTC.
	TimeZone *time.Location
	Logger   *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Dashboard serves the pages under its prefix.
type Dashboard struct {
	cfg      Config
	store    *store.Store
	keys     Keys
	sessions sessionStore
	ttl      time.Duration
	prefix   string
	words    *analytics.Words
	log      *slog.Logger
	now      func() time.Time
	loc      *time.Location
	tpl      *template.Template
	mux      *http.ServeMux
	css      []byte

	secretMu sync.Mutex
	secret   []byte
	secretAt time.Time
}

//go:embed web
var webFS embed.FS

// New builds the dashboard. Its templates are embedded and parsed here; a
// template that does not parse is a bug caught by the package's tests, so
// New panics on it rather than making every caller handle an error.
func New(cfg Config) http.Handler {
	d, err := build(cfg)
	if err != nil {
		panic(err)
	}
	return d
}

func build(cfg Config) (*Dashboard, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.Words == nil {
		cfg.Words = analytics.NewWords()
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "/dashboard"
	}
	if cfg.TimeZone == nil {
		cfg.TimeZone = time.UTC
	}
	cfg.Prefix = strings.TrimSuffix(cfg.Prefix, "/")
	if cfg.Keys == nil {
		return nil, errors.New("dashboard: no Keys to check logins with")
	}
	d := &Dashboard{
		cfg: cfg, store: cfg.Store, keys: cfg.Keys, ttl: cfg.SessionTTL,
		prefix: cfg.Prefix, words: cfg.Words, log: cfg.Logger.With("component", "dashboard"), now: cfg.Now,
		loc: cfg.TimeZone,
	}
	if cfg.Redis != nil {
		d.sessions = redisSessions{rdb: cfg.Redis}
	} else {
		d.sessions = &memorySessions{now: cfg.Now, log: d.log}
	}
	tpl, err := template.New("").Funcs(funcs).ParseFS(webFS, "web/*.html")
	if err != nil {
		return nil, fmt.Errorf("dashboard: parse templates: %w", err)
	}
	d.tpl = tpl
	if d.css, err = fs.ReadFile(webFS, "web/app.css"); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	p := d.prefix
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+p, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, p+"/", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET "+p+"/static/app.css", d.stylesheet)
	mux.HandleFunc("GET "+p+"/login", d.loginPage)
	mux.HandleFunc("POST "+p+"/login", d.loginPost)
	mux.HandleFunc("GET "+p+"/lang", d.setLang)
	mux.HandleFunc("POST "+p+"/logout", d.requireSession(d.logout))
	mux.HandleFunc("GET "+p+"/{$}", d.requireSession(d.overview))
	mux.HandleFunc("GET "+p+"/segments", d.requireSession(d.segments))
	mux.HandleFunc("GET "+p+"/comments", d.requireSession(d.comments))
	mux.HandleFunc("GET "+p+"/campaigns", d.requireSession(d.campaigns))
	mux.HandleFunc("GET "+p+"/deliveries", d.requireSession(d.deliveries))
	mux.HandleFunc("GET "+p+"/outbox", d.requireSession(d.outbox))
	d.mux = mux
	return d, nil
}

// ServeHTTP adds the headers every page gets and routes.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	d.mux.ServeHTTP(w, r)
}

func (d *Dashboard) stylesheet(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(d.css)
}

// setLang keeps the chosen language in a cookie and goes back.
func (d *Dashboard) setLang(w http.ResponseWriter, r *http.Request) {
	lang := matchLang(r.URL.Query().Get("to"))
	d.setCookie(w, r, langCookie, lang, 365*24*time.Hour)
	http.Redirect(w, r, d.safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
}

// render writes a page; rendering to a buffer first turns a template
// error into a clean 500 instead of half a page.
func (d *Dashboard) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := d.tpl.ExecuteTemplate(&buf, name, data); err != nil {
		d.log.Error("render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail shows an error page: 400 naming the parameter for a value the
// page cannot follow, 500 otherwise, whose details stay in the log.
func (d *Dashboard) fail(w http.ResponseWriter, r *http.Request, err error) {
	p := d.newPage(r, "")
	var bad *badInput
	if errors.As(err, &bad) {
		d.log.Debug("dashboard: bad parameter", "path", r.URL.Path, "field", bad.Field)
		d.render(w, http.StatusBadRequest, "error", errorView{page: p, Field: bad.Field,
			Title: p.T("bad_request_title"), Message: p.Tf("bad_"+bad.Field, clip(bad.Value, 64))})
		return
	}
	d.log.Error("dashboard", "path", r.URL.Path, "err", err)
	d.render(w, http.StatusInternalServerError, "error", errorView{page: p, Title: p.T("error_title"), Message: p.T("error_body")})
}

type errorView struct {
	page
	Title, Message string
	// Field is the query parameter at fault, for a 400.
	Field string
}

// clip shortens s to n runes for an error message.
func clip(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i] + "…"
		}
		n--
	}
	return s
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
