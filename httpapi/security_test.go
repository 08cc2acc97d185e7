package httpapi_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/npsgate/npsgate/httpapi"
)

// TestEveryV1RouteNeedsAKey walks the router's own route list, so a route
// added later cannot be forgotten.
func TestEveryV1RouteNeedsAKey(t *testing.T) {
	h := newHarness(t)
	engine, ok := h.srv.Config.Handler.(*gin.Engine)
	if !ok {
		t.Fatalf("handler is %T", h.srv.Config.Handler)
	}
	n := 0
	for _, r := range engine.Routes() {
		if !strings.HasPrefix(r.Path, "/v1/") || strings.HasPrefix(r.Path, "/v1/inbound/") {
			continue
		}
		path := strings.NewReplacer(":id", "x", ":key", "x", ":action", "pause", ":event", "x", ":channel", "email", ":address", "a@b.c").Replace(r.Path)
		for _, auth := range []string{"", "Bearer nope-nope-nope-nope", "Basic " + apiKey, apiKey} {
			a := h.do(r.Method, path, `{}`, "Authorization", auth)
			if a.status != http.StatusUnauthorized {
				t.Errorf("%s %s with Authorization %q: %d", r.Method, r.Path, auth, a.status)
			}
		}
		n++
	}
	if n < 25 {
		t.Fatalf("only %d /v1 routes found", n)
	}
	// Provider webhooks authenticate by signature instead.
	if a := h.do("POST", "/v1/inbound/twilio/sms", "From=%2B1", "Authorization", ""); a.status != http.StatusForbidden {
		t.Fatalf("unsigned inbound: %d", a.status)
	}
}

func TestScopedAndHashedKeys(t *testing.T) {
	sum := sha256.Sum256([]byte("hashed-key-0123456789"))
	h := newHarness(t, func(c *httpapi.Config) {
		c.APIKeys = []string{apiKey, "triggers=crm-key-0123456789", "sha256:" + hex.EncodeToString(sum[:])}
	})
	h.createSurvey()
	if a := h.do("GET", "/v1/surveys", nil, "Authorization", "Bearer hashed-key-0123456789"); a.status != 200 {
		t.Fatalf("hashed key: %d", a.status)
	}
	if a := h.do("GET", "/v1/surveys", nil, "Authorization", "bearer hashed-key-0123456789"); a.status != 200 {
		t.Fatalf("the scheme is case-insensitive (RFC 7235), lowercase bearer: %d", a.status)
	}
	if a := h.do("POST", "/v1/triggers", trigger(nil), "Authorization", "Bearer crm-key-0123456789"); a.status != 202 {
		t.Fatalf("triggers key on triggers: %d %s", a.status, a.raw)
	}
	if a := h.do("GET", "/v1/responses", nil, "Authorization", "Bearer crm-key-0123456789"); a.status != 403 {
		t.Fatalf("triggers key reading responses: %d", a.status)
	}
	if _, err := httpapi.New(httpapi.Config{APIKeys: []string{"sha256:xyz"}}); err == nil {
		t.Fatal("a malformed hashed key was accepted")
	}
}

func TestSignedTriggers(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	h := newHarness(t, func(c *httpapi.Config) { c.TriggerSecret = secret })
	h.createSurvey()
	wh, _ := standardwebhooks.NewWebhook(secret)
	body := []byte(`{"survey":"onboarding","contact":{"external_id":"s-1","email":"s1@example.com"}}`)
	sign := func(id string, at time.Time, b []byte) []string {
		sig, _ := wh.Sign(id, at, b)
		return []string{"webhook-id", id, "webhook-timestamp", strconv.FormatInt(at.Unix(), 10), "webhook-signature", sig}
	}
	if a := h.do("POST", "/v1/triggers", body); a.status != 401 || a.errCode() != "bad_signature" {
		t.Fatalf("unsigned: %d %s", a.status, a.raw)
	}
	first := h.do("POST", "/v1/triggers", body, sign("msg_1", time.Now(), body)...)
	if first.status != 202 {
		t.Fatalf("signed: %d %s", first.status, first.raw)
	}
	// A repeated webhook-id is the sender retrying: it gets the delivery
	// the first request made, and nothing new is sent.
	again := h.do("POST", "/v1/triggers", body, sign("msg_1", time.Now(), body)...)
	if again.status != 202 || again.body["replayed"] != true || again.body["delivery_id"] != first.body["delivery_id"] ||
		again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replayed id: %d %v %s", again.status, again.header, again.raw)
	}
	tampered := bytes.Replace(body, []byte("s-1"), []byte("s-2"), 1)
	if a := h.do("POST", "/v1/triggers", tampered, sign("msg_2", time.Now(), body)...); a.status != 401 {
		t.Fatalf("tampered: %d", a.status)
	}
	if a := h.do("POST", "/v1/triggers", body, sign("msg_3", time.Now().Add(-6*time.Minute), body)...); a.status != 401 {
		t.Fatalf("stale: %d", a.status)
	}
}

func TestReplyPageRateLimit(t *testing.T) {
	h := newHarness(t, func(c *httpapi.Config) { c.ReplyPagePerMinute = 2 })
	got429 := false
	for i := 0; i < 12; i++ {
		resp, err := http.Get(h.srv.URL + "/r/AAAAAAAAAAAAAAAAAAAAAA")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			got429 = true
			if resp.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			break
		}
	}
	if !got429 {
		t.Fatal("token guessing is not limited")
	}
}

// The per-IP limit counts the peer, not what a client claims in
// X-Forwarded-For, unless the peer is a configured proxy.
func TestReplyPageRateLimitForwardedFor(t *testing.T) {
	getAs := func(h *harness, ip string) int {
		req, _ := http.NewRequest("GET", h.srv.URL+"/r/AAAAAAAAAAAAAAAAAAAAAA", nil)
		req.Header.Set("X-Forwarded-For", ip)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// Addresses of this run only: the limiter's Redis outlives the test.
	base := time.Now().UnixNano()
	forged := func(i int) string { return fmt.Sprintf("10.%d.%d.%d", byte(base>>8), byte(base), i+1) }

	untrusted := newHarness(t, func(c *httpapi.Config) { c.ReplyPagePerMinute = 2 })
	limited := false
	for i := 0; i < 12 && !limited; i++ {
		limited = getAs(untrusted, forged(i)) == http.StatusTooManyRequests
	}
	if !limited {
		t.Fatal("a new X-Forwarded-For on every request escaped the per-IP limit")
	}

	base++
	proxied := newHarness(t, func(c *httpapi.Config) {
		c.ReplyPagePerMinute = 2
		c.TrustedProxies = []string{"127.0.0.1", "::1"}
	})
	for i := 0; i < 12; i++ {
		if code := getAs(proxied, forged(100+i)); code != http.StatusNotFound {
			t.Fatalf("client %d behind a trusted proxy: %d, want 404 (each client has its own limit)", i, code)
		}
	}
}
