package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/npsgate/npsgate/campaign"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

// ExerciseCampaignLifecycle runs the contract of the store methods behind a
// campaign's lifecycle (completion, cancel and resume sweeps, recovery,
// skipped counts) against stores from open.
func ExerciseCampaignLifecycle(t *testing.T, open func(t *testing.T) *store.Store) {
	t.Run("CommitRunPage", func(t *testing.T) { testCommitRunPage(t, open(t)) })
	t.Run("CompleteCampaigns", func(t *testing.T) { testCompleteCampaigns(t, open(t)) })
	t.Run("SuppressPending", func(t *testing.T) { testSuppressPending(t, open(t)) })
	t.Run("HeldDeliveries", func(t *testing.T) { testHeldDeliveries(t, open(t)) })
	t.Run("RecoverableDeliveries", func(t *testing.T) { testRecoverableDeliveries(t, open(t)) })
}

// mustRunningCampaign saves a campaign with its first run started, and
// moves it to status.
func mustRunningCampaign(t *testing.T, s *store.Store, id string, status store.CampaignStatus, next *time.Time) *store.CampaignRun {
	t.Helper()
	ctx := t.Context()
	if _, err := s.GetSurvey(ctx, "nps"); err != nil {
		mustSurvey(t, s, "nps", survey.NPS)
	}
	c := &store.Campaign{ID: id, Name: id, SurveyKey: "nps", Schedule: campaign.Schedule{Kind: "cron", Cron: "0 9 * * *"}}
	if err := s.SaveCampaign(ctx, c); err != nil {
		t.Fatalf("SaveCampaign: %v", err)
	}
	run, created, err := s.StartRun(ctx, c, 1, base, next)
	if err != nil || !created {
		t.Fatalf("StartRun = %v, %v", created, err)
	}
	if changed, err := s.SetCampaignState(ctx, id, []store.CampaignStatus{store.CampaignDraft, store.CampaignRunning}, status, next); err != nil || !changed {
		t.Fatalf("SetCampaignState(%s) = %v, %v", status, changed, err)
	}
	return run
}

// campaignDeliveries writes n deliveries of a campaign's run in status
// (with reason), due at sendAt, with IDs prefix-000 on.
func campaignDeliveries(t *testing.T, s *store.Store, run *store.CampaignRun, prefix string, n int, status store.DeliveryStatus, reason string, sendAt time.Time) []*store.Delivery {
	t.Helper()
	ds := make([]*store.Delivery, n)
	for i := range ds {
		d := newDelivery("nps")
		d.ID = fmt.Sprintf("%s-%03d", prefix, i)
		d.ContactID = d.ID
		d.CampaignID, d.RunID = run.CampaignID, run.ID
		d.Status, d.Reason, d.SendAt = status, reason, sendAt
		ds[i] = d
	}
	if _, err := s.CommitPage(t.Context(), "", "", ds, nil); err != nil {
		t.Fatalf("CommitPage: %v", err)
	}
	return ds
}

func testCommitRunPage(t *testing.T, s *store.Store) {
	ctx := t.Context()
	run := mustRunningCampaign(t, s, "cp", store.CampaignRunning, nil)
	page := func(from, cursor, prefix string, skipped map[string]int) ([]*store.Delivery, bool) {
		t.Helper()
		ds := make([]*store.Delivery, 2)
		for i := range ds {
			d := newDelivery("nps")
			d.ID = fmt.Sprintf("%s-%d", prefix, i)
			d.CampaignID, d.RunID = "cp", run.ID
			ds[i] = d
		}
		inserted, committed, err := s.CommitRunPage(ctx, store.RunPage{RunID: run.ID, From: from, Cursor: cursor, Deliveries: ds,
			Caps: map[[2]string]int{{"acme", "admin"}: 1}, Skipped: skipped})
		if err != nil {
			t.Fatalf("CommitRunPage(%q → %q): %v", from, cursor, err)
		}
		return inserted, committed
	}
	if ins, ok := page("", "c1", "p1", map[string]int{"opted_out": 2, "no_address": 1}); !ok || len(ins) != 2 {
		t.Fatalf("first page: committed %v, %d inserted", ok, len(ins))
	}
	if ins, ok := page("c1", "c2", "p2", map[string]int{"opted_out": 1, "account_cap": 4, "none": 0}); !ok || len(ins) != 2 {
		t.Fatalf("second page: committed %v, %d inserted", ok, len(ins))
	}
	// A second task with the first page again (its plan read cursor ""),
	// with rows the first did not have: nothing is written or counted.
	if ins, ok := page("", "c1", "stale", map[string]int{"opted_out": 7}); ok || len(ins) != 0 {
		t.Fatalf("a page from a stale cursor: committed %v, %d inserted", ok, len(ins))
	}
	got, err := s.GetRun(ctx, run.ID)
	if err != nil || got.Cursor != "c2" || got.Planned != 4 {
		t.Fatalf("run after the pages: %+v, %v", got, err)
	}
	if _, err := s.GetDelivery(ctx, "stale-0"); err == nil {
		t.Error("the stale page's delivery was written")
	}
	skips, err := s.CampaignSkips(ctx, "cp")
	if err != nil {
		t.Fatalf("CampaignSkips: %v", err)
	}
	wantEqual(t, "skips", skips, map[string]map[string]int{run.ID: {"opted_out": 3, "no_address": 1, "account_cap": 4}})

	// A run that is no longer fanning out (the cancel finished it) takes
	// no page.
	if err := s.FinishRun(ctx, run.ID, "cancelled"); err != nil {
		t.Fatal(err)
	}
	if ins, ok := page("c2", "c3", "late", nil); ok || len(ins) != 0 {
		t.Fatalf("a page of a cancelled run: committed %v, %d inserted", ok, len(ins))
	}
	if _, err := s.GetDelivery(ctx, "late-0"); err == nil {
		t.Error("a cancelled run got a delivery")
	}
	if skips, _ := s.CampaignSkips(ctx, "nobody"); len(skips) != 0 {
		t.Errorf("skips of a campaign without runs: %v", skips)
	}
}

func testCompleteCampaigns(t *testing.T, s *store.Store) {
	ctx := t.Context()
	next := base.Add(24 * time.Hour)
	waiting := mustRunningCampaign(t, s, "waiting", store.CampaignRunning, nil)
	recurring := mustRunningCampaign(t, s, "recurring", store.CampaignRunning, &next)
	paused := mustRunningCampaign(t, s, "paused", store.CampaignPaused, nil)
	mustRunningCampaign(t, s, "fanning", store.CampaignRunning, nil) // its run is still fanning out
	empty := mustRunningCampaign(t, s, "empty", store.CampaignRunning, nil)
	for _, r := range []*store.CampaignRun{waiting, recurring, paused, empty} {
		if err := s.FinishRun(ctx, r.ID, "done"); err != nil {
			t.Fatal(err)
		}
	}
	// waiting has one delivery of each pending status, and a reminder due
	// in days, which keeps it running as well.
	var pending []*store.Delivery
	for _, st := range []store.DeliveryStatus{store.StatusQueued, store.StatusDeferred, store.StatusSending} {
		pending = append(pending, campaignDeliveries(t, s, waiting, "w-"+string(st), 1, st, "", base)...)
	}
	sent := campaignDeliveries(t, s, waiting, "w-sent", 3, store.StatusSent, "", base)
	reminder := newDelivery("nps")
	reminder.CampaignID, reminder.RunID, reminder.ReminderOf, reminder.ReminderN = "waiting", waiting.ID, sent[0].ID, 1
	reminder.SendAt = base.Add(72 * time.Hour)
	mustDelivery(t, s, reminder)
	campaignDeliveries(t, s, recurring, "r", 1, store.StatusSent, "", base)
	campaignDeliveries(t, s, paused, "p", 1, store.StatusSent, "", base)

	done, err := s.CompleteCampaigns(ctx)
	if err != nil {
		t.Fatalf("CompleteCampaigns: %v", err)
	}
	// empty only: recurring has a next run, paused is paused, fanning is
	// still fanning out, waiting has deliveries to go.
	wantEqual(t, "completed", done, []string{"empty"})
	for i, d := range pending {
		if done, _ := s.CompleteCampaigns(ctx, "waiting"); len(done) != 0 {
			t.Fatalf("completed with %d deliveries pending", len(pending)-i)
		}
		if _, err := s.Transition(ctx, d.ID, []store.DeliveryStatus{d.Status}, store.StatusSent, store.Update{}); err != nil {
			t.Fatal(err)
		}
	}
	// Only the campaigns named.
	if done, _ := s.CompleteCampaigns(ctx, "fanning", "paused"); len(done) != 0 {
		t.Fatalf("completed %v", done)
	}
	// Its surveys have gone; its reminder has not.
	if done, _ := s.CompleteCampaigns(ctx, "waiting"); len(done) != 0 {
		t.Fatal("completed with a reminder still due")
	}
	if _, err := s.Transition(ctx, reminder.ID, []store.DeliveryStatus{store.StatusQueued}, store.StatusSent, store.Update{}); err != nil {
		t.Fatal(err)
	}
	done, err = s.CompleteCampaigns(ctx, "waiting")
	wantEqual(t, "completed when nothing waits", done, []string{"waiting"})
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]store.CampaignStatus{"waiting": store.CampaignCompleted, "empty": store.CampaignCompleted,
		"recurring": store.CampaignRunning, "paused": store.CampaignPaused, "fanning": store.CampaignRunning} {
		if c, _ := s.GetCampaign(ctx, id); c.Status != want {
			t.Errorf("%s is %s, want %s", id, c.Status, want)
		}
	}
	if done, _ := s.CompleteCampaigns(ctx); len(done) != 0 {
		t.Errorf("completed twice: %v", done)
	}

	// A reminder written after the campaign completed (its survey's send
	// was the last thing pending, and the sweep came between the send and
	// the reminder's row) opens it again: a sweep of all campaigns does,
	// and so does ReopenCampaigns for the campaign named.
	late := newDelivery("nps")
	late.CampaignID, late.RunID, late.ReminderOf, late.ReminderN = "waiting", waiting.ID, sent[1].ID, 1
	late.Status, late.SendAt = store.StatusDeferred, base.Add(72*time.Hour)
	mustDelivery(t, s, late)
	if done, err := s.CompleteCampaigns(ctx); err != nil || len(done) != 0 {
		t.Fatalf("CompleteCampaigns with a reminder due again = %v, %v", done, err)
	}
	for id, want := range map[string]store.CampaignStatus{"waiting": store.CampaignRunning, "empty": store.CampaignCompleted} {
		if c, _ := s.GetCampaign(ctx, id); c.Status != want {
			t.Errorf("after a late reminder, %s is %s, want %s", id, c.Status, want)
		}
	}
	if _, err := s.Transition(ctx, late.ID, []store.DeliveryStatus{store.StatusDeferred}, store.StatusSuppressed,
		store.Update{Reason: "answered"}); err != nil {
		t.Fatal(err)
	}
	if done, _ := s.CompleteCampaigns(ctx, "waiting"); len(done) != 1 {
		t.Fatalf("not completed once the late reminder ended: %v", done)
	}
	latest := newDelivery("nps")
	latest.CampaignID, latest.RunID, latest.ReminderOf, latest.ReminderN = "waiting", waiting.ID, sent[2].ID, 1
	mustDelivery(t, s, latest)
	reopened, err := s.ReopenCampaigns(ctx, "empty", "waiting")
	wantEqual(t, "reopened", reopened, []string{"waiting"})
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := s.ReopenCampaigns(ctx); len(again) != 0 {
		t.Errorf("reopened a running campaign: %v", again)
	}
}

func testSuppressPending(t *testing.T, s *store.Store) {
	ctx := t.Context()
	run := mustRunningCampaign(t, s, "cx", store.CampaignCancelled, nil)
	other := mustRunningCampaign(t, s, "other", store.CampaignRunning, nil)
	campaignDeliveries(t, s, run, "q", 14, store.StatusQueued, "", base)
	campaignDeliveries(t, s, run, "d", 11, store.StatusDeferred, "campaign paused", base)
	sending := campaignDeliveries(t, s, run, "s", 1, store.StatusSending, "", base)[0]
	sent := campaignDeliveries(t, s, run, "t", 1, store.StatusSent, "", base)[0]
	untouched := campaignDeliveries(t, s, other, "o", 2, store.StatusQueued, "", base)

	var got []int
	for {
		n, err := s.SuppressPending(ctx, "cx", "campaign cancelled", 10)
		if err != nil {
			t.Fatalf("SuppressPending: %v", err)
		}
		got = append(got, n)
		if n < 10 {
			break
		}
	}
	wantEqual(t, "pages", got, []int{10, 10, 5})
	byStatus, byReason, err := s.CampaignCounts(ctx, "cx")
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "counts", byStatus, map[store.DeliveryStatus]int{store.StatusSuppressed: 25, store.StatusSending: 1, store.StatusSent: 1})
	wantEqual(t, "reasons", byReason, map[string]int{"campaign cancelled": 25})
	for _, id := range []string{"q-003", "d-007"} {
		events, err := s.DeliveryEvents(ctx, id)
		if err != nil || len(events) != 2 || events[1].Status != store.StatusSuppressed || events[1].Reason != "campaign cancelled" {
			t.Errorf("events of %s: %+v, %v", id, events, err)
		}
	}
	for _, d := range append([]*store.Delivery{sending, sent}, untouched...) {
		if got, _ := s.GetDelivery(ctx, d.ID); got.Status != d.Status {
			t.Errorf("%s moved from %s to %s", d.ID, d.Status, got.Status)
		}
	}
}

func testHeldDeliveries(t *testing.T, s *store.Store) {
	ctx := t.Context()
	run := mustRunningCampaign(t, s, "h", store.CampaignRunning, nil)
	campaignDeliveries(t, s, run, "held", 5, store.StatusDeferred, "campaign paused", base)
	campaignDeliveries(t, s, run, "window", 2, store.StatusDeferred, "outside send window", base)
	campaignDeliveries(t, s, run, "queued", 2, store.StatusQueued, "campaign paused", base)
	var ids []string
	after := ""
	for {
		page, err := s.HeldDeliveries(ctx, "h", "campaign paused", after, 2)
		if err != nil {
			t.Fatalf("HeldDeliveries: %v", err)
		}
		for _, d := range page {
			ids = append(ids, d.ID)
		}
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].ID
	}
	wantEqual(t, "held", ids, []string{"held-000", "held-001", "held-002", "held-003", "held-004"})
}

func testRecoverableDeliveries(t *testing.T, s *store.Store) {
	ctx := t.Context()
	paused := mustRunningCampaign(t, s, "pz", store.CampaignPaused, nil)
	running := mustRunningCampaign(t, s, "rn", store.CampaignRunning, nil)
	// The paused campaign's rows are the oldest.
	campaignDeliveries(t, s, paused, "pz", 4, store.StatusDeferred, "campaign paused", base.Add(-time.Hour))
	var want []string
	for _, d := range campaignDeliveries(t, s, running, "rn", 3, store.StatusDeferred, "", base.Add(-time.Minute)) {
		want = append(want, d.ID)
	}
	lone := newDelivery("nps")
	lone.Status, lone.SendAt = store.StatusDeferred, base // a trigger's: no campaign
	mustDelivery(t, s, lone)
	want = append(want, lone.ID)
	late := newDelivery("nps")
	late.Status, late.SendAt = store.StatusDeferred, base.Add(time.Hour) // not due
	mustDelivery(t, s, late)

	var got []string
	var cur store.SendCursor
	for {
		page, err := s.RecoverableDeliveries(ctx, store.StatusDeferred, base, cur, 2)
		if err != nil {
			t.Fatalf("RecoverableDeliveries: %v", err)
		}
		for _, d := range page {
			got = append(got, d.ID)
		}
		if len(page) < 2 {
			break
		}
		cur = store.SendCursor{SendAt: page[len(page)-1].SendAt, ID: page[len(page)-1].ID}
	}
	wantEqual(t, "recoverable", got, want)
	if page, _ := s.RecoverableDeliveries(ctx, store.StatusQueued, base, store.SendCursor{}, 10); len(page) != 0 {
		t.Errorf("queued: %d", len(page))
	}
}
