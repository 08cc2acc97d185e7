package dispatcher

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/npsgate/npsgate/channels"
)

// WorkerConfig configures a worker process.
type WorkerConfig struct {
	// Concurrency is how many survey sends of one channel family (email,
	// SMS, chat) run at once. Default 20.
	Concurrency int
	// ShutdownTimeout is how long running tasks may take to finish when
	// the worker stops; after it they are handed back to the queue.
	// Default 30s.
	ShutdownTimeout time.Duration
	// RetryBaseDelay is the first retry's delay; each next one doubles,
	// with jitter, up to an hour. Default 10s.
	RetryBaseDelay time.Duration
	// PollInterval is how often an idle worker looks for new tasks, and
	// how often delayed and retried tasks are moved to the ready queue: the
	// latency of a survey on a quiet system. Default 50ms.
	PollInterval time.Duration
	Logger       *slog.Logger
}

// A lane is a set of queues with worker slots of its own. Weighted queues
// on one asynq.Server only choose which task a free slot takes next: a
// provider or subscriber that hangs fills every slot with tasks waiting
// for its timeout, and a detractor's alert waits with them. Separate
// servers give each lane slots no other lane can hold.
type lane struct {
	name   string
	queues []string
	slots  int
}

// AlertSlots, WebhookSlots and CampaignSlots are the worker slots of the
// lanes beside the survey sends. Alerts and digests are few and must not
// wait; webhook subscribers are outside our control and get a bounded
// share; fan-out pages are database-bound and two keep the queues full.
const (
	AlertSlots    = 4
	WebhookSlots  = 4
	CampaignSlots = 2
)

func lanes(concurrency int) []lane {
	return []lane{
		{"alerts", []string{QueueAlerts}, AlertSlots},
		{"email", []string{DeliveryQueue("email")}, concurrency},
		{"sms", []string{DeliveryQueue("sms")}, concurrency},
		{"chat", []string{DeliveryQueue("chat")}, concurrency},
		{"campaigns", []string{QueueCampaigns}, CampaignSlots},
		{"webhooks", []string{QueueWebhooks}, WebhookSlots},
	}
}

// Worker runs the task handlers on asynq, one server per lane.
type Worker struct {
	srvs   []*asynq.Server
	mux    *asynq.ServeMux
	log    *slog.Logger
	sender *Sender
}

// NewWorker builds a worker for the send pipeline and, with a notifier,
// the closed loop (alerts and webhooks). Nothing runs until Start.
func NewWorker(r asynq.RedisConnOpt, cfg WorkerConfig, sender *Sender, notifier *Notifier, fanout *Fanout, digests ...*Digests) *Worker {
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 20
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	if cfg.RetryBaseDelay == 0 {
		cfg.RetryBaseDelay = 10 * time.Second
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger.With("component", "worker")
	w := &Worker{mux: asynq.NewServeMux(), log: log, sender: sender}
	sender.retryDelay = retryDelay(cfg.RetryBaseDelay, notifier)
	for _, l := range lanes(cfg.Concurrency) {
		queues := map[string]int{}
		for _, q := range l.queues {
			queues[q] = 1
		}
		w.srvs = append(w.srvs, asynq.NewServer(r, asynq.Config{
			Concurrency: l.slots,
			Queues:      queues,
			// asynq hands a task still running at its shutdown timeout
			// back to the queue: a send in flight would go twice. Running
			// sends get their own bound (SendTimeout) on top of ours.
			ShutdownTimeout:          cfg.ShutdownTimeout + SendTimeout,
			RetryDelayFunc:           retryDelay(cfg.RetryBaseDelay, notifier),
			DelayedTaskCheckInterval: cfg.PollInterval,
			TaskCheckInterval:        cfg.PollInterval,
			// Waiting for a provider's rate limit is not a failure: it must
			// not use up the retries a real fault needs.
			// Nor is a batch handed back by a shutdown.
			IsFailure: func(err error) bool { return !errors.Is(err, ErrRateLimited) && !errors.Is(err, errStopping) },
			Logger:    asynqLogger{log.With("lane", l.name)},
			LogLevel:  asynq.WarnLevel,
		}))
	}
	register(w.mux, sender.Send)
	register(w.mux, sender.SendBatch)
	for _, d := range digests {
		register(w.mux, d.Send)
	}
	if fanout != nil {
		register(w.mux, fanout.Start)
		register(w.mux, fanout.Page)
		register(w.mux, fanout.Sweep)
	}
	if notifier != nil {
		register(w.mux, notifier.Notify)
		register(w.mux, notifier.SendAlert)
		register(w.mux, notifier.FlushAlerts)
		register(w.mux, notifier.Fanout)
		register(w.mux, notifier.SendWebhook)
	}
	return w
}

// Start begins processing on every lane; it returns once all run.
func (w *Worker) Start() error {
	for i, srv := range w.srvs {
		if err := srv.Start(w.mux); err != nil {
			for _, started := range w.srvs[:i] {
				started.Shutdown()
			}
			return fmt.Errorf("start worker: %w", err)
		}
	}
	return nil
}

// Shutdown stops taking tasks, waits up to the shutdown timeout for running
// ones, and hands the rest back to Redis for another worker. The lanes stop
// together, so the wait is one timeout, not one per lane.
func (w *Worker) Shutdown() {
	// A running batch finishes the sends it started and hands the rest
	// back, so the wait is one send, not a batch of them.
	w.sender.stopping.Store(true)
	for _, srv := range w.srvs {
		srv.Stop()
	}
	var wg sync.WaitGroup
	for _, srv := range w.srvs {
		wg.Add(1)
		go func() { defer wg.Done(); srv.Shutdown() }()
	}
	wg.Wait()
}

// retryDelay backs off exponentially with jitter (base, 2×base, 4×base …,
// capped at 1h), or waits what a rate-limited provider asked for. Webhook
// events follow the notifier's schedule of about a day.
func retryDelay(base time.Duration, notifier *Notifier) asynq.RetryDelayFunc {
	return func(n int, err error, t *asynq.Task) time.Duration {
		var pe *channels.Error
		if errors.As(err, &pe) && pe.Kind == channels.RateLimited && pe.RetryAfter > 0 {
			// asynq keeps retry times in whole seconds: without the extra
			// second a retry can come before the provider's time is up.
			return pe.RetryAfter + time.Second
		}
		if t != nil && notifier != nil && t.Type() == (SendWebhook{}).Kind() {
			return notifier.webhookDelay(n)
		}
		d := base * time.Duration(math.Pow(2, float64(min(n, 16))))
		if d > time.Hour || d <= 0 {
			d = time.Hour
		}
		// Jitter spreads the retries of a provider outage so they do not
		// all come back in the same second.
		return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	}
}

// asynqLogger sends asynq's own logs to slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...)) }
