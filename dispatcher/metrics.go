package dispatcher

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/store"
)

// Metrics counts what the send pipeline and the closed loop do, for an
// operator's dashboards and alerts. Labels are bounded sets only (channel
// names, states, error kinds): never an address, a token or a survey.
//
// A nil *Metrics counts nothing, so a Sender or Notifier built without one
// (tests, tools) works unchanged.
type Metrics struct {
	deliveries      *prometheus.CounterVec
	providerSeconds *prometheus.HistogramVec
	providerErrors  *prometheus.CounterVec
	alerts          *prometheus.CounterVec
	webhooks        *prometheus.CounterVec
	digests         *prometheus.CounterVec
}

// The outcomes of an alert send (npsgate_alerts_total) and of a webhook
// post (npsgate_webhook_posts_total).
const (
	alertSent        = "sent"
	alertFailed      = "failed"
	alertRetry       = "retry"
	alertRateLimited = "rate_limited"

	digestSent   = "sent"
	digestFailed = "failed"

	webhookSucceeded = "succeeded"
	webhookFailed    = "failed"
	webhookRetry     = "retry"
)

// providerBuckets span a fast HTTP API (tens of milliseconds) to a relay
// that holds the connection until SendTimeout cuts it off.
var providerBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}

// NewMetrics makes the dispatcher's metrics and registers them with reg
// (nil: counted, not exported). A collector reg already has under the same
// name is reused, so two pipelines on one registry count together.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "npsgate_deliveries_total",
			Help: "Moves of a delivery made by a send attempt, by channel and the state it moved to (sent, failed, queued for a retry, deferred, suppressed)."},
			[]string{"channel", "outcome"}),
		providerSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "npsgate_provider_send_seconds",
			Help: "Time of a provider's Send call (surveys and alerts), by channel, whatever its result.", Buckets: providerBuckets},
			[]string{"channel"}),
		providerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "npsgate_provider_errors_total",
			Help: "Provider Send calls that returned an error, by channel and kind (retryable, rate_limited, permanent, opted_out)."},
			[]string{"channel", "kind"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "npsgate_alerts_total",
			Help: "Alerts to the team by channel and outcome (sent, failed, retry, rate_limited); a summary counts each alert it carries."},
			[]string{"channel", "outcome"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "npsgate_webhook_posts_total",
			Help: "Posts of events to webhook subscribers by outcome (succeeded, failed for good, retry)."},
			[]string{"outcome"}),
		digests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "npsgate_digests_total",
			Help: "Digests to survey owners by channel and outcome (sent, failed), one per target and try."},
			[]string{"channel", "outcome"}),
	}
	if reg != nil {
		m.deliveries = registerOnce(reg, m.deliveries)
		m.providerSeconds = registerOnce(reg, m.providerSeconds)
		m.providerErrors = registerOnce(reg, m.providerErrors)
		m.alerts = registerOnce(reg, m.alerts)
		m.webhooks = registerOnce(reg, m.webhooks)
		m.digests = registerOnce(reg, m.digests)
	}
	// Every outcome exists from the start, so rate() sees the first one.
	for _, o := range []string{webhookSucceeded, webhookFailed, webhookRetry} {
		m.webhooks.WithLabelValues(o)
	}
	return m
}

// registerOnce registers c, or returns the collector reg has in its place.
// Any other error is a programming error, as with MustRegister.
func registerOnce[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(fmt.Sprintf("dispatcher metrics: %v", err))
}

// delivery counts a delivery moved to a state by a send attempt.
func (m *Metrics) delivery(channel string, to store.DeliveryStatus) {
	if m != nil {
		m.deliveries.WithLabelValues(channel, string(to)).Inc()
	}
}

// provider records one provider call that took took and returned err.
func (m *Metrics) provider(channel string, took time.Duration, err error) {
	if m == nil {
		return
	}
	m.providerSeconds.WithLabelValues(channel).Observe(took.Seconds())
	if err != nil {
		m.providerErrors.WithLabelValues(channel, channels.KindOf(err).String()).Inc()
	}
}

// alert counts n alerts to a target on channel that ended a send with
// outcome.
func (m *Metrics) alert(channel, outcome string, n int) {
	if m != nil && n > 0 {
		m.alerts.WithLabelValues(channel, outcome).Add(float64(n))
	}
}

// webhook counts a recorded post of a webhook event; next is the event's
// status after it ("pending" when it is retried).
func (m *Metrics) webhook(next string) {
	if m == nil {
		return
	}
	outcome := webhookRetry
	switch next {
	case "succeeded":
		outcome = webhookSucceeded
	case "failed":
		outcome = webhookFailed
	}
	m.webhooks.WithLabelValues(outcome).Inc()
}

// Queues are the asynq queues the worker takes tasks from, one lane's
// after the other.
func Queues() []string {
	var out []string
	for _, l := range lanes(1) {
		out = append(out, l.queues...)
	}
	return out
}

// DefaultQueueScrapeTimeout bounds the Redis reads of one scrape.
const DefaultQueueScrapeTimeout = 2 * time.Second

// QueueCollector exports the depth of the dispatcher's queues, read from
// Redis by asynq's inspector at each scrape: npsgate_queue_tasks{queue,
// state} and npsgate_queue_latency_seconds{queue} (the age of the oldest
// pending task). The queues live in Redis, not in a process, so every
// process that has it reports the same numbers.
//
// A scrape never waits on Redis longer than Timeout and never fails for
// it: a queue that cannot be read is left out of that scrape and counted
// in npsgate_queue_scrape_errors_total. The inspector's calls take no
// context, so a read that times out goes on in the background; until it
// ends, scrapes start no other (they would only pile up behind it) and
// count an error instead.
type QueueCollector struct {
	// Timeout bounds a scrape's reads; zero is DefaultQueueScrapeTimeout.
	Timeout time.Duration

	insp    *asynq.Inspector
	queues  []string
	tasks   *prometheus.Desc
	latency *prometheus.Desc
	errs    *prometheus.Desc
	failed  atomic.Uint64
	reading atomic.Bool
}

// NewQueueCollector reads the queues through rdb, which stays the
// caller's to close.
func NewQueueCollector(rdb redis.UniversalClient) *QueueCollector {
	return &QueueCollector{
		insp:   asynq.NewInspectorFromRedisClient(rdb),
		queues: Queues(),
		tasks: prometheus.NewDesc("npsgate_queue_tasks",
			"Tasks in a dispatcher queue by state (pending, active, scheduled, retry, archived), read from Redis at scrape time.",
			[]string{"queue", "state"}, nil),
		latency: prometheus.NewDesc("npsgate_queue_latency_seconds",
			"Age of the oldest pending task of a dispatcher queue (0 when none is pending).", []string{"queue"}, nil),
		errs: prometheus.NewDesc("npsgate_queue_scrape_errors_total",
			"Reads of the queues' depth that failed or timed out; their queues were left out of the scrape.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.tasks
	ch <- c.latency
	ch <- c.errs
}

// queueDepth is what one queue's read found.
type queueDepth struct {
	queue                                       string
	pending, active, scheduled, retry, archived int
	latency                                     time.Duration
}

// Collect implements prometheus.Collector.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	defer func() {
		ch <- prometheus.MustNewConstMetric(c.errs, prometheus.CounterValue, float64(c.failed.Load()))
	}()
	if !c.reading.CompareAndSwap(false, true) {
		c.failed.Add(1)
		return
	}
	type result struct {
		depths []queueDepth
		errs   int
	}
	done := make(chan result, 1) // the read never blocks on a scrape gone
	go func() {
		depths, errs := c.read()
		// Free before the result is handed over, so that the next
		// scrape never finds this read still going.
		c.reading.Store(false)
		done <- result{depths, errs}
	}()
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultQueueScrapeTimeout
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r := <-done:
		c.failed.Add(uint64(r.errs))
		for _, d := range r.depths {
			for _, s := range []struct {
				state string
				n     int
			}{{"pending", d.pending}, {"active", d.active}, {"scheduled", d.scheduled}, {"retry", d.retry}, {"archived", d.archived}} {
				ch <- prometheus.MustNewConstMetric(c.tasks, prometheus.GaugeValue, float64(s.n), d.queue, s.state)
			}
			ch <- prometheus.MustNewConstMetric(c.latency, prometheus.GaugeValue, d.latency.Seconds(), d.queue)
		}
	case <-timer.C:
		c.failed.Add(1)
	}
}

// read reads the depth of every queue, and how many reads failed. A queue
// asynq has never seen (no task was ever queued to it) is empty; asking
// for it would be an error.
func (c *QueueCollector) read() ([]queueDepth, int) {
	known, err := c.insp.Queues()
	if err != nil {
		return nil, 1
	}
	seen := make(map[string]bool, len(known))
	for _, q := range known {
		seen[q] = true
	}
	var (
		out  []queueDepth
		errs int
	)
	for _, q := range c.queues {
		if !seen[q] {
			out = append(out, queueDepth{queue: q})
			continue
		}
		info, err := c.insp.GetQueueInfo(q)
		if err != nil {
			errs++
			continue
		}
		out = append(out, queueDepth{queue: q, pending: info.Pending, active: info.Active, scheduled: info.Scheduled,
			retry: info.Retry, archived: info.Archived, latency: info.Latency})
	}
	return out, errs
}

// digest counts one digest send to one target.
func (m *Metrics) digest(channel string, err error) {
	if m == nil {
		return
	}
	outcome := digestSent
	if err != nil {
		outcome = digestFailed
	}
	m.digests.WithLabelValues(channel, outcome).Inc()
}
