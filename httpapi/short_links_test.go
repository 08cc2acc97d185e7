package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/store"
)

// TestShortLinks: a known code leads to its reply page, query kept; an
// unknown or malformed one gets the friendly page, not JSON; look-ups
// past the per-IP limit get 429 with Retry-After.
func TestShortLinks(t *testing.T) {
	w := newReminderWorld(t)
	w.createSurvey()
	d := w.trigger("sms", map[string]any{"external_id": "ann", "phone": "+14155550181", "locale": "en"})
	code, err := w.store.ShortCode(context.Background(), d.Token)
	if err != nil {
		t.Fatal(err)
	}
	status, header, _ := w.get("/s/" + code + "?score=9")
	if status != http.StatusFound || header.Get("Location") != "/r/"+d.Token+"?score=9" || header.Get("Cache-Control") != "no-store" {
		t.Fatalf("known code: %d to %q", status, header.Get("Location"))
	}
	for _, path := range []string{"/s/" + strings.Repeat("z", store.ShortCodeLen), "/s/abc", "/s/"} {
		status, header, body := w.get(path)
		if status != http.StatusNotFound || !strings.HasPrefix(header.Get("Content-Type"), "text/html") || !strings.Contains(body, "<html") {
			t.Fatalf("%s: %d %s\n%s", path, status, header.Get("Content-Type"), body)
		}
	}
	// Three look-ups so far ("/s/" matches no code); the limit is 60 a
	// minute per address.
	for i := 3; i < 60; i++ {
		if status, _, _ := w.get("/s/" + strings.Repeat("z", store.ShortCodeLen)); status != http.StatusNotFound {
			t.Fatalf("look-up %d: %d", i+1, status)
		}
	}
	status, header, body := w.get("/s/" + code)
	if status != http.StatusTooManyRequests || header.Get("Retry-After") == "" || !strings.Contains(body, "<html") {
		t.Fatalf("look-up 61: %d (Retry-After %q)", status, header.Get("Retry-After"))
	}
}

// TestReminderShortCodeWithoutItsSurvey: a reminder's code whose survey
// delivery is gone leads nowhere.
func TestReminderShortCodeWithoutItsSurvey(t *testing.T) {
	w := newReminderWorld(t)
	w.createSurvey()
	ctx := context.Background()
	r := &store.Delivery{ID: "orphan-reminder", SurveyKey: "onboarding", ContactID: "x", Channel: "sms", Address: "+14155550182",
		Token: dispatcher.NewToken(), ReminderOf: "gone", ReminderN: 1}
	if _, _, err := w.store.CreateDelivery(ctx, r); err != nil {
		t.Fatal(err)
	}
	code, err := w.store.ShortCode(ctx, r.Token)
	if err != nil {
		t.Fatal(err)
	}
	if status, _, _ := w.get("/s/" + code); status != http.StatusNotFound {
		t.Fatalf("orphan reminder code: %d", status)
	}
}
