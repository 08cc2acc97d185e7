package dispatcher_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/channels/chat/dingtalk"
	"github.com/npsgate/npsgate/channels/chat/webhook"
	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/internal/chattest"
	"github.com/npsgate/npsgate/store"
)

// shortBlock is a channel whose rate-limited answers ask for wait instead
// of the provider's own (DingTalk blocks a robot for 10 minutes), so that
// a test sees the retry after it. Everything else is the real channel's.
type shortBlock struct {
	channels.Channel
	wait time.Duration
}

func (s shortBlock) Send(ctx context.Context, m *channels.Message) (channels.Result, error) {
	res, err := s.Channel.Send(ctx, m)
	var pe *channels.Error
	if errors.As(err, &pe) && pe.Kind == channels.RateLimited {
		short := *pe
		short.RetryAfter = s.wait
		return res, &short
	}
	return res, err
}

// withDingTalk registers the DingTalk channel (its rate-limit waits cut to
// block) and returns a fake DingTalk with one signing robot, whose address
// is made every survey's alert target.
func (e *env) withDingTalk(block time.Duration) (*chattest.DingTalkServer, string) {
	e.t.Helper()
	dt := chattest.StartDingTalk(e.t)
	addr := dt.AddRobot("ops-robot", "SEC0123456789abcdef")
	ch, err := dingtalk.New(dingtalk.Config{})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.sender.Channels.Register(shortBlock{ch, block}); err != nil {
		e.t.Fatal(err)
	}
	e.alertTargets(store.Target{Channel: dingtalk.Name, Address: addr})
	return dt, addr
}

func (e *env) alertTargets(ts ...store.Target) {
	e.t.Helper()
	ctx := context.Background()
	sv, err := e.st.GetSurvey(ctx, "s")
	if err != nil {
		e.t.Fatal(err)
	}
	sv.AlertTargets = ts
	if err := e.st.UpdateSurvey(ctx, sv); err != nil {
		e.t.Fatal(err)
	}
}

// alertOf is the one alert of a response.
func (e *env) alertOf(responseID string) *store.Alert {
	e.t.Helper()
	list, err := e.st.AlertsForResponse(context.Background(), responseID)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(list) != 1 {
		e.t.Fatalf("response %s has %d alerts, want 1", responseID, len(list))
	}
	return list[0]
}

func (e *env) waitAlert(responseID string, want store.AlertStatus) *store.Alert {
	e.t.Helper()
	var a *store.Alert
	eventually(e.t, fmt.Sprintf("alert of %s %s", responseID, want), func() bool {
		a = e.alertOf(responseID)
		return a.Status == want
	})
	return a
}

// deadClient enqueues into a Redis that is not there: every enqueue fails.
func deadClient(t *testing.T) *dispatcher.Client {
	c := dispatcher.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond}, 2)
	t.Cleanup(func() { c.Close() })
	return c
}

// A detractor's answer, queued as the reply page queues it, reaches the
// group's DingTalk robot signed, with the score, the comment and a link a
// person can open; the comment edited later is one follow-up on it.
func TestDetractorAlertReachesDingTalkRobot(t *testing.T) {
	e := newEnv(t)
	dt, _ := e.withDingTalk(time.Second)
	n := e.notifier()
	e.worker(n)
	ctx := context.Background()
	r := e.respond(2, "Support never called back")
	if err := e.client.NotifyResponse(ctx, r.ID, dispatcher.EventResponseCreated); err != nil {
		t.Fatal(err)
	}
	if err := dt.WaitFor(1, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	got := dt.Accepted()
	if len(got) != 1 {
		t.Fatalf("DingTalk refused the alert: %+v", dt.Requests())
	}
	m := got[0].Message
	body := m.Body()
	if m.MsgType != "markdown" || !strings.Contains(m.Title(), "[P2] Detractor 2/10") ||
		!strings.Contains(body, "Support never called back") || !strings.Contains(body, "Contact: c1") {
		t.Fatalf("alert as DingTalk got it: %+v", m)
	}
	links := m.Links()
	if len(links) != 1 {
		t.Fatalf("want one link to the response, got %+v", links)
	}
	// The link opens in a browser, behind the dashboard's login: not the
	// API, which needs a key a person in the group does not have.
	u, err := url.Parse(links[0].URL)
	if err != nil || u.Host != "nps.test" || u.Path != "/dashboard/comments" ||
		u.Query().Get("survey") != "s" || u.Query().Get("score") != "2" {
		t.Fatalf("response link %q", links[0].URL)
	}
	e.waitAlert(r.ID, store.AlertSent)

	r.Comment = "Support never called back, and the invoice is wrong"
	if _, err := e.st.SaveResponse(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := e.client.NotifyResponse(ctx, r.ID, dispatcher.EventResponseUpdated); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the follow-up", func() bool { return e.alertOf(r.ID).Sends == 2 })
	got = dt.Accepted()
	if len(got) != 2 || !strings.HasPrefix(got[1].Message.Title(), "Update: [P2]") ||
		!strings.Contains(got[1].Message.Body(), "invoice is wrong") {
		t.Fatalf("follow-up: %+v", got)
	}
}

// Alerts for a robot that DingTalk blocks ("send too fast") wait and go
// out together as one summary once it takes messages again, however often
// it is still blocked when the summary is tried: none is marked sent
// before it is, none is lost, and the blocked robot is not called again
// for each new alert.
func TestAlertsForABlockedRobotArriveInOneSummary(t *testing.T) {
	e := newEnv(t)
	// The summary is refused once more after the first alert was: it is
	// tried about 3s after the first refusal (the other alerts come
	// before) and again 4s later.
	dt, _ := e.withDingTalk(3 * time.Second)
	dt.FailNext(chattest.DingTalkSendTooFast, chattest.DingTalkSendTooFast)
	n := e.notifier()
	e.worker(n)
	ctx := context.Background()
	var ids []string
	notify := func(score int, comment string) {
		r := e.respond(score, comment)
		ids = append(ids, r.ID)
		if err := n.Notify(ctx, dispatcher.NotifyResponse{ResponseID: r.ID, Event: dispatcher.EventResponseCreated}); err != nil {
			t.Fatal(err)
		}
	}
	notify(0, "comment 0")
	a := e.waitAlert(ids[0], store.AlertWaiting)
	if !strings.Contains(a.Reason, "send too fast") {
		t.Fatalf("reason %q, want DingTalk's words", a.Reason)
	}
	notify(1, "comment 1")
	notify(2, "comment 2")
	for _, id := range ids[1:] {
		e.waitAlert(id, store.AlertWaiting)
	}
	if c := dt.Count(); c != 1 {
		t.Fatalf("the robot known to be blocked was called %d times, want once", c)
	}
	for _, id := range ids {
		e.waitAlert(id, store.AlertSent)
	}
	reqs := dt.Requests()
	got := dt.Accepted()
	if len(reqs) != 3 || len(got) != 1 {
		t.Fatalf("want the alert and the summary refused, then the summary taken: %d requests, %d taken", len(reqs), len(got))
	}
	if !strings.Contains(got[0].Message.Body(), "3 alerts while this channel was rate-limited") {
		t.Fatalf("summary: %q", got[0].Message.Body())
	}
	for i, id := range ids {
		if !strings.Contains(got[0].Message.Body(), fmt.Sprintf("comment %d", i)) {
			t.Errorf("the summary lacks alert %d", i)
		}
		if a := e.alertOf(id); a.Sends != 1 || a.SentComment != fmt.Sprintf("comment %d", i) {
			t.Errorf("alert %d: %+v", i, a)
		}
	}
}

// A summary refused for good fails its alerts with DingTalk's words.
func TestSummaryRefusedForGoodFailsItsAlerts(t *testing.T) {
	e := newEnv(t)
	dt, _ := e.withDingTalk(3 * time.Second) // the second alert comes within it
	dt.FailNext(chattest.DingTalkSendTooFast, chattest.DingTalkTokenNotExist)
	n := e.notifier()
	e.worker(n)
	ctx := context.Background()
	r := e.respond(0, "first")
	if err := n.Notify(ctx, dispatcher.NotifyResponse{ResponseID: r.ID, Event: dispatcher.EventResponseCreated}); err != nil {
		t.Fatal(err)
	}
	e.waitAlert(r.ID, store.AlertWaiting)
	r2 := e.respond(1, "second")
	if err := n.Notify(ctx, dispatcher.NotifyResponse{ResponseID: r2.ID, Event: dispatcher.EventResponseCreated}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{r.ID, r2.ID} {
		a := e.waitAlert(id, store.AlertFailed)
		if !strings.Contains(a.Reason, "token is not exist") || a.Sends != 0 {
			t.Errorf("failed alert: %+v", a)
		}
	}
	if c := dt.Count(); c != 2 {
		t.Fatalf("%d calls, want the alert and the summary", c)
	}
}

// Alerts and surveys to one robot share its rate limit: an alert takes
// the token a survey would, and an alert finding none waits for the
// summary instead of calling the robot past its limit.
func TestAlertsTakeTheRobotsSurveyToken(t *testing.T) {
	e := newEnv(t)
	dt, addr := e.withDingTalk(time.Second)
	// One message in 3 seconds: a survey finding no token is deferred
	// rather than waiting in its worker.
	g := e.gate(func(g *dispatcher.Gate) { g.Rates[dingtalk.Name] = dispatcher.Rate{PerSecond: 1.0 / 3, Burst: 1} })
	n := e.notifier()
	n.Gate = g
	e.worker(n)
	ctx := context.Background()
	survey := func(id string) dispatcher.Decision {
		t.Helper()
		d := &store.Delivery{ID: id, SurveyKey: "s", ContactID: "c1", Channel: dingtalk.Name, Address: addr, Token: "tok-" + id}
		dec, err := g.BeforeSend(ctx, d, &channels.Message{Text: "How likely … " + id}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return dec
	}

	first := e.respond(2, "first")
	if err := n.Notify(ctx, dispatcher.NotifyResponse{ResponseID: first.ID, Event: dispatcher.EventResponseCreated}); err != nil {
		t.Fatal(err)
	}
	e.waitAlert(first.ID, store.AlertSent)
	if dec := survey("after-alert"); dec.Until.IsZero() {
		t.Fatal("a survey to the robot went right after an alert took its only token")
	}

	second := e.respond(3, "second")
	if err := n.Notify(ctx, dispatcher.NotifyResponse{ResponseID: second.ID, Event: dispatcher.EventResponseCreated}); err != nil {
		t.Fatal(err)
	}
	a := e.waitAlert(second.ID, store.AlertWaiting)
	if c := dt.Count(); c != 1 {
		t.Fatalf("the robot was called %d times without a token, want once", c)
	}
	if !strings.Contains(a.Reason, "rate limit") {
		t.Errorf("reason %q", a.Reason)
	}
	e.waitAlert(second.ID, store.AlertSent)
	if got := dt.Accepted(); len(got) != 2 || !strings.Contains(got[1].Message.Body(), "second") {
		t.Fatalf("taken: %+v", got)
	}
}

// Each send of an alert to a generic webhook has its own webhook-id, the
// same on every retry of that send: Standard Webhooks receivers drop an id
// they have seen, and would drop the follow-up.
func TestAlertSendsHaveTheirOwnWebhookID(t *testing.T) {
	e := newEnv(t)
	secret := chattest.NewWebhookSecret()
	wh := chattest.StartWebhook(t, secret)
	ch, err := webhook.New(webhook.Config{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sender.Channels.Register(ch); err != nil {
		t.Fatal(err)
	}
	e.alertTargets(store.Target{Channel: webhook.Name, Address: wh.EndpointURL("alerts")})
	n := e.notifier()
	e.worker(n)
	ctx := context.Background()
	r := e.respond(1, "")
	update := func(comment string) {
		t.Helper()
		r.Comment = comment
		if _, err := e.st.SaveResponse(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := n.Notify(ctx, dispatcher.NotifyResponse{ResponseID: r.ID, Event: dispatcher.EventResponseUpdated}); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Notify(ctx, dispatcher.NotifyResponse{ResponseID: r.ID, Event: dispatcher.EventResponseCreated}); err != nil {
		t.Fatal(err)
	}
	e.waitAlert(r.ID, store.AlertSent)
	wh.FailNext(chattest.WebhookServerError) // the first follow-up is tried twice
	update("first comment")
	eventually(t, "the first follow-up", func() bool { return e.alertOf(r.ID).Sends == 2 })
	update("second comment")
	eventually(t, "the second follow-up", func() bool { return e.alertOf(r.ID).Sends == 3 })

	reqs := wh.Requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want 4", len(reqs))
	}
	for _, q := range reqs {
		if !q.Verified {
			t.Fatalf("request %d not verified: %s", q.N, q.VerifyError)
		}
	}
	alert, retried, follow1, follow2 := reqs[0].ID, reqs[1].ID, reqs[2].ID, reqs[3].ID
	if retried != follow1 {
		t.Errorf("a retry of one follow-up changed its webhook-id: %q then %q", retried, follow1)
	}
	if alert == follow1 || follow1 == follow2 || alert == follow2 {
		t.Errorf("webhook-ids of the alert and its follow-ups: %q %q %q", alert, follow1, follow2)
	}
}

// An alert whose enqueue failed is left pending; the retry of the notify
// task queues it (and only it) again.
func TestNotifyRetryQueuesAPendingAlert(t *testing.T) {
	e := newEnv(t)
	e.withAlertTarget()
	n := e.notifier()
	e.worker(n)
	broken := e.notifier()
	broken.Client = deadClient(t)
	ctx := context.Background()
	r := e.respond(2, "lost?")
	args := dispatcher.NotifyResponse{ResponseID: r.ID, Event: dispatcher.EventResponseCreated}
	if err := broken.Notify(ctx, args); err == nil {
		t.Fatal("Notify with Redis down succeeded")
	}
	if a := e.alertOf(r.ID); a.Status != store.AlertPending {
		t.Fatalf("alert after a failed enqueue: %+v", a)
	}
	if err := n.Notify(ctx, args); err != nil { // asynq's retry
		t.Fatal(err)
	}
	if err := n.Notify(ctx, args); err != nil { // and one more: still one send
		t.Fatal(err)
	}
	e.waitAlert(r.ID, store.AlertSent)
	if got := e.waitSent(1); len(got) != 1 || !strings.Contains(got[0].Text, "lost?") {
		t.Fatalf("sent: %+v", got)
	}
	if a := e.alertOf(r.ID); a.Sends != 1 {
		t.Fatalf("alert sent %d times", a.Sends)
	}
}

// A webhook event whose enqueue failed is left pending; the retry of the
// fan-out queues it again, under its own task ID.
func TestFanoutRetryQueuesAPendingEvent(t *testing.T) {
	e := newEnv(t)
	n := e.notifier()
	rc := newReceiver(t, secret)
	ctx := context.Background()
	if err := e.st.CreateWebhook(ctx, &store.WebhookSubscription{ID: "w1", URL: rc.srv.URL, Secret: secret,
		Events: []string{"*"}, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	e.worker(n)
	broken := e.notifier()
	broken.Client = deadClient(t)
	ev := dispatcher.FanoutEvent{Event: dispatcher.Event{ID: "ev-1", Type: dispatcher.EventContactOptedOut,
		Timestamp: time.Now().UTC().Format(time.RFC3339), Data: []byte(`{"contact_id":"c1"}`)}}
	if err := broken.Fanout(ctx, ev); err == nil {
		t.Fatal("Fanout with Redis down succeeded")
	}
	list, err := e.st.ListWebhookEvents(ctx, "w1", 10)
	if err != nil || len(list) != 1 || list[0].Status != "pending" {
		t.Fatalf("events after a failed enqueue: %+v %v", list, err)
	}
	if err := n.Fanout(ctx, ev); err != nil { // asynq's retry
		t.Fatal(err)
	}
	eventually(t, "the event delivered", func() bool {
		l, _ := e.st.ListWebhookEvents(ctx, "w1", 10)
		return len(l) == 1 && l[0].Status == "succeeded"
	})
	if got := rc.got(); len(got) != 1 || !strings.Contains(got[0], `"contact_id":"c1"`) {
		t.Fatalf("received: %v", got)
	}
	// A later retry of the fan-out sends nothing again.
	if err := n.Fanout(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if atts, _ := e.st.WebhookAttempts(ctx, list[0].ID); len(atts) != 1 {
		t.Fatalf("%d attempts, want 1", len(atts))
	}
}

// holdChannel holds its first send until released, so that a test can
// change the response while the alert is being sent.
type holdChannel struct {
	entered, release chan struct{}
	mu               sync.Mutex
	calls            int
	sent             []*channels.Message
}

func (h *holdChannel) Name() string { return "hold" }

func (h *holdChannel) Send(_ context.Context, m *channels.Message) (channels.Result, error) {
	h.mu.Lock()
	h.calls++
	first := h.calls == 1
	h.mu.Unlock()
	if first {
		h.entered <- struct{}{}
		<-h.release
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sent = append(h.sent, m)
	return channels.Result{ProviderID: m.DeliveryID}, nil
}

// A comment saved while the alert is being sent is not lost: its Notify
// finds the send's task still running, and the follow-up is queued once
// the send is done.
func TestCommentDuringTheSendIsFollowedUp(t *testing.T) {
	e := newEnv(t)
	h := &holdChannel{entered: make(chan struct{}), release: make(chan struct{})}
	if err := e.sender.Channels.Register(h); err != nil {
		t.Fatal(err)
	}
	e.alertTargets(store.Target{Channel: "hold", Address: "on-call"})
	n := e.notifier()
	e.worker(n)
	ctx := context.Background()
	r := e.respond(1, "")
	if err := n.Notify(ctx, dispatcher.NotifyResponse{ResponseID: r.ID, Event: dispatcher.EventResponseCreated}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the alert was never sent")
	}
	r.Comment = "written while the alert was on its way"
	if _, err := e.st.SaveResponse(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(ctx, dispatcher.NotifyResponse{ResponseID: r.ID, Event: dispatcher.EventResponseUpdated}); err != nil {
		t.Fatal(err)
	}
	close(h.release)
	eventually(t, "the follow-up", func() bool { return e.alertOf(r.ID).Sends == 2 })
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.sent) != 2 || strings.Contains(h.sent[0].Text, "written while") ||
		!strings.HasPrefix(h.sent[1].Subject, "Update:") || !strings.Contains(h.sent[1].Text, "written while") {
		t.Fatalf("sent: %+v", h.sent)
	}
}
