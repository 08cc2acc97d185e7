package dispatcher

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/npsgate/npsgate/store"
)

// The default webhook schedule retries for about a day (the issue's "up
// to 24 hours"), each wait at least as long as the one before, and the
// worker's retry delay follows it for webhook events only.
func TestDefaultWebhookBackoffIsAboutADay(t *testing.T) {
	var sum time.Duration
	for i, d := range webhookBackoff {
		if i > 0 && d < webhookBackoff[i-1] {
			t.Errorf("wait %d (%v) is shorter than the one before", i, d)
		}
		sum += d
	}
	if sum < 23*time.Hour || sum > 25*time.Hour {
		t.Fatalf("the retries span %v, want about 24h", sum)
	}
	if WebhookRetries != len(webhookBackoff) {
		t.Fatalf("WebhookRetries %d, schedule of %d", WebhookRetries, len(webhookBackoff))
	}
	n := &Notifier{}
	delay := retryDelay(time.Second, n)
	hook := asynq.NewTask(SendWebhook{}.Kind(), nil)
	for i, want := range webhookBackoff {
		if got := delay(i, nil, hook); got != want {
			t.Errorf("retry %d of a webhook event after %v, want %v", i, got, want)
		}
	}
	if got := delay(len(webhookBackoff)+3, nil, hook); got != webhookBackoff[len(webhookBackoff)-1] {
		t.Errorf("past the schedule: %v", got)
	}
	if got := delay(0, nil, asynq.NewTask(SendAlert{}.Kind(), nil)); got > time.Second {
		t.Errorf("an alert's first retry waits %v: the webhook schedule leaked", got)
	}
}

// A send's message ID is the same on each retry of that send and differs
// between sends and summaries: receivers drop an ID they have seen.
func TestAlertMessageIDs(t *testing.T) {
	a := &store.Alert{ID: "a1"}
	b := &store.Alert{ID: "b1"}
	first := sendID(a)
	if first != sendID(&store.Alert{ID: "a1"}) {
		t.Fatal("the ID of one send changed")
	}
	a.Sends = 1
	followUp := sendID(a)
	a.Sends = 2
	second := sendID(a)
	if first == followUp || followUp == second || first == second {
		t.Fatalf("sends share an ID: %q %q %q", first, followUp, second)
	}
	a.Sends = 0
	s1 := summaryID([]*store.Alert{a, b})
	if s1 != summaryID([]*store.Alert{{ID: "a1"}, {ID: "b1"}}) {
		t.Fatal("the ID of one summary changed")
	}
	with := summaryID([]*store.Alert{a, b, {ID: "c1"}})
	a.Sends = 1
	later := summaryID([]*store.Alert{a, b})
	seen := map[string]bool{}
	for _, id := range []string{first, followUp, second, s1, with, later} {
		if seen[id] {
			t.Fatalf("ID %q used twice", id)
		}
		seen[id] = true
	}
}
