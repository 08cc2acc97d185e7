// Package httpapi is the HTTP face of npsgate: the /v1 management API behind
// API keys, the public reply and unsubscribe pages, and health and metrics.
// One file per resource.
package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/templates"
)

// Config is what the API needs. Zero durations get the documented defaults.
type Config struct {
	Store      *store.Store
	Dispatcher *dispatcher.Client
	Channels   *channels.Registry
	Templates  *templates.Set
	Links      dispatcher.Links
	// APIKeys are accepted as "Authorization: Bearer <key>".
	APIKeys []string
	// MaxBodyBytes caps request bodies. Default 1 MiB.
	MaxBodyBytes int64
	// MaxImportBytes caps a contact import's CSV. Default 1 GiB.
	MaxImportBytes int64
	// ReplyWindow is how long a reply link stays valid after sending,
	// unless the survey sets its own. Default 30 days.
	ReplyWindow time.Duration
	// TrustedProxies (IPs or CIDRs) may set X-Forwarded-For; nobody else
	// can choose the address the per-IP limits count.
	TrustedProxies []string
	// EditWindow is how long after answering a contact may change the
	// answer. Default 7 days.
	EditWindow time.Duration
	// TwilioAuthToken checks X-Twilio-Signature on Twilio's webhooks;
	// empty refuses them.
	TwilioAuthToken string
	// SMSReplyWindow is how long after sending a text reply answers the
	// survey, unless the survey sets its own. Default 7 days.
	SMSReplyWindow time.Duration
	// SMSHelpText answers HELP.
	SMSHelpText string
	// SMSMaxSegments refuses SMS templates longer than this. Default 3.
	SMSMaxSegments int
	// PhoneRegion reads numbers saved without +country ("US"); empty
	// requires +country.
	PhoneRegion string
	// TriggerSecret (whsec_…), when set, requires every trigger to be
	// signed by the Standard Webhooks scheme.
	TriggerSecret string
	// Gate, when set, is told of answers (the contact's rest after an
	// answer) and shows when a contact may next be surveyed; its limiter
	// also bounds inbound abuse.
	Gate *dispatcher.Gate
	// ReplyPagePerMinute limits answers per IP; InboundSMSPerHour inbound
	// messages per number. Defaults 30 and 30.
	ReplyPagePerMinute int
	InboundSMSPerHour  int
	// Ready reports whether the backing services answer; /readyz uses it.
	Ready func(context.Context) error
	// Dashboard is where /dashboard keeps its sessions and its secret.
	Dashboard DashboardConfig
	// Registry receives the HTTP metrics; nil uses a private one.
	Registry *prometheus.Registry
	Logger   *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// API holds the handlers. Handlers pass c.Request.Context(), never the
// *gin.Context, to anything that does I/O: gin reuses its Context after the
// handler returns, while database/sql may still watch the context it got.
type API struct {
	cfg     Config
	log     *slog.Logger
	keys    []apiKey
	pages   *pages
	metrics *metrics
	// triggerSigner verifies signed triggers when a secret is configured.
	triggerSigner *standardwebhooks.Webhook
	// surveys caches the surveys the answer paths read.
	surveys surveyCache
}

// New builds the router.
func New(cfg Config) (http.Handler, error) {
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.MaxImportBytes == 0 {
		cfg.MaxImportBytes = 1 << 30
	}
	if cfg.ReplyWindow == 0 {
		cfg.ReplyWindow = 30 * 24 * time.Hour
	}
	if cfg.EditWindow == 0 {
		cfg.EditWindow = 7 * 24 * time.Hour
	}
	if cfg.SMSReplyWindow == 0 {
		cfg.SMSReplyWindow = 7 * 24 * time.Hour
	}
	if cfg.ReplyPagePerMinute == 0 {
		cfg.ReplyPagePerMinute = 30
	}
	if cfg.InboundSMSPerHour == 0 {
		cfg.InboundSMSPerHour = 30
	}
	if cfg.SMSMaxSegments == 0 {
		cfg.SMSMaxSegments = 3
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	pg, err := loadPages()
	if err != nil {
		return nil, err
	}
	a := &API{cfg: cfg, log: cfg.Logger.With("component", "http"), pages: pg, metrics: newMetrics(cfg.Registry)}
	if cfg.TriggerSecret != "" {
		if cfg.Gate == nil {
			return nil, errors.New("signed triggers need the gate's Redis to refuse replayed ids")
		}
		w, err := standardwebhooks.NewWebhook(cfg.TriggerSecret)
		if err != nil {
			return nil, fmt.Errorf("trigger secret: %w", err)
		}
		a.triggerSigner = w
	}
	for i, k := range cfg.APIKeys {
		key, err := parseAPIKey(k)
		if err != nil {
			return nil, fmt.Errorf("api key %d: %w", i+1, err)
		}
		a.keys = append(a.keys, key)
	}
	r := a.routes()
	// nil trusts no proxy: ClientIP is then the peer address, which a
	// client cannot forge with X-Forwarded-For.
	if err := r.SetTrustedProxies(a.cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("trusted proxies: %w", err)
	}
	return r, nil
}

func (a *API) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.Use(a.recover, a.limitBody, a.deadline, a.observe)
	r.NoRoute(func(c *gin.Context) {
		// People reach /r/ and /u/ from messages, mangled by mail clients
		// at times: they get the friendly page, not JSON.
		if p := c.Request.URL.Path; strings.HasPrefix(p, "/r/") || strings.HasPrefix(p, "/u/") || strings.HasPrefix(p, "/s/") {
			u, lang := uiFor(c.GetHeader("Accept-Language"))
			a.pages.render(c, http.StatusNotFound, "message", messageView{Lang: lang, Title: u.NotFoundTitle, Heading: u.NotFoundTitle, Body: u.NotFoundBody})
			return
		}
		a.fail(c, &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "no such route"})
	})

	r.GET("/healthz", a.healthz)
	r.GET("/readyz", a.readyz)
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(a.cfg.Registry, promhttp.HandlerOpts{})))

	r.GET("/r/:token", a.replyPage)
	r.POST("/r/:token", a.replyPost)
	r.GET("/s/:code", a.shortLink)
	r.GET("/u/:token", a.unsubscribePage)
	r.POST("/u/:token", a.unsubscribePost)

	// Provider webhooks authenticate by the provider's signature, not by
	// an API key.
	r.POST("/v1/inbound/twilio/sms", a.inboundSMS)
	r.POST("/v1/inbound/twilio/status", a.twilioStatus)

	v1 := r.Group("/v1", a.authenticate)
	v1.POST("/surveys", a.createSurvey)
	v1.GET("/surveys", a.listSurveys)
	v1.GET("/surveys/:key", a.getSurvey)
	v1.PUT("/surveys/:key", a.updateSurvey)
	v1.POST("/contacts/import", a.importContacts)
	v1.GET("/imports", a.listImports)
	v1.GET("/imports/:id", a.getImport)
	v1.PUT("/contacts/:id", a.putContact)
	v1.GET("/contacts/:id", a.getContact)
	v1.DELETE("/contacts/:id", a.deleteContact)
	v1.GET("/contacts/:id/export", a.exportContact)
	v1.POST("/triggers", a.createTrigger)
	v1.GET("/deliveries/:id", a.getDelivery)
	v1.GET("/outbox", a.listOutbox)
	v1.GET("/results", a.results)
	v1.GET("/responses", a.listResponses)
	v1.GET("/responses.csv", a.responsesCSV)
	v1.GET("/responses/:id", a.getResponse)
	v1.POST("/alert-rules", a.createAlertRule)
	v1.GET("/alert-rules", a.listAlertRules)
	v1.GET("/alert-rules/:id", a.getAlertRule)
	v1.PUT("/alert-rules/:id", a.updateAlertRule)
	v1.DELETE("/alert-rules/:id", a.deleteAlertRule)
	v1.GET("/alerts", a.listAlerts)
	v1.POST("/campaigns", a.createCampaign)
	v1.GET("/campaigns", a.listCampaigns)
	v1.GET("/campaigns/:id", a.getCampaign)
	v1.PUT("/campaigns/:id", a.updateCampaign)
	v1.POST("/campaigns/:id/:action", a.campaignAction)
	v1.POST("/audiences/preview", a.previewAudience)
	v1.POST("/suppressions", a.addSuppression)
	v1.GET("/suppressions", a.listSuppressions)
	v1.DELETE("/suppressions/:channel/:address", a.removeSuppression)
	v1.POST("/webhooks", a.createWebhook)
	v1.GET("/webhooks", a.listWebhooks)
	v1.GET("/webhooks/:id", a.getWebhook)
	v1.DELETE("/webhooks/:id", a.deleteWebhook)
	v1.GET("/webhooks/:id/deliveries", a.webhookDeliveries)
	v1.POST("/webhooks/:id/deliveries/:event/replay", a.replayWebhook)
	an := a.analyticsRoutes(v1)
	r.Any("/dashboard/*path", an.dashboard())
	return r
}

// apiKey is a configured key: its SHA-256 digest (the key itself need not
// be in the configuration at all) and its scope.
type apiKey struct {
	sum [32]byte
	// scope is "" (everything) or "triggers" (POST /v1/triggers only: for
	// the CRM that fires surveys and should read nothing).
	scope string
}

// parseAPIKey reads "KEY", "sha256:HEX", or either behind "triggers=".
func parseAPIKey(s string) (apiKey, error) {
	var k apiKey
	if rest, ok := strings.CutPrefix(s, "triggers="); ok {
		k.scope, s = "triggers", rest
	}
	if h, ok := strings.CutPrefix(s, "sha256:"); ok {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != 32 {
			return k, errors.New("sha256: must be followed by 64 hex digits")
		}
		copy(k.sum[:], b)
		return k, nil
	}
	if len(s) < 16 {
		return k, errors.New("shorter than 16 characters")
	}
	k.sum = sha256.Sum256([]byte(s))
	return k, nil
}

// matchKey returns the configured key that token is. Keys are compared as
// SHA-256 digests in constant time, so neither their content nor their
// length leaks through timing; every key is compared, whichever matches.
// The dashboard's login checks keys with it too (analytics.go).
func (a *API) matchKey(token string) (apiKey, bool) {
	sum := sha256.Sum256([]byte(token))
	var found apiKey
	match := 0
	for _, k := range a.keys {
		if subtle.ConstantTimeCompare(sum[:], k.sum[:]) == 1 {
			found, match = k, 1
		}
	}
	return found, match == 1
}

// authenticate accepts a configured key (see matchKey).
func (a *API) authenticate(c *gin.Context) {
	h := c.GetHeader("Authorization")
	// The scheme is case-insensitive (RFC 7235 section 2.1): "bearer" is
	// a Bearer token too, not a missing one.
	scheme, token, ok := strings.Cut(h, " ")
	ok = ok && strings.EqualFold(scheme, "Bearer")
	token = strings.TrimSpace(token)
	if !ok || token == "" {
		c.Header("WWW-Authenticate", `Bearer realm="npsgate"`)
		a.fail(c, &apiError{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "missing API key: send Authorization: Bearer <key>"})
		return
	}
	key, ok := a.matchKey(token)
	if !ok {
		c.Header("WWW-Authenticate", `Bearer realm="npsgate", error="invalid_token"`)
		a.fail(c, &apiError{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "invalid API key"})
		return
	}
	if key.scope == "triggers" && !(c.Request.Method == http.MethodPost && c.FullPath() == "/v1/triggers") {
		a.fail(c, &apiError{Status: http.StatusForbidden, Code: "forbidden", Message: "this API key may only create triggers"})
		return
	}
	c.Next()
}

func (a *API) limitBody(c *gin.Context) {
	limit := a.cfg.MaxBodyBytes
	if c.Request.URL.Path == "/v1/contacts/import" {
		// An import streams a file of up to a million rows.
		limit = a.cfg.MaxImportBytes
	}
	if c.Request.ContentLength > limit {
		a.fail(c, &apiError{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
			Message: "request body is too large"})
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	c.Next()
}

// requestTimeout bounds a request's work, so a database that stops
// answering (a partition drops packets, no reset) gives a 503 in seconds
// instead of a hung client. Streams (imports, exports) are exempt.
const requestTimeout = 10 * time.Second

func (a *API) deadline(c *gin.Context) {
	p := c.Request.URL.Path
	if p == "/v1/contacts/import" || strings.HasSuffix(p, ".csv") || strings.HasSuffix(p, ".json") {
		c.Next()
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), requestTimeout)
	defer cancel()
	c.Request = c.Request.WithContext(ctx)
	c.Next()
}

func (a *API) recover(c *gin.Context) {
	defer func() {
		if p := recover(); p != nil {
			a.log.Error("panic in handler", "path", c.FullPath(), "panic", p)
			a.fail(c, &apiError{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"})
		}
	}()
	c.Next()
}

// notify queues what follows a saved response: for a new answer, the
// cancelling of the survey's reminders and the contact's rest after an
// answer; for every save, the closed loop (alerts, webhooks). See
// dispatcher.Notifier.Notify. The answer is stored either way: a queue
// outage must not lose it, so a failure here is logged, not returned.
// Without the task the reminders still do not go out (the sender drops
// reminders of a delivery that is responded) but the contact gets only
// the shorter rest of an unanswered survey.
func (a *API) notify(ctx context.Context, responseID string, created bool) {
	event := dispatcher.EventResponseUpdated
	if created {
		event = dispatcher.EventResponseCreated
	}
	if err := a.cfg.Dispatcher.NotifyResponse(ctx, responseID, event); err != nil {
		a.log.Error("response saved but not notified", "response_id", responseID, "err", err)
	}
}

// allow applies an abuse limit; without a gate nothing is limited.
func (a *API) allow(ctx context.Context, key string, n int, per time.Duration) (bool, time.Duration) {
	if a.cfg.Gate == nil {
		return true, 0
	}
	ok, retry, err := a.cfg.Gate.Limiter.Allow(ctx, key, n, per)
	if err != nil {
		// Redis down must not stop people from answering.
		a.log.Warn("abuse limit unavailable", "err", err)
		return true, 0
	}
	return ok, retry
}

// optedOut follows every opt-out (unsubscribe page, STOP, a carrier's
// opt-out): it cancels the contact's reminders that have not gone out, so
// the delivery views say so at once (the sender would drop them when due
// anyway), and tells webhook subscribers.
func (a *API) optedOut(ctx context.Context, contactID, channel, reason string) {
	if _, err := a.cfg.Store.CancelContactReminders(ctx, contactID, "opted_out: "+reason); err != nil {
		a.log.Error("opt-out: reminders not cancelled (the sender drops them when due)", "err", err)
	}
	if err := a.cfg.Dispatcher.Emit(ctx, dispatcher.EventContactOptedOut,
		dispatcher.OptedOutData{ContactID: contactID, Channel: channel, Reason: reason}); err != nil {
		a.log.Error("opt-out event not queued", "err", err)
	}
}

func (a *API) healthz(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }

func (a *API) readyz(c *gin.Context) {
	// Each check has its own time: a hung database must not make Redis
	// look down too.
	check := func(f func(context.Context) error) error {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		return f(ctx)
	}
	checks := gin.H{}
	ok := true
	if err := check(a.cfg.Store.Ping); err != nil {
		checks["database"] = err.Error()
		ok = false
	} else {
		checks["database"] = "ok"
	}
	if a.cfg.Ready != nil {
		if err := check(a.cfg.Ready); err != nil {
			checks["redis"] = err.Error()
			ok = false
		} else {
			checks["redis"] = "ok"
		}
	}
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	c.JSON(status, gin.H{"ready": ok, "checks": checks})
}
