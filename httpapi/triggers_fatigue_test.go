package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/httpapi"
	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/throttle"
)

// TestTriggerInsideTheFatigueWindow: a contact surveyed through a trigger
// shows when they may next be surveyed (GET /v1/contacts/{id}); a trigger
// for them inside that window is accepted, and its delivery ends
// "suppressed" with the reason "fatigue: …", which the caller can read.
func TestTriggerInsideTheFatigueWindow(t *testing.T) {
	t0 := time.Now().UTC().Truncate(time.Second)
	clk := testenv.NewClock(t0)
	rdb := redis.NewClient(mustParseRedis(t, testenv.RedisURL(t, testenv.RedisDBHTTPAPI)))
	t.Cleanup(func() { rdb.Close() })
	gate := &dispatcher.Gate{Limiter: throttle.New(rdb, throttle.WithClock(clk.Now)), Transactional: 30 * 24 * time.Hour}
	var cfg httpapi.Config
	h := newHarness(t, func(c *httpapi.Config) {
		c.Gate = gate
		cfg = *c
	})
	// The worker's side: the send pipeline on the same store and gate.
	sender := &dispatcher.Sender{Store: cfg.Store, Channels: cfg.Channels, Templates: cfg.Templates, Links: cfg.Links,
		Gate: gate, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: clk.Now}
	h.createSurvey()
	send := func(id string) map[string]any {
		t.Helper()
		if err := sender.Send(context.Background(), dispatcher.SendDelivery{ID: id}); err != nil {
			t.Fatal(err)
		}
		return h.do("GET", "/v1/deliveries/"+id, nil).body
	}

	if a := h.do("GET", "/v1/contacts/admin-42", nil); a.status != 404 {
		t.Fatalf("contact before the trigger: %d", a.status)
	}
	first := h.do("POST", "/v1/triggers", trigger(map[string]any{"delay": nil}))
	if first.status != 202 {
		t.Fatalf("first trigger: %d %s", first.status, first.raw)
	}
	if a := h.do("GET", "/v1/contacts/admin-42", nil); a.status != 200 || a.body["next_survey_at"] != nil {
		t.Fatalf("contact not yet surveyed: %d %s", a.status, a.raw)
	}
	if d := send(first.body["delivery_id"].(string)); d["status"] != "sent" {
		t.Fatalf("first survey: %v", d)
	}
	c := h.do("GET", "/v1/contacts/admin-42", nil)
	next, _ := c.body["next_survey_at"].(string)
	if at, err := time.Parse(time.RFC3339Nano, next); err != nil || !at.Equal(t0.Add(30*24*time.Hour)) {
		t.Fatalf("next_survey_at %q, want %v", next, t0.Add(30*24*time.Hour))
	}

	clk.Set(t0.Add(10 * 24 * time.Hour))
	second := h.do("POST", "/v1/triggers", trigger(map[string]any{"delay": nil}))
	if second.status != 202 || second.body["status"] != "queued" {
		t.Fatalf("a trigger inside the window is accepted: %d %s", second.status, second.raw)
	}
	d := send(second.body["delivery_id"].(string))
	if reason, _ := d["reason"].(string); d["status"] != "suppressed" || !strings.HasPrefix(reason, "fatigue: ") ||
		!strings.Contains(reason, t0.Add(30*24*time.Hour).Format(time.RFC3339)) {
		t.Fatalf("second delivery: %v %q", d["status"], d["reason"])
	}
	// The suppressed survey did not move the contact's next survey.
	if c := h.do("GET", "/v1/contacts/admin-42", nil); c.body["next_survey_at"] != next {
		t.Fatalf("next_survey_at %v, was %s", c.body["next_survey_at"], next)
	}
	// After the window, the contact is free again.
	clk.Set(t0.Add(30 * 24 * time.Hour))
	if c := h.do("GET", "/v1/contacts/admin-42", nil); c.body["next_survey_at"] != nil {
		t.Fatalf("after the window: next_survey_at %v", c.body["next_survey_at"])
	}
}
