package httpapi

import (
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.HistogramVec
	// inbound counts inbound messages by channel and what they did
	// (replyOutcome's outcome, or rate_limited and duplicate for those
	// dropped before).
	inbound *prometheus.CounterVec
	// reports counts the providers' delivery reports (Twilio's status
	// callbacks): what the carrier did with a message after we sent it,
	// which is where bad numbers and carrier filtering show up.
	reports *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "npsgate_http_request_duration_seconds",
			Help:    "HTTP requests by route and status.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route", "status"}),
		inbound: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "npsgate_inbound_messages_total",
			Help: "Inbound SMS and WhatsApp messages by channel and outcome (score, comment, clarify, opt_out, opt_in, help, opted_out, unmatched, rate_limited, duplicate).",
		}, []string{"channel", "outcome"}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "npsgate_delivery_reports_total",
			Help: "Delivery reports from providers by channel, reported status (sent, delivered, read, undelivered, failed, other) and error code (a known Twilio code, other, or empty).",
		}, []string{"channel", "status", "code"}),
	}
	// A second API on the same registry (tests) reuses the collectors.
	if err := reg.Register(m.requests); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			m.requests = are.ExistingCollector.(*prometheus.HistogramVec)
		}
	}
	for _, c := range []**prometheus.CounterVec{&m.inbound, &m.reports} {
		if err := reg.Register(*c); err != nil {
			if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
				*c = are.ExistingCollector.(*prometheus.CounterVec)
			}
		}
	}
	return m
}

// inboundOutcome counts an inbound message; channel is sms or whatsapp and
// outcome one of a fixed few, never the sender's number or words.
func (m *metrics) inboundOutcome(channel, outcome string) {
	m.inbound.WithLabelValues(channel, outcome).Inc()
}

// deliveryReport counts a provider's report on a message. Status and code
// come from the provider's form, so both are folded into a fixed set: a
// forged or new value must not grow the series without bound.
func (m *metrics) deliveryReport(channel, status, code string) {
	switch status {
	case "sent", "delivered", "read", "undelivered", "failed":
	default:
		status = "other"
	}
	if _, known := twilioErrors[code]; code != "" && !known {
		code = "other"
	}
	m.reports.WithLabelValues(channel, status, code).Inc()
}

// observe records each request by route template, never by raw path, so
// reply tokens do not become label values.
func (a *API) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	a.metrics.requests.WithLabelValues(c.Request.Method, route, strconv.Itoa(c.Writer.Status())).
		Observe(time.Since(start).Seconds())
}
