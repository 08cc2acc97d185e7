package dispatcher_test

import (
	"context"
	"testing"
	"time"

	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

// TestNotifyAfterAnAnswer: the reply page and the SMS webhook leave the
// cancelling of reminders and the contact's rest to the response:notify
// task. A new answer's task does both (and is safe to run again); an
// update's does neither; a reminder due before the task ran is dropped by
// the sender because the answer marked its survey responded.
func TestNotifyAfterAnAnswer(t *testing.T) {
	const (
		answeredRest   = 30 * 24 * time.Hour
		unansweredRest = 7 * 24 * time.Hour
	)
	cases := []struct {
		name  string
		event string
		gate  bool
		// reminderFirst sends the reminder between the answer and the task.
		reminderFirst bool
		wantReminder  store.DeliveryStatus
		wantReason    string
		wantRest      time.Duration
	}{
		{name: "new answer", event: dispatcher.EventResponseCreated, gate: true,
			wantReminder: store.StatusSuppressed, wantReason: "answered", wantRest: answeredRest},
		{name: "new answer, no gate", event: dispatcher.EventResponseCreated,
			wantReminder: store.StatusSuppressed, wantReason: "answered"},
		{name: "updated answer", event: dispatcher.EventResponseUpdated, gate: true,
			wantReminder: store.StatusQueued, wantRest: unansweredRest},
		{name: "reminder due before the task", event: dispatcher.EventResponseCreated, gate: true, reminderFirst: true,
			wantReminder: store.StatusSuppressed, wantReason: "answered", wantRest: answeredRest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.withReminders(store.Reminder{After: time.Minute})
			g := e.gate(func(g *dispatcher.Gate) { g.Unanswered = unansweredRest })
			ctx := context.Background()
			d := e.delivery(false)
			if err := e.sender.Send(ctx, dispatcher.SendDelivery{ID: d.ID}); err != nil {
				t.Fatal(err)
			}
			d, _ = e.st.GetDelivery(ctx, d.ID)
			if d.Status != store.StatusSent || d.SentAt == nil {
				t.Fatalf("survey not sent: %+v", d)
			}
			rems, err := e.st.RemindersOf(ctx, d.ID)
			if err != nil || len(rems) != 1 {
				t.Fatalf("reminders %v %v", rems, err)
			}

			r := &store.Response{DeliveryID: d.ID, Score: 9}
			if _, _, err := e.st.AnswerDelivery(ctx, r, survey.NPS, []store.DeliveryStatus{store.StatusSent}); err != nil {
				t.Fatal(err)
			}
			if tc.reminderFirst {
				if err := e.sender.Send(ctx, dispatcher.SendDelivery{ID: rems[0].ID}); err != nil {
					t.Fatal(err)
				}
				if len(e.ch.sent) != 1 {
					t.Fatalf("a reminder went out after the answer: %d messages", len(e.ch.sent))
				}
			}
			n := e.notifier()
			if tc.gate {
				n.Gate = g
			}
			for i := 0; i < 2; i++ { // a retried task changes nothing more
				if err := n.Notify(ctx, dispatcher.NotifyResponse{ResponseID: r.ID, Event: tc.event}); err != nil {
					t.Fatal(err)
				}
			}
			got, _ := e.st.GetDelivery(ctx, rems[0].ID)
			if got.Status != tc.wantReminder || got.Reason != tc.wantReason {
				t.Fatalf("reminder %s %q, want %s %q", got.Status, got.Reason, tc.wantReminder, tc.wantReason)
			}
			next, err := g.NextSurvey(ctx, "c1")
			if err != nil {
				t.Fatal(err)
			}
			want := d.SentAt.Add(unansweredRest) // what the send claimed
			if tc.wantRest != 0 {
				want = d.SentAt.Add(tc.wantRest)
			}
			if next.Sub(want).Abs() > 2*time.Second {
				t.Fatalf("contact rests until %v, want %v", next, want)
			}
		})
	}
}
