package storetest

import (
	"testing"
	"time"

	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

func testAlertRules(t *testing.T, s *store.Store) {
	ctx := t.Context()
	r := &store.AlertRule{ID: "r1", Name: "KA detractors", Survey: "s", Categories: []survey.Category{survey.Detractor},
		ScoreMin: 0, ScoreMax: 6, Attributes: map[string]string{"tier": "KA"}, Comment: "present", Priority: "P1",
		Targets: []store.Target{{Channel: "slack", Address: "https://hooks.slack.com/services/x"}}, Enabled: true}
	if err := s.SaveAlertRule(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAlertRule(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "rule", []any{got.Name, got.Categories, got.ScoreMax, got.Attributes, got.Comment, got.Targets, got.Enabled},
		[]any{r.Name, r.Categories, 6, r.Attributes, "present", r.Targets, true})
	r.Enabled, r.Priority = false, "P2"
	if err := s.SaveAlertRule(ctx, r); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListAlertRules(ctx)
	if err != nil || len(list) != 1 || list[0].Enabled || list[0].Priority != "P2" || !list[0].CreatedAt.Equal(got.CreatedAt) {
		t.Fatalf("after update: %+v %v", list, err)
	}
	if err := s.DeleteAlertRule(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "delete twice", s.DeleteAlertRule(ctx, "r1"), store.ErrNotFound)
	_, err = s.GetAlertRule(ctx, "r1")
	wantErr(t, "get deleted", err, store.ErrNotFound)
}

func testAlerts(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := &store.Alert{ID: "a1", ResponseID: "resp1", RuleID: "default", Target: store.Target{Channel: "email", Address: "cs@acme.test"},
		TargetKey: "email:k1", Priority: "P1"}
	got, created, err := s.CreateAlert(ctx, a)
	if err != nil || !created || got.Status != store.AlertPending {
		t.Fatalf("create: %+v %v %v", got, created, err)
	}
	dup := *a
	dup.ID = "a2"
	got, created, err = s.CreateAlert(ctx, &dup)
	if err != nil || created || got.ID != "a1" {
		t.Fatalf("one alert per response, rule and target: %+v %v %v", got, created, err)
	}
	comment := "slow"
	if err := s.UpdateAlert(ctx, "a1", store.AlertUpdate{Status: store.AlertWaiting, SentComment: &comment, CountSend: true}); err != nil {
		t.Fatal(err)
	}
	waiting, err := s.AlertsWaiting(ctx, "email:k1")
	if err != nil || len(waiting) != 1 || waiting[0].Sends != 1 || waiting[0].SentComment != "slow" {
		t.Fatalf("waiting: %+v %v", waiting, err)
	}
	if list, err := s.AlertsForResponse(ctx, "resp1"); err != nil || len(list) != 1 {
		t.Fatalf("for response: %v %v", list, err)
	}
	if list, err := s.ListAlerts(ctx, 10); err != nil || len(list) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
}

func testWebhooks(t *testing.T, s *store.Store) {
	ctx := t.Context()
	w := &store.WebhookSubscription{ID: "w1", URL: "https://crm.test/hook", Secret: "whsec_abc", Events: []string{"response.created"}, Enabled: true}
	if err := s.CreateWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetWebhook(ctx, "w1"); err != nil || got.Secret != "whsec_abc" || len(got.Events) != 1 || !got.Enabled {
		t.Fatalf("get: %+v %v", got, err)
	}
	payload := []byte(`{"type":"response.created","data":{"score":3}}`)
	e := &store.WebhookEvent{ID: "msg_1", SubscriptionID: "w1", EventID: "ev1", Type: "response.created", Payload: payload}
	if created, err := s.CreateWebhookEvent(ctx, e); err != nil || !created {
		t.Fatalf("event: %v %v", created, err)
	}
	if created, err := s.CreateWebhookEvent(ctx, &store.WebhookEvent{ID: "msg_2", SubscriptionID: "w1", EventID: "ev1", Type: "response.created", Payload: payload}); err != nil || created {
		t.Fatalf("one event per subscription: %v %v", created, err)
	}
	at := time.Now().Add(-time.Minute)
	if err := s.RecordWebhookAttempt(ctx, "msg_1", "pending", store.WebhookAttempt{At: at, StatusCode: 500, Response: "oops", Duration: 30 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordWebhookAttempt(ctx, "msg_1", "succeeded", store.WebhookAttempt{At: time.Now(), StatusCode: 204}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetWebhookEvent(ctx, "msg_1")
	if err != nil || got.Status != "succeeded" || got.Attempts != 2 || got.LastStatus != 204 || string(got.Payload) != string(payload) {
		t.Fatalf("event after attempts: %+v %v", got, err)
	}
	attempts, err := s.WebhookAttempts(ctx, "msg_1")
	if err != nil || len(attempts) != 2 || attempts[0].StatusCode != 500 || attempts[0].Response != "oops" || attempts[0].Duration != 30*time.Millisecond {
		t.Fatalf("attempts: %+v %v", attempts, err)
	}
	if list, err := s.ListWebhookEvents(ctx, "w1", 10); err != nil || len(list) != 1 {
		t.Fatalf("events: %v %v", list, err)
	}
	wantErr(t, "replay unknown", s.SetWebhookEventStatus(ctx, "nope", "pending"), store.ErrNotFound)
	if err := s.DeleteWebhook(ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetWebhookEvent(ctx, "msg_1")
	wantErr(t, "events go with their subscription", err, store.ErrNotFound)
}

func testSurveyAlertTargets(t *testing.T, s *store.Store) {
	ctx := t.Context()
	sv := &store.Survey{Key: "with-targets", ProductName: "Acme", AlertTargets: []store.Target{{Channel: "email", Address: "cs@acme.test"}}}
	if err := s.CreateSurvey(ctx, sv); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetSurvey(ctx, "with-targets")
	if err != nil || len(got.AlertTargets) != 1 || got.AlertTargets[0].Address != "cs@acme.test" {
		t.Fatalf("targets: %+v %v", got, err)
	}
}
