package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/npsgate/npsgate/store"
)

// TestCampaignCountsAndCompletion: GET /v1/campaigns/{id} accounts for the
// audience its fan-out skipped (by reason) and counts fallbacks in
// planned; a campaign whose last run is out but whose deliveries still
// wait is running, can be paused and resumed, and reads as completed once
// they have gone (and then cannot be paused).
func TestCampaignCountsAndCompletion(t *testing.T) {
	h := newHarness(t)
	h.createSurvey()
	ctx := context.Background()
	at := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	a := h.do("POST", "/v1/campaigns", map[string]any{"name": "Q1", "survey": "onboarding",
		"schedule": map[string]any{"kind": "once", "at": at.Format(time.RFC3339)}})
	if a.status != http.StatusCreated {
		t.Fatalf("create: %d %s", a.status, a.raw)
	}
	id := a.body["id"].(string)
	if a := h.do("POST", "/v1/campaigns/"+id+"/schedule", nil); a.status != http.StatusOK {
		t.Fatalf("schedule: %d %s", a.status, a.raw)
	}
	// The run, as the fan-out writes it: two deliveries, six skipped.
	c, _ := h.store.GetCampaign(ctx, id)
	run, _, err := h.store.StartRun(ctx, c, 1, at, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ds []*store.Delivery
	for i := 0; i < 2; i++ {
		ds = append(ds, &store.Delivery{ID: fmt.Sprintf("%s-d%d", id, i), SurveyKey: "onboarding", ContactID: fmt.Sprintf("c%d", i),
			Channel: "sms", Address: fmt.Sprintf("+1555000%d", i), Locale: "en", Token: fmt.Sprintf("tok-%s-%d", id, i),
			Source: "campaign", SendAt: at, CampaignID: id, RunID: run.ID})
	}
	if _, ok, err := h.store.CommitRunPage(ctx, store.RunPage{RunID: run.ID, Cursor: "c9", Deliveries: ds,
		Skipped: map[string]int{"opted_out": 2, "no_address": 1, "account_cap": 3}}); err != nil || !ok {
		t.Fatalf("commit: %v %v", ok, err)
	}
	if err := h.store.FinishRun(ctx, run.ID, "done"); err != nil {
		t.Fatal(err)
	}
	get := func() (string, map[string]any) {
		t.Helper()
		a := h.do("GET", "/v1/campaigns/"+id, nil)
		if a.status != http.StatusOK {
			t.Fatalf("get: %d %s", a.status, a.raw)
		}
		return a.body["status"].(string), a.body["counts"].(map[string]any)
	}
	status, counts := get()
	skipped := fmt.Sprint(counts["skipped"])
	if status != "running" || counts["planned"] != 2.0 || skipped != "map[account_cap:3 no_address:1 opted_out:2]" {
		t.Fatalf("after the fan-out: %s %v", status, counts)
	}
	runs := h.do("GET", "/v1/campaigns/"+id, nil).body["run_list"].([]any)
	if got := fmt.Sprint(runs[0].(map[string]any)["skipped"]); got != skipped {
		t.Fatalf("run skipped %s", got)
	}
	// Waiting deliveries: it can be paused and resumed.
	for _, action := range []string{"pause", "resume"} {
		if a := h.do("POST", "/v1/campaigns/"+id+"/"+action, nil); a.status != http.StatusOK {
			t.Fatalf("%s with deliveries waiting: %d %s", action, a.status, a.raw)
		}
	}
	// The first fails for good and falls back to email.
	move := func(d *store.Delivery, to ...store.DeliveryStatus) {
		t.Helper()
		from := store.StatusQueued
		for _, st := range to {
			if ok, err := h.store.Transition(ctx, d.ID, []store.DeliveryStatus{from}, st, store.Update{}); err != nil || !ok {
				t.Fatalf("%s → %s: %v %v", d.ID, st, ok, err)
			}
			from = st
		}
	}
	move(ds[0], store.StatusSending, store.StatusFailed)
	fb := &store.Delivery{ID: id + "-fb", SurveyKey: "onboarding", ContactID: "c0", Channel: "email", Address: "c0@example.com",
		Locale: "en", Token: "tok-" + id + "-fb", Source: "campaign", Metadata: map[string]string{"fallback_of": ds[0].ID},
		CampaignID: id, RunID: run.ID}
	if _, _, err := h.store.CreateDelivery(ctx, fb); err != nil {
		t.Fatal(err)
	}
	status, counts = get()
	if status != "running" || counts["planned"] != 3.0 || counts["fallbacks"] != 1.0 || counts["failed"] != 1.0 || counts["queued"] != 2.0 {
		t.Fatalf("after a fallback: %s %v", status, counts)
	}
	move(ds[1], store.StatusSending, store.StatusSent)
	move(fb, store.StatusSending, store.StatusSent)
	status, counts = get()
	if status != "completed" || counts["planned"] != 3.0 || counts["sent"] != 2.0 {
		t.Fatalf("with nothing left to send: %s %v", status, counts)
	}
	if c, _ := h.store.GetCampaign(ctx, id); c.Status != store.CampaignCompleted {
		t.Fatalf("stored status %s", c.Status)
	}
	if a := h.do("POST", "/v1/campaigns/"+id+"/pause", nil); a.status != http.StatusConflict {
		t.Fatalf("pausing a completed campaign: %d %s", a.status, a.raw)
	}
}
