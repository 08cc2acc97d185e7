// Package config loads the one Config of npsgate from an optional YAML file
// and NPSGATE_* environment variables (which win), fills defaults, and
// validates it with errors that name the key that is wrong.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/npsgate/npsgate/internal/zone"
)

// Config is everything the binary can be told. Each field names its YAML key
// and its environment variable; the comment says what an empty value means.
type Config struct {
	HTTP struct {
		// Addr is where the API and reply pages listen. Default ":8080".
		Addr string `yaml:"addr" env:"NPSGATE_HTTP_ADDR"`
		// MaxBodyBytes caps every request body. Default 1 MiB.
		MaxBodyBytes int64 `yaml:"max_body_bytes" env:"NPSGATE_HTTP_MAX_BODY_BYTES"`
		// MaxImportBytes caps a contact import's CSV. Default 1 GiB.
		MaxImportBytes int64 `yaml:"max_import_bytes" env:"NPSGATE_HTTP_MAX_IMPORT_BYTES"`
		// TrustedProxies are the IPs or CIDRs of the load balancers in
		// front of the gateway: only from them is X-Forwarded-For
		// believed. Default none, because per-IP limits on the public
		// pages are worthless if any client can name its own address.
		TrustedProxies []string `yaml:"trusted_proxies" env:"NPSGATE_HTTP_TRUSTED_PROXIES"`
	} `yaml:"http"`

	// PublicURL is the base of every link in a message (reply page,
	// unsubscribe). Default "http://localhost" plus the HTTP port.
	PublicURL string `yaml:"public_url" env:"NPSGATE_PUBLIC_URL"`

	// DataDir holds the embedded SQLite file and the generated local API
	// key. Default "./data".
	DataDir string `yaml:"data_dir" env:"NPSGATE_DATA_DIR"`

	Redis struct {
		// URL of Redis (redis://, rediss://). Empty runs an in-process
		// Redis whose queued work does not survive a restart.
		URL string `yaml:"url" env:"NPSGATE_REDIS_URL"`
	} `yaml:"redis"`

	Database struct {
		// URL is postgres://… or sqlite://path. Default
		// sqlite://<data_dir>/npsgate.db.
		URL string `yaml:"url" env:"NPSGATE_DATABASE_URL"`
	} `yaml:"database"`

	SMTP struct {
		// URL is smtp://user:pass@host:port (STARTTLS per StartTLS) or
		// smtps://… (implicit TLS). Empty keeps email in the outbox.
		URL string `yaml:"url" env:"NPSGATE_SMTP_URL"`
		// From is the sender, "Name <addr>" or a bare address. Required
		// with URL.
		From string `yaml:"from" env:"NPSGATE_SMTP_FROM"`
		// StartTLS is mandatory, opportunistic (default) or none.
		StartTLS string `yaml:"starttls" env:"NPSGATE_SMTP_STARTTLS"`
		// PoolSize is how many SMTP connections stay open. Default 8: a
		// message costs four round trips, so the connections, not the
		// CPU, bound the rate (4 carried ~8,600 messages/s to a local
		// relay in the benchmark).
		PoolSize int `yaml:"pool_size" env:"NPSGATE_SMTP_POOL_SIZE"`
		// UnsubscribeMailto is the mailto: address in List-Unsubscribe.
		// Default unsubscribe@<domain of From>; "none" leaves it out.
		// npsgate does not read that mailbox: mail to it has the subject
		// "unsubscribe <token>", and whatever receives it must record the
		// opt-out (POST /u/<token>), or the opt-out is lost.
		UnsubscribeMailto string `yaml:"unsubscribe_mailto" env:"NPSGATE_SMTP_UNSUBSCRIBE_MAILTO"`
	} `yaml:"smtp"`

	Twilio struct {
		// AccountSID (AC…) and AuthToken turn on the sms and whatsapp
		// channels; without them SMS goes to the outbox. AuthToken also
		// checks the signature of Twilio's webhooks.
		AccountSID string `yaml:"account_sid" env:"NPSGATE_TWILIO_ACCOUNT_SID"`
		AuthToken  string `yaml:"auth_token" env:"NPSGATE_TWILIO_AUTH_TOKEN"`
		// From is the sending number (E.164), short code or sender id.
		From string `yaml:"from" env:"NPSGATE_TWILIO_FROM"`
		// MessagingServiceSID (MG…) is used instead of From when set.
		MessagingServiceSID string `yaml:"messaging_service_sid" env:"NPSGATE_TWILIO_MESSAGING_SERVICE_SID"`
		// WhatsAppFrom is the WhatsApp sender number (E.164); empty leaves
		// the whatsapp channel off.
		WhatsAppFrom string `yaml:"whatsapp_from" env:"NPSGATE_TWILIO_WHATSAPP_FROM"`
		// WhatsAppContentSID (HX…) is an approved template; WhatsApp needs
		// one to open a conversation.
		WhatsAppContentSID string `yaml:"whatsapp_content_sid" env:"NPSGATE_TWILIO_WHATSAPP_CONTENT_SID"`
		// APIURL is the base URL of Twilio's REST API. Default
		// https://api.twilio.com; tests and staging point it elsewhere.
		APIURL string `yaml:"api_url" env:"NPSGATE_TWILIO_API_URL"`
	} `yaml:"twilio"`

	SMS struct {
		// ReplyWindow is how long after sending a text reply counts as an
		// answer to the survey, unless the survey sets its own. Default
		// 168h (7 days).
		ReplyWindow Duration `yaml:"reply_window" env:"NPSGATE_SMS_REPLY_WINDOW"`
		// HelpText answers HELP.
		HelpText string `yaml:"help_text" env:"NPSGATE_SMS_HELP_TEXT"`
		// MaxSegments refuses SMS templates longer than this many
		// segments. Default 3.
		MaxSegments int `yaml:"max_segments" env:"NPSGATE_SMS_MAX_SEGMENTS"`
		// DefaultRegion (ISO 3166, e.g. US) reads phone numbers saved
		// without a country code; empty requires +country.
		DefaultRegion string `yaml:"default_region" env:"NPSGATE_SMS_DEFAULT_REGION"`
	} `yaml:"sms"`

	Triggers struct {
		// SigningSecret (whsec_…), when set, requires every POST
		// /v1/triggers to be signed by the Standard Webhooks scheme
		// (5-minute tolerance, replayed ids refused), besides its API key.
		SigningSecret string `yaml:"signing_secret" env:"NPSGATE_TRIGGERS_SIGNING_SECRET"`
	} `yaml:"triggers"`

	Security struct {
		// AllowPrivateTargets lets webhooks and chat robots reach
		// loopback, link-local and private addresses. Off by default: a
		// webhook URL must not become a way into the internal network.
		AllowPrivateTargets bool `yaml:"allow_private_targets" env:"NPSGATE_SECURITY_ALLOW_PRIVATE_TARGETS"`
	} `yaml:"security"`

	Chat struct {
		// WebhookSecret (whsec_…) signs survey messages sent on the
		// generic "webhook" chat channel; empty leaves that channel off.
		// Slack, Teams, DingTalk, Feishu and WeCom need no setting: a
		// contact's or target's address is its group's webhook URL.
		WebhookSecret string `yaml:"webhook_secret" env:"NPSGATE_CHAT_WEBHOOK_SECRET"`
	} `yaml:"chat"`

	Throttle struct {
		// RelationshipDays is how long a contact rests after a campaign
		// survey. Default 90.
		RelationshipDays int `yaml:"relationship_days" env:"NPSGATE_THROTTLE_RELATIONSHIP_DAYS"`
		// TransactionalDays is the rest after a triggered survey. Default 30.
		TransactionalDays int `yaml:"transactional_days" env:"NPSGATE_THROTTLE_TRANSACTIONAL_DAYS"`
		// UnansweredDays, when set, is the shorter rest after a survey
		// that got no answer. Default: the same as answered.
		UnansweredDays int `yaml:"unanswered_days" env:"NPSGATE_THROTTLE_UNANSWERED_DAYS"`
		// AccountCap is how many surveys one account gets per
		// AccountWindowDays; 0 = no cap.
		AccountCap        int `yaml:"account_cap" env:"NPSGATE_THROTTLE_ACCOUNT_CAP"`
		AccountWindowDays int `yaml:"account_window_days" env:"NPSGATE_THROTTLE_ACCOUNT_WINDOW_DAYS"`
		// DuplicateWindow refuses the same message to the same address
		// within it. Default 12h.
		DuplicateWindow Duration `yaml:"duplicate_window" env:"NPSGATE_THROTTLE_DUPLICATE_WINDOW"`
		// Rates are token buckets per channel, "channel=N/s|m|h" comma
		// separated. Default "sms=1/s,whatsapp=1/s,dingtalk=20/m,wecom=20/m,feishu=100/m".
		Rates string `yaml:"rates" env:"NPSGATE_THROTTLE_RATES"`
		// QuietHours, "HH:MM-HH:MM" in the contact's time zone, is when no
		// survey goes out (deferred to the end); empty = none.
		QuietHours string `yaml:"quiet_hours" env:"NPSGATE_THROTTLE_QUIET_HOURS"`
		// ReplyPagePerMinute limits reply-page posts per IP. Default 30.
		ReplyPagePerMinute int `yaml:"reply_page_per_minute" env:"NPSGATE_THROTTLE_REPLY_PAGE_PER_MINUTE"`
		// InboundSMSPerHour limits inbound messages per number. Default 30.
		InboundSMSPerHour int `yaml:"inbound_sms_per_hour" env:"NPSGATE_THROTTLE_INBOUND_SMS_PER_HOUR"`
	} `yaml:"throttle"`

	// APIKeys are the bearer keys of the /v1 API, comma-separated in the
	// environment: the key itself, or "sha256:<hex>" of it so that the
	// configuration holds no secret; "triggers=" before either limits the
	// key to POST /v1/triggers. Several keys at once allow rotation.
	// Empty: a key is generated once into <data_dir>/api-key.
	APIKeys []string `yaml:"api_keys" env:"NPSGATE_API_KEYS"`

	Worker struct {
		// Concurrency is how many survey sends of one channel family
		// (email, SMS, chat) one worker process runs at once; alerts,
		// webhooks and campaign fan-out have a few slots of their own, so
		// a hung provider cannot hold them. Default 20.
		Concurrency int `yaml:"concurrency" env:"NPSGATE_WORKER_CONCURRENCY"`
		// MaxRetry is how often a retryable send is tried again. Default 8.
		MaxRetry int `yaml:"max_retry" env:"NPSGATE_WORKER_MAX_RETRY"`
		// RetryBaseDelay is the first retry's delay; each next one doubles,
		// with jitter, up to an hour. Default 10s.
		RetryBaseDelay Duration `yaml:"retry_base_delay" env:"NPSGATE_WORKER_RETRY_BASE_DELAY"`
		// PollInterval is how often an idle worker looks for tasks and
		// delayed or retried tasks become ready: the latency of a survey on
		// a quiet system. Default 50ms (200ms put the trigger-to-provider
		// p99 at ~280ms in the benchmark); an idle poll is one Redis call
		// per lane.
		PollInterval Duration `yaml:"poll_interval" env:"NPSGATE_WORKER_POLL_INTERVAL"`
		// SchedulerInterval is how often a worker looks for campaign runs
		// that are due. Default 5s.
		SchedulerInterval Duration `yaml:"scheduler_interval" env:"NPSGATE_WORKER_SCHEDULER_INTERVAL"`
		// OpsAddr is where a worker-only process (`npsgate worker`)
		// serves /metrics, /healthz and /readyz, which it otherwise could
		// not: it serves no API. Default ":9091"; "none" turns it off
		// (empty after loading). Unauthenticated, like the API's
		// /metrics, so bind it to an address only the scraper reaches.
		// `npsgate serve` ignores it: its API serves the same endpoints.
		OpsAddr string `yaml:"ops_addr" env:"NPSGATE_WORKER_OPS_ADDR"`
	} `yaml:"worker"`

	Dashboard struct {
		// SessionSecret signs dashboard sessions (at least 32
		// characters). Empty: a random secret is made once and kept in
		// Redis, shared by every API replica. Changing it ends every
		// session.
		SessionSecret string `yaml:"session_secret" env:"NPSGATE_DASHBOARD_SESSION_SECRET"`
		// SessionTTL is how long a dashboard login lasts. Default 12h.
		SessionTTL Duration `yaml:"session_ttl" env:"NPSGATE_DASHBOARD_SESSION_TTL"`
		// TimeZone is the IANA zone (Asia/Shanghai) the dashboard shows
		// times in and cuts its trend's weeks, months and quarters in; a
		// page's tz parameter overrides it. Default UTC.
		TimeZone string `yaml:"time_zone" env:"NPSGATE_DASHBOARD_TIME_ZONE"`
	} `yaml:"dashboard"`

	Survey struct {
		// ReplyWindow is how long a reply link stays valid after sending,
		// unless the survey sets its own. Default 720h (30 days).
		ReplyWindow Duration `yaml:"reply_window" env:"NPSGATE_SURVEY_REPLY_WINDOW"`
		// EditWindow is how long after the first answer a contact may
		// change it. Default 168h (7 days).
		EditWindow Duration `yaml:"edit_window" env:"NPSGATE_SURVEY_EDIT_WINDOW"`
	} `yaml:"survey"`

	// ShutdownTimeout bounds how long running tasks may take to finish
	// after SIGTERM. Default 30s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout" env:"NPSGATE_SHUTDOWN_TIMEOUT"`

	Log struct {
		// Level is debug, info (default), warn or error.
		Level string `yaml:"level" env:"NPSGATE_LOG_LEVEL"`
		// Format is text (default) or json.
		Format string `yaml:"format" env:"NPSGATE_LOG_FORMAT"`
	} `yaml:"log"`
}

// Duration is a time.Duration written as "48h" in YAML and the environment.
type Duration time.Duration

// UnmarshalYAML accepts a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Error is a configuration error that names the key.
type Error struct {
	Key string // YAML path, e.g. "smtp.url"
	Env string // environment variable, e.g. "NPSGATE_SMTP_URL"
	Msg string
}

func (e *Error) Error() string {
	if e.Env != "" {
		return fmt.Sprintf("config: %s (%s): %s", e.Key, e.Env, e.Msg)
	}
	return fmt.Sprintf("config: %s: %s", e.Key, e.Msg)
}

// Load reads the YAML file at path (none when path is empty), applies the
// environment (lookup is os.LookupEnv in production), fills defaults and
// validates.
func Load(path string, lookup func(string) (string, bool)) (*Config, error) {
	var c Config
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		// An empty file decodes to io.EOF; it means "all defaults".
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if err := applyEnv(reflect.ValueOf(&c).Elem(), "", lookup); err != nil {
		return nil, err
	}
	c.fillDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// EnvKeys lists every environment variable the config knows, sorted.
func EnvKeys() []string {
	var out []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if env := f.Tag.Get("env"); env != "" {
				out = append(out, env)
			} else if f.Type.Kind() == reflect.Struct {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeOf(Config{}))
	sort.Strings(out)
	return out
}

func applyEnv(v reflect.Value, prefix string, lookup func(string) (string, bool)) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if prefix != "" {
			key = prefix + "." + key
		}
		env := f.Tag.Get("env")
		if env == "" {
			if f.Type.Kind() == reflect.Struct {
				if err := applyEnv(v.Field(i), key, lookup); err != nil {
					return err
				}
			}
			continue
		}
		raw, ok := lookup(env)
		if !ok {
			continue
		}
		if err := setField(v.Field(i), raw); err != nil {
			return &Error{Key: key, Env: env, Msg: err.Error()}
		}
	}
	return nil
}

var durationType = reflect.TypeOf(Duration(0))

func setField(f reflect.Value, raw string) error {
	raw = strings.TrimSpace(raw)
	switch {
	case f.Type() == durationType:
		d, err := time.ParseDuration(raw)
		if err != nil {
			return fmt.Errorf("not a duration (like 30s, 48h): %q", raw)
		}
		f.SetInt(int64(d))
	case f.Kind() == reflect.String:
		f.SetString(raw)
	case f.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", raw)
		}
		f.SetBool(b)
	case f.Kind() == reflect.Int, f.Kind() == reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return fmt.Errorf("not a whole number: %q", raw)
		}
		f.SetInt(n)
	case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
		var items []string
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		f.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("unsupported field type %s", f.Type())
	}
	return nil
}

// Defaults is the configuration with nothing set: what the benchmark's
// limits compare with, so they follow a changed default.
func Defaults() Config {
	var c Config
	c.fillDefaults()
	return c
}

func (c *Config) fillDefaults() {
	if c.HTTP.Addr == "" {
		c.HTTP.Addr = ":8080"
	}
	if c.HTTP.MaxBodyBytes == 0 {
		c.HTTP.MaxBodyBytes = 1 << 20
	}
	if c.HTTP.MaxImportBytes == 0 {
		c.HTTP.MaxImportBytes = 1 << 30
	}
	if c.DataDir == "" {
		c.DataDir = "./data"
	}
	if c.PublicURL == "" {
		port := c.HTTP.Addr[strings.LastIndex(c.HTTP.Addr, ":")+1:]
		c.PublicURL = "http://localhost:" + port
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.Database.URL == "" {
		c.Database.URL = "sqlite://" + strings.TrimRight(c.DataDir, "/") + "/npsgate.db"
	}
	if c.SMTP.StartTLS == "" {
		c.SMTP.StartTLS = "opportunistic"
	}
	if c.SMTP.PoolSize == 0 {
		c.SMTP.PoolSize = 8
	}
	if c.SMTP.UnsubscribeMailto == "" && c.SMTP.From != "" {
		if a, err := mail.ParseAddress(c.SMTP.From); err == nil {
			c.SMTP.UnsubscribeMailto = "unsubscribe@" + a.Address[strings.LastIndex(a.Address, "@")+1:]
		}
	}
	if strings.EqualFold(c.SMTP.UnsubscribeMailto, "none") {
		c.SMTP.UnsubscribeMailto = ""
	}
	if c.Twilio.APIURL == "" {
		c.Twilio.APIURL = "https://api.twilio.com"
	}
	c.Twilio.APIURL = strings.TrimRight(c.Twilio.APIURL, "/")
	if c.SMS.ReplyWindow == 0 {
		c.SMS.ReplyWindow = Duration(7 * 24 * time.Hour)
	}
	if c.SMS.HelpText == "" {
		c.SMS.HelpText = "You are receiving a short customer survey. Reply with a number to answer, STOP to opt out."
	}
	if c.SMS.MaxSegments == 0 {
		c.SMS.MaxSegments = 3
	}
	t := &c.Throttle
	if t.RelationshipDays == 0 {
		t.RelationshipDays = 90
	}
	if t.TransactionalDays == 0 {
		t.TransactionalDays = 30
	}
	if t.AccountWindowDays == 0 {
		t.AccountWindowDays = 30
	}
	if t.DuplicateWindow == 0 {
		t.DuplicateWindow = Duration(12 * time.Hour)
	}
	if t.Rates == "" {
		t.Rates = "sms=1/s,whatsapp=1/s,dingtalk=20/m,wecom=20/m,feishu=100/m"
	}
	if t.ReplyPagePerMinute == 0 {
		t.ReplyPagePerMinute = 30
	}
	if t.InboundSMSPerHour == 0 {
		t.InboundSMSPerHour = 30
	}
	if c.Worker.Concurrency == 0 {
		c.Worker.Concurrency = 20
	}
	if c.Worker.MaxRetry == 0 {
		c.Worker.MaxRetry = 8
	}
	if c.Worker.RetryBaseDelay == 0 {
		c.Worker.RetryBaseDelay = Duration(10 * time.Second)
	}
	if c.Worker.SchedulerInterval == 0 {
		c.Worker.SchedulerInterval = Duration(5 * time.Second)
	}
	if c.Worker.PollInterval == 0 {
		c.Worker.PollInterval = Duration(50 * time.Millisecond)
	}
	c.Worker.OpsAddr = strings.TrimSpace(c.Worker.OpsAddr)
	switch {
	case c.Worker.OpsAddr == "":
		c.Worker.OpsAddr = ":9091"
	case strings.EqualFold(c.Worker.OpsAddr, "none"):
		c.Worker.OpsAddr = ""
	}
	if c.Survey.ReplyWindow == 0 {
		c.Survey.ReplyWindow = Duration(30 * 24 * time.Hour)
	}
	if c.Survey.EditWindow == 0 {
		c.Survey.EditWindow = Duration(7 * 24 * time.Hour)
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = Duration(30 * time.Second)
	}
	if c.Dashboard.TimeZone == "" {
		c.Dashboard.TimeZone = "UTC"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
}

// Validate checks every value and returns the first problem as an *Error.
func (c *Config) Validate() error {
	bad := func(key, msg string) error { return &Error{Key: key, Env: envOf(key), Msg: msg} }
	if _, port, ok := strings.Cut(c.HTTP.Addr, ":"); !ok || port == "" {
		return bad("http.addr", fmt.Sprintf("want host:port or :port, got %q", c.HTTP.Addr))
	}
	if c.HTTP.MaxBodyBytes < 1024 {
		return bad("http.max_body_bytes", "must be at least 1024")
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("public_url", fmt.Sprintf("want an absolute http(s) URL, got %q", c.PublicURL))
	}
	if c.Redis.URL != "" {
		if u, err := url.Parse(c.Redis.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			return bad("redis.url", "want redis://host:port/db or rediss://…")
		}
	}
	switch u, err := url.Parse(c.Database.URL); {
	case err != nil:
		return bad("database.url", "not a URL")
	case u.Scheme == "postgres" || u.Scheme == "postgresql":
	case u.Scheme == "sqlite":
		if strings.TrimPrefix(c.Database.URL, "sqlite://") == "" {
			return bad("database.url", "sqlite:// needs a file path")
		}
	default:
		return bad("database.url", fmt.Sprintf("scheme must be postgres or sqlite, got %q", u.Scheme))
	}
	if c.SMTP.URL != "" {
		u, err := url.Parse(c.SMTP.URL)
		if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
			return bad("smtp.url", "want smtp://user:pass@host:port or smtps://…")
		}
		if c.SMTP.From == "" {
			return bad("smtp.from", "required when smtp.url is set")
		}
	}
	if c.SMTP.From != "" {
		if _, err := mail.ParseAddress(c.SMTP.From); err != nil {
			return bad("smtp.from", fmt.Sprintf("not an email address: %v", err))
		}
	}
	switch c.SMTP.StartTLS {
	case "mandatory", "opportunistic", "none":
	default:
		return bad("smtp.starttls", fmt.Sprintf("want mandatory, opportunistic or none, got %q", c.SMTP.StartTLS))
	}
	if n := len(c.Dashboard.SessionSecret); n > 0 && n < 32 {
		return bad("dashboard.session_secret", fmt.Sprintf("must be at least 32 characters, got %d", n))
	}
	if c.Dashboard.SessionTTL < 0 {
		return bad("dashboard.session_ttl", "must not be negative")
	}
	if _, err := DashboardLocation(c.Dashboard.TimeZone); err != nil {
		return bad("dashboard.time_zone", err.Error())
	}
	for _, p := range c.HTTP.TrustedProxies {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			return bad("http.trusted_proxies", fmt.Sprintf("%q is not an IP address or CIDR", p))
		}
	}
	if c.SMTP.PoolSize < 1 || c.SMTP.PoolSize > 100 {
		return bad("smtp.pool_size", "must be between 1 and 100")
	}
	for _, d := range []struct {
		key  string
		days int
	}{
		{"throttle.relationship_days", c.Throttle.RelationshipDays},
		{"throttle.transactional_days", c.Throttle.TransactionalDays},
		{"throttle.unanswered_days", c.Throttle.UnansweredDays},
	} {
		if d.days < 0 {
			return bad(d.key, "fatigue days must not be negative")
		}
	}
	if c.Throttle.AccountCap < 0 {
		return bad("throttle.account_cap", "must not be negative")
	}
	if q := c.Throttle.QuietHours; q != "" {
		if _, err := QuietWindow(q); err != nil {
			return bad("throttle.quiet_hours", err.Error())
		}
	}
	if err := c.validateTwilio(bad); err != nil {
		return err
	}
	for i, k := range c.APIKeys {
		k = strings.TrimPrefix(k, "triggers=")
		if h, ok := strings.CutPrefix(k, "sha256:"); ok {
			if !sha256Hex.MatchString(h) {
				return bad("api_keys", fmt.Sprintf("key %d: sha256: must be followed by 64 hex digits", i+1))
			}
			continue
		}
		if len(k) < 16 {
			return bad("api_keys", fmt.Sprintf("key %d is shorter than 16 characters", i+1))
		}
	}
	if c.Worker.Concurrency < 1 {
		return bad("worker.concurrency", "must be at least 1")
	}
	if c.Worker.MaxRetry < 0 {
		return bad("worker.max_retry", "must not be negative")
	}
	if c.Worker.RetryBaseDelay < Duration(10*time.Millisecond) {
		return bad("worker.retry_base_delay", "must be at least 10ms")
	}
	if c.Worker.PollInterval < Duration(10*time.Millisecond) || c.Worker.PollInterval > Duration(time.Minute) {
		return bad("worker.poll_interval", "must be between 10ms and 1m")
	}
	if a := c.Worker.OpsAddr; a != "" {
		// Checked here, not first at bind time, so a typo stops the
		// start before the worker takes a task.
		_, port, err := net.SplitHostPort(a)
		if err != nil {
			return bad("worker.ops_addr", fmt.Sprintf("want host:port, :port or none, got %q", a))
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return bad("worker.ops_addr", fmt.Sprintf("port must be a number from 0 to 65535, got %q", port))
		}
	}
	if c.Survey.ReplyWindow < Duration(time.Hour) {
		return bad("survey.reply_window", "must be at least 1h")
	}
	if c.Survey.EditWindow < 0 {
		return bad("survey.edit_window", "must not be negative")
	}
	if c.ShutdownTimeout < 0 {
		return bad("shutdown_timeout", "must not be negative")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return bad("log.level", "want debug, info, warn or error")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return bad("log.format", "want text or json")
	}
	return nil
}

func (c *Config) validateTwilio(bad func(key, msg string) error) error {
	t := c.Twilio
	if c.SMS.ReplyWindow < Duration(time.Minute) {
		return bad("sms.reply_window", "must be at least 1m")
	}
	if c.SMS.MaxSegments < 1 || c.SMS.MaxSegments > 10 {
		return bad("sms.max_segments", "must be between 1 and 10")
	}
	if c.SMS.DefaultRegion != "" && len(c.SMS.DefaultRegion) != 2 {
		return bad("sms.default_region", "want a two-letter country code like US")
	}
	if u, err := url.Parse(t.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("twilio.api_url", "want an absolute http(s) URL")
	}
	if t.AccountSID == "" {
		if t.AuthToken != "" || t.From != "" || t.MessagingServiceSID != "" || t.WhatsAppFrom != "" {
			return bad("twilio.account_sid", "required when any other twilio setting is set")
		}
		return nil
	}
	if !strings.HasPrefix(t.AccountSID, "AC") || len(t.AccountSID) != 34 {
		return bad("twilio.account_sid", "want AC followed by 32 characters")
	}
	if t.AuthToken == "" {
		return bad("twilio.auth_token", "required with twilio.account_sid")
	}
	if t.From == "" && t.MessagingServiceSID == "" && t.WhatsAppFrom == "" {
		return bad("twilio.from", "set twilio.from, twilio.messaging_service_sid or twilio.whatsapp_from")
	}
	if t.MessagingServiceSID != "" && (!strings.HasPrefix(t.MessagingServiceSID, "MG") || len(t.MessagingServiceSID) != 34) {
		return bad("twilio.messaging_service_sid", "want MG followed by 32 characters")
	}
	if t.WhatsAppFrom != "" && !e164.MatchString(t.WhatsAppFrom) {
		return bad("twilio.whatsapp_from", "want an E.164 number like +14155550100")
	}
	if t.WhatsAppContentSID != "" && !strings.HasPrefix(t.WhatsAppContentSID, "HX") {
		return bad("twilio.whatsapp_content_sid", "want a Content SID starting with HX")
	}
	return nil
}

var sha256Hex = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

var hhmm = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// envOf finds the environment variable of a YAML key path.
func envOf(key string) string {
	var find func(t reflect.Type, prefix string) string
	find = func(t reflect.Type, prefix string) string {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			k := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if prefix != "" {
				k = prefix + "." + k
			}
			if k == key {
				return f.Tag.Get("env")
			}
			if f.Type.Kind() == reflect.Struct && f.Type != durationType {
				if e := find(f.Type, k); e != "" {
					return e
				}
			}
		}
		return ""
	}
	return find(reflect.TypeOf(Config{}), "")
}

// QuietWindow turns quiet hours "21:00-08:00" into the hours between them
// that are open ("08:00", "21:00"). Quiet hours must span midnight or lie
// within one day.
func QuietWindow(q string) ([2]string, error) {
	from, to, ok := strings.Cut(q, "-")
	from, to = strings.TrimSpace(from), strings.TrimSpace(to)
	if !ok || !hhmm.MatchString(from) || !hhmm.MatchString(to) || from == to {
		return [2]string{}, fmt.Errorf("want HH:MM-HH:MM like 21:00-08:00, got %q", q)
	}
	if to < from {
		return [2]string{to, from}, nil // quiet across midnight: open in between
	}
	return [2]string{}, fmt.Errorf("quiet hours within one day (%s) are not supported; give the night, like 21:00-08:00", q)
}

// DashboardLocation loads dashboard.time_zone; empty is UTC. "Local" is
// refused: it would follow whatever TZ the host happens to run with, so
// two replicas could cut the same trend differently.
func DashboardLocation(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	loc, ok := zone.Named(name)
	if !ok {
		return nil, fmt.Errorf("want an IANA time zone such as Asia/Shanghai or UTC, got %q", name)
	}
	return loc, nil
}

// EmbeddedRedis reports whether the in-process Redis is used.
func (c *Config) EmbeddedRedis() bool { return c.Redis.URL == "" }
