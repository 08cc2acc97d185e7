package dispatcher_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/npsgate/npsgate/campaign"
	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/store"
)

func (e *env) fanout() *dispatcher.Fanout {
	return &dispatcher.Fanout{Store: e.st, Client: e.client, Links: e.sender.Links, Logger: quiet(), PageSize: 7}
}

// contacts adds n contacts: accounts of three, alternating roles.
func (e *env) contacts(n int) {
	e.t.Helper()
	for i := 0; i < n; i++ {
		role := "admin"
		if i%2 == 1 {
			role = "operator"
		}
		c := &store.Contact{ExternalID: fmt.Sprintf("p%03d", i), Email: fmt.Sprintf("p%03d@example.com", i),
			Account: fmt.Sprintf("acct-%d", i/3), Role: role, Attributes: map[string]string{"tier": "KA"}}
		if i%5 == 0 {
			c.Attributes["tier"] = "SMB"
		}
		if _, err := e.st.UpsertContact(context.Background(), c); err != nil {
			e.t.Fatal(err)
		}
	}
}

// campaign saves a campaign and makes it due now.
func (e *env) campaign(c *store.Campaign, now time.Time) *store.Campaign {
	e.t.Helper()
	ctx := context.Background()
	if c.SurveyKey == "" {
		c.SurveyKey = "s"
	}
	if c.Schedule.Kind == "" {
		c.Schedule = campaign.Schedule{Kind: "cron", Cron: "* * * * *"}
	}
	if err := e.st.SaveCampaign(ctx, c); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.st.SetCampaignState(ctx, c.ID, []store.CampaignStatus{store.CampaignDraft}, store.CampaignScheduled, &now); err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) runDone(runID string) {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r, err := e.st.GetRun(context.Background(), runID)
		if err == nil && r.Status == "done" {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("run %s not done: %+v %v", runID, r, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCampaignFanOutWithAudienceAndCap(t *testing.T) {
	e := newEnv(t)
	e.contacts(30) // plus c1 from newEnv, who has no role
	now := time.Now()
	c := e.campaign(&store.Campaign{ID: "q1", Name: "Q1 relationship NPS", Audience: "role in (admin, operator) and account.tier = KA",
		PerAccountRole: 1}, now)
	s := &dispatcher.Scheduler{Store: e.st, Client: e.client, Logger: quiet(), Now: func() time.Time { return now }}
	if n, err := s.Tick(context.Background()); err != nil || n != 1 {
		t.Fatalf("tick: %d %v", n, err)
	}
	e.worker()
	e.runDone("q1-r1")
	// Expected: KA contacts, at most one per account and role.
	all, _ := e.st.ContactsPage(context.Background(), "", 1000)
	seen := map[[2]string]bool{}
	want := 0
	for _, ct := range all {
		if (ct.Role != "admin" && ct.Role != "operator") || ct.Attributes["tier"] != "KA" || seen[[2]string{ct.Account, ct.Role}] {
			continue
		}
		seen[[2]string{ct.Account, ct.Role}] = true
		want++
	}
	run, _ := e.st.GetRun(context.Background(), "q1-r1")
	if run.Planned != want {
		t.Fatalf("planned %d, want %d", run.Planned, want)
	}
	e.waitSent(want)
	eventually(t, "every delivery recorded sent", func() bool {
		counts, _, _ := e.st.CampaignCounts(context.Background(), c.ID)
		return counts[store.StatusSent] == want
	})
	got, _ := e.st.GetCampaign(context.Background(), c.ID)
	if got.Status != store.CampaignRunning || got.Runs != 1 || got.NextRunAt == nil || !got.NextRunAt.After(now) {
		t.Fatalf("campaign after the run: %+v", got)
	}
}

// TestTwoSchedulersOneRun: two scheduler processes see the same due
// campaign; the run starts once.
func TestTwoSchedulersOneRun(t *testing.T) {
	e := newEnv(t)
	e.contacts(10)
	now := time.Now()
	e.campaign(&store.Campaign{ID: "dup"}, now)
	other := dispatcher.NewClient(e.redis, 2)
	defer other.Close()
	for _, cl := range []*dispatcher.Client{e.client, other, e.client} {
		s := &dispatcher.Scheduler{Store: e.st, Client: cl, Logger: quiet(), Now: func() time.Time { return now }}
		if _, err := s.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	e.worker()
	e.worker()
	e.runDone("dup-r1")
	runs, _ := e.st.ListRuns(context.Background(), "dup")
	if len(runs) != 1 || runs[0].Planned != 11 {
		t.Fatalf("runs: %+v", runs)
	}
	e.waitSent(11)
	time.Sleep(200 * time.Millisecond) // and no more
	if _, sent := e.ch.count(); sent != 11 {
		t.Fatalf("%d sent, want 11", sent)
	}
}

// TestRollingSampling: k = 3 runs reach every contact exactly once.
func TestRollingSampling(t *testing.T) {
	e := newEnv(t)
	e.contacts(40)
	now := time.Now().Truncate(time.Minute)
	e.campaign(&store.Campaign{ID: "roll", Sampling: 3}, now)
	e.worker()
	clock := now
	s := &dispatcher.Scheduler{Store: e.st, Client: e.client, Logger: quiet(), Now: func() time.Time { return clock }}
	total := 0
	for run := 1; run <= 3; run++ {
		if n, err := s.Tick(context.Background()); err != nil || n != 1 {
			t.Fatalf("run %d: tick %d %v", run, n, err)
		}
		id := fmt.Sprintf("roll-r%d", run)
		e.runDone(id)
		r, _ := e.st.GetRun(context.Background(), id)
		if r.Planned < 5 || r.Planned > 25 {
			t.Errorf("run %d planned %d of 41: slices are unbalanced", run, r.Planned)
		}
		total += r.Planned
		clock = clock.Add(time.Minute)
	}
	sent := e.waitSent(41)
	if total != 41 || len(sent) != 41 {
		t.Fatalf("planned %d, sent %d; want 41", total, len(sent))
	}
	perContact := map[string]int{}
	for _, m := range sent {
		perContact[m.To]++
	}
	for to, n := range perContact {
		if n != 1 {
			t.Errorf("%s surveyed %d times", to, n)
		}
	}
}

// TestPauseStopsNewSends: deliveries queued before the pause are held,
// and go out on resume; cancel drops what is left.
func TestPauseResumeCancel(t *testing.T) {
	e := newEnv(t)
	e.contacts(20)
	now := time.Now()
	e.campaign(&store.Campaign{ID: "p"}, now)
	ctx := context.Background()
	f := e.fanout()
	if err := f.Start(ctx, dispatcher.StartRun{CampaignID: "p", Number: 1, At: now}); err != nil {
		t.Fatal(err)
	}
	if err := f.Page(ctx, dispatcher.FanoutPage{RunID: "p-r1"}); err != nil { // first page: 7 contacts
		t.Fatal(err)
	}
	m := &dispatcher.Campaigns{Store: e.st, Client: e.client}
	if _, err := m.Pause(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	e.worker()
	time.Sleep(500 * time.Millisecond)
	if calls, _ := e.ch.count(); calls != 0 {
		t.Fatalf("%d sends while paused", calls)
	}
	counts, _, _ := e.st.CampaignCounts(ctx, "p")
	run, _ := e.st.GetRun(ctx, "p-r1")
	if counts[store.StatusDeferred] != 7 || run.Planned != 7 || run.Status != "fanning_out" {
		t.Fatalf("while paused: counts %v, run %+v", counts, run)
	}
	if _, err := m.Resume(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	e.runDone("p-r1")
	e.waitSent(21)
	if _, err := m.Resume(ctx, "p"); err == nil {
		t.Fatal("resuming a running campaign must fail")
	}
	if _, err := m.Cancel(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	got, _ := e.st.GetCampaign(ctx, "p")
	if got.Status != store.CampaignCancelled || got.NextRunAt != nil {
		t.Fatalf("cancelled: %+v", got)
	}
}

func TestSendWindowDefers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// c1 lives in a zone where it is now outside a one-hour window.
	loc, _ := time.LoadLocation("Asia/Tokyo")
	local := time.Now().In(loc)
	start := local.Add(2 * time.Hour)
	w := campaign.Window{Start: start.Format("15:04"), End: start.Add(30 * time.Minute).Format("15:04")}
	if start.Day() != local.Day() || w.Validate() != nil {
		t.Skip("window would cross midnight at this hour")
	}
	if _, err := e.st.UpsertContact(ctx, &store.Contact{ExternalID: "c1", Email: "c1@example.com", TimeZone: "Asia/Tokyo"}); err != nil {
		t.Fatal(err)
	}
	e.campaign(&store.Campaign{ID: "w", SendWindow: w}, time.Now())
	f := e.fanout()
	if err := f.Start(ctx, dispatcher.StartRun{CampaignID: "w", Number: 1, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := f.Page(ctx, dispatcher.FanoutPage{RunID: "w-r1"}); err != nil {
		t.Fatal(err)
	}
	list, _ := e.st.CampaignDeliveries(ctx, "w", store.StatusQueued, "", 10)
	if len(list) != 1 || list[0].SendAt.Sub(start) > time.Minute || start.Sub(list[0].SendAt) > time.Minute {
		t.Fatalf("send_at %v, want about %v", list[0].SendAt, start)
	}
	// Sent at once anyway (a queue that caught up late), it is deferred.
	err := e.sender.Send(ctx, dispatcher.SendDelivery{ID: list[0].ID})
	d, _ := e.st.GetDelivery(ctx, list[0].ID)
	if err == nil || d.Status != store.StatusDeferred || d.Reason != "outside send window" {
		t.Fatalf("deferred: %v %s %s", err, d.Status, d.Reason)
	}
	if calls, _ := e.ch.count(); calls != 0 {
		t.Fatal("sent outside the window")
	}
}

// TestQuarterlyRunsOnItsDates: with a fake clock, a quarterly campaign in
// Asia/Shanghai runs at 09:00 local on the first day of each quarter.
func TestQuarterlyRunsOnItsDates(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	clock := time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC) // 07:00 on Jan 1 in Shanghai
	now := func() time.Time { return clock }
	if err := e.st.SaveCampaign(ctx, &store.Campaign{ID: "qt", Name: "quarterly", SurveyKey: "s",
		Schedule: campaign.Schedule{Kind: "quarterly", TimeZone: "Asia/Shanghai"}}); err != nil {
		t.Fatal(err)
	}
	m := &dispatcher.Campaigns{Store: e.st, Client: e.client, Now: now}
	c, err := m.Schedule(ctx, "qt")
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2027, 1, 1, 1, 0, 0, 0, time.UTC) // 09:00 CST
	if !c.NextRunAt.Equal(want) {
		t.Fatalf("first run at %v, want %v", c.NextRunAt, want)
	}
	s := &dispatcher.Scheduler{Store: e.st, Client: e.client, Logger: quiet(), Now: now}
	if n, _ := s.Tick(ctx); n != 0 {
		t.Fatal("a run started before its time")
	}
	e.worker()
	for i, at := range []time.Time{want, time.Date(2027, 4, 1, 1, 0, 0, 0, time.UTC), time.Date(2027, 7, 1, 1, 0, 0, 0, time.UTC)} {
		clock = at.Add(time.Second)
		if n, err := s.Tick(ctx); err != nil || n != 1 {
			t.Fatalf("run %d: %d %v", i+1, n, err)
		}
		e.runDone(fmt.Sprintf("qt-r%d", i+1))
		r, _ := e.st.GetRun(ctx, fmt.Sprintf("qt-r%d", i+1))
		if !r.ScheduledFor.Equal(at) {
			t.Fatalf("run %d scheduled for %v, want %v", i+1, r.ScheduledFor, at)
		}
		if n, _ := s.Tick(ctx); n != 0 {
			t.Fatalf("run %d started twice", i+1)
		}
	}
}

// TestDripRun: a run spread over days lands each contact inside the drip
// window in their own time zone, at most the daily cap a day.
func TestDripRun(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	zones := []string{"Asia/Shanghai", "Europe/Berlin", "America/New_York"}
	for i := 0; i < 30; i++ {
		if _, err := e.st.UpsertContact(ctx, &store.Contact{ExternalID: fmt.Sprintf("d%02d", i), Email: fmt.Sprintf("d%02d@example.com", i),
			TimeZone: zones[i%3]}); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC) // Monday
	e.campaign(&store.Campaign{ID: "drip", Audience: "time_zone exists",
		Drip: campaign.Drip{Days: 15, Weekdays: true, Start: "09:00", End: "11:00", DailyCap: 4}}, at)
	f := e.fanout()
	f.Now = func() time.Time { return at }
	if err := f.Start(ctx, dispatcher.StartRun{CampaignID: "drip", Number: 1, At: at}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		if err := f.Page(ctx, dispatcher.FanoutPage{RunID: "drip-r1"}); err != nil {
			t.Fatal(err)
		}
	}
	list, _ := e.st.CampaignDeliveries(ctx, "drip", store.StatusQueued, "", 100)
	if len(list) != 30 {
		t.Fatalf("%d deliveries", len(list))
	}
	perDay := map[string]int{} // local day of the run's order: at most the cap
	for _, d := range list {
		ct, _ := e.st.GetContact(ctx, d.ContactID)
		loc, _ := time.LoadLocation(ct.TimeZone)
		l := d.SendAt.In(loc)
		if l.Hour() < 9 || l.Hour() >= 11 || l.Weekday() == time.Saturday || l.Weekday() == time.Sunday {
			t.Fatalf("%s at %v local", d.ContactID, l)
		}
		perDay[l.Format("2006-01-02")]++
	}
	for day, n := range perDay {
		if n > 4*3 { // the cap is per day of the run; three zones can share a local date
			t.Fatalf("%s: %d", day, n)
		}
	}
	plan, err := e.st.RunPlan(ctx, "drip-r1")
	if err != nil || len(plan) < 8 {
		t.Fatalf("plan %v %v", plan, err)
	}
	total := 0
	for _, p := range plan {
		total += p.Planned
	}
	if total != 30 {
		t.Fatalf("plan counts %d", total)
	}
}
