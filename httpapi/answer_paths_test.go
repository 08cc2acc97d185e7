package httpapi_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/httpapi"
	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
)

// TestAnswerPaths: on the reply page and by SMS, an answer is stored with
// its delivery marked responded (one write) before the answer is
// confirmed, and queues the response:notify task that cancels the
// reminders and rests the contact (response.created), or only tells of
// the change (response.updated).
func TestAnswerPaths(t *testing.T) {
	cases := []struct {
		name   string
		answer func(h *harness, d *store.Delivery, phone, score string) bool
	}{
		{"reply page", func(h *harness, d *store.Delivery, _, score string) bool {
			a := h.form("/r/"+d.Token, url.Values{"score": {score}})
			return a.status == 200
		}},
		{"sms", func(h *harness, _ *store.Delivery, phone, score string) bool {
			status, answer := h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, score))
			return status == 200 && strings.Contains(answer, "Thank you")
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var inspector *asynq.Inspector
			h := newHarness(t, func(cfg *httpapi.Config) {
				// A queue of our own to look into.
				ropt, err := asynq.ParseRedisURI(testenv.RedisURL(t, testenv.RedisDBHTTPAPI))
				if err != nil {
					t.Fatal(err)
				}
				client := dispatcher.NewClient(ropt, 3)
				t.Cleanup(func() { client.Close() })
				inspector = asynq.NewInspector(ropt)
				t.Cleanup(func() { inspector.Close() })
				cfg.Dispatcher = client
			})
			h.createSurvey()
			phone := "+1415555020" + string(rune('0'+i))
			d := h.sentSMS("c-answer", phone, "en")
			ctx := context.Background()

			for n, step := range []struct {
				score, event string
				want         int
			}{{"9", dispatcher.EventResponseCreated, 9}, {"3", dispatcher.EventResponseUpdated, 3}} {
				if !tc.answer(h, d, phone, step.score) {
					t.Fatalf("answer %d not accepted", n+1)
				}
				r := h.response(d.ID)
				if r == nil || r.Score != step.want {
					t.Fatalf("answer %d: response %+v", n+1, r)
				}
				got, _ := h.store.GetDelivery(ctx, d.ID)
				if got.Status != store.StatusResponded || got.RespondedAt == nil {
					t.Fatalf("answer %d: delivery %s", n+1, got.Status)
				}
				tasks, err := inspector.ListPendingTasks(dispatcher.QueueAlerts)
				if err != nil {
					t.Fatal(err)
				}
				var events []string
				for _, task := range tasks {
					var args dispatcher.NotifyResponse
					if task.Type != (dispatcher.NotifyResponse{}).Kind() || json.Unmarshal(task.Payload, &args) != nil || args.ResponseID != r.ID {
						t.Fatalf("unexpected task %s %s", task.Type, task.Payload)
					}
					events = append(events, args.Event)
				}
				if len(events) != n+1 || events[n] != step.event {
					t.Fatalf("answer %d: notify tasks %v, want the last %s", n+1, events, step.event)
				}
			}
			events, _ := h.store.DeliveryEvents(ctx, d.ID)
			responded := 0
			for _, e := range events {
				if e.Status == store.StatusResponded {
					responded++
				}
			}
			if responded != 1 {
				t.Fatalf("%d responded events", responded)
			}
		})
	}
}

// TestReplyPageSeesSurveyChanges: the surveys the answer paths cache are
// re-read as soon as they change.
func TestReplyPageSeesSurveyChanges(t *testing.T) {
	h := newHarness(t)
	h.createSurvey()
	d := h.sentSMS("c-cache", "+14155550300", "en")
	page := func() string {
		a := h.do("GET", "/r/"+d.Token, nil)
		if a.status != 200 {
			t.Fatalf("reply page: %d", a.status)
		}
		return a.raw
	}
	if p := page(); !strings.Contains(p, "Acme Cloud") {
		t.Fatalf("first page: %.300s", p)
	}
	page() // from the cache
	a := h.do("PUT", "/v1/surveys/onboarding", map[string]any{"kind": "nps", "product_name": "Acme Edge", "channels": []string{"email", "sms"}})
	if a.status != 200 {
		t.Fatalf("update survey: %d %s", a.status, a.raw)
	}
	if p := page(); !strings.Contains(p, "Acme Edge") || strings.Contains(p, "Acme Cloud") {
		t.Fatalf("page after the change: %.300s", p)
	}
	// And by SMS.
	if _, answer := h.twilio("/v1/inbound/twilio/sms", smsFrom("+14155550300", "10")); !strings.Contains(answer, "Acme Edge") {
		t.Fatalf("sms after the change: %q", answer)
	}
}

// TestSMSRetriesChangeNothing: a message is handled once by its
// MessageSid, whether Twilio retries it later or sends it twice at once;
// the record of it says what it did.
func TestSMSRetriesChangeNothing(t *testing.T) {
	cases := []struct {
		name, body  string
		concurrent  bool
		wantOutcome string
		check       func(t *testing.T, h *harness, d *store.Delivery)
	}{
		{name: "score", body: "9", wantOutcome: "score", check: func(t *testing.T, h *harness, d *store.Delivery) {
			if r := h.response(d.ID); r == nil || r.Score != 9 || r.Comment != "" {
				t.Fatalf("response %+v", r)
			}
		}},
		{name: "comment", body: "Slow invoices", wantOutcome: "comment", check: func(t *testing.T, h *harness, d *store.Delivery) {
			if r := h.response(d.ID); r == nil || r.Comment != "Slow invoices" {
				t.Fatalf("response %+v", r)
			}
		}},
		{name: "comment sent twice at once", body: "Slow invoices", concurrent: true, wantOutcome: "comment",
			check: func(t *testing.T, h *harness, d *store.Delivery) {
				if r := h.response(d.ID); r == nil || r.Comment != "Slow invoices" {
					t.Fatalf("response %+v", r)
				}
			}},
		{name: "stop", body: "STOP", wantOutcome: "opt_out", check: func(t *testing.T, h *harness, d *store.Delivery) {
			if c, _ := h.store.GetContact(context.Background(), "c-retry"); c.OptedOutAt == nil {
				t.Fatal("not opted out")
			}
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.createSurvey()
			phone := "+1415555040" + string(rune('0'+i))
			d := h.sentSMS("c-retry", phone, "en")
			if tc.wantOutcome == "comment" {
				if status, _ := h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, "9")); status != 200 {
					t.Fatal("score not accepted")
				}
			}
			form := smsFrom(phone, tc.body)
			answers := make([]string, 3)
			if tc.concurrent {
				var wg sync.WaitGroup
				for j := range answers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						f := url.Values{}
						for k, v := range form {
							f[k] = v
						}
						_, answers[j] = h.twilio("/v1/inbound/twilio/sms", f)
					}()
				}
				wg.Wait()
			} else {
				for j := range answers {
					_, answers[j] = h.twilio("/v1/inbound/twilio/sms", form)
				}
			}
			answered := 0
			for _, a := range answers {
				if a != "" {
					answered++
				}
			}
			if answered != 1 {
				t.Fatalf("answered %d times: %q", answered, answers)
			}
			tc.check(t, h, d)
			list, err := h.store.ListInbound(context.Background(), phone, 10)
			if err != nil {
				t.Fatal(err)
			}
			var mine []*store.InboundMessage
			for _, m := range list {
				if m.ProviderMessageID == form.Get("MessageSid") {
					mine = append(mine, m)
				}
			}
			if len(mine) != 1 || mine[0].Outcome != tc.wantOutcome || (tc.wantOutcome != "opt_out" && mine[0].DeliveryID != d.ID) {
				t.Fatalf("recorded %+v", mine)
			}
		})
	}
}
