package httpapi_test

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/npsgate/npsgate/httpapi"
	"github.com/npsgate/npsgate/internal/testenv"
)

// inboundCounted reads npsgate_inbound_messages_total{channel,outcome}.
func inboundCounted(t *testing.T, reg *prometheus.Registry, channel, outcome string) float64 {
	t.Helper()
	return counted(t, reg, "npsgate_inbound_messages_total", map[string]string{"channel": channel, "outcome": outcome})
}

// Each inbound message is counted once by what it did, by channel; a
// retried webhook counts as a duplicate, not as a second answer.
func TestInboundMessageMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, func(c *httpapi.Config) { c.Registry = reg })
	h.createSurvey()
	const phone = "+14155550123"
	h.sentSMS("c-metrics", phone, "en")

	score := smsFrom(phone, "9")
	if status, _ := h.twilio("/v1/inbound/twilio/sms", score); status != 200 {
		t.Fatalf("score: %d", status)
	}
	if status, _ := h.twilio("/v1/inbound/twilio/sms", score); status != 200 { // Twilio's retry
		t.Fatalf("retried score: %d", status)
	}
	if status, _ := h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, "STOP")); status != 200 {
		t.Fatalf("stop: %d", status)
	}
	if status, _ := h.twilio("/v1/inbound/twilio/sms", smsFrom("whatsapp:"+phone, "hello")); status != 200 {
		t.Fatalf("whatsapp: %d", status)
	}
	for _, c := range []struct {
		channel, outcome string
		want             float64
	}{
		{"sms", "score", 1},
		{"sms", "duplicate", 1},
		{"sms", "opt_out", 1},
		{"sms", "comment", 0},
		{"whatsapp", "opted_out", 1}, // STOP suppressed the number on both channels
	} {
		if got := inboundCounted(t, reg, c.channel, c.outcome); got != c.want {
			t.Errorf("npsgate_inbound_messages_total{%s,%s} = %v, want %v", c.channel, c.outcome, got, c.want)
		}
	}
}

// Twilio's status callbacks are counted by channel, status and code, with
// the values a caller sends folded into a fixed set.
func TestDeliveryReportMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, func(c *httpapi.Config) { c.Registry = reg })
	h.createSurvey()
	for i, tc := range []struct{ status, code string }{
		{"delivered", ""},
		{"undelivered", "30003"},
		{"failed", "39999"},      // not a code we know: "other"
		{"made-up", ""},          // not a status Twilio sends: "other"
		{"undelivered", "30003"}, // a second message, same fate
		{"queued", ""},           // counted, though nothing moves
	} {
		phone := fmt.Sprintf("+1415555018%d", i)
		d := h.sentSMS(fmt.Sprintf("c-rep-%d", i), phone, "en")
		v := url.Values{"MessageSid": {d.ProviderMessageID}, "MessageStatus": {tc.status}, "To": {phone}}
		if tc.code != "" {
			v.Set("ErrorCode", tc.code)
		}
		if s, _ := h.twilio("/v1/inbound/twilio/status?d="+d.ID, v); s != 204 {
			t.Fatalf("%s: %d", tc.status, s)
		}
	}
	for _, c := range []struct {
		status, code string
		want         float64
	}{
		{"delivered", "", 1},
		{"undelivered", "30003", 2},
		{"failed", "other", 1},
		{"other", "", 2},
		{"made-up", "", 0},
		{"failed", "39999", 0},
	} {
		if got := counted(t, reg, "npsgate_delivery_reports_total",
			map[string]string{"channel": "sms", "status": c.status, "code": c.code}); got != c.want {
			t.Errorf("reports{sms,%s,%q} = %v, want %v", c.status, c.code, got, c.want)
		}
	}
}

// counted reads one series of a counter family by its labels (0 if absent).
func counted(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	var pairs []string
	for k, v := range want {
		pairs = append(pairs, k, v)
	}
	v, _ := testenv.MetricValue(t, reg, name, pairs...)
	return v
}
