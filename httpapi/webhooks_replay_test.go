package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/httpapi"
	"github.com/npsgate/npsgate/internal/chattest"
	"github.com/npsgate/npsgate/internal/testenv"
)

// webhookWorld is the API with a worker that sends webhook events (three
// attempts, 10ms apart) into the API's queue.
type webhookWorld struct {
	*harness
	client *dispatcher.Client
}

func newWebhookWorld(t *testing.T) *webhookWorld {
	t.Helper()
	w := &webhookWorld{}
	var ropt asynq.RedisConnOpt
	w.harness = newHarness(t, func(c *httpapi.Config) {
		var err error
		if ropt, err = asynq.ParseRedisURI(testenv.RedisURL(t, testenv.RedisDBHTTPAPI)); err != nil {
			t.Fatal(err)
		}
		w.client = dispatcher.NewClient(ropt, 3)
		t.Cleanup(func() { w.client.Close() })
		c.Dispatcher = w.client
	})
	log := slog.New(slog.DiscardHandler)
	n := &dispatcher.Notifier{Store: w.store, Channels: channels.NewRegistry(), Client: w.client, Logger: log,
		WebhookBackoff: []time.Duration{10 * time.Millisecond, 10 * time.Millisecond}}
	wk := dispatcher.NewWorker(ropt, dispatcher.WorkerConfig{Concurrency: 1, RetryBaseDelay: 10 * time.Millisecond,
		PollInterval: 20 * time.Millisecond, ShutdownTimeout: 5 * time.Second, Logger: log},
		&dispatcher.Sender{Store: w.store, Channels: channels.NewRegistry(), Logger: log}, n, nil)
	if err := wk.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wk.Shutdown)
	return w
}

// delivery is the one event of subscription id, as GET …/deliveries
// shows it; nil before the event is there.
func (w *webhookWorld) delivery(id string) map[string]any {
	w.t.Helper()
	got := w.do("GET", "/v1/webhooks/"+id+"/deliveries", nil)
	list, _ := got.body["deliveries"].([]any)
	if got.status != http.StatusOK || len(list) > 1 {
		w.t.Fatalf("deliveries: %d %s", got.status, got.raw)
	}
	if len(list) == 0 {
		return nil
	}
	return list[0].(map[string]any)
}

func (w *webhookWorld) waitDelivery(id, status string) map[string]any {
	w.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := w.delivery(id)
		if d["status"] == status {
			return d
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("delivery never %s: %v", status, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An event kept as failed after its retries is sent again by a replay,
// signed with the same webhook-id, and the replay's attempt is listed
// after the others. A replay the queue refused leaves the event failed,
// so that it can be replayed again.
func TestReplayFailedWebhookEvent(t *testing.T) {
	w := newWebhookWorld(t)
	rcv := chattest.StartWebhook(t, chattest.NewWebhookSecret())
	rcv.FailNext(chattest.WebhookServerError, chattest.WebhookServerError, chattest.WebhookServerError)
	created := w.do("POST", "/v1/webhooks", map[string]any{"url": rcv.EndpointURL("crm"), "secret": rcv.Secret(),
		"events": []string{dispatcher.EventContactOptedOut}})
	if created.status != http.StatusCreated {
		t.Fatalf("create: %d %s", created.status, created.raw)
	}
	sub := created.body["id"].(string)
	if err := w.client.Emit(context.Background(), dispatcher.EventContactOptedOut,
		dispatcher.OptedOutData{ContactID: "c1", Channel: "sms", Reason: "STOP"}); err != nil {
		t.Fatal(err)
	}
	failed := w.waitDelivery(sub, "failed")
	if atts, _ := failed["attempts"].([]any); len(atts) != 3 {
		t.Fatalf("failed after %d attempts, want 3: %v", len(atts), failed)
	}
	event := failed["id"].(string)
	replay := "/v1/webhooks/" + sub + "/deliveries/" + event + "/replay"

	// The same API with its queue down.
	dead := dispatcher.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond}, 3)
	t.Cleanup(func() { dead.Close() })
	down := newHarness(t, func(c *httpapi.Config) { c.Store, c.Dispatcher = w.store, dead })
	if got := down.do("POST", replay, nil); got.status != http.StatusServiceUnavailable {
		t.Fatalf("replay with the queue down: %d %s", got.status, got.raw)
	}
	if d := w.delivery(sub); d == nil || d["status"] != "failed" {
		t.Fatalf("a replay that was never queued left the event %v", d["status"])
	}

	if got := w.do("POST", replay, nil); got.status != http.StatusAccepted || got.body["status"] != "pending" {
		t.Fatalf("replay: %d %s", got.status, got.raw)
	}
	done := w.waitDelivery(sub, "succeeded")
	atts, _ := done["attempts"].([]any)
	if len(atts) != 4 {
		t.Fatalf("%d attempts, want the 3 failures and the replay", len(atts))
	}
	if last := atts[3].(map[string]any); last["status_code"] != float64(http.StatusOK) {
		t.Fatalf("replay attempt: %v", last)
	}
	reqs := rcv.Requests()
	if len(reqs) != 4 || !reqs[3].Accepted() || !reqs[3].Verified || reqs[3].ID != reqs[0].ID || reqs[3].ID != event {
		t.Fatalf("receiver saw %d requests; the replay: %+v", len(reqs), reqs[len(reqs)-1])
	}
	if reqs[3].Event.Type != dispatcher.EventContactOptedOut {
		t.Fatalf("replayed event %+v", reqs[3].Event)
	}
}
