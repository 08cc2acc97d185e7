package httpapi_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/npsgate/npsgate/httpapi"
)

// inboundCounted reads npsgate_inbound_messages_total{channel,outcome}.
func inboundCounted(t *testing.T, reg *prometheus.Registry, channel, outcome string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "npsgate_inbound_messages_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["channel"] == channel && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
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
