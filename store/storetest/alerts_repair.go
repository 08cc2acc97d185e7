package storetest

import (
	"testing"

	"github.com/npsgate/npsgate/store"
)

// ExerciseClosedLoopRepairs runs the contract of what the closed loop needs
// to finish work an earlier run left half done: an event created twice
// hands back the stored one, and an alert's priority only rises. It is
// its own entry point (store's alerts_repair_test.go runs it on each
// dialect) until Exercise lists it.
func ExerciseClosedLoopRepairs(t *testing.T, open func(t *testing.T) *store.Store) {
	t.Run("WebhookEventCreatedTwice", func(t *testing.T) { testWebhookEventCreatedTwice(t, open(t)) })
	t.Run("RaiseAlertPriority", func(t *testing.T) { testRaiseAlertPriority(t, open(t)) })
}

func testWebhookEventCreatedTwice(t *testing.T, s *store.Store) {
	ctx := t.Context()
	if err := s.CreateWebhook(ctx, &store.WebhookSubscription{ID: "w1", URL: "https://crm.test/hook", Secret: "whsec_abc",
		Events: []string{"*"}, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	first := &store.WebhookEvent{ID: "msg_1", SubscriptionID: "w1", EventID: "ev1", Type: "contact.opted_out", Payload: []byte(`{"a":1}`)}
	if created, err := s.CreateWebhookEvent(ctx, first); err != nil || !created || first.Status != "pending" {
		t.Fatalf("create: %v %v %+v", created, err, first)
	}
	again := &store.WebhookEvent{ID: "msg_2", SubscriptionID: "w1", EventID: "ev1", Type: "contact.opted_out", Payload: []byte(`{"a":2}`)}
	created, err := s.CreateWebhookEvent(ctx, again)
	if err != nil || created {
		t.Fatalf("created twice: %v %v", created, err)
	}
	wantEqual(t, "the stored event handed back", []any{again.ID, again.Status, string(again.Payload)},
		[]any{"msg_1", "pending", `{"a":1}`})
	if err := s.SetWebhookEventStatus(ctx, "msg_1", "failed"); err != nil {
		t.Fatal(err)
	}
	again = &store.WebhookEvent{ID: "msg_3", SubscriptionID: "w1", EventID: "ev1", Type: "contact.opted_out", Payload: []byte(`{}`)}
	if _, err := s.CreateWebhookEvent(ctx, again); err != nil || again.ID != "msg_1" || again.Status != "failed" {
		t.Fatalf("after a failure: %+v %v", again, err)
	}
}

func testRaiseAlertPriority(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := &store.Alert{ID: "a1", ResponseID: "resp1", RuleID: "default", Target: store.Target{Channel: "email", Address: "cs@acme.test"},
		TargetKey: "email:k1", Priority: "P2"}
	if _, _, err := s.CreateAlert(ctx, a); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct{ raise, want string }{{"P3", "P2"}, {"P1", "P1"}, {"P2", "P1"}} {
		if err := s.RaiseAlertPriority(ctx, "a1", step.raise); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetAlert(ctx, "a1")
		if err != nil {
			t.Fatal(err)
		}
		wantEqual(t, "priority after raising to "+step.raise, got.Priority, step.want)
	}
}
