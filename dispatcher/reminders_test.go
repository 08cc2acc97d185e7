package dispatcher_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
)

func (e *env) withReminders(rs ...store.Reminder) {
	e.t.Helper()
	sv, _ := e.st.GetSurvey(context.Background(), "s")
	sv.Reminders = rs
	if err := e.st.UpdateSurvey(context.Background(), sv); err != nil {
		e.t.Fatal(err)
	}
}

// TestRemindersOnTimeAndCancelledByAnAnswer: a survey with two reminders
// plans both when it is sent; the first reminds with the
// survey's own link; an answer before the second cancels it.
func TestRemindersOnTimeAndCancelledByAnAnswer(t *testing.T) {
	e := newEnv(t)
	// The test survey's link lives an hour, so the reminders come within it.
	e.withReminders(store.Reminder{After: 10 * time.Minute}, store.Reminder{After: 20 * time.Minute})
	ctx := context.Background()
	clock := time.Now().UTC().Truncate(time.Microsecond)
	e.sender.Now = func() time.Time { return clock }
	d := e.delivery(false)
	if err := e.sender.Send(ctx, dispatcher.SendDelivery{ID: d.ID}); err != nil {
		t.Fatal(err)
	}
	rems, err := e.st.RemindersOf(ctx, d.ID)
	if err != nil || len(rems) != 2 {
		t.Fatalf("reminders: %v %v", rems, err)
	}
	for i, want := range []time.Time{clock.Add(10 * time.Minute), clock.Add(20 * time.Minute)} {
		if !rems[i].SendAt.Equal(want) || rems[i].ReminderN != i+1 || rems[i].Status != store.StatusQueued {
			t.Fatalf("reminder %d: %+v", i+1, rems[i])
		}
	}
	// Queued in asynq for those times, not now.
	info, err := asynq.NewInspector(e.redis).GetTaskInfo(dispatcher.DeliveryQueue("email"), rems[1].ID)
	if err != nil || info.State != asynq.TaskStateScheduled || rems[1].SendAt.Sub(info.NextProcessAt).Abs() > time.Second {
		t.Fatalf("task of reminder 2: %+v %v", info, err)
	}

	clock = clock.Add(10 * time.Minute)
	if err := e.sender.Send(ctx, dispatcher.SendDelivery{ID: rems[0].ID}); err != nil {
		t.Fatal(err)
	}
	msgs := e.ch.sent
	if len(msgs) != 2 || !strings.HasPrefix(msgs[1].Subject, "Reminder: ") ||
		!strings.Contains(msgs[1].HTML, "/r/"+d.Token+"?score=9&amp;m=1") {
		t.Fatalf("reminder message: %+v", msgs[len(msgs)-1])
	}
	// A reminder does not plan reminders of its own.
	if more, _ := e.st.RemindersOf(ctx, rems[0].ID); len(more) != 0 {
		t.Fatal("a reminder planned reminders")
	}

	// The contact answers (through reminder 1's link) between the two.
	r := &store.Response{DeliveryID: d.ID, Score: 8, Via: 1}
	if _, err := e.st.SaveResponse(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Transition(ctx, d.ID, []store.DeliveryStatus{store.StatusSent}, store.StatusResponded, store.Update{}); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(10 * time.Minute)
	if err := e.sender.Send(ctx, dispatcher.SendDelivery{ID: rems[1].ID}); err != nil {
		t.Fatal(err)
	}
	got, _ := e.st.GetDelivery(ctx, rems[1].ID)
	if got.Status != store.StatusSuppressed || got.Reason != "answered" || len(e.ch.sent) != 2 {
		t.Fatalf("reminder 2 after an answer: %s %q, %d sent", got.Status, got.Reason, len(e.ch.sent))
	}
	if resp, _ := e.st.GetResponseByDelivery(ctx, d.ID); resp.Via != 1 {
		t.Fatalf("via %d", resp.Via)
	}
	// Reminders do not dilute the response rate.
	counts, _ := e.st.DeliveryCounts(ctx, "s", time.Time{}, time.Time{})
	if counts[store.StatusResponded] != 1 || counts[store.StatusSent] != 0 {
		t.Fatalf("counts %v", counts)
	}
}

// TestCancelRemindersOnAnswer: the API cancels waiting reminders the
// moment the survey is answered.
func TestCancelReminders(t *testing.T) {
	e := newEnv(t)
	e.withReminders(store.Reminder{After: time.Hour})
	ctx := context.Background()
	d := e.delivery(false)
	if err := e.sender.Send(ctx, dispatcher.SendDelivery{ID: d.ID}); err != nil {
		t.Fatal(err)
	}
	if n, err := e.st.CancelReminders(ctx, d.ID, "answered"); err != nil || n != 1 {
		t.Fatalf("cancelled %d %v", n, err)
	}
	rems, _ := e.st.RemindersOf(ctx, d.ID)
	if rems[0].Status != store.StatusSuppressed {
		t.Fatalf("%+v", rems[0])
	}
}

func TestDigest(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sv, _ := e.st.GetSurvey(ctx, "s")
	sv.Digest = store.Digest{Frequency: "daily", At: "09:00", TimeZone: "Asia/Shanghai",
		Targets: []store.Target{{Channel: "email", Address: "owners@acme.test"}}}
	due := dispatcher.NextDigest(sv.Digest, time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC))
	if want := time.Date(2027, 3, 2, 1, 0, 0, 0, time.UTC); !due.Equal(want) {
		t.Fatalf("next digest %v, want %v", due, want)
	}
	sv.DigestNextAt = &due
	if err := e.st.UpdateSurvey(ctx, sv); err != nil {
		t.Fatal(err)
	}
	clk := testenv.NewClock(due)
	g := &dispatcher.Digests{Store: e.st, Channels: e.sender.Channels, Links: e.sender.Links, Logger: quiet(), Now: clk.Now}
	// Nothing happened: nothing is sent, and the next digest moves on.
	if err := g.Send(ctx, dispatcher.SendDigest{Survey: "s", Due: due}); err != nil {
		t.Fatal(err)
	}
	if _, sent := e.ch.count(); sent != 0 {
		t.Fatal("a digest about nothing was sent")
	}
	got, _ := e.st.GetSurvey(ctx, "s")
	if !got.DigestNextAt.Equal(due.Add(24 * time.Hour)) {
		t.Fatalf("next %v", got.DigestNextAt)
	}
	// A day with answers: 2 promoters, 1 detractor with a comment.
	due2 := due.Add(24 * time.Hour)
	for _, sc := range []struct {
		score   int
		comment string
	}{{10, ""}, {9, "great"}, {2, "Too slow to load"}} {
		e.sentAt(due.Add(time.Hour), due.Add(time.Hour), due.Add(2*time.Hour), sc.score, sc.comment)
	}
	n, err := g.Numbers(ctx, got, due, due2)
	if err != nil {
		t.Fatal(err)
	}
	if n.Responses != 3 || n.Summary.Score != 33.3 || n.CommentRate != 200.0/3 || len(n.Detractors) != 1 || n.Sent != 3 || n.ResponseRate != 100 {
		t.Fatalf("numbers %+v", n)
	}
	clk.Set(due2)
	for i := 0; i < 2; i++ { // a second worker with the same task sends nothing more
		if err := g.Send(ctx, dispatcher.SendDigest{Survey: "s", Due: due2}); err != nil {
			t.Fatal(err)
		}
	}
	if _, sent := e.ch.count(); sent != 1 {
		t.Fatalf("%d digests sent, want 1", sent)
	}
	m := e.ch.sent[0]
	if m.Kind != "digest" || m.To != "owners@acme.test" || !strings.Contains(m.Text, "NPS: 33.3") ||
		!strings.Contains(m.Text, "Too slow to load") || !strings.Contains(m.Text, "response rate 100.0%") {
		t.Fatalf("digest:\n%s", m.Text)
	}
}
