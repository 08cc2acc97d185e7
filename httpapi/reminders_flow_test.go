package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/httpapi"
	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/templates"
)

// reminderWorld is the API and the send pipeline on one store, one queue
// (Redis) and one fake clock.
type reminderWorld struct {
	*harness
	clk       *testenv.Clock
	sender    *dispatcher.Sender
	redis     asynq.RedisConnOpt
	cfg       httpapi.Config
	inspector *asynq.Inspector
}

func newReminderWorld(t *testing.T) *reminderWorld {
	t.Helper()
	w := &reminderWorld{clk: testenv.NewClock(time.Now().UTC().Truncate(time.Second))}
	w.harness = newHarness(t, func(cfg *httpapi.Config) {
		ropt, err := asynq.ParseRedisURI(testenv.RedisURL(t, testenv.RedisDBHTTPAPI))
		if err != nil {
			t.Fatal(err)
		}
		client := dispatcher.NewClient(ropt, 3)
		t.Cleanup(func() { client.Close() })
		cfg.Dispatcher, cfg.Now = client, w.clk.Now
		w.redis, w.cfg = ropt, *cfg
	})
	log := slog.New(slog.DiscardHandler)
	w.sender = &dispatcher.Sender{Store: w.store, Channels: w.cfg.Channels, Templates: w.cfg.Templates, Links: w.cfg.Links,
		Gate: w.cfg.Gate, Events: w.cfg.Dispatcher, Logger: log, Now: w.clk.Now}
	w.inspector = asynq.NewInspector(w.redis)
	t.Cleanup(func() { w.inspector.Close() })
	return w
}

// work starts a worker: the send pipeline and the closed loop (which
// cancels the reminders of an answered survey).
func (w *reminderWorld) work() {
	w.t.Helper()
	log := slog.New(slog.DiscardHandler)
	n := &dispatcher.Notifier{Store: w.store, Channels: w.cfg.Channels, Client: w.cfg.Dispatcher, Links: w.cfg.Links,
		Gate: w.cfg.Gate, Logger: log}
	wk := dispatcher.NewWorker(w.redis, dispatcher.WorkerConfig{Concurrency: 2, RetryBaseDelay: 10 * time.Millisecond,
		PollInterval: 20 * time.Millisecond, ShutdownTimeout: 5 * time.Second, Logger: log}, w.sender, n, nil)
	if err := wk.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(wk.Shutdown)
}

func (w *reminderWorld) survey(body map[string]any) {
	w.t.Helper()
	if a := w.do("POST", "/v1/surveys", body); a.status != http.StatusCreated {
		w.t.Fatalf("create survey: %d %s", a.status, a.raw)
	}
}

// trigger sends the survey to a contact and returns the delivery.
func (w *reminderWorld) trigger(channel string, contact map[string]any) *store.Delivery {
	w.t.Helper()
	a := w.do("POST", "/v1/triggers", map[string]any{"survey": "onboarding", "channel": channel, "contact": contact})
	if a.status != http.StatusAccepted {
		w.t.Fatalf("trigger: %d %s", a.status, a.raw)
	}
	d, err := w.store.GetDelivery(context.Background(), a.body["delivery_id"].(string))
	if err != nil {
		w.t.Fatal(err)
	}
	return d
}

func (w *reminderWorld) waitStatus(id string, want store.DeliveryStatus) *store.Delivery {
	w.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := w.store.GetDelivery(context.Background(), id)
		if err == nil && d.Status == want {
			return d
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("delivery %s: %+v %v, want %s", id, d, err, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// reminders waits for a sent survey's n reminders: the worker plans them
// just after it records the send.
func (w *reminderWorld) reminders(id string, n int) []*store.Delivery {
	w.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rems, err := w.store.RemindersOf(context.Background(), id)
		if err == nil && len(rems) == n {
			return rems
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("reminders of %s: %d %v, want %d", id, len(rems), err, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// due checks that a reminder's task waits in the queue for its time,
// then, the clock being there, runs it now.
func (w *reminderWorld) due(r *store.Delivery) {
	w.t.Helper()
	info, err := w.inspector.GetTaskInfo(dispatcher.DeliveryQueue(r.Channel), r.ID)
	if err != nil || info.State != asynq.TaskStateScheduled || info.NextProcessAt.Sub(r.SendAt).Abs() > time.Second {
		w.t.Fatalf("task of reminder %d: %+v %v (send at %v)", r.ReminderN, info, err, r.SendAt)
	}
	if now := w.clk.Now(); now.Before(r.SendAt) {
		w.t.Fatalf("reminder %d is due at %v, the clock says %v", r.ReminderN, r.SendAt, now)
	}
	if err := w.inspector.RunTask(dispatcher.DeliveryQueue(r.Channel), r.ID); err != nil {
		w.t.Fatal(err)
	}
}

// outboxTo lists the messages kept for an address, oldest first.
func (w *reminderWorld) outboxTo(addr string) []*store.OutboxMessage {
	w.t.Helper()
	all, err := w.store.ListOutbox(context.Background(), 1000, 0)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []*store.OutboxMessage
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].To == addr {
			out = append(out, all[i])
		}
	}
	return out
}

// get fetches a page without following redirects.
func (w *reminderWorld) get(path string) (int, http.Header, string) {
	w.t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(w.srv.URL + path)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// pollUntil waits for cond, which a worker makes true.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestRemindersGoToANonResponderNotToAnAnswerer: two contacts get a
// survey with reminders after 3 and 7 days. Both get the first reminder
// when it is due; one answers through its link on the reply page; only
// the other gets the second reminder. The answer records that it came
// from reminder 1.
func TestRemindersGoToANonResponderNotToAnAnswerer(t *testing.T) {
	w := newReminderWorld(t)
	w.work()
	w.survey(map[string]any{"key": "onboarding", "product_name": "Acme Cloud", "channels": []string{"email"},
		"reminders": []map[string]any{{"after": "3d"}, {"after": "7d"}}})
	start := w.clk.Now()
	ann := w.trigger("email", map[string]any{"external_id": "ann", "email": "ann@example.com", "locale": "en"})
	bob := w.trigger("email", map[string]any{"external_id": "bob", "email": "bob@example.com", "locale": "en"})
	w.waitStatus(ann.ID, store.StatusSent)
	w.waitStatus(bob.ID, store.StatusSent)
	annR, bobR := w.reminders(ann.ID, 2), w.reminders(bob.ID, 2)
	for _, rs := range [][]*store.Delivery{annR, bobR} {
		if !rs[0].SendAt.Equal(start.Add(3*24*time.Hour)) || !rs[1].SendAt.Equal(start.Add(7*24*time.Hour)) {
			t.Fatalf("reminders at %v and %v, sent at %v", rs[0].SendAt, rs[1].SendAt, start)
		}
	}

	w.clk.Advance(3 * 24 * time.Hour)
	w.due(annR[0])
	w.due(bobR[0])
	w.waitStatus(annR[0].ID, store.StatusSent)
	w.waitStatus(bobR[0].ID, store.StatusSent)
	msgs := w.outboxTo("bob@example.com")
	if len(msgs) != 2 || !strings.HasPrefix(msgs[1].Subject, "Reminder: ") {
		t.Fatalf("bob's messages: %+v", msgs)
	}

	// Bob follows the reminder's link and answers on the reply page.
	link, ok := strings.CutPrefix(msgs[1].ReplyURL, w.cfg.Links.Base)
	if !ok || link != "/r/"+bob.Token+"?m=1" {
		t.Fatalf("reminder link %q", msgs[1].ReplyURL)
	}
	if status, _, page := w.get(link); status != http.StatusOK || !strings.Contains(page, `name="m" value="1"`) {
		t.Fatalf("reply page: %d", status)
	}
	if a := w.form("/r/"+bob.Token, url.Values{"score": {"9"}, "m": {"1"}}); a.status != http.StatusOK {
		t.Fatalf("answer: %d %s", a.status, a.raw)
	}
	// The closed loop cancels Bob's second reminder at once.
	w.waitStatus(bobR[1].ID, store.StatusSuppressed)
	if got, _ := w.store.GetDelivery(context.Background(), bobR[1].ID); got.Reason != "answered" {
		t.Fatalf("bob's second reminder: %q", got.Reason)
	}
	if r := w.response(bob.ID); r == nil || r.Score != 9 || r.Via != 1 {
		t.Fatalf("bob's answer %+v", r)
	}

	w.clk.Advance(4 * 24 * time.Hour)
	w.due(annR[1])
	w.due(bobR[1]) // its task is still queued; it must send nothing
	w.waitStatus(annR[1].ID, store.StatusSent)
	pollUntil(t, "bob's second reminder task done", func() bool {
		_, err := w.inspector.GetTaskInfo(dispatcher.DeliveryQueue("email"), bobR[1].ID)
		return err != nil
	})
	if a, b := w.outboxTo("ann@example.com"), w.outboxTo("bob@example.com"); len(a) != 3 || len(b) != 2 {
		t.Fatalf("ann got %d messages, bob %d; want 3 and 2", len(a), len(b))
	}
	if got, _ := w.store.GetDelivery(context.Background(), bobR[1].ID); got.Status != store.StatusSuppressed {
		t.Fatalf("bob's second reminder: %s", got.Status)
	}
}

// TestReminderAnswersSayWhichMessage: an SMS reminder carries a short
// link of its own that opens the reply page as that reminder (the answer
// says via 1), and a text reply after the second reminder answers the
// survey as reminder 2.
func TestReminderAnswersSayWhichMessage(t *testing.T) {
	w := newReminderWorld(t)
	w.work()
	w.survey(map[string]any{"key": "onboarding", "product_name": "Acme Cloud", "channels": []string{"sms"},
		"reminders": []map[string]any{{"after": "1d"}, {"after": "2d"}}})
	const carol, dave = "+14155550161", "+14155550162"
	c := w.trigger("sms", map[string]any{"external_id": "carol", "phone": carol, "locale": "en"})
	d := w.trigger("sms", map[string]any{"external_id": "dave", "phone": dave, "locale": "en"})
	w.waitStatus(c.ID, store.StatusSent)
	w.waitStatus(d.ID, store.StatusSent)
	cR, dR := w.reminders(c.ID, 2), w.reminders(d.ID, 2)

	w.clk.Advance(24 * time.Hour)
	w.due(cR[0])
	w.due(dR[0])
	w.waitStatus(cR[0].ID, store.StatusSent)
	w.waitStatus(dR[0].ID, store.StatusSent)
	msgs := w.outboxTo(carol)
	if len(msgs) != 2 {
		t.Fatalf("carol's SMS: %d", len(msgs))
	}
	code, ok := strings.CutPrefix(msgs[1].ReplyURL, w.cfg.Links.Base+"/s/")
	if !ok || strings.Contains(msgs[1].Text, "?m=") || !strings.HasSuffix(msgs[1].Text, msgs[1].ReplyURL) {
		t.Fatalf("reminder SMS %q", msgs[1].Text)
	}
	if enc, n := templates.Segments(msgs[1].Text); enc != templates.GSM7 || n != 1 {
		t.Fatalf("reminder SMS in %d %s segments: %q", n, enc, msgs[1].Text)
	}
	status, header, _ := w.get("/s/" + code)
	if status != http.StatusFound || header.Get("Location") != "/r/"+c.Token+"?m=1" {
		t.Fatalf("short link: %d to %q", status, header.Get("Location"))
	}
	if status, _, page := w.get(header.Get("Location")); status != http.StatusOK || !strings.Contains(page, `name="m" value="1"`) {
		t.Fatalf("reply page: %d", status)
	}
	if a := w.form("/r/"+c.Token, url.Values{"score": {"10"}, "m": {"1"}}); a.status != http.StatusOK {
		t.Fatalf("answer: %d", a.status)
	}
	if r := w.response(c.ID); r == nil || r.Via != 1 {
		t.Fatalf("carol's answer %+v", r)
	}

	w.clk.Advance(24 * time.Hour)
	w.due(dR[1])
	w.waitStatus(dR[1].ID, store.StatusSent)
	if status, answer := w.twilio("/v1/inbound/twilio/sms", smsFrom(dave, "7")); status != http.StatusOK || !strings.Contains(answer, "Thank") {
		t.Fatalf("sms reply: %d %q", status, answer)
	}
	if r := w.response(d.ID); r == nil || r.Score != 7 || r.Via != 2 {
		t.Fatalf("dave's answer %+v", r)
	}
}

// TestOptOutsCancelRemindersAtOnce: the unsubscribe page, STOP and the
// suppression API end the contact's (or address's) reminders that have
// not gone out, with the reason, before any of them is due.
func TestOptOutsCancelRemindersAtOnce(t *testing.T) {
	w := newReminderWorld(t)
	w.survey(map[string]any{"key": "onboarding", "product_name": "Acme Cloud", "channels": []string{"email", "sms"},
		"reminders": []map[string]any{{"after": "3d"}, {"after": "7d"}}})
	ctx := context.Background()
	sent := func(channel string, contact map[string]any) (*store.Delivery, []*store.Delivery) {
		t.Helper()
		d := w.trigger(channel, contact)
		if err := w.sender.Send(ctx, dispatcher.SendDelivery{ID: d.ID}); err != nil {
			t.Fatal(err)
		}
		w.waitStatus(d.ID, store.StatusSent)
		return d, w.reminders(d.ID, 2)
	}
	cancelled := func(rs []*store.Delivery, reason string) {
		t.Helper()
		for _, r := range rs {
			got, _ := w.store.GetDelivery(ctx, r.ID)
			if got.Status != store.StatusSuppressed || got.Reason != reason {
				t.Fatalf("reminder %d: %s %q, want suppressed %q", r.ReminderN, got.Status, got.Reason, reason)
			}
		}
	}

	ann, annR := sent("email", map[string]any{"external_id": "ann", "email": "ann@example.com", "locale": "en"})
	_, bobR := sent("sms", map[string]any{"external_id": "bob", "phone": "+14155550171", "locale": "en"})
	_, carolR := sent("email", map[string]any{"external_id": "carol", "email": "carol@example.com", "locale": "en"})
	_, daveR := sent("email", map[string]any{"external_id": "dave", "email": "dave@example.com", "locale": "en"})

	if a := w.form("/u/"+ann.Token, url.Values{}); a.status != http.StatusOK {
		t.Fatalf("unsubscribe: %d", a.status)
	}
	cancelled(annR, "opted_out: unsubscribe")

	if status, _ := w.twilio("/v1/inbound/twilio/sms", smsFrom("+14155550171", "STOP")); status != http.StatusOK {
		t.Fatalf("STOP: %d", status)
	}
	cancelled(bobR, "opted_out: stop")

	if a := w.do("POST", "/v1/suppressions", map[string]any{"channel": "email", "address": "carol@example.com", "reason": "bounce"}); a.status != http.StatusCreated {
		t.Fatalf("suppress: %d %s", a.status, a.raw)
	}
	cancelled(carolR, "suppressed: bounce")

	// Nobody else's reminders moved.
	for _, r := range daveR {
		if got, _ := w.store.GetDelivery(ctx, r.ID); got.Status != store.StatusQueued {
			t.Fatalf("dave's reminder %d: %s %q", r.ReminderN, got.Status, got.Reason)
		}
	}
}
