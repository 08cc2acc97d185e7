// Package gateway assembles npsgate from a Config: store, Redis, channels,
// templates, the dispatcher and the HTTP API, in the roles a process plays
// (api, worker, or both). cmd/npsgate and the end-to-end tests use it.
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/npsgate/npsgate/campaign"
	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/channels/chat/dingtalk"
	"github.com/npsgate/npsgate/channels/chat/feishu"
	"github.com/npsgate/npsgate/channels/chat/slack"
	"github.com/npsgate/npsgate/channels/chat/teams"
	"github.com/npsgate/npsgate/channels/chat/webhook"
	"github.com/npsgate/npsgate/channels/chat/wecom"
	"github.com/npsgate/npsgate/channels/email"
	"github.com/npsgate/npsgate/channels/outbox"
	"github.com/npsgate/npsgate/channels/sms"
	"github.com/npsgate/npsgate/config"
	"github.com/npsgate/npsgate/contactimport"
	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/httpapi"
	"github.com/npsgate/npsgate/internal/netguard"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/templates"
	"github.com/npsgate/npsgate/throttle"
)

// Role is what a process does.
type Role int

const (
	// RoleAPI serves HTTP.
	RoleAPI Role = 1 << iota
	// RoleWorker runs the dispatcher's tasks.
	RoleWorker
	// RoleAll is `npsgate serve`: everything in one process.
	RoleAll = RoleAPI | RoleWorker
)

// Gateway is a running set of parts. Build it with New, run it with Run.
type Gateway struct {
	cfg   *config.Config
	role  Role
	log   *slog.Logger
	mini  *miniredis.Miniredis
	redis asynq.RedisConnOpt
	rdb   *redis.Client

	Store     *store.Store
	Channels  *channels.Registry
	Templates *templates.Set
	Client    *dispatcher.Client
	Links     dispatcher.Links

	worker    *dispatcher.Worker
	recoverer *dispatcher.Recoverer
	scheduler *dispatcher.Scheduler
	handler   http.Handler
	listener  net.Listener
	ops       *opsServer // worker-only processes; nil otherwise or when off
	// APIKeys are the keys the API accepts (configured or generated).
	APIKeys []string
}

// New builds every part the role needs and opens its connections; nothing
// serves until Run. On error, whatever was opened is closed.
func New(ctx context.Context, cfg *config.Config, role Role, log *slog.Logger) (_ *Gateway, err error) {
	if log == nil {
		log = slog.Default()
	}
	g := &Gateway{cfg: cfg, role: role, log: log}
	defer func() {
		if err != nil {
			g.close()
		}
	}()

	if cfg.EmbeddedRedis() && role != RoleAll {
		return nil, &config.Error{Key: "redis.url", Env: "NPSGATE_REDIS_URL",
			Msg: "required for separate api and worker processes (the in-process Redis exists only in `npsgate serve`)"}
	}
	redisURL := cfg.Redis.URL
	if cfg.EmbeddedRedis() {
		g.mini = miniredis.NewMiniRedis()
		if err := g.mini.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("start in-process redis: %w", err)
		}
		redisURL = "redis://" + g.mini.Addr() + "/0"
		log.Warn("using the in-process Redis: queued and scheduled work does not survive a restart; set redis.url (NPSGATE_REDIS_URL) in production")
	}
	if g.redis, err = asynq.ParseRedisURI(redisURL); err != nil {
		return nil, &config.Error{Key: "redis.url", Env: "NPSGATE_REDIS_URL", Msg: err.Error()}
	}
	ropt, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, &config.Error{Key: "redis.url", Env: "NPSGATE_REDIS_URL", Msg: err.Error()}
	}
	g.rdb = redis.NewClient(ropt)

	if strings.HasPrefix(cfg.Database.URL, "sqlite://") {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
	}
	if g.Store, err = store.Open(ctx, cfg.Database.URL, log); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	// The embedded database migrates itself so that `serve` needs nothing
	// else; a shared PostgreSQL is migrated by `npsgate migrate` (or by
	// serve, which takes an advisory lock).
	if strings.HasPrefix(cfg.Database.URL, "sqlite://") || role == RoleAll {
		if err := g.Store.Migrate(ctx); err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
	}
	if g.Templates, err = templates.New(); err != nil {
		return nil, err
	}
	if g.Channels, err = buildChannels(cfg, g.Store, log); err != nil {
		return nil, err
	}
	g.Links = dispatcher.Links{Base: cfg.PublicURL, UnsubscribeMailto: cfg.SMTP.UnsubscribeMailto}
	g.Client = dispatcher.NewClient(g.redis, cfg.Worker.MaxRetry)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gate, err := buildGate(cfg, g.rdb, reg)
	if err != nil {
		return nil, err
	}
	// Every role reports the queues' depth: it matters most when no
	// worker runs, and any process can read it from Redis.
	reg.MustRegister(dispatcher.NewQueueCollector(g.rdb))
	if role&RoleWorker != 0 {
		metrics := dispatcher.NewMetrics(reg)
		g.worker = dispatcher.NewWorker(g.redis, dispatcher.WorkerConfig{
			Concurrency:     cfg.Worker.Concurrency,
			ShutdownTimeout: time.Duration(cfg.ShutdownTimeout),
			RetryBaseDelay:  time.Duration(cfg.Worker.RetryBaseDelay),
			PollInterval:    time.Duration(cfg.Worker.PollInterval),
			Logger:          log,
		}, &dispatcher.Sender{Store: g.Store, Channels: g.Channels, Templates: g.Templates, Links: g.Links, Events: g.Client,
			Gate: gate, Metrics: metrics, Logger: log},
			&dispatcher.Notifier{Store: g.Store, Channels: g.Channels, Client: g.Client, Links: g.Links, Logger: log,
				Gate: gate, Metrics: metrics, Transport: netguard.Transport(cfg.Security.AllowPrivateTargets)},
			&dispatcher.Fanout{Store: g.Store, Client: g.Client, Links: g.Links, Logger: log,
				ReplyWindow: time.Duration(cfg.Survey.ReplyWindow)},
			&dispatcher.Digests{Store: g.Store, Channels: g.Channels, Links: g.Links, Metrics: metrics, Logger: log})
		g.scheduler = &dispatcher.Scheduler{Store: g.Store, Client: g.Client, Logger: log,
			Interval: time.Duration(cfg.Worker.SchedulerInterval)}
	}
	if role&RoleWorker != 0 {
		g.recoverer = &dispatcher.Recoverer{Store: g.Store, Client: g.Client, Logger: log}
	}
	if role == RoleWorker && cfg.Worker.OpsAddr != "" {
		// Bound here rather than in Run so that an unusable address
		// fails the start like any other configuration error.
		h := opsHandler(reg, []readyCheck{
			{name: "database", ping: g.Store.Ping},
			{name: "redis", ping: func(ctx context.Context) error { return g.rdb.Ping(ctx).Err() }},
		})
		if g.ops, err = listenOps(cfg.Worker.OpsAddr, h, log); err != nil {
			return nil, err
		}
	}
	if role&RoleAPI != 0 {
		if g.APIKeys, err = apiKeys(cfg, log); err != nil {
			return nil, err
		}
		var dashZone *time.Location
		if dashZone, err = config.DashboardLocation(cfg.Dashboard.TimeZone); err != nil {
			return nil, fmt.Errorf("gateway: dashboard.time_zone: %w", err)
		}
		g.handler, err = httpapi.New(httpapi.Config{
			Store: g.Store, Dispatcher: g.Client, Channels: g.Channels, Templates: g.Templates, Links: g.Links,
			APIKeys: g.APIKeys, MaxBodyBytes: cfg.HTTP.MaxBodyBytes, MaxImportBytes: cfg.HTTP.MaxImportBytes,
			TrustedProxies: cfg.HTTP.TrustedProxies,
			Dashboard: httpapi.DashboardConfig{Redis: g.rdb, SessionSecret: cfg.Dashboard.SessionSecret,
				SessionTTL: time.Duration(cfg.Dashboard.SessionTTL), TimeZone: dashZone},
			ReplyWindow: time.Duration(cfg.Survey.ReplyWindow), EditWindow: time.Duration(cfg.Survey.EditWindow),
			TwilioAuthToken: cfg.Twilio.AuthToken, SMSReplyWindow: time.Duration(cfg.SMS.ReplyWindow),
			SMSHelpText: cfg.SMS.HelpText, SMSMaxSegments: cfg.SMS.MaxSegments, PhoneRegion: cfg.SMS.DefaultRegion,
			Ready: func(ctx context.Context) error { return g.rdb.Ping(ctx).Err() },
			Gate:  gate, ReplyPagePerMinute: cfg.Throttle.ReplyPagePerMinute, InboundSMSPerHour: cfg.Throttle.InboundSMSPerHour,
			Registry: reg, Logger: log,
		})
		if err != nil {
			return nil, err
		}
	}
	return g, nil
}

func buildChannels(cfg *config.Config, st *store.Store, log *slog.Logger) (*channels.Registry, error) {
	reg := channels.NewRegistry()
	var emailCh channels.Channel
	if cfg.SMTP.URL != "" {
		ch, err := email.New(email.Config{
			URL: cfg.SMTP.URL, From: cfg.SMTP.From, StartTLS: cfg.SMTP.StartTLS,
			PoolSize: cfg.SMTP.PoolSize, Logger: log,
		})
		if err != nil {
			return nil, &config.Error{Key: "smtp", Msg: err.Error()}
		}
		emailCh = ch
	} else {
		log.Info("no SMTP configured: email is kept in the outbox (GET /v1/outbox) instead of being sent")
		emailCh = outbox.New("email", st)
	}
	list := []channels.Channel{emailCh}
	if t := cfg.Twilio; t.AccountSID != "" {
		tc := sms.Config{
			AccountSID: t.AccountSID, AuthToken: t.AuthToken, From: t.From,
			MessagingServiceSID: t.MessagingServiceSID, WhatsAppFrom: t.WhatsAppFrom,
			WhatsAppContentSID: t.WhatsAppContentSID, APIURL: t.APIURL,
			StatusCallback: cfg.PublicURL + "/v1/inbound/twilio/status", Logger: log,
		}
		if t.From != "" || t.MessagingServiceSID != "" {
			ch, err := sms.New(tc)
			if err != nil {
				return nil, &config.Error{Key: "twilio", Msg: err.Error()}
			}
			list = append(list, ch)
		}
		if t.WhatsAppFrom != "" {
			ch, err := sms.NewWhatsApp(tc)
			if err != nil {
				return nil, &config.Error{Key: "twilio", Msg: err.Error()}
			}
			list = append(list, ch)
		}
	} else {
		log.Info("no Twilio configured: SMS is kept in the outbox instead of being sent")
		list = append(list, outbox.New("sms", st))
	}
	chats, err := chatChannels(cfg, log)
	if err != nil {
		return nil, err
	}
	list = append(list, chats...)
	for _, ch := range list {
		if err := reg.Register(ch); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

// buildGate is the send gate on the shared Redis.
func buildGate(cfg *config.Config, rdb redis.UniversalClient, reg *prometheus.Registry) (*dispatcher.Gate, error) {
	t := cfg.Throttle
	rates, err := dispatcher.ParseRates(t.Rates)
	if err != nil {
		return nil, &config.Error{Key: "throttle.rates", Env: "NPSGATE_THROTTLE_RATES", Msg: err.Error()}
	}
	day := 24 * time.Hour
	g := &dispatcher.Gate{
		Limiter:      throttle.New(rdb),
		Relationship: time.Duration(t.RelationshipDays) * day, Transactional: time.Duration(t.TransactionalDays) * day,
		Unanswered: time.Duration(t.UnansweredDays) * day, AccountCap: t.AccountCap,
		AccountWindow: time.Duration(t.AccountWindowDays) * day, Duplicate: time.Duration(t.DuplicateWindow),
		Conversation: time.Duration(cfg.SMS.ReplyWindow), Rates: rates,
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "npsgate_gate_decisions_total",
			Help: "Deliveries held back by the send gate, by decision and reason."}, []string{"decision", "reason"}),
	}
	// A carrier limits each sending number (or messaging service) on its
	// own, so SMS tokens are counted per sender, not for the whole channel.
	g.Senders = map[string]string{}
	if sms := cfg.Twilio.MessagingServiceSID; sms != "" {
		g.Senders["sms"] = sms
	} else if cfg.Twilio.From != "" {
		g.Senders["sms"] = cfg.Twilio.From
	}
	if cfg.Twilio.WhatsAppFrom != "" {
		g.Senders["whatsapp"] = cfg.Twilio.WhatsAppFrom
	}
	if t.QuietHours != "" {
		open, _ := config.QuietWindow(t.QuietHours)
		g.Window = campaign.Window{Start: open[0], End: open[1]}
	}
	reg.MustRegister(g.Decisions)
	return g, nil
}

// chatChannels are the group-robot channels; their address is the
// robot's webhook URL, so they need no configuration of their own.
func chatChannels(cfg *config.Config, log *slog.Logger) ([]channels.Channel, error) {
	var out []channels.Channel
	// Robot URLs come from users: keep them off the internal network.
	tr := netguard.Transport(cfg.Security.AllowPrivateTargets)
	sl, err := slack.New(slack.Config{Logger: log, Transport: tr})
	if err != nil {
		return nil, err
	}
	tm, err := teams.New(teams.Config{Logger: log, Transport: tr})
	if err != nil {
		return nil, err
	}
	dt, err := dingtalk.New(dingtalk.Config{Logger: log, Transport: tr})
	if err != nil {
		return nil, err
	}
	fs, err := feishu.New(feishu.Config{Logger: log, Transport: tr})
	if err != nil {
		return nil, err
	}
	wc, err := wecom.New(wecom.Config{Logger: log, Transport: tr})
	if err != nil {
		return nil, err
	}
	out = append(out, sl, tm, dt, fs, wc)
	if cfg.Chat.WebhookSecret != "" {
		wh, err := webhook.New(webhook.Config{Secret: cfg.Chat.WebhookSecret, Logger: log, Transport: tr})
		if err != nil {
			return nil, &config.Error{Key: "chat.webhook_secret", Env: "NPSGATE_CHAT_WEBHOOK_SECRET", Msg: err.Error()}
		}
		out = append(out, wh)
	}
	return out, nil
}

// apiKeys returns the configured keys or, with none, the key kept in
// <data_dir>/api-key, generating it on first start. The key itself is never
// logged; the log says where to read it.
func apiKeys(cfg *config.Config, log *slog.Logger) ([]string, error) {
	if len(cfg.APIKeys) > 0 {
		return cfg.APIKeys, nil
	}
	path := filepath.Join(cfg.DataDir, "api-key")
	if b, err := os.ReadFile(path); err == nil {
		if k := strings.TrimSpace(string(b)); len(k) >= 16 {
			log.Info("no api_keys configured: using the local key", "file", path)
			return []string{k}, nil
		}
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	key := "npsk_" + base64.RawURLEncoding.EncodeToString(b)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write api key: %w", err)
	}
	log.Warn("no api_keys configured: generated a local API key; set api_keys (NPSGATE_API_KEYS) in production", "file", path)
	return []string{key}, nil
}

// OpsAddr is where a worker-only gateway serves /metrics, /healthz and
// /readyz: the bound address, so a test that asked for port 0 learns the
// port. It is nil for other roles and with worker.ops_addr "none".
func (g *Gateway) OpsAddr() net.Addr {
	if g.ops == nil {
		return nil
	}
	return g.ops.l.Addr()
}

// Handler is the HTTP handler (nil for a worker-only gateway).
func (g *Gateway) Handler() http.Handler { return g.handler }

// Listen binds the HTTP address; Run serves on it. Separate so tests can
// bind :0 and learn the port before serving.
func (g *Gateway) Listen() (net.Addr, error) {
	if g.role&RoleAPI == 0 {
		return nil, errors.New("not an api gateway")
	}
	l, err := net.Listen("tcp", g.cfg.HTTP.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", g.cfg.HTTP.Addr, err)
	}
	g.listener = l
	return l.Addr(), nil
}

// Run serves until ctx is cancelled, then shuts down in two stages: the
// HTTP server stops taking requests and finishes those in flight, then the
// worker stops taking tasks and lets running ones finish within the
// shutdown timeout; a worker's ops endpoints close after it. It returns nil
// after a clean shutdown.
func (g *Gateway) Run(ctx context.Context) error {
	defer g.close()
	var srv *http.Server
	errc := make(chan error, 1)
	if g.role&RoleAPI != 0 {
		if g.listener == nil {
			if _, err := g.Listen(); err != nil {
				return err
			}
		}
		// A contact import lifts ReadTimeout and WriteTimeout for its own
		// request, which may upload for minutes, and is cut off instead
		// once nothing has arrived for ReadTimeout (see httpapi's upload).
		srv = &http.Server{
			Handler:           g.handler,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      5 * time.Minute, // CSV exports stream for a while
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		}
		go func() {
			if err := srv.Serve(g.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
		g.log.Info("http listening", "addr", g.listener.Addr().String(), "public_url", g.cfg.PublicURL)

		// Contact imports run in API processes: an import whose process
		// died is ended by whichever one sweeps next, at start-up and
		// then every minute.
		sweepCtx, stopSweep := context.WithCancel(ctx)
		swept := make(chan struct{})
		go func() {
			defer close(swept)
			(&contactimport.Sweeper{Store: g.Store, Logger: g.log}).Run(sweepCtx)
		}()
		defer func() {
			stopSweep()
			<-swept
		}()
	}
	if g.ops != nil {
		g.ops.start(errc)
	}
	if g.worker != nil {
		if err := g.worker.Start(); err != nil {
			return err
		}
		g.log.Info("worker started", "concurrency", g.cfg.Worker.Concurrency)
		g.recoverer.Start()
		g.scheduler.Start()
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	g.log.Info("shutting down")
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		if err := srv.Shutdown(sctx); err != nil {
			g.log.Warn("http shutdown", "err", err)
			_ = srv.Close()
		}
		cancel()
	}
	if g.worker != nil {
		g.scheduler.Shutdown()
		g.recoverer.Shutdown()
		g.worker.Shutdown()
	}
	// Last, so that the drain can be watched and probed to its end.
	if g.ops != nil {
		g.ops.shutdown()
	}
	g.log.Info("stopped")
	return runErr
}

func (g *Gateway) close() {
	if g.ops != nil {
		g.ops.close()
	}
	if g.Client != nil {
		_ = g.Client.Close()
	}
	if g.Channels != nil {
		_ = g.Channels.Close()
	}
	if g.rdb != nil {
		_ = g.rdb.Close()
	}
	if g.Store != nil {
		_ = g.Store.Close()
	}
	if g.mini != nil {
		g.mini.Close()
	}
}
