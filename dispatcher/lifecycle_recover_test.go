package dispatcher_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/store"
)

// lostDeliveries writes n deliveries in status, due at sendAt, with no
// task: what a Redis outage leaves behind.
func (e *env) lostDeliveries(prefix string, n int, status store.DeliveryStatus, reason, campaignID string, sendAt time.Time) []string {
	e.t.Helper()
	ds := make([]*store.Delivery, n)
	ids := make([]string, n)
	for i := range ds {
		ids[i] = fmt.Sprintf("%s-%05d", prefix, i)
		ds[i] = &store.Delivery{ID: ids[i], SurveyKey: "s", ContactID: "c1", Channel: "email", Address: "c1@example.com",
			Locale: "en", Token: "tok-" + ids[i], Status: status, Reason: reason, Source: "trigger", SendAt: sendAt,
			ExpiresAt: sendAt.Add(48 * time.Hour), CampaignID: campaignID}
	}
	if _, err := e.st.CommitPage(context.Background(), "", "", ds, nil); err != nil {
		e.t.Fatal(err)
	}
	return ids
}

// hasTask reports whether the delivery has a send task of its own.
func (e *env) hasTask(in *asynq.Inspector, id string) bool {
	_, err := in.GetTaskInfo(dispatcher.DeliveryQueue("email"), id)
	return err == nil
}

// TestRecovererSkipsPausedAndPages: a paused campaign's held deliveries,
// the oldest of all, are left to its resume; every other lost delivery is
// queued, past the first page of 500.
func TestRecovererSkipsPausedAndPages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now()
	e.campaign(&store.Campaign{ID: "held"}, now)
	e.campaign(&store.Campaign{ID: "going"}, now)
	m := &dispatcher.Campaigns{Store: e.st, Client: e.client}
	if _, err := m.Pause(ctx, "held"); err != nil {
		t.Fatal(err)
	}
	held := e.lostDeliveries("held", 600, store.StatusDeferred, "campaign paused", "held", now.Add(-time.Hour))
	window := e.lostDeliveries("window", 1, store.StatusDeferred, "outside send window", "going", now.Add(-30*time.Minute))
	lost := e.lostDeliveries("lost", 1200, store.StatusQueued, "", "", now.Add(-10*time.Minute))

	r := &dispatcher.Recoverer{Store: e.st, Client: e.client, Logger: quiet(), Grace: time.Nanosecond}
	if n := r.Sweep(ctx); n != 1201 {
		t.Fatalf("swept %d, want the 1,200 lost and the deferred one", n)
	}
	in := asynq.NewInspector(e.redis)
	defer in.Close()
	for _, id := range append(window, lost...) {
		if !e.hasTask(in, id) {
			t.Fatalf("%s was not queued", id)
		}
	}
	for _, id := range held {
		if e.hasTask(in, id) {
			t.Fatalf("%s, held by a pause, was queued", id)
		}
	}
	// Resumed, its deliveries are the recoverer's like any other's.
	if _, err := e.st.SetCampaignState(ctx, "held", []store.CampaignStatus{store.CampaignPaused}, store.CampaignRunning, nil); err != nil {
		t.Fatal(err)
	}
	if n := r.Sweep(ctx); n < 600 {
		t.Fatalf("swept %d after the resume", n)
	}
	if !e.hasTask(in, held[599]) {
		t.Fatal("a resumed campaign's delivery was not recovered")
	}
}

// TestRecovererGoesOnWhereItStopped: with more lost deliveries than a
// sweep takes, the next sweep goes on after the last one instead of
// starting again with the oldest (whose tasks exist: they stay queued
// until a worker takes them).
func TestRecovererGoesOnWhereItStopped(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	lost := e.lostDeliveries("lost", 1300, store.StatusQueued, "", "", time.Now().Add(-time.Hour))
	r := &dispatcher.Recoverer{Store: e.st, Client: e.client, Logger: quiet(), Grace: time.Nanosecond, PerSweep: 500}
	var got []int
	for i := 0; i < 4; i++ {
		got = append(got, r.Sweep(ctx))
	}
	// 500, 500, the last 300; then from the start again.
	if fmt.Sprint(got) != "[500 500 300 500]" {
		t.Fatalf("sweeps queued %v", got)
	}
	in := asynq.NewInspector(e.redis)
	defer in.Close()
	for _, id := range lost {
		if !e.hasTask(in, id) {
			t.Fatalf("%s was not queued after three sweeps", id)
		}
	}
}
