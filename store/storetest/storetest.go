// Package storetest is the contract every store backend must pass. The
// store's own tests run it on SQLite and PostgreSQL; a change to the SQL of
// one dialect that breaks the shared behaviour fails here.
package storetest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

// Exercise runs the contract against stores from open, which must return a
// migrated, empty store for each test it is called in.
func Exercise(t *testing.T, open func(t *testing.T) *store.Store) {
	t.Run("Surveys", func(t *testing.T) { testSurveys(t, open(t)) })
	t.Run("Contacts", func(t *testing.T) { testContacts(t, open(t)) })
	t.Run("ContactsConcurrent", func(t *testing.T) { testContactsConcurrent(t, open(t)) })
	t.Run("OptOut", func(t *testing.T) { testOptOut(t, open(t)) })
	t.Run("Suppressions", func(t *testing.T) { testSuppressions(t, open(t)) })
	t.Run("Deliveries", func(t *testing.T) { testDeliveries(t, open(t)) })
	t.Run("Idempotency", func(t *testing.T) { testIdempotency(t, open(t)) })
	t.Run("IdempotencyConcurrent", func(t *testing.T) { testIdempotencyConcurrent(t, open(t)) })
	t.Run("Transition", func(t *testing.T) { testTransition(t, open(t)) })
	t.Run("TransitionConcurrent", func(t *testing.T) { testTransitionConcurrent(t, open(t)) })
	t.Run("DeliveriesByStatus", func(t *testing.T) { testDeliveriesByStatus(t, open(t)) })
	t.Run("BatchReads", func(t *testing.T) { testBatchReads(t, open(t)) })
	t.Run("SendingSince", func(t *testing.T) { testSendingSince(t, open(t)) })
	t.Run("Responses", func(t *testing.T) { testResponses(t, open(t)) })
	t.Run("ResponsesConcurrent", func(t *testing.T) { testResponsesConcurrent(t, open(t)) })
	t.Run("ListResponsesPaging", func(t *testing.T) { testListResponsesPaging(t, open(t)) })
	t.Run("ListResponsesFilters", func(t *testing.T) { testListResponsesFilters(t, open(t)) })
	t.Run("TimeRanges", func(t *testing.T) { testTimeRanges(t, open(t)) })
	t.Run("Outbox", func(t *testing.T) { testOutbox(t, open(t)) })
	t.Run("InTx", func(t *testing.T) { testInTx(t, open(t)) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, open(t)) })
	t.Run("Inbound", func(t *testing.T) { testInbound(t, open(t)) })
	t.Run("RecentDeliveriesTo", func(t *testing.T) { testRecentDeliveriesTo(t, open(t)) })
	t.Run("ContactsByPhone", func(t *testing.T) { testContactsByPhone(t, open(t)) })
	t.Run("AlertRules", func(t *testing.T) { testAlertRules(t, open(t)) })
	t.Run("Alerts", func(t *testing.T) { testAlerts(t, open(t)) })
	t.Run("Webhooks", func(t *testing.T) { testWebhooks(t, open(t)) })
	t.Run("SurveyAlertTargets", func(t *testing.T) { testSurveyAlertTargets(t, open(t)) })
	t.Run("ChangedAnswer", func(t *testing.T) { testChangedAnswer(t, open(t)) })
	t.Run("UpsertContacts", func(t *testing.T) { testUpsertContacts(t, open(t)) })
	t.Run("UpsertContactsChunks", func(t *testing.T) { testUpsertContactsChunks(t, open(t)) })
	t.Run("ContactsPage", func(t *testing.T) { testContactsPage(t, open(t)) })
	t.Run("Imports", func(t *testing.T) { testImports(t, open(t)) })
	t.Run("ListImports", func(t *testing.T) { testListImports(t, open(t)) })
	t.Run("FailStaleImports", func(t *testing.T) { testFailStaleImports(t, open(t)) })
	t.Run("AnalyticsSegments", func(t *testing.T) { testAnalyticsSegments(t, open(t)) })
	t.Run("AnalyticsBreakdown", func(t *testing.T) { testAnalyticsBreakdown(t, open(t)) })
	t.Run("AnalyticsPeriods", func(t *testing.T) { testAnalyticsPeriods(t, open(t)) })
	t.Run("AnalyticsFunnel", func(t *testing.T) { testAnalyticsFunnel(t, open(t)) })
	t.Run("AnalyticsComments", func(t *testing.T) { testAnalyticsComments(t, open(t)) })
	t.Run("AnalyticsExport", func(t *testing.T) { testAnalyticsExport(t, open(t)) })
	t.Run("EraseContactEverywhere", func(t *testing.T) { testEraseContactEverywhere(t, open(t)) })
}

// base is an instant with nanoseconds, in a zone other than UTC, so that
// every round trip checks both normalisations.
var base = time.Date(2026, 3, 14, 9, 26, 53, 589793238, time.FixedZone("CST", 8*3600))

// sec is a whole second. Beside sec+100ms and sec+150ms it catches a time
// encoding whose text does not sort like the time ("…53Z" > "…53.1Z" >
// "…53.15Z" in RFC 3339 with trimmed zeros).
var sec = base.Truncate(time.Second)

// stored is what the store makes of t: UTC, microseconds.
func stored(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func randomID(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func mustSurvey(t *testing.T, s *store.Store, key string, kind survey.Kind) *store.Survey {
	t.Helper()
	sv := &store.Survey{Key: key, Kind: kind, ProductName: "Acme"}
	if err := s.CreateSurvey(t.Context(), sv); err != nil {
		t.Fatalf("CreateSurvey(%q): %v", key, err)
	}
	return sv
}

func newDelivery(surveyKey string) *store.Delivery {
	return &store.Delivery{
		ID:        randomID("d_"),
		SurveyKey: surveyKey,
		ContactID: "c1",
		Channel:   "sms",
		Address:   "+15550100",
		Locale:    "en",
		Token:     randomID("t_"),
		Source:    "trigger",
	}
}

func mustDelivery(t *testing.T, s *store.Store, d *store.Delivery) *store.Delivery {
	t.Helper()
	got, created, err := s.CreateDelivery(t.Context(), d)
	if err != nil || !created {
		t.Fatalf("CreateDelivery(%s) = created %v, %v", d.ID, created, err)
	}
	return got
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want %v", what, err, target)
	}
}

func wantTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("%s = %v, want %v in UTC", what, got, want)
	}
}

func wantEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// race calls fn from n goroutines at once and counts the calls that
// report true. Any error fails the test: under contention every call must
// still succeed or lose cleanly.
func race(t *testing.T, n int, fn func() (bool, error)) (wins int) {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		start = make(chan struct{})
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			won, err := fn()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if won {
				wins++
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d concurrent calls failed, first: %v", len(errs), n, errs[0])
	}
	return wins
}

func testSurveys(t *testing.T, s *store.Store) {
	ctx := t.Context()
	sv := &store.Survey{
		Key:         "onboarding",
		Kind:        survey.CSAT,
		ProductName: "Acme 云",
		Texts: map[string]survey.Text{
			"zh-CN": {Question: "您对{product}满意吗？", ContactConsent: "我们可以联系您吗？"},
			"en":    {Question: "Happy with {product}?"},
		},
		Channels: []string{"email", "sms"},
		Templates: map[string]map[string]map[string]string{
			"email": {"zh-CN": {"subject": "请评价 {{.Product}}", "html": "<p>你好</p>"}},
		},
		ReplyWindow: 72 * time.Hour,
	}
	before := time.Now().Add(-time.Second)
	if err := s.CreateSurvey(ctx, sv); err != nil {
		t.Fatalf("CreateSurvey: %v", err)
	}
	if sv.CreatedAt.Before(before) || !sv.UpdatedAt.Equal(sv.CreatedAt) {
		t.Errorf("CreateSurvey set CreatedAt %v, UpdatedAt %v", sv.CreatedAt, sv.UpdatedAt)
	}
	got, err := s.GetSurvey(ctx, "onboarding")
	if err != nil {
		t.Fatalf("GetSurvey: %v", err)
	}
	wantTime(t, "CreatedAt", got.CreatedAt, sv.CreatedAt)
	wantEqual(t, "GetSurvey", got, sv)

	err = s.CreateSurvey(ctx, &store.Survey{Key: "onboarding", Kind: survey.NPS})
	wantErr(t, "CreateSurvey with a taken key", err, store.ErrConflict)

	if err := s.CreateSurvey(ctx, &store.Survey{Key: "bad", Kind: "stars"}); err == nil {
		t.Error("CreateSurvey with an unknown kind succeeded")
	}
	plain := &store.Survey{Key: "plain"}
	if err := s.CreateSurvey(ctx, plain); err != nil {
		t.Fatalf("CreateSurvey without kind: %v", err)
	}
	if plain.Kind != survey.NPS {
		t.Errorf("empty kind became %q, want nps", plain.Kind)
	}

	upd := &store.Survey{Key: "onboarding", Kind: survey.NPS, ProductName: "Acme 2", Channels: []string{"chat"}}
	if err := s.UpdateSurvey(ctx, upd); err != nil {
		t.Fatalf("UpdateSurvey: %v", err)
	}
	wantTime(t, "UpdateSurvey CreatedAt", upd.CreatedAt, sv.CreatedAt)
	if upd.UpdatedAt.Before(sv.UpdatedAt) {
		t.Errorf("UpdatedAt went back: %v < %v", upd.UpdatedAt, sv.UpdatedAt)
	}
	got, err = s.GetSurvey(ctx, "onboarding")
	if err != nil {
		t.Fatalf("GetSurvey: %v", err)
	}
	wantEqual(t, "GetSurvey after update", got, upd)

	err = s.UpdateSurvey(ctx, &store.Survey{Key: "missing", Kind: survey.NPS})
	wantErr(t, "UpdateSurvey of a missing survey", err, store.ErrNotFound)

	list, err := s.ListSurveys(ctx)
	if err != nil {
		t.Fatalf("ListSurveys: %v", err)
	}
	var keys []string
	for _, sv := range list {
		keys = append(keys, sv.Key)
	}
	wantEqual(t, "ListSurveys keys", keys, []string{"onboarding", "plain"})
}

func testContacts(t *testing.T, s *store.Store) {
	ctx := t.Context()
	c := &store.Contact{
		ExternalID: "u-1",
		Name:       "王小明",
		Email:      "xm@example.com",
		Phone:      "+8613800000000",
		Locale:     "zh-CN",
		TimeZone:   "Asia/Shanghai",
		Account:    "acct-9",
		Role:       "admin",
		Tags:       []string{"vip", "早期用户"},
		Attributes: map[string]string{"plan": "企业版", "seats": "50"},
	}
	created, err := s.UpsertContact(ctx, c)
	if err != nil || !created {
		t.Fatalf("UpsertContact new = %v, %v; want created", created, err)
	}
	if c.CreatedAt.IsZero() || !c.UpdatedAt.Equal(c.CreatedAt) {
		t.Errorf("UpsertContact set CreatedAt %v, UpdatedAt %v", c.CreatedAt, c.UpdatedAt)
	}
	got, err := s.GetContact(ctx, "u-1")
	if err != nil {
		t.Fatalf("GetContact: %v", err)
	}
	wantEqual(t, "GetContact", got, c)

	firstCreated := c.CreatedAt
	if err := s.OptOutContact(ctx, "u-1", "stop", base); err != nil {
		t.Fatalf("OptOutContact: %v", err)
	}
	again := &store.Contact{ExternalID: "u-1", Name: "Xiaoming", Email: "new@example.com"}
	created, err = s.UpsertContact(ctx, again)
	if err != nil || created {
		t.Fatalf("UpsertContact existing = %v, %v; want not created", created, err)
	}
	wantTime(t, "CreatedAt after second upsert", again.CreatedAt, firstCreated)
	if again.OptedOutAt == nil || !again.OptedOutAt.Equal(stored(base)) {
		t.Errorf("UpsertContact reported OptedOutAt %v, want %v", again.OptedOutAt, stored(base))
	}
	got, err = s.GetContact(ctx, "u-1")
	if err != nil {
		t.Fatalf("GetContact: %v", err)
	}
	wantEqual(t, "GetContact after second upsert", got, again)
	if got.Phone != "" || got.Tags != nil || got.Attributes != nil {
		t.Errorf("upsert did not replace fields: %+v", got)
	}
}

func testContactsConcurrent(t *testing.T, s *store.Store) {
	ctx := t.Context()
	created := race(t, 10, func() (bool, error) {
		return s.UpsertContact(ctx, &store.Contact{ExternalID: "u-race", Email: "r@example.com"})
	})
	if created != 1 {
		t.Errorf("%d upserts created the contact, want 1", created)
	}
}

func testOptOut(t *testing.T, s *store.Store) {
	ctx := t.Context()
	c := &store.Contact{ExternalID: "u-2", Email: "Ana.Silva@Example.COM", Phone: "+15550199"}
	if _, err := s.UpsertContact(ctx, c); err != nil {
		t.Fatalf("UpsertContact: %v", err)
	}
	// A bounce on the address outlives opting back in.
	if err := s.AddSuppression(ctx, store.Suppression{Channel: "email", Address: "ana.silva@example.com", Reason: "bounce"}); err != nil {
		t.Fatalf("AddSuppression: %v", err)
	}
	if err := s.OptOutContact(ctx, "u-2", "stop", base); err != nil {
		t.Fatalf("OptOutContact: %v", err)
	}
	if err := s.OptOutContact(ctx, "u-2", "unsubscribe", base.Add(time.Hour)); err != nil {
		t.Fatalf("second OptOutContact: %v", err)
	}
	got, err := s.GetContact(ctx, "u-2")
	if err != nil {
		t.Fatalf("GetContact: %v", err)
	}
	if got.OptedOutAt == nil {
		t.Fatal("OptedOutAt not set")
	}
	wantTime(t, "OptedOutAt (the first)", *got.OptedOutAt, stored(base))

	for _, tc := range []struct{ channel, address, reason string }{
		{"email", "ANA.SILVA@example.com", "bounce"},
		{"sms", "+15550199", "stop"},
	} {
		reason, ok, err := s.Suppressed(ctx, tc.channel, tc.address)
		if err != nil || !ok || reason != tc.reason {
			t.Errorf("Suppressed(%s, %s) = %q, %v, %v; want %q", tc.channel, tc.address, reason, ok, err, tc.reason)
		}
	}

	if err := s.OptInContact(ctx, "u-2"); err != nil {
		t.Fatalf("OptInContact: %v", err)
	}
	got, err = s.GetContact(ctx, "u-2")
	if err != nil {
		t.Fatalf("GetContact: %v", err)
	}
	if got.OptedOutAt != nil {
		t.Errorf("OptedOutAt after opt-in = %v", got.OptedOutAt)
	}
	if _, ok, _ := s.Suppressed(ctx, "sms", "+15550199"); ok {
		t.Error("opt-in left the sms stop suppression")
	}
	if reason, ok, _ := s.Suppressed(ctx, "email", "ana.silva@example.com"); !ok || reason != "bounce" {
		t.Errorf("opt-in touched the bounce: %q, %v", reason, ok)
	}

	// A contact with only a phone gets only the sms suppression.
	if _, err := s.UpsertContact(ctx, &store.Contact{ExternalID: "u-3", Phone: "+15550123"}); err != nil {
		t.Fatalf("UpsertContact: %v", err)
	}
	if err := s.OptOutContact(ctx, "u-3", "", time.Time{}); err != nil {
		t.Fatalf("OptOutContact without reason and time: %v", err)
	}
	if reason, ok, _ := s.Suppressed(ctx, "sms", "+15550123"); !ok || reason != "unsubscribe" {
		t.Errorf("default reason = %q, %v; want unsubscribe", reason, ok)
	}
	if got, _ := s.GetContact(ctx, "u-3"); got == nil || got.OptedOutAt == nil {
		t.Error("OptOutContact with a zero time did not set OptedOutAt")
	}
}

func testSuppressions(t *testing.T, s *store.Store) {
	ctx := t.Context()
	if err := s.AddSuppression(ctx, store.Suppression{
		Channel: "email", Address: "Foo@Example.COM", Reason: "unsubscribe", ContactID: "u-1", CreatedAt: base,
	}); err != nil {
		t.Fatalf("AddSuppression: %v", err)
	}
	// Idempotent: a second add in another case keeps the first reason.
	if err := s.AddSuppression(ctx, store.Suppression{Channel: "email", Address: "foo@example.com", Reason: "bounce"}); err != nil {
		t.Fatalf("AddSuppression again: %v", err)
	}
	for _, tc := range []struct {
		channel, address string
		want             bool
	}{
		{"email", "foo@example.com", true},
		{"email", "FOO@EXAMPLE.COM", true},
		{"email", "  Foo@Example.com ", true},
		{"email", "bar@example.com", false},
		{"sms", "foo@example.com", false},
	} {
		reason, ok, err := s.Suppressed(ctx, tc.channel, tc.address)
		if err != nil {
			t.Fatalf("Suppressed: %v", err)
		}
		if ok != tc.want || (ok && reason != "unsubscribe") {
			t.Errorf("Suppressed(%s, %q) = %q, %v; want %v, unsubscribe", tc.channel, tc.address, reason, ok, tc.want)
		}
	}
	if err := s.AddSuppression(ctx, store.Suppression{Channel: "sms", Address: "+15550100"}); err != nil {
		t.Fatalf("AddSuppression without reason: %v", err)
	}
	if reason, _, _ := s.Suppressed(ctx, "sms", "+15550100"); reason != "manual" {
		t.Errorf("default reason %q, want manual", reason)
	}
	if err := s.AddSuppression(ctx, store.Suppression{Channel: "sms"}); err == nil {
		t.Error("AddSuppression without an address succeeded")
	}

	if err := s.RemoveSuppression(ctx, "email", "FOO@example.com"); err != nil {
		t.Fatalf("RemoveSuppression: %v", err)
	}
	if _, ok, _ := s.Suppressed(ctx, "email", "foo@example.com"); ok {
		t.Error("still suppressed after RemoveSuppression")
	}
	wantErr(t, "RemoveSuppression of a missing one", s.RemoveSuppression(ctx, "email", "foo@example.com"), store.ErrNotFound)
}

func testDeliveries(t *testing.T, s *store.Store) {
	ctx := t.Context()
	mustSurvey(t, s, "nps", survey.NPS)
	sentAt := base.Add(-time.Minute)
	d := &store.Delivery{
		ID:                randomID("d_"),
		SurveyKey:         "nps",
		ContactID:         "u-1",
		Channel:           "email",
		Address:           "a@example.com",
		Locale:            "zh-TW",
		Token:             randomID("t_"),
		Status:            store.StatusDeferred,
		Reason:            "quiet hours 安静时段",
		ProviderMessageID: "SM123",
		IdempotencyKey:    "order-1",
		RequestHash:       "h1",
		Source:            "campaign",
		Metadata:          map[string]string{"order": "1", "门店": "台北"},
		SendAt:            base.Add(time.Hour),
		Attempts:          2,
		ExpiresAt:         base.Add(72 * time.Hour),
		CreatedAt:         base,
		SentAt:            &sentAt,
	}
	in := *d
	got, created, err := s.CreateDelivery(ctx, d)
	if err != nil || !created || got != d {
		t.Fatalf("CreateDelivery = %p, %v, %v; want %p, true, nil", got, created, err, d)
	}
	want := in
	want.SendAt, want.ExpiresAt, want.CreatedAt, want.UpdatedAt = stored(in.SendAt), stored(in.ExpiresAt), stored(base), stored(base)
	st := stored(sentAt)
	want.SentAt = &st
	wantEqual(t, "CreateDelivery result", *d, want)

	for name, get := range map[string]func() (*store.Delivery, error){
		"GetDelivery":        func() (*store.Delivery, error) { return s.GetDelivery(ctx, d.ID) },
		"GetDeliveryByToken": func() (*store.Delivery, error) { return s.GetDeliveryByToken(ctx, d.Token) },
	} {
		got, err := get()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		wantEqual(t, name, got, &want)
		wantTime(t, name+" SendAt", got.SendAt, stored(in.SendAt))
	}

	events, err := s.DeliveryEvents(ctx, d.ID)
	if err != nil {
		t.Fatalf("DeliveryEvents: %v", err)
	}
	wantEqual(t, "initial event", events, []store.DeliveryEvent{
		{DeliveryID: d.ID, Status: store.StatusDeferred, Reason: "quiet hours 安静时段", At: stored(base)},
	})

	// Defaults.
	dflt := newDelivery("nps")
	before := time.Now().Add(-time.Second)
	mustDelivery(t, s, dflt)
	if dflt.Status != store.StatusQueued || dflt.CreatedAt.Before(before) || !dflt.SendAt.Equal(dflt.CreatedAt) ||
		!dflt.UpdatedAt.Equal(dflt.CreatedAt) || !dflt.ExpiresAt.IsZero() || dflt.SentAt != nil {
		t.Errorf("defaults not applied: %+v", dflt)
	}
	got, err = s.GetDelivery(ctx, dflt.ID)
	if err != nil {
		t.Fatalf("GetDelivery: %v", err)
	}
	wantEqual(t, "GetDelivery with defaults", got, dflt)

	dupID := newDelivery("nps")
	dupID.ID = d.ID
	_, _, err = s.CreateDelivery(ctx, dupID)
	wantErr(t, "CreateDelivery with a taken ID", err, store.ErrConflict)
	dupToken := newDelivery("nps")
	dupToken.Token = d.Token
	_, _, err = s.CreateDelivery(ctx, dupToken)
	wantErr(t, "CreateDelivery with a taken token", err, store.ErrConflict)
	_, _, err = s.CreateDelivery(ctx, newDelivery("no-such-survey"))
	wantErr(t, "CreateDelivery for a missing survey", err, store.ErrNotFound)
}

func testIdempotency(t *testing.T, s *store.Store) {
	ctx := t.Context()
	mustSurvey(t, s, "nps", survey.NPS)
	first := newDelivery("nps")
	first.IdempotencyKey, first.RequestHash = "evt-42", "hash-a"
	mustDelivery(t, s, first)

	for _, tc := range []struct {
		name    string
		hash    string
		wantErr error
	}{
		{"replay", "hash-a", nil},
		{"different request", "hash-b", store.ErrConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDelivery("nps")
			d.IdempotencyKey, d.RequestHash = "evt-42", tc.hash
			orig := *d
			got, created, err := s.CreateDelivery(ctx, d)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("CreateDelivery error %v, want %v", err, tc.wantErr)
			}
			if created || got == nil || got.ID != first.ID {
				t.Fatalf("CreateDelivery = %+v, created %v; want the first delivery", got, created)
			}
			wantEqual(t, "caller's delivery", *d, orig)
			if _, err := s.GetDelivery(ctx, d.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("replay stored its own row: %v", err)
			}
		})
	}

	// Without a key, nothing is deduplicated.
	a, b := newDelivery("nps"), newDelivery("nps")
	a.RequestHash, b.RequestHash = "same", "same"
	mustDelivery(t, s, a)
	mustDelivery(t, s, b)
	got, err := s.GetDelivery(ctx, a.ID)
	if err != nil || got.IdempotencyKey != "" {
		t.Errorf("GetDelivery without key = %+v, %v", got, err)
	}
}

func testIdempotencyConcurrent(t *testing.T, s *store.Store) {
	ctx := t.Context()
	mustSurvey(t, s, "nps", survey.NPS)
	var (
		mu  sync.Mutex
		ids = map[string]bool{}
	)
	created := race(t, 20, func() (bool, error) {
		d := newDelivery("nps")
		d.IdempotencyKey, d.RequestHash = "burst", "h"
		got, ok, err := s.CreateDelivery(ctx, d)
		if err != nil {
			return false, err
		}
		mu.Lock()
		ids[got.ID] = true
		mu.Unlock()
		return ok, nil
	})
	if created != 1 || len(ids) != 1 {
		t.Errorf("created %d deliveries, callers saw %d IDs; want 1 and 1", created, len(ids))
	}
	counts, err := s.DeliveryCounts(ctx, "nps", time.Time{}, time.Time{})
	if err != nil {
		t.Fatalf("DeliveryCounts: %v", err)
	}
	wantEqual(t, "rows stored", counts, map[store.DeliveryStatus]int{store.StatusQueued: 1})
}

func testTransition(t *testing.T, s *store.Store) {
	ctx := t.Context()
	mustSurvey(t, s, "nps", survey.NPS)
	d := newDelivery("nps")
	d.CreatedAt = base
	mustDelivery(t, s, d)
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }

	steps := []struct {
		name        string
		from        []store.DeliveryStatus
		to          store.DeliveryStatus
		upd         store.Update
		wantChanged bool
		check       func(t *testing.T, got *store.Delivery)
	}{
		{
			name: "wrong from", from: []store.DeliveryStatus{store.StatusSending, store.StatusSent}, to: store.StatusDelivered,
			upd: store.Update{Reason: "must not apply", At: at(1)},
			check: func(t *testing.T, got *store.Delivery) {
				if got.Status != store.StatusQueued || got.Reason != "" || !got.UpdatedAt.Equal(d.UpdatedAt) {
					t.Errorf("unmatched transition changed the row: %+v", got)
				}
			},
		},
		{
			name: "defer", from: []store.DeliveryStatus{store.StatusQueued}, to: store.StatusDeferred,
			upd: store.Update{Reason: "quiet hours", SendAt: at(60), At: at(2)}, wantChanged: true,
			check: func(t *testing.T, got *store.Delivery) {
				wantTime(t, "SendAt", got.SendAt, stored(at(60)))
				wantTime(t, "UpdatedAt", got.UpdatedAt, stored(at(2)))
				if got.Reason != "quiet hours" || got.Attempts != 0 {
					t.Errorf("after defer: %+v", got)
				}
			},
		},
		{
			name: "send", from: []store.DeliveryStatus{store.StatusQueued, store.StatusDeferred}, to: store.StatusSending,
			upd: store.Update{At: at(60)}, wantChanged: true,
			check: func(t *testing.T, got *store.Delivery) {
				if got.Attempts != 1 || got.Reason != "quiet hours" {
					t.Errorf("after sending: attempts %d, reason %q; want 1 and the old reason", got.Attempts, got.Reason)
				}
			},
		},
		{
			name: "sent", from: []store.DeliveryStatus{store.StatusSending}, to: store.StatusSent,
			upd: store.Update{ProviderMessageID: "SM1", At: at(61)}, wantChanged: true,
			check: func(t *testing.T, got *store.Delivery) {
				if got.SentAt == nil || got.ProviderMessageID != "SM1" {
					t.Fatalf("after sent: %+v", got)
				}
				wantTime(t, "SentAt", *got.SentAt, stored(at(61)))
			},
		},
		{
			name: "sent again keeps the first SentAt", from: []store.DeliveryStatus{store.StatusSent}, to: store.StatusSent,
			upd: store.Update{At: at(62)}, wantChanged: true,
			check: func(t *testing.T, got *store.Delivery) {
				wantTime(t, "SentAt", *got.SentAt, stored(at(61)))
				wantTime(t, "UpdatedAt", got.UpdatedAt, stored(at(62)))
			},
		},
		{
			name: "delivered", from: []store.DeliveryStatus{store.StatusSent}, to: store.StatusDelivered,
			upd: store.Update{At: at(63)}, wantChanged: true,
			check: func(t *testing.T, got *store.Delivery) {
				if got.DeliveredAt == nil {
					t.Fatal("DeliveredAt not set")
				}
				wantTime(t, "DeliveredAt", *got.DeliveredAt, stored(at(63)))
			},
		},
		{
			name: "responded", from: []store.DeliveryStatus{store.StatusSent, store.StatusDelivered}, to: store.StatusResponded,
			upd: store.Update{At: at(70)}, wantChanged: true,
			check: func(t *testing.T, got *store.Delivery) {
				if got.RespondedAt == nil {
					t.Fatal("RespondedAt not set")
				}
				wantTime(t, "RespondedAt", *got.RespondedAt, stored(at(70)))
				if got.Attempts != 1 || got.ProviderMessageID != "SM1" {
					t.Errorf("earlier fields lost: %+v", got)
				}
			},
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			changed, err := s.Transition(ctx, d.ID, st.from, st.to, st.upd)
			if err != nil || changed != st.wantChanged {
				t.Fatalf("Transition = %v, %v; want %v", changed, err, st.wantChanged)
			}
			got, err := s.GetDelivery(ctx, d.ID)
			if err != nil {
				t.Fatalf("GetDelivery: %v", err)
			}
			if st.wantChanged && got.Status != st.to {
				t.Errorf("status %s, want %s", got.Status, st.to)
			}
			st.check(t, got)
		})
	}

	events, err := s.DeliveryEvents(ctx, d.ID)
	if err != nil {
		t.Fatalf("DeliveryEvents: %v", err)
	}
	want := []store.DeliveryEvent{{DeliveryID: d.ID, Status: store.StatusQueued, At: d.CreatedAt}}
	for _, st := range steps {
		if st.wantChanged {
			want = append(want, store.DeliveryEvent{DeliveryID: d.ID, Status: st.to, Reason: st.upd.Reason, At: stored(st.upd.At)})
		}
	}
	wantEqual(t, "DeliveryEvents", events, want)

	changed, err := s.Transition(ctx, "missing", []store.DeliveryStatus{store.StatusQueued}, store.StatusSending, store.Update{})
	if err != nil || changed {
		t.Errorf("Transition of a missing delivery = %v, %v; want false, nil", changed, err)
	}
	if _, err := s.Transition(ctx, d.ID, nil, store.StatusSending, store.Update{}); err == nil {
		t.Error("Transition with no from status succeeded")
	}
}

func testTransitionConcurrent(t *testing.T, s *store.Store) {
	ctx := t.Context()
	mustSurvey(t, s, "nps", survey.NPS)
	d := mustDelivery(t, s, newDelivery("nps"))
	wins := race(t, 10, func() (bool, error) {
		return s.Transition(ctx, d.ID, []store.DeliveryStatus{store.StatusQueued}, store.StatusSending, store.Update{})
	})
	if wins != 1 {
		t.Errorf("%d transitions won, want exactly 1", wins)
	}
	got, err := s.GetDelivery(ctx, d.ID)
	if err != nil {
		t.Fatalf("GetDelivery: %v", err)
	}
	if got.Attempts != 1 || got.Status != store.StatusSending {
		t.Errorf("after the race: status %s, attempts %d; want sending, 1", got.Status, got.Attempts)
	}
	if events, _ := s.DeliveryEvents(ctx, d.ID); len(events) != 2 {
		t.Errorf("%d events, want 2 (created, sending)", len(events))
	}
}

// testResponsesConcurrent is a double submit of the reply page.
func testResponsesConcurrent(t *testing.T, s *store.Store) {
	ctx := t.Context()
	mustSurvey(t, s, "nps", survey.NPS)
	d := mustDelivery(t, s, newDelivery("nps"))
	var (
		mu  sync.Mutex
		ids = map[string]bool{}
	)
	created := race(t, 10, func() (bool, error) {
		r := &store.Response{DeliveryID: d.ID, Score: 9}
		ok, err := s.SaveResponse(ctx, r)
		mu.Lock()
		ids[r.ID] = true
		mu.Unlock()
		return ok, err
	})
	if created != 1 || len(ids) != 1 {
		t.Errorf("%d responses created, callers saw %d IDs; want 1 and 1", created, len(ids))
	}
	if tally, err := s.ScoreTally(ctx, "nps", time.Time{}, time.Time{}); err != nil || tally[9] != 1 {
		t.Errorf("ScoreTally = %v, %v; want one 9", tally, err)
	}
}

func testDeliveriesByStatus(t *testing.T, s *store.Store) {
	ctx := t.Context()
	mustSurvey(t, s, "nps", survey.NPS)
	var ids []string
	// Created out of SendAt order.
	for _, off := range []time.Duration{150 * time.Millisecond, 0, 100 * time.Millisecond, time.Hour} {
		d := newDelivery("nps")
		d.SendAt = sec.Add(off)
		mustDelivery(t, s, d)
		ids = append(ids, d.ID)
	}
	other := newDelivery("nps")
	other.SendAt = sec
	other.Status = store.StatusDeferred
	mustDelivery(t, s, other)

	for _, tc := range []struct {
		name   string
		before time.Time
		limit  int
		want   []string
	}{
		{"all due, oldest first", sec.Add(time.Minute), 10, []string{ids[1], ids[2], ids[0]}},
		{"before is inclusive", sec.Add(100 * time.Millisecond), 10, []string{ids[1], ids[2]}},
		{"limit", sec.Add(2 * time.Hour), 2, []string{ids[1], ids[2]}},
		{"default limit", sec.Add(2 * time.Hour), 0, []string{ids[1], ids[2], ids[0], ids[3]}},
		{"none due", sec.Add(-time.Microsecond), 10, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.DeliveriesByStatus(ctx, store.StatusQueued, tc.before, tc.limit)
			if err != nil {
				t.Fatalf("DeliveriesByStatus: %v", err)
			}
			var gotIDs []string
			for _, d := range got {
				gotIDs = append(gotIDs, d.ID)
			}
			wantEqual(t, "IDs", gotIDs, tc.want)
		})
	}
}

// testBatchReads: the batch send reads its deliveries and their contacts
// with one query each, more than one IN list's worth included; unknown IDs
// are left out, not errors.
func testBatchReads(t *testing.T, s *store.Store) {
	ctx := t.Context()
	mustSurvey(t, s, "nps", survey.NPS)
	want := map[string]bool{}
	var ids, contactIDs []string
	for i := range 620 {
		cid := fmt.Sprintf("bc-%03d", i)
		if i < 3 {
			if _, err := s.UpsertContact(ctx, &store.Contact{ExternalID: cid, Name: "N" + cid, Email: cid + "@example.com"}); err != nil {
				t.Fatal(err)
			}
		}
		contactIDs = append(contactIDs, cid)
		d := newDelivery("nps")
		d.ContactID = cid
		mustDelivery(t, s, d)
		ids = append(ids, d.ID)
		want[d.ID] = true
	}
	got, err := s.GetDeliveries(ctx, append(ids, "d_nope"))
	if err != nil {
		t.Fatalf("GetDeliveries: %v", err)
	}
	if len(got) != len(ids) {
		t.Fatalf("GetDeliveries: %d, want %d", len(got), len(ids))
	}
	for _, d := range got {
		if !want[d.ID] || d.SurveyKey != "nps" || d.Status != store.StatusQueued {
			t.Fatalf("GetDeliveries returned %+v", d)
		}
	}
	cs, err := s.GetContacts(ctx, contactIDs)
	if err != nil {
		t.Fatalf("GetContacts: %v", err)
	}
	if len(cs) != 3 || cs["bc-001"] == nil || cs["bc-001"].Name != "Nbc-001" {
		t.Fatalf("GetContacts: %d contacts, %+v", len(cs), cs["bc-001"])
	}
	if none, err := s.GetDeliveries(ctx, nil); err != nil || len(none) != 0 {
		t.Fatalf("GetDeliveries(nil) = %v, %v", none, err)
	}
}

// testSendingSince finds deliveries left sending, by when they were
// marked, not by when they were due.
func testSendingSince(t *testing.T, s *store.Store) {
	ctx := t.Context()
	mustSurvey(t, s, "nps", survey.NPS)
	old, fresh, queued := newDelivery("nps"), newDelivery("nps"), newDelivery("nps")
	for _, d := range []*store.Delivery{old, fresh, queued} {
		d.SendAt = sec
		mustDelivery(t, s, d)
	}
	for d, at := range map[*store.Delivery]time.Time{old: sec.Add(time.Minute), fresh: sec.Add(time.Hour)} {
		if ok, err := s.Transition(ctx, d.ID, []store.DeliveryStatus{store.StatusQueued}, store.StatusSending, store.Update{At: at}); err != nil || !ok {
			t.Fatalf("Transition: %v %v", ok, err)
		}
	}
	got, err := s.SendingSince(ctx, sec.Add(30*time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != old.ID {
		t.Fatalf("SendingSince: %d deliveries, want only the one marked long ago", len(got))
	}
}

func testResponses(t *testing.T, s *store.Store) {
	ctx := t.Context()
	mustSurvey(t, s, "nps", survey.NPS)
	mustSurvey(t, s, "csat", survey.CSAT)
	d := newDelivery("nps")
	d.ContactID, d.Channel, d.Locale = "u-7", "email", "zh-CN"
	mustDelivery(t, s, d)

	no := false
	r := &store.Response{DeliveryID: d.ID, Score: 3, Comment: "太慢了 😞", MayContact: &no}
	created, err := s.SaveResponse(ctx, r)
	if err != nil || !created {
		t.Fatalf("SaveResponse new = %v, %v", created, err)
	}
	id, err := uuid.Parse(r.ID)
	if err != nil || id.Version() != 7 {
		t.Errorf("response ID %q is not a UUIDv7 (%v)", r.ID, err)
	}
	if r.SurveyKey != "nps" || r.ContactID != "u-7" || r.Channel != "email" || r.Locale != "zh-CN" {
		t.Errorf("not filled from the delivery: %+v", r)
	}
	if r.Category != survey.Detractor {
		t.Errorf("category %q, want derived detractor", r.Category)
	}
	got, err := s.GetResponseByDelivery(ctx, d.ID)
	if err != nil {
		t.Fatalf("GetResponseByDelivery: %v", err)
	}
	wantEqual(t, "GetResponseByDelivery", got, r)

	yes := true
	again := &store.Response{DeliveryID: d.ID, Score: 10, Category: survey.Promoter, Comment: "其实很好", MayContact: &yes,
		CreatedAt: base}
	created, err = s.SaveResponse(ctx, again)
	if err != nil || created {
		t.Fatalf("SaveResponse again = %v, %v; want updated", created, err)
	}
	if again.ID != r.ID || !again.CreatedAt.Equal(r.CreatedAt) || again.UpdatedAt.Before(r.UpdatedAt) {
		t.Errorf("update did not keep ID and CreatedAt: first %+v, then %+v", r, again)
	}
	got, err = s.GetResponseByDelivery(ctx, d.ID)
	if err != nil {
		t.Fatalf("GetResponseByDelivery: %v", err)
	}
	wantEqual(t, "after update", got, again)

	// MayContact nil stays nil; a score outside the kind's range is refused.
	d2 := mustDelivery(t, s, newDelivery("csat"))
	r2 := &store.Response{DeliveryID: d2.ID, Score: 4}
	if _, err := s.SaveResponse(ctx, r2); err != nil {
		t.Fatalf("SaveResponse csat: %v", err)
	}
	if got, _ := s.GetResponseByDelivery(ctx, d2.ID); got == nil || got.MayContact != nil || got.Category != survey.Promoter {
		t.Errorf("csat response = %+v", got)
	}
	_, err = s.SaveResponse(ctx, &store.Response{DeliveryID: d2.ID, Score: 9})
	wantErr(t, "SaveResponse with CSAT score 9", err, survey.ErrScoreOutOfRange)
	_, err = s.SaveResponse(ctx, &store.Response{DeliveryID: "missing", Score: 9})
	wantErr(t, "SaveResponse to a missing delivery", err, store.ErrNotFound)
}

// seedResponses stores one response per entry of at, for survey key, each
// on a new delivery created at the same time, in one transaction. Scores
// are the index modulo 11.
func seedResponses(t *testing.T, s *store.Store, key string, at []time.Time) []*store.Response {
	t.Helper()
	var out []*store.Response
	err := s.InTx(t.Context(), func(tx *store.Store) error {
		for i, ts := range at {
			d := newDelivery(key)
			d.CreatedAt = ts
			if _, _, err := tx.CreateDelivery(t.Context(), d); err != nil {
				return err
			}
			r := &store.Response{DeliveryID: d.ID, Score: i % 11, CreatedAt: ts}
			if _, err := tx.SaveResponse(t.Context(), r); err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("seed responses: %v", err)
	}
	return out
}

func testListResponsesPaging(t *testing.T, s *store.Store) {
	ctx := t.Context()
	mustSurvey(t, s, "nps", survey.NPS)
	// Runs of seven share a CreatedAt, so that runs straddle page ends and
	// paging must break ties by ID; inserted newest first, so that insertion
	// order is not the answer either.
	at := make([]time.Time, 250)
	for i := range at {
		at[len(at)-1-i] = sec.Add(time.Duration(i/7) * 100 * time.Millisecond)
	}
	seeded := seedResponses(t, s, "nps", at)
	want := map[string]bool{}
	for _, r := range seeded {
		want[r.ID] = true
	}

	var (
		all    []*store.Response
		cursor string
		pages  []int
	)
	for {
		page, next, err := s.ListResponses(ctx, store.ResponseFilter{Survey: "nps", After: cursor, Limit: 100})
		if err != nil {
			t.Fatalf("ListResponses after %q: %v", cursor, err)
		}
		pages = append(pages, len(page))
		all = append(all, page...)
		if next == "" {
			break
		}
		if next != page[len(page)-1].ID {
			t.Fatalf("cursor %q is not the last ID of the page", next)
		}
		cursor = next
		if len(pages) > 5 {
			t.Fatal("paging does not end")
		}
	}
	wantEqual(t, "page sizes", pages, []int{100, 100, 50})
	if len(all) != len(want) {
		t.Fatalf("listed %d responses, want %d", len(all), len(want))
	}
	seen := map[string]bool{}
	for i, r := range all {
		if !want[r.ID] || seen[r.ID] {
			t.Fatalf("response %d (%s) unexpected or repeated", i, r.ID)
		}
		seen[r.ID] = true
		if i > 0 {
			p := all[i-1]
			if r.CreatedAt.Before(p.CreatedAt) || (r.CreatedAt.Equal(p.CreatedAt) && r.ID <= p.ID) {
				t.Fatalf("responses %d and %d out of (CreatedAt, ID) order", i-1, i)
			}
		}
	}

	// A full last page still says there is no more.
	page, next, err := s.ListResponses(ctx, store.ResponseFilter{Survey: "nps", After: all[149].ID, Limit: 100})
	if err != nil || len(page) != 100 || next != "" {
		t.Errorf("exact last page: %d rows, next %q, %v", len(page), next, err)
	}
	page, _, err = s.ListResponses(ctx, store.ResponseFilter{Survey: "nps"})
	if err != nil || len(page) != 100 {
		t.Errorf("default limit gave %d rows, %v; want 100", len(page), err)
	}
	page, _, err = s.ListResponses(ctx, store.ResponseFilter{Limit: 5000})
	if err != nil || len(page) != 250 {
		t.Errorf("large limit gave %d rows, %v; want 250", len(page), err)
	}
	_, _, err = s.ListResponses(ctx, store.ResponseFilter{After: uuid.Must(uuid.NewV7()).String()})
	wantErr(t, "ListResponses with an unknown cursor", err, store.ErrNotFound)
}

func testListResponsesFilters(t *testing.T, s *store.Store) {
	ctx := t.Context()
	mustSurvey(t, s, "a", survey.NPS)
	mustSurvey(t, s, "b", survey.NPS)
	ms := func(n int) time.Time { return sec.Add(time.Duration(n) * time.Millisecond) }
	// Detractors (scores 0-3) at 0, 100ms, 150ms and 1s; the last becomes a
	// promoter below.
	ra := seedResponses(t, s, "a", []time.Time{ms(0), ms(100), ms(150), ms(1000)})
	rb := seedResponses(t, s, "b", []time.Time{ms(100)})
	if _, err := s.SaveResponse(ctx, &store.Response{DeliveryID: ra[3].DeliveryID, Score: 10}); err != nil {
		t.Fatalf("SaveResponse: %v", err)
	}
	ids := func(rs []*store.Response) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    store.ResponseFilter
		want []string
	}{
		{"survey", store.ResponseFilter{Survey: "b"}, ids(rb)},
		{"all surveys", store.ResponseFilter{}, append(ids(ra[:1]), sortedPair(ra[1], rb[0])[0], sortedPair(ra[1], rb[0])[1], ra[2].ID, ra[3].ID)},
		{"from inclusive", store.ResponseFilter{Survey: "a", From: ms(100)}, ids(ra[1:])},
		{"to exclusive", store.ResponseFilter{Survey: "a", To: ms(150)}, ids(ra[:2])},
		{"sub-second range", store.ResponseFilter{Survey: "a", From: ms(50), To: ms(999)}, ids(ra[1:3])},
		{"category", store.ResponseFilter{Survey: "a", Category: survey.Promoter}, ids(ra[3:])},
		{"category and range", store.ResponseFilter{Survey: "a", Category: survey.Detractor, To: ms(100)}, ids(ra[:1])},
		{"nothing", store.ResponseFilter{Survey: "c"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, next, err := s.ListResponses(ctx, tc.f)
			if err != nil || next != "" {
				t.Fatalf("ListResponses = next %q, %v", next, err)
			}
			wantEqual(t, "IDs", ids(got), tc.want)
		})
	}
}

func sortedPair(a, b *store.Response) [2]string {
	if a.ID < b.ID {
		return [2]string{a.ID, b.ID}
	}
	return [2]string{b.ID, a.ID}
}

func testTimeRanges(t *testing.T, s *store.Store) {
	ctx := t.Context()
	mustSurvey(t, s, "nps", survey.NPS)
	mustSurvey(t, s, "other", survey.NPS)
	day := func(n int) time.Time { return base.Add(time.Duration(n) * 24 * time.Hour) }

	// Responses with scores 0, 1, 2, 3 and their (queued) deliveries on
	// days 0..3, and a failed and a sent delivery on days 1 and 2.
	seedResponses(t, s, "nps", []time.Time{day(0), day(1), day(2), day(3)})
	seedResponses(t, s, "other", []time.Time{day(1)})
	for i, st := range []store.DeliveryStatus{store.StatusFailed, store.StatusSent} {
		d := newDelivery("nps")
		d.Status, d.CreatedAt = st, day(i+1)
		mustDelivery(t, s, d)
	}

	for _, tc := range []struct {
		name     string
		from, to time.Time
		tally    survey.Tally
		counts   map[store.DeliveryStatus]int
	}{
		{"open", time.Time{}, time.Time{}, survey.Tally{1, 1, 1, 1},
			map[store.DeliveryStatus]int{store.StatusQueued: 4, store.StatusFailed: 1, store.StatusSent: 1}},
		{"from inclusive", day(1), time.Time{}, survey.Tally{0, 1, 1, 1},
			map[store.DeliveryStatus]int{store.StatusQueued: 3, store.StatusFailed: 1, store.StatusSent: 1}},
		{"to exclusive", time.Time{}, day(2), survey.Tally{1, 1},
			map[store.DeliveryStatus]int{store.StatusQueued: 2, store.StatusFailed: 1}},
		{"one microsecond", day(2), day(2).Add(time.Microsecond), survey.Tally{0, 0, 1},
			map[store.DeliveryStatus]int{store.StatusQueued: 1, store.StatusSent: 1}},
		{"same instant in another zone", day(3).In(time.UTC), time.Time{}, survey.Tally{0, 0, 0, 1},
			map[store.DeliveryStatus]int{store.StatusQueued: 1}},
		{"empty", day(10), day(11), survey.Tally{}, map[store.DeliveryStatus]int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tally, err := s.ScoreTally(ctx, "nps", tc.from, tc.to)
			if err != nil {
				t.Fatalf("ScoreTally: %v", err)
			}
			wantEqual(t, "ScoreTally", tally, tc.tally)
			counts, err := s.DeliveryCounts(ctx, "nps", tc.from, tc.to)
			if err != nil {
				t.Fatalf("DeliveryCounts: %v", err)
			}
			wantEqual(t, "DeliveryCounts", counts, tc.counts)
		})
	}
}

func testOutbox(t *testing.T, s *store.Store) {
	ctx := t.Context()
	var kept []*store.OutboxMessage
	for i := range 5 {
		m := &store.OutboxMessage{
			DeliveryID: fmt.Sprintf("d%d", i),
			Channel:    "email",
			To:         "a@example.com",
			Subject:    "您好 #" + fmt.Sprint(i),
			Text:       "text",
			HTML:       "<p>html</p>",
			ReplyURL:   "http://localhost/r/tok",
		}
		if i == 0 {
			m.CreatedAt = base
		}
		if err := s.KeepOutbox(ctx, m); err != nil {
			t.Fatalf("KeepOutbox: %v", err)
		}
		if m.ID == 0 || m.CreatedAt.IsZero() {
			t.Fatalf("KeepOutbox did not fill ID and CreatedAt: %+v", m)
		}
		kept = append(kept, m)
	}
	wantTime(t, "given CreatedAt", kept[0].CreatedAt, stored(base))

	newest, err := s.ListOutbox(ctx, 2, 0)
	if err != nil {
		t.Fatalf("ListOutbox: %v", err)
	}
	wantEqual(t, "first page", newest, []*store.OutboxMessage{kept[4], kept[3]})
	rest, err := s.ListOutbox(ctx, 10, newest[1].ID)
	if err != nil {
		t.Fatalf("ListOutbox: %v", err)
	}
	wantEqual(t, "next page", rest, []*store.OutboxMessage{kept[2], kept[1], kept[0]})
	if all, err := s.ListOutbox(ctx, 0, 0); err != nil || len(all) != 5 {
		t.Errorf("default limit: %d messages, %v", len(all), err)
	}
	if none, err := s.ListOutbox(ctx, 10, kept[0].ID); err != nil || len(none) != 0 {
		t.Errorf("before the oldest: %d messages, %v", len(none), err)
	}
}

func testInTx(t *testing.T, s *store.Store) {
	ctx := t.Context()
	errBoom := errors.New("boom")
	d := newDelivery("tx")
	err := s.InTx(ctx, func(tx *store.Store) error {
		if err := tx.CreateSurvey(ctx, &store.Survey{Key: "tx", Kind: survey.NPS}); err != nil {
			return err
		}
		if _, err := tx.UpsertContact(ctx, &store.Contact{ExternalID: "tx-c", Email: "tx@example.com"}); err != nil {
			return err
		}
		if _, _, err := tx.CreateDelivery(ctx, d); err != nil {
			return err
		}
		if _, err := tx.SaveResponse(ctx, &store.Response{DeliveryID: d.ID, Score: 5}); err != nil {
			return err
		}
		if err := tx.OptOutContact(ctx, "tx-c", "stop", base); err != nil {
			return err
		}
		if err := tx.KeepOutbox(ctx, &store.OutboxMessage{Channel: "email"}); err != nil {
			return err
		}
		// Reads inside see the transaction's writes; nested InTx joins it.
		return tx.InTx(ctx, func(inner *store.Store) error {
			if _, err := inner.GetDelivery(ctx, d.ID); err != nil {
				return err
			}
			return errBoom
		})
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("InTx returned %v, want fn's error", err)
	}
	checkNothing := func(when string) {
		t.Helper()
		if _, err := s.GetSurvey(ctx, "tx"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: survey exists (%v)", when, err)
		}
		if _, err := s.GetContact(ctx, "tx-c"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: contact exists (%v)", when, err)
		}
		if _, err := s.GetDelivery(ctx, d.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: delivery exists (%v)", when, err)
		}
		if _, ok, _ := s.Suppressed(ctx, "email", "tx@example.com"); ok {
			t.Errorf("%s: suppression exists", when)
		}
		if m, _ := s.ListOutbox(ctx, 10, 0); len(m) != 0 {
			t.Errorf("%s: outbox has %d messages", when, len(m))
		}
	}
	checkNothing("after rollback")

	func() {
		defer func() {
			if recover() == nil {
				t.Error("InTx swallowed a panic")
			}
		}()
		_ = s.InTx(ctx, func(tx *store.Store) error {
			if err := tx.CreateSurvey(ctx, &store.Survey{Key: "tx", Kind: survey.NPS}); err != nil {
				return err
			}
			panic("in transaction")
		})
	}()
	checkNothing("after panic")

	err = s.InTx(ctx, func(tx *store.Store) error {
		return tx.CreateSurvey(ctx, &store.Survey{Key: "tx", Kind: survey.NPS})
	})
	if err != nil {
		t.Fatalf("InTx commit: %v", err)
	}
	if _, err := s.GetSurvey(ctx, "tx"); err != nil {
		t.Errorf("committed survey missing: %v", err)
	}
}

func testNotFound(t *testing.T, s *store.Store) {
	ctx := t.Context()
	for name, call := range map[string]func() error{
		"GetSurvey":             func() error { _, err := s.GetSurvey(ctx, "x"); return err },
		"UpdateSurvey":          func() error { return s.UpdateSurvey(ctx, &store.Survey{Key: "x"}) },
		"GetContact":            func() error { _, err := s.GetContact(ctx, "x"); return err },
		"OptOutContact":         func() error { return s.OptOutContact(ctx, "x", "stop", base) },
		"OptInContact":          func() error { return s.OptInContact(ctx, "x") },
		"RemoveSuppression":     func() error { return s.RemoveSuppression(ctx, "email", "x@example.com") },
		"GetDelivery":           func() error { _, err := s.GetDelivery(ctx, "x"); return err },
		"GetDeliveryByToken":    func() error { _, err := s.GetDeliveryByToken(ctx, "x"); return err },
		"DeliveryEvents":        func() error { _, err := s.DeliveryEvents(ctx, "x"); return err },
		"SaveResponse":          func() error { _, err := s.SaveResponse(ctx, &store.Response{DeliveryID: "x"}); return err },
		"GetResponseByDelivery": func() error { _, err := s.GetResponseByDelivery(ctx, "x"); return err },
		"ListResponses cursor":  func() error { _, _, err := s.ListResponses(ctx, store.ResponseFilter{After: "x"}); return err },
	} {
		if err := call(); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: error %v, want ErrNotFound", name, err)
		}
	}
	// Absence that is an answer, not an error.
	if _, ok, err := s.Suppressed(ctx, "email", "x@example.com"); ok || err != nil {
		t.Errorf("Suppressed of nothing = %v, %v", ok, err)
	}
	if tally, err := s.ScoreTally(ctx, "x", time.Time{}, time.Time{}); err != nil || tally != (survey.Tally{}) {
		t.Errorf("ScoreTally of nothing = %v, %v", tally, err)
	}
	if got, err := s.DeliveriesByStatus(ctx, store.StatusQueued, base, 10); err != nil || len(got) != 0 {
		t.Errorf("DeliveriesByStatus of nothing = %v, %v", got, err)
	}
}
