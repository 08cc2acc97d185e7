package storetest

import (
	"fmt"
	"reflect"
	"strconv"
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

// testChangedAnswer: an answer changed by the respondent (AnswerDelivery
// from the reply page, AnswerInbound from a text) carries nothing of the
// band it left. Outside the detractor band may_contact is NULL, and a
// comment carried over unchanged from another band is dropped unless that
// band's follow-up question is the new band's; new words are kept.
func testChangedAnswer(t *testing.T, s *store.Store) {
	ctx := t.Context()
	mustSurvey(t, s, "nps", survey.NPS)
	mustSurvey(t, s, "csat", survey.CSAT)
	yes, no := true, false
	builtin, _ := survey.TextFor(survey.NPS, nil, "en")
	builtin = builtin.WithProduct("Acme")
	// A survey that asks the same follow-up of detractors and promoters.
	shared := builtin
	shared.FollowUpDetractor, shared.FollowUpPromoter = "Anything else to tell us?", "Anything else to tell us?"

	type answer struct {
		score   int
		comment string
		may     *bool
	}
	cases := []struct {
		name       string
		kind       survey.Kind
		asked      []survey.Text
		first      answer
		then       answer // comment and may as the caller sends them back
		wantCat    survey.Category
		wantCmt    string
		wantMay    *bool
		wantFirstM *bool // may_contact kept from the first answer
	}{
		{"detractor to promoter, all carried over", survey.NPS, []survey.Text{builtin},
			answer{3, "support was slow", &yes}, answer{9, "support was slow", &yes}, survey.Promoter, "", nil, &yes},
		{"detractor to passive with new words", survey.NPS, []survey.Text{builtin},
			answer{2, "support was slow", &yes}, answer{7, "they fixed it", &yes}, survey.Passive, "they fixed it", nil, &yes},
		{"detractor to detractor keeps both", survey.NPS, []survey.Text{builtin},
			answer{3, "support was slow", &yes}, answer{5, "support was slow", &yes}, survey.Detractor, "support was slow", &yes, &yes},
		{"detractor to promoter, same question", survey.NPS, []survey.Text{shared},
			answer{4, "support was slow", &no}, answer{10, "support was slow", &no}, survey.Promoter, "support was slow", nil, &no},
		{"passive to promoter, no text given", survey.NPS, nil,
			answer{7, "too pricey", nil}, answer{9, "too pricey", nil}, survey.Promoter, "", nil, nil},
		{"promoter to detractor", survey.NPS, []survey.Text{builtin},
			answer{10, "great onboarding", nil}, answer{1, "great onboarding", &yes}, survey.Detractor, "", &yes, nil},
		{"CSAT dissatisfied to satisfied", survey.CSAT, nil,
			answer{2, "late delivery", &yes}, answer{4, "late delivery", &yes}, survey.Promoter, "", nil, &yes},
	}
	for _, path := range []string{"reply page", "text"} {
		for i, tc := range cases {
			t.Run(path+"/"+tc.name, func(t *testing.T) {
				d := newDelivery(string(tc.kind))
				mustDelivery(t, s, d)
				save := func(n int, a answer) *store.Response {
					t.Helper()
					r := &store.Response{DeliveryID: d.ID, Score: a.score, Comment: a.comment, MayContact: a.may}
					var err error
					if path == "reply page" {
						_, _, err = s.AnswerDelivery(ctx, r, tc.kind, []store.DeliveryStatus{store.StatusQueued, store.StatusResponded}, tc.asked...)
					} else {
						m := &store.InboundMessage{Provider: "twilio", ProviderMessageID: fmt.Sprintf("SM-changed-%d-%d", i, n),
							Channel: "sms", From: d.Address, To: "+15550199", Body: strconv.Itoa(a.score), DeliveryID: d.ID, Outcome: "score"}
						_, _, err = s.AnswerInbound(ctx, m, d, r, tc.kind, []store.DeliveryStatus{store.StatusQueued, store.StatusResponded}, tc.asked...)
					}
					if err != nil {
						t.Fatalf("answer %d: %v", a.score, err)
					}
					got, err := s.GetResponseByDelivery(ctx, d.ID)
					if err != nil {
						t.Fatal(err)
					}
					// What the caller gets back is what was stored.
					if r.Comment != got.Comment || !reflect.DeepEqual(r.MayContact, got.MayContact) {
						t.Errorf("answer %d returned comment %q, may %v; stored %q, %v", a.score, r.Comment, showBool(r.MayContact),
							got.Comment, showBool(got.MayContact))
					}
					return got
				}
				first := save(1, tc.first)
				if first.Comment != tc.first.comment || !reflect.DeepEqual(first.MayContact, tc.wantFirstM) {
					t.Fatalf("first answer stored comment %q, may %v", first.Comment, showBool(first.MayContact))
				}
				got := save(2, tc.then)
				if got.Score != tc.then.score || got.Category != tc.wantCat || got.Comment != tc.wantCmt ||
					!reflect.DeepEqual(got.MayContact, tc.wantMay) {
					t.Errorf("changed answer: %d %s %q may %v; want %d %s %q may %v", got.Score, got.Category, got.Comment,
						showBool(got.MayContact), tc.then.score, tc.wantCat, tc.wantCmt, showBool(tc.wantMay))
				}
				if got.ID != first.ID || !got.CreatedAt.Equal(first.CreatedAt) {
					t.Errorf("the change made a new response: %s then %s", first.ID, got.ID)
				}
			})
		}
	}

	// SaveResponse stores what it is given (an import, a seed).
	d := mustDelivery(t, s, newDelivery("nps"))
	if _, err := s.SaveResponse(ctx, &store.Response{DeliveryID: d.ID, Score: 3, Comment: "slow"}); err != nil {
		t.Fatal(err)
	}
	r := &store.Response{DeliveryID: d.ID, Score: 9, Comment: "slow", MayContact: &yes}
	if _, err := s.SaveResponse(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetResponseByDelivery(ctx, d.ID); got.Comment != "slow" || got.MayContact == nil || !*got.MayContact {
		t.Errorf("SaveResponse changed what it was given: %+v", got)
	}
	_, _, err := s.AnswerDelivery(ctx, r, survey.NPS, []store.DeliveryStatus{store.StatusQueued}, builtin, shared)
	if err == nil {
		t.Error("two texts asked: no error")
	}
}

// showBool shows a *bool.
func showBool(b *bool) string {
	if b == nil {
		return "nil"
	}
	return strconv.FormatBool(*b)
}
