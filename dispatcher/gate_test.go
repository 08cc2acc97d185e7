package dispatcher_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/npsgate/npsgate/campaign"
	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/throttle"
)

func (e *env) gate(f func(g *dispatcher.Gate)) *dispatcher.Gate {
	e.t.Helper()
	opt, err := redis.ParseURL(e.redisURL)
	if err != nil {
		e.t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	e.t.Cleanup(func() { rdb.Close() })
	g := &dispatcher.Gate{Limiter: throttle.New(rdb), Transactional: 30 * 24 * time.Hour, Relationship: 90 * 24 * time.Hour,
		Duplicate: 12 * time.Hour, Rates: map[string]dispatcher.Rate{}}
	if f != nil {
		f(g)
	}
	e.sender.Gate = g
	return g
}

func (e *env) contactDelivery(contact string, throttleDays *int) *store.Delivery {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.st.UpsertContact(ctx, &store.Contact{ExternalID: contact, Email: contact + "@example.com"}); err != nil {
		e.t.Fatal(err)
	}
	seq++
	d := &store.Delivery{ID: fmt.Sprintf("g-%s-%d", contact, seq), SurveyKey: "s", ContactID: contact, Channel: "email",
		Address: contact + "@example.com", Locale: "en", Token: dispatcher.NewToken(), Status: store.StatusQueued,
		Source: "trigger", SendAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour), ThrottleDays: throttleDays}
	if _, _, err := e.st.CreateDelivery(ctx, d); err != nil {
		e.t.Fatal(err)
	}
	return d
}

func TestFatigueOneSurveyPerWindow(t *testing.T) {
	e := newEnv(t)
	g := e.gate(nil)
	ctx := context.Background()
	first := e.contactDelivery("f1", nil)
	second := e.contactDelivery("f1", nil)
	if err := e.sender.Send(ctx, dispatcher.SendDelivery{ID: first.ID}); err != nil {
		t.Fatal(err)
	}
	if err := e.sender.Send(ctx, dispatcher.SendDelivery{ID: second.ID}); err != nil {
		t.Fatal(err)
	}
	got, _ := e.st.GetDelivery(ctx, second.ID)
	if got.Status != store.StatusSuppressed || !strings.HasPrefix(got.Reason, "fatigue") {
		t.Fatalf("second survey: %s %q", got.Status, got.Reason)
	}
	next, err := g.NextSurvey(ctx, "f1")
	if err != nil || next.Sub(time.Now()) < 29*24*time.Hour {
		t.Fatalf("next survey %v %v", next, err)
	}
	// A trigger's throttle_days of 0 goes through the window (the same
	// text twice in 12 hours stays refused, so that rule is off here).
	g.Duplicate = 0
	zero := 0
	third := e.contactDelivery("f1", &zero)
	if err := e.sender.Send(ctx, dispatcher.SendDelivery{ID: third.ID}); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.st.GetDelivery(ctx, third.ID); got.Status != store.StatusSent {
		t.Fatalf("override: %s %q", got.Status, got.Reason)
	}
}

// TestFatigueRace: many deliveries for one contact, two worker processes:
// exactly one survey goes out.
func TestFatigueRace(t *testing.T) {
	e := newEnv(t)
	e.gate(nil)
	var ids []string
	for i := 0; i < 20; i++ {
		d := e.contactDelivery("racer", nil)
		ids = append(ids, d.ID)
		if err := e.client.ScheduleDelivery(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	e.worker()
	e.worker()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		counts, _ := e.st.DeliveryCounts(context.Background(), "s", time.Time{}, time.Time{})
		if counts[store.StatusSent]+counts[store.StatusSuppressed] == 20 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	counts, _ := e.st.DeliveryCounts(context.Background(), "s", time.Time{}, time.Time{})
	if counts[store.StatusSent] != 1 || counts[store.StatusSuppressed] != 19 {
		t.Fatalf("counts %v", counts)
	}
	if _, sent := e.ch.count(); sent != 1 {
		t.Fatalf("%d surveys reached the contact", sent)
	}
}

func TestDuplicateContent(t *testing.T) {
	e := newEnv(t)
	e.gate(func(g *dispatcher.Gate) { g.Transactional = 0 }) // no fatigue: only the content rule
	ctx := context.Background()
	a := e.contactDelivery("dup", nil)
	b := e.contactDelivery("dup", nil)
	for _, d := range []*store.Delivery{a, b} {
		if err := e.sender.Send(ctx, dispatcher.SendDelivery{ID: d.ID}); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := e.st.GetDelivery(ctx, b.ID); got.Status != store.StatusSuppressed || !strings.HasPrefix(got.Reason, "duplicate") {
		t.Fatalf("same message twice: %s %q", got.Status, got.Reason)
	}
}

func TestRateLimitWaitsWithoutFailing(t *testing.T) {
	e := newEnv(t)
	e.gate(func(g *dispatcher.Gate) { g.Rates["email"] = dispatcher.Rate{PerSecond: 20, Burst: 1} })
	for i := 0; i < 10; i++ {
		d := e.contactDelivery(fmt.Sprintf("r%d", i), nil)
		if err := e.client.ScheduleDelivery(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	e.worker()
	e.waitSent(10)
	// 10 tokens at 20/s with a burst of 1 cannot all go in under 0.45s.
	if el := time.Since(start); el < 400*time.Millisecond {
		t.Fatalf("10 messages at 20/s went out in %v", el)
	}
	// The last status write may trail the last provider call a little.
	var counts map[store.DeliveryStatus]int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if counts, _ = e.st.DeliveryCounts(context.Background(), "s", time.Time{}, time.Time{}); counts[store.StatusSent] == 10 {
			break
		}
	}
	if counts[store.StatusFailed] != 0 || counts[store.StatusSent] != 10 {
		t.Fatalf("counts %v", counts)
	}
}

func TestQuietHoursDefer(t *testing.T) {
	e := newEnv(t)
	loc, _ := time.LoadLocation("America/Los_Angeles")
	now := time.Now().In(loc)
	// Open only in an hour's slot that starts two hours from now.
	open := now.Add(2 * time.Hour)
	w := campaign.Window{Start: open.Format("15:04"), End: open.Add(time.Hour).Format("15:04")}
	if w.Validate() != nil || open.Day() != now.Day() {
		t.Skip("the slot would cross midnight at this hour")
	}
	e.gate(func(g *dispatcher.Gate) { g.Window = w })
	ctx := context.Background()
	d := e.contactDelivery("night", nil)
	if _, err := e.st.UpsertContact(ctx, &store.Contact{ExternalID: "night", Email: "night@example.com", TimeZone: "America/Los_Angeles"}); err != nil {
		t.Fatal(err)
	}
	if err := e.sender.Send(ctx, dispatcher.SendDelivery{ID: d.ID}); err == nil {
		t.Fatal("a deferred send must come back as a wait")
	}
	got, _ := e.st.GetDelivery(ctx, d.ID)
	if got.Status != store.StatusDeferred || got.Reason != "quiet hours" || got.SendAt.Sub(open) > time.Minute || open.Sub(got.SendAt) > time.Minute {
		t.Fatalf("deferred: %s %q until %v (want about %v)", got.Status, got.Reason, got.SendAt.In(loc), open)
	}
}
