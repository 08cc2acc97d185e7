package dispatcher_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

func (e *env) notifier() *dispatcher.Notifier {
	return &dispatcher.Notifier{Store: e.st, Channels: e.sender.Channels, Client: e.client,
		Links: e.sender.Links, Logger: quiet(), WebhookBackoff: []time.Duration{10 * time.Millisecond, 10 * time.Millisecond}}
}

// respond makes a delivery and its response for contact c1.
func (e *env) respond(score int, comment string) *store.Response {
	e.t.Helper()
	d := e.delivery(false)
	r := &store.Response{DeliveryID: d.ID, Score: score, Category: survey.NPS.CategoryOf(score), Comment: comment}
	if _, err := e.st.SaveResponse(context.Background(), r); err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) withAlertTarget() {
	e.t.Helper()
	sv, _ := e.st.GetSurvey(context.Background(), "s")
	sv.AlertTargets = []store.Target{{Channel: "email", Address: "cs@acme.test"}}
	if err := e.st.UpdateSurvey(context.Background(), sv); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) waitSent(n int) []*channels.Message {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		e.ch.mu.Lock()
		got := append([]*channels.Message(nil), e.ch.sent...)
		e.ch.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d messages sent, want %d", len(got), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDetractorRaisesOneAlertAndFollowUps(t *testing.T) {
	e := newEnv(t)
	e.withAlertTarget()
	n := e.notifier()
	e.worker(n)
	ctx := context.Background()
	// A promoter raises nothing under the default rule.
	prom := e.respond(10, "")
	if err := n.Notify(ctx, dispatcher.NotifyResponse{ResponseID: prom.ID, Event: dispatcher.EventResponseCreated}); err != nil {
		t.Fatal(err)
	}
	r := e.respond(3, "")
	for i := 0; i < 2; i++ { // notified twice: still one alert
		if err := n.Notify(ctx, dispatcher.NotifyResponse{ResponseID: r.ID, Event: dispatcher.EventResponseCreated}); err != nil {
			t.Fatal(err)
		}
	}
	first := e.waitSent(1)[0]
	if first.Kind != "alert" || first.To != "cs@acme.test" || !strings.Contains(first.Subject, "Detractor 3/10") {
		t.Fatalf("alert: %+v", first)
	}
	r.Comment = "Nothing worked after the upgrade"
	if _, err := e.st.SaveResponse(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(ctx, dispatcher.NotifyResponse{ResponseID: r.ID, Event: dispatcher.EventResponseUpdated}); err != nil {
		t.Fatal(err)
	}
	got := e.waitSent(2)
	if !strings.HasPrefix(got[1].Subject, "Update:") || !strings.Contains(got[1].Text, "Nothing worked") {
		t.Fatalf("follow-up: %+v", got[1])
	}
	eventually(t, "one alert, sent twice", func() bool {
		alerts, _ := e.st.AlertsForResponse(ctx, r.ID)
		return len(alerts) == 1 && alerts[0].Sends == 2 && alerts[0].Status == store.AlertSent
	})
	time.Sleep(100 * time.Millisecond) // nothing more may follow
	if _, sent := e.ch.count(); sent != 2 {
		t.Fatalf("%d messages, want 2", sent)
	}
}

func TestRateLimitedAlertsAreMerged(t *testing.T) {
	// The target refuses the first alert; the next ones find it known to
	// be rate-limited and wait without calling it. Its wait is long enough
	// for them to come before the summary, even on a loaded machine.
	limited := &channels.Error{Channel: "email", Kind: channels.RateLimited, RetryAfter: 3 * time.Second, Message: "send too fast"}
	e := newEnv(t, limited)
	e.withAlertTarget()
	n := e.notifier()
	e.worker(n)
	ctx := context.Background()
	var ids []string
	for i := 0; i < 3; i++ {
		r := e.respond(i, fmt.Sprintf("comment %d", i))
		ids = append(ids, r.ID)
		if err := n.Notify(ctx, dispatcher.NotifyResponse{ResponseID: r.ID, Event: dispatcher.EventResponseCreated}); err != nil {
			t.Fatal(err)
		}
		e.waitAlert(r.ID, store.AlertWaiting)
	}
	if calls, _ := e.ch.count(); calls != 1 {
		t.Fatalf("the rate-limited target was called %d times, want once", calls)
	}
	for _, id := range ids {
		e.waitAlert(id, store.AlertSent)
	}
	msgs := e.waitSent(1)
	if calls, _ := e.ch.count(); len(msgs) != 1 || calls != 2 || !strings.Contains(msgs[0].Text, "3 alerts while this channel was rate-limited") {
		t.Fatalf("want one summary after the refusal, got %d calls: %+v", calls, msgs)
	}
	for i := range ids {
		if !strings.Contains(msgs[0].Text, fmt.Sprintf("comment %d", i)) {
			t.Errorf("summary lacks alert %d", i)
		}
	}
}

// A rule that matches only once a comment is there ("comment: present")
// raises no second alert for a response its target has an alert for: the
// comment goes out as one follow-up on that alert, with the rule's higher
// priority. Both rules matching at once raise one alert, at the higher.
func TestLaterMatchingRuleFollowsUpOnTheAlert(t *testing.T) {
	e := newEnv(t)
	e.withAlertTarget()
	ctx := context.Background()
	if err := e.st.SaveAlertRule(ctx, &store.AlertRule{ID: "r-comment", Name: "commented detractors",
		Categories: []survey.Category{survey.Detractor}, ScoreMin: -1, ScoreMax: -1, Comment: "present", Priority: "P1",
		Targets: []store.Target{{Channel: "email", Address: "cs@acme.test"}}, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	n := e.notifier()
	e.worker(n)
	r := e.respond(3, "")
	if err := n.Notify(ctx, dispatcher.NotifyResponse{ResponseID: r.ID, Event: dispatcher.EventResponseCreated}); err != nil {
		t.Fatal(err)
	}
	if first := e.waitSent(1)[0]; !strings.HasPrefix(first.Subject, "[P2] Detractor 3/10") {
		t.Fatalf("alert: %q", first.Subject)
	}
	e.waitAlert(r.ID, store.AlertSent)
	r.Comment = "Billing is a mess"
	if _, err := e.st.SaveResponse(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(ctx, dispatcher.NotifyResponse{ResponseID: r.ID, Event: dispatcher.EventResponseUpdated}); err != nil {
		t.Fatal(err)
	}
	if a := e.alertOf(r.ID); a.Priority != "P1" {
		t.Fatalf("the alert kept priority %s", a.Priority)
	}
	eventually(t, "the follow-up", func() bool { return e.alertOf(r.ID).Sends == 2 })
	got := e.waitSent(2)
	if len(got) != 2 || !strings.HasPrefix(got[1].Subject, "Update: [P1] Detractor 3/10") || !strings.Contains(got[1].Text, "Billing is a mess") {
		t.Fatalf("messages: %+v", got)
	}

	both := e.respond(2, "Everything is slow")
	if err := n.Notify(ctx, dispatcher.NotifyResponse{ResponseID: both.ID, Event: dispatcher.EventResponseCreated}); err != nil {
		t.Fatal(err)
	}
	if a := e.alertOf(both.ID); a.Priority != "P1" || a.RuleID != "r-comment" {
		t.Fatalf("alert: %+v", a)
	}
	e.waitAlert(both.ID, store.AlertSent)
	if got := e.waitSent(3); len(got) != 3 || !strings.HasPrefix(got[2].Subject, "[P1] Detractor 2/10") {
		t.Fatalf("messages: %+v", got)
	}
}

// receiver is a webhook endpoint that verifies signatures with the
// subscriber's secret and answers from a script.
type receiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	events   []string
	calls    atomic.Int32
	statuses []int
}

func newReceiver(t *testing.T, secret string, statuses ...int) *receiver {
	rc := &receiver{statuses: statuses}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(rc.calls.Add(1))
		body, _ := io.ReadAll(r.Body)
		if err := wh.Verify(body, r.Header); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if n <= len(rc.statuses) && rc.statuses[n-1] != 200 {
			http.Error(w, "not now", rc.statuses[n-1])
			return
		}
		rc.mu.Lock()
		rc.events = append(rc.events, string(body))
		rc.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) got() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.events...)
}

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func TestWebhookEvents(t *testing.T) {
	e := newEnv(t)
	n := e.notifier()
	rc := newReceiver(t, secret, 500, 502)
	ctx := context.Background()
	if err := e.st.CreateWebhook(ctx, &store.WebhookSubscription{ID: "w1", URL: rc.srv.URL, Secret: secret,
		Events: []string{dispatcher.EventResponseCreated}, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	other := newReceiver(t, secret)
	if err := e.st.CreateWebhook(ctx, &store.WebhookSubscription{ID: "w2", URL: other.srv.URL, Secret: secret,
		Events: []string{dispatcher.EventContactOptedOut}, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	e.worker(n)
	r := e.respond(2, "too slow")
	if err := n.Notify(ctx, dispatcher.NotifyResponse{ResponseID: r.ID, Event: dispatcher.EventResponseCreated}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(rc.got()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got := rc.got()
	if len(got) != 1 || !strings.Contains(got[0], `"type":"response.created"`) || !strings.Contains(got[0], `"comment":"too slow"`) {
		t.Fatalf("events: %v", got)
	}
	if len(other.got()) != 0 || other.calls.Load() != 0 {
		t.Fatal("a subscription got an event it did not ask for")
	}
	var events []*store.WebhookEvent
	eventually(t, "the event recorded as succeeded", func() bool {
		events, _ = e.st.ListWebhookEvents(ctx, "w1", 10)
		return len(events) == 1 && events[0].Status == "succeeded"
	})
	atts, _ := e.st.WebhookAttempts(ctx, events[0].ID)
	if events[0].Status != "succeeded" || len(atts) != 3 || atts[0].StatusCode != 500 || atts[2].StatusCode != 204 {
		t.Fatalf("event %+v attempts %+v", events[0], atts)
	}
}

func TestWebhookGivesUpAndKeepsTheEvent(t *testing.T) {
	e := newEnv(t)
	n := e.notifier()
	rc := newReceiver(t, secret, 500, 500, 500)
	ctx := context.Background()
	if err := e.st.CreateWebhook(ctx, &store.WebhookSubscription{ID: "w1", URL: rc.srv.URL, Secret: secret,
		Events: []string{"*"}, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	e.worker(n)
	if err := e.client.Emit(ctx, dispatcher.EventContactOptedOut, dispatcher.OptedOutData{ContactID: "c1", Channel: "sms", Reason: "stop"}); err != nil {
		t.Fatal(err)
	}
	var ev *store.WebhookEvent
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if list, _ := e.st.ListWebhookEvents(ctx, "w1", 1); len(list) == 1 && list[0].Status == "failed" {
			ev = list[0]
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ev == nil || ev.Attempts != 3 || ev.LastStatus != 500 {
		t.Fatalf("want a failed event after 3 attempts: %+v", ev)
	}
}
