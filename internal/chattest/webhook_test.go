package chattest_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/npsgate/npsgate/internal/chattest"
)

const webhookEvent = `{"type":"survey.message","timestamp":"2025-01-02T03:04:05.678Z","data":{"delivery_id":"dlv-1","locale":"en","question":"How likely?","text":"How likely? https://nps.example.com/r/t","reply_url":"https://nps.example.com/r/t","scores":[{"value":9,"url":"https://nps.example.com/r/t?s=9"}],"kind":"survey"}}`

// webhookSigned returns the Standard Webhooks headers for body, signed
// with secret by the reference library.
func webhookSigned(t *testing.T, secret, id string, ts time.Time, body string) http.Header {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign(id, ts, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return http.Header{
		"Webhook-Id":        {id},
		"Webhook-Timestamp": {fmt.Sprint(ts.Unix())},
		"Webhook-Signature": {sig},
	}
}

func TestWebhookSecret(t *testing.T) {
	a, b := chattest.NewWebhookSecret(), chattest.NewWebhookSecret()
	if a == b || !strings.HasPrefix(a, "whsec_") {
		t.Errorf("secrets %q %q", a, b)
	}
	if _, err := standardwebhooks.NewWebhook(a); err != nil {
		t.Errorf("library refuses %q: %v", a, err)
	}
	if s := chattest.StartWebhook(t, ""); s.Secret() == "" {
		t.Error("no secret made")
	}
	if _, err := chattest.NewWebhookServer("whsec_not base64!"); err == nil {
		t.Error("a bad secret was accepted")
	}
}

func TestWebhookVerifies(t *testing.T) {
	s := chattest.StartWebhook(t, "")
	u := s.EndpointURL("tok1")
	now := time.Now()
	status, _, _ := hookPost(t, u, "application/json", webhookEvent, webhookSigned(t, s.Secret(), "dlv-1", now, webhookEvent))
	if status != 200 {
		t.Fatalf("signed event: %d", status)
	}
	r := s.Accepted()
	if len(r) != 1 || !r[0].Verified || r[0].ID != "dlv-1" || r[0].URL != u || r[0].Timestamp != fmt.Sprint(now.Unix()) || !strings.HasPrefix(r[0].Signature, "v1,") {
		t.Fatalf("recorded %+v", r)
	}
	d, err := r[0].Event.Survey()
	if err != nil || d.DeliveryID != "dlv-1" || d.Text != "How likely? https://nps.example.com/r/t" || len(d.Scores) != 1 || d.Scores[0].Value != 9 || d.Kind != "survey" {
		t.Errorf("survey %+v, %v", d, err)
	}

	other := chattest.NewWebhookSecret()
	for _, tc := range []struct {
		name   string
		header http.Header
		body   string
	}{
		{"unsigned", nil, webhookEvent},
		{"other secret", webhookSigned(t, other, "dlv-1", now, webhookEvent), webhookEvent},
		{"body changed", webhookSigned(t, s.Secret(), "dlv-1", now, webhookEvent), strings.Replace(webhookEvent, `"value":9`, `"value":0`, 1)},
		{"id changed", func() http.Header {
			h := webhookSigned(t, s.Secret(), "dlv-1", now, webhookEvent)
			h.Set("Webhook-Id", "dlv-2")
			return h
		}(), webhookEvent},
		{"too old", webhookSigned(t, s.Secret(), "dlv-1", now.Add(-10*time.Minute), webhookEvent), webhookEvent},
		{"too new", webhookSigned(t, s.Secret(), "dlv-1", now.Add(10*time.Minute), webhookEvent), webhookEvent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Count()
			status, _, answer := hookPost(t, u, "application/json", tc.body, tc.header)
			if status != 401 || answer != "invalid signature" {
				t.Errorf("answer %d %q", status, answer)
			}
			r := s.Requests()[before]
			if r.Verified || r.VerifyError == "" || r.Accepted() {
				t.Errorf("recorded %+v", r)
			}
		})
	}
}

func TestWebhookChecksEnvelope(t *testing.T) {
	s := chattest.StartWebhook(t, "")
	for _, tc := range []struct {
		name, contentType, body string
		status                  int
	}{
		{"not JSON", "application/json", `{"type":`, 400},
		{"no type", "application/json", `{"timestamp":"2025-01-02T03:04:05Z","data":{}}`, 400},
		{"no data", "application/json", `{"type":"x","timestamp":"2025-01-02T03:04:05Z"}`, 400},
		{"bad timestamp", "application/json", `{"type":"x","timestamp":"yesterday","data":{}}`, 400},
		{"text", "text/plain", `{"type":"x","timestamp":"2025-01-02T03:04:05Z","data":{}}`, 415},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := webhookSigned(t, s.Secret(), "id-"+tc.name, time.Now(), tc.body)
			if status, _, _ := hookPost(t, s.EndpointURL("t"), tc.contentType, tc.body, h); status != tc.status {
				t.Errorf("status %d, want %d", status, tc.status)
			}
		})
	}
	if len(s.Accepted()) != 0 {
		t.Error("accepted")
	}
}

func TestWebhookFaults(t *testing.T) {
	s := chattest.StartWebhook(t, "")
	s.FailNext(chattest.WebhookGone, chattest.WebhookRateLimited("3"))
	s.SetFault(&chattest.WebhookServerError)
	post := func() (int, http.Header) {
		status, h, _ := hookPost(t, s.EndpointURL("t"), "application/json", webhookEvent,
			webhookSigned(t, s.Secret(), "dlv-1", time.Now(), webhookEvent))
		return status, h
	}
	if status, _ := post(); status != 410 {
		t.Errorf("first %d", status)
	}
	if status, h := post(); status != 429 || h.Get("Retry-After") != "3" {
		t.Errorf("second %d %v", status, h)
	}
	if status, _ := post(); status != 500 {
		t.Errorf("third %d", status)
	}
	s.SetFault(nil)
	if status, _ := post(); status != 200 {
		t.Errorf("fourth %d", status)
	}
	// The signature is checked and recorded whatever the answer.
	for _, r := range s.Requests() {
		if !r.Verified {
			t.Errorf("request %d not verified: %s", r.N, r.VerifyError)
		}
	}
}
