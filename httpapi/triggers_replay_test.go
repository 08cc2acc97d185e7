package httpapi_test

import (
	"context"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/httpapi"
	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/throttle"
)

const triggerSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// signedHarness is a harness that requires signed triggers, whose replay
// guard runs on clk; it returns the harness, its config, a signer and the
// Redis its deliveries are queued on.
func signedHarness(t *testing.T, clk *testenv.Clock, tweak ...func(*httpapi.Config)) (*harness, httpapi.Config, func(id string, body []byte) []string, asynq.RedisConnOpt) {
	t.Helper()
	url := testenv.RedisURL(t, testenv.RedisDBHTTPAPI)
	rdb := redis.NewClient(mustParseRedis(t, url))
	t.Cleanup(func() { rdb.Close() })
	queue, err := asynq.ParseRedisURI(url)
	if err != nil {
		t.Fatal(err)
	}
	client := dispatcher.NewClient(queue, 3)
	t.Cleanup(func() { client.Close() })
	var cfg httpapi.Config
	h := newHarness(t, func(c *httpapi.Config) {
		c.TriggerSecret = triggerSecret
		c.Dispatcher = client
		c.Gate = &dispatcher.Gate{Limiter: throttle.New(rdb, throttle.WithClock(clk.Now)), Transactional: 30 * 24 * time.Hour}
		for _, f := range tweak {
			f(c)
		}
		cfg = *c
	})
	wh, err := standardwebhooks.NewWebhook(triggerSecret)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(id string, body []byte) []string {
		now := time.Now() // the signature's timestamp is checked on the real clock
		sig, err := wh.Sign(id, now, body)
		if err != nil {
			t.Fatal(err)
		}
		return []string{"webhook-id", id, "webhook-timestamp", strconv.FormatInt(now.Unix(), 10), "webhook-signature", sig}
	}
	return h, cfg, sign, queue
}

func mustParseRedis(t *testing.T, url string) *redis.Options {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	return opt
}

// triggered lists the deliveries of the test survey.
func triggered(t *testing.T, st *store.Store) []*store.DeliveryRow {
	t.Helper()
	ds, _, err := st.ListDeliveries(context.Background(), store.DeliveryQuery{Survey: "onboarding"})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

var signedBody = []byte(`{"survey":"onboarding","contact":{"external_id":"s-1","email":"s1@example.com"}}`)

// TestSignedTriggerReplayAcrossABoundary: a request replayed 2ms after the
// first, across a multiple of ten minutes since the epoch, gets the first
// one's delivery and makes no other. The guard used to be a counter of
// aligned ten-minute windows, which forgot the id at the boundary.
func TestSignedTriggerReplayAcrossABoundary(t *testing.T) {
	boundary := time.Now().Truncate(10 * time.Minute).Add(10 * time.Minute)
	clk := testenv.NewClock(boundary.Add(-time.Millisecond))
	h, _, sign, _ := signedHarness(t, clk)
	h.createSurvey()
	headers := sign("msg_boundary", signedBody)
	first := h.do("POST", "/v1/triggers", signedBody, headers...)
	if first.status != 202 || first.body["replayed"] != false {
		t.Fatalf("first: %d %s", first.status, first.raw)
	}
	clk.Set(boundary.Add(time.Millisecond))
	again := h.do("POST", "/v1/triggers", signedBody, headers...)
	if again.status != 202 || again.body["replayed"] != true || again.body["delivery_id"] != first.body["delivery_id"] ||
		again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay across the boundary: %d %s, first %s", again.status, again.raw, first.raw)
	}
	if n := len(triggered(t, h.store)); n != 1 {
		t.Fatalf("%d deliveries, want 1", n)
	}
	// Ten minutes after it was last seen, the id is forgotten; by then a
	// request signed with it is stale (5 minutes), so nothing replays.
	clk.Set(boundary.Add(10*time.Minute + 2*time.Millisecond))
	if a := h.do("POST", "/v1/triggers", signedBody, sign("msg_boundary", signedBody)...); a.body["replayed"] != false {
		t.Fatalf("after the id ran out: %d %s", a.status, a.raw)
	}
}

// TestSignedTriggerRetryAfterAQueueFailure: the first request wrote its
// delivery but could not queue it (503); the sender's retry, with the same
// webhook-id, gets that delivery and queues it, instead of a 409.
func TestSignedTriggerRetryAfterAQueueFailure(t *testing.T) {
	clk := testenv.NewClock(time.Now())
	h, cfg, sign, queue := signedHarness(t, clk)
	h.createSurvey()
	// Another replica of the API whose Redis for the queue is down; the
	// store and the replay guard are shared.
	down := cfg
	down.Dispatcher = dispatcher.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond}, 3)
	t.Cleanup(func() { down.Dispatcher.Close() })
	handler, err := httpapi.New(down)
	if err != nil {
		t.Fatal(err)
	}
	broken := *h
	broken.srv = httptest.NewServer(handler)
	t.Cleanup(broken.srv.Close)

	headers := sign("msg_retry", signedBody)
	if a := broken.do("POST", "/v1/triggers", signedBody, headers...); a.status != 503 {
		t.Fatalf("queue down: %d %s", a.status, a.raw)
	}
	ds := triggered(t, h.store)
	if len(ds) != 1 {
		t.Fatalf("the first request's deliveries: %v", ds)
	}
	retry := h.do("POST", "/v1/triggers", signedBody, headers...)
	if retry.status != 202 || retry.body["delivery_id"] != ds[0].ID || retry.body["replayed"] != true {
		t.Fatalf("retry: %d %s, want the delivery %s", retry.status, retry.raw, ds[0].ID)
	}
	if n := len(triggered(t, h.store)); n != 1 {
		t.Fatalf("%d deliveries, want 1", n)
	}
	insp := asynq.NewInspector(queue)
	t.Cleanup(func() { insp.Close() })
	if info, err := insp.GetTaskInfo(dispatcher.DeliveryQueue("email"), ds[0].ID); err != nil || info == nil {
		t.Fatalf("the retry did not queue the delivery: %v", err)
	}
}

// TestSignedTriggerFailureFreesItsID: a request that made nothing (here,
// its survey did not exist yet) leaves its webhook-id free, so the
// sender's retry is processed, not refused as a replay.
func TestSignedTriggerFailureFreesItsID(t *testing.T) {
	clk := testenv.NewClock(time.Now())
	h, _, sign, _ := signedHarness(t, clk)
	headers := sign("msg_fail", signedBody)
	if a := h.do("POST", "/v1/triggers", signedBody, headers...); a.status != 400 || a.errField() != "survey" {
		t.Fatalf("unknown survey: %d %s", a.status, a.raw)
	}
	h.createSurvey()
	if a := h.do("POST", "/v1/triggers", signedBody, headers...); a.status != 202 || a.body["replayed"] != false {
		t.Fatalf("retry after the fix: %d %s", a.status, a.raw)
	}
}

// TestSignedTriggerInProgress: while a request with the webhook-id is at
// work, another with it is refused for a moment, not processed twice.
func TestSignedTriggerInProgress(t *testing.T) {
	clk := testenv.NewClock(time.Now())
	h, cfg, sign, _ := signedHarness(t, clk)
	h.createSurvey()
	ok, _, err := cfg.Gate.Limiter.ClaimOnce(context.Background(), "trigger-id:msg_busy", "another-request", 10*time.Minute)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	a := h.do("POST", "/v1/triggers", signedBody, sign("msg_busy", signedBody)...)
	if a.status != 409 || a.errCode() != "in_progress" || a.header.Get("Retry-After") == "" {
		t.Fatalf("in progress: %d %s", a.status, a.raw)
	}
	if n := len(triggered(t, h.store)); n != 0 {
		t.Fatalf("%d deliveries, want none", n)
	}
}

// TestSignedTriggerFailsClosed: when the replay guard's Redis does not
// answer, a signed trigger is refused (503), not let through unchecked.
func TestSignedTriggerFailsClosed(t *testing.T) {
	clk := testenv.NewClock(time.Now())
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { dead.Close() })
	h, _, sign, _ := signedHarness(t, clk, func(c *httpapi.Config) {
		c.Gate = &dispatcher.Gate{Limiter: throttle.New(dead), Transactional: 30 * 24 * time.Hour}
	})
	h.createSurvey()
	a := h.do("POST", "/v1/triggers", signedBody, sign("msg_dark", signedBody)...)
	if a.status != 503 || a.errCode() != "unavailable" {
		t.Fatalf("replay guard down: %d %s", a.status, a.raw)
	}
	if n := len(triggered(t, h.store)); n != 0 {
		t.Fatalf("%d deliveries, want none", n)
	}
}
