package dispatcher_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/npsgate/npsgate/campaign"
	"github.com/npsgate/npsgate/channels"
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
	f := e.fanout()
	f.Now = now
	e.workerWith(f)
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

// workerWith starts a worker like e.worker, with f as its fan-out (a fake
// clock, a small budget).
func (e *env) workerWith(f *dispatcher.Fanout) {
	e.t.Helper()
	w := dispatcher.NewWorker(e.redis, dispatcher.WorkerConfig{
		Concurrency: 4, RetryBaseDelay: 10 * time.Millisecond, PollInterval: 20 * time.Millisecond,
		ShutdownTimeout: 5 * time.Second, Logger: quiet(),
	}, e.sender, nil, f)
	if err := w.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(w.Shutdown)
}

// useChannels makes chs the sender's channels.
func (e *env) useChannels(chs ...channels.Channel) {
	e.t.Helper()
	reg := channels.NewRegistry()
	for _, ch := range chs {
		if err := reg.Register(ch); err != nil {
			e.t.Fatal(err)
		}
	}
	e.sender.Channels = reg
}

// idle reports whether the delivery queues hold no task, pending, running
// or waiting for its time or retry.
func (e *env) idle() bool {
	in := asynq.NewInspector(e.redis)
	defer in.Close()
	queues, err := in.Queues()
	if err != nil {
		return false
	}
	for _, q := range queues {
		info, err := in.GetQueueInfo(q)
		if err != nil || info.Pending+info.Active+info.Scheduled+info.Retry > 0 {
			return false
		}
	}
	return true
}

// pending counts a campaign's deliveries that may still go out.
func (e *env) pending(campaignID string) int {
	counts, _, err := e.st.CampaignCounts(context.Background(), campaignID)
	if err != nil {
		e.t.Fatal(err)
	}
	return counts[store.StatusQueued] + counts[store.StatusDeferred] + counts[store.StatusSending]
}

// fakeChannel is a provider that takes delay per message, fails for good
// for the addresses in fail, and records when each send started.
type fakeChannel struct {
	name  string
	delay time.Duration
	fail  map[string]bool

	mu       sync.Mutex
	starts   []time.Time
	to       []string
	inFlight int
}

func (f *fakeChannel) Name() string { return f.name }

func (f *fakeChannel) Send(ctx context.Context, m *channels.Message) (channels.Result, error) {
	f.mu.Lock()
	f.starts = append(f.starts, time.Now())
	f.to = append(f.to, m.To)
	f.inFlight++
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.inFlight--; f.mu.Unlock() }()
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return channels.Result{}, ctx.Err()
		}
	}
	if f.fail[m.To] {
		return channels.Result{}, &channels.Error{Channel: f.name, Kind: channels.Permanent, Code: "21211", Message: "invalid address"}
	}
	return channels.Result{ProviderID: f.name + "-" + m.DeliveryID}, nil
}

// calls returns the send start times, the addresses tried and how many
// sends are in flight.
func (f *fakeChannel) calls() ([]time.Time, []string, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.starts...), append([]string(nil), f.to...), f.inFlight
}

// TestPauseAndCancelMidRun: a campaign is paused (or cancelled) while a
// slow provider is sending its run. The sends in flight finish, every
// other delivery is held (dropped), and no send starts later than two
// seconds after the move; resume sends the rest, each contact once.
func TestPauseAndCancelMidRun(t *testing.T) {
	for _, action := range []string{"pause", "cancel"} {
		t.Run(action, func(t *testing.T) {
			e := newEnv(t)
			e.contacts(60) // plus c1
			slow := &fakeChannel{name: "email", delay: 40 * time.Millisecond}
			e.useChannels(slow)
			ctx := context.Background()
			now := time.Now()
			e.campaign(&store.Campaign{ID: "mid"}, now)
			s := &dispatcher.Scheduler{Store: e.st, Client: e.client, Logger: quiet(), Now: func() time.Time { return now }}
			if n, err := s.Tick(ctx); err != nil || n != 1 {
				t.Fatalf("tick: %d %v", n, err)
			}
			e.worker()
			eventually(t, "the run under way", func() bool { starts, _, _ := slow.calls(); return len(starts) >= 8 })
			m := &dispatcher.Campaigns{Store: e.st, Client: e.client}
			moved := time.Now()
			var err error
			if action == "pause" {
				_, err = m.Pause(ctx, "mid")
			} else {
				_, err = m.Cancel(ctx, "mid")
			}
			if err != nil {
				t.Fatal(err)
			}
			// The move has settled when nothing is sending or queued: every
			// delivery not yet sent is held (deferred) or dropped.
			settled := func() bool {
				counts, _, _ := e.st.CampaignCounts(ctx, "mid")
				_, _, inFlight := slow.calls()
				run, _ := e.st.GetRun(ctx, "mid-r1")
				quiet := counts[store.StatusQueued]+counts[store.StatusSending] == 0 && inFlight == 0
				// A pause leaves the run to go on from its cursor; a cancel
				// ends it.
				return quiet && (action == "pause" || run.Status != "fanning_out")
			}
			for deadline := moved.Add(2 * time.Second); !settled(); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					counts, _, _ := e.st.CampaignCounts(ctx, "mid")
					t.Fatalf("2s after the %s: %v", action, counts)
				}
			}
			// A settled campaign has nothing left to start: look again a
			// few worker polls later, then check the start times.
			before, _, _ := slow.calls()
			time.Sleep(300 * time.Millisecond)
			starts, to, _ := slow.calls()
			if len(starts) != len(before) {
				t.Fatalf("%d sends started after the %s settled", len(starts)-len(before), action)
			}
			late := 0
			for _, at := range starts {
				if at.After(moved) {
					late++
				}
				if at.After(moved.Add(2 * time.Second)) {
					t.Fatalf("a send started %v after the %s", at.Sub(moved), action)
				}
			}
			if late > 4 { // the worker's concurrency: sends that had passed the gate
				t.Fatalf("%d sends started after the %s", late, action)
			}
			if len(starts) >= 61 {
				t.Fatalf("the %s came too late to test anything: %d sends", action, len(starts))
			}
			counts, byReason, _ := e.st.CampaignCounts(ctx, "mid")
			run, _ := e.st.GetRun(ctx, "mid-r1")
			if action == "cancel" {
				eventually(t, "the cancel swept", func() bool { return e.pending("mid") == 0 })
				counts, byReason, _ = e.st.CampaignCounts(ctx, "mid")
				run, _ = e.st.GetRun(ctx, "mid-r1")
				if counts[store.StatusSent] != len(starts) || counts[store.StatusSent]+byReason["campaign cancelled"] != run.Planned ||
					counts[store.StatusSuppressed] != byReason["campaign cancelled"] {
					t.Fatalf("after the cancel: %d sends, counts %v %v, run %+v", len(starts), counts, byReason, run)
				}
				return
			}
			if counts[store.StatusSent]+counts[store.StatusDeferred] != run.Planned || counts[store.StatusSent] != len(starts) {
				t.Fatalf("while paused: %d sends, counts %v, run %+v", len(starts), counts, run)
			}
			if _, err := m.Resume(ctx, "mid"); err != nil {
				t.Fatal(err)
			}
			e.runDone("mid-r1")
			eventually(t, "every contact surveyed", func() bool { starts, _, _ := slow.calls(); return len(starts) >= 61 })
			eventually(t, "the queues drained", e.idle)
			_, to, _ = slow.calls()
			per := map[string]int{}
			for _, a := range to {
				per[a]++
			}
			for a, n := range per {
				if n != 1 {
					t.Errorf("%s surveyed %d times", a, n)
				}
			}
			if len(per) != 61 {
				t.Fatalf("%d contacts surveyed, want 61", len(per))
			}
		})
	}
}

// TestChannelFallback: a permanent failure on the first channel tries the
// next channel of the campaign's order, once; a contact's preferred
// channel comes first.
func TestChannelFallback(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sms := &fakeChannel{name: "sms", fail: map[string]bool{"+15550001": true, "+15550004": true}}
	email := &fakeChannel{name: "email", fail: map[string]bool{"fb3@example.com": true, "fb4@example.com": true}}
	e.useChannels(sms, email)
	for _, c := range []*store.Contact{
		{ExternalID: "fb1", Email: "fb1@example.com", Phone: "+15550001"},                                                              // SMS fails → email
		{ExternalID: "fb2", Email: "fb2@example.com", Phone: "+15550002", Attributes: map[string]string{"preferred_channel": "email"}}, // email
		{ExternalID: "fb3", Email: "fb3@example.com", Phone: "+15550003", Attributes: map[string]string{"preferred_channel": "email"}}, // email fails → SMS
		{ExternalID: "fb4", Email: "fb4@example.com", Phone: "+15550004"},                                                              // both fail: two tries, no third
		{ExternalID: "fb5", Phone: "+15550005", Attributes: map[string]string{"preferred_channel": "email"}},                           // no email: SMS
	} {
		if _, err := e.st.UpsertContact(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	e.campaign(&store.Campaign{ID: "fb", Audience: "external_id in (fb1, fb2, fb3, fb4, fb5)", Channels: []string{"sms", "email"}}, time.Now())
	e.worker()
	f := e.fanout()
	if err := f.Start(ctx, dispatcher.StartRun{CampaignID: "fb", Number: 1, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	e.runDone("fb-r1")
	eventually(t, "every delivery final and the queues drained", func() bool { return e.pending("fb") == 0 && e.idle() })
	_, smsTo, _ := sms.calls()
	_, emailTo, _ := email.calls()
	sort.Strings(smsTo)
	sort.Strings(emailTo)
	if want := []string{"+15550001", "+15550003", "+15550004", "+15550005"}; fmt.Sprint(smsTo) != fmt.Sprint(want) {
		t.Errorf("SMS to %v, want %v", smsTo, want)
	}
	if want := []string{"fb1@example.com", "fb2@example.com", "fb3@example.com", "fb4@example.com"}; fmt.Sprint(emailTo) != fmt.Sprint(want) {
		t.Errorf("email to %v, want %v", emailTo, want)
	}
	counts, _, _ := e.st.CampaignCounts(ctx, "fb")
	run, _ := e.st.GetRun(ctx, "fb-r1")
	if run.Planned != 5 || counts[store.StatusSent] != 4 || counts[store.StatusFailed] != 4 {
		t.Fatalf("planned %d, counts %v; want 5 planned, 3 fallbacks, 4 sent, 4 failed", run.Planned, counts)
	}
}

// TestCronRunsOnceOnFallBackNight: "30 1 * * *" in America/New_York
// matches 01:30 twice on the night the clocks go back; the campaign runs
// at the first and its next run is the next night.
func TestCronRunsOnceOnFallBackNight(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	first := time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC) // 01:30 EDT
	clock := first.Add(2 * time.Second)
	now := func() time.Time { return clock }
	e.campaign(&store.Campaign{ID: "dst", Schedule: campaign.Schedule{Kind: "cron", Cron: "30 1 * * *", TimeZone: "America/New_York"}}, first)
	f := e.fanout()
	f.Now = now
	e.workerWith(f)
	s := &dispatcher.Scheduler{Store: e.st, Client: e.client, Logger: quiet(), Now: now}
	if n, err := s.Tick(ctx); err != nil || n != 1 {
		t.Fatalf("tick: %d %v", n, err)
	}
	e.runDone("dst-r1")
	c, _ := e.st.GetCampaign(ctx, "dst")
	if want := time.Date(2026, 11, 2, 6, 30, 0, 0, time.UTC); c.NextRunAt == nil || !c.NextRunAt.Equal(want) {
		t.Fatalf("next run %v, want %v (01:30 EST the next night)", c.NextRunAt, want)
	}
	clock = first.Add(time.Hour + 2*time.Second) // 01:30 EST, the same night
	if n, _ := s.Tick(ctx); n != 0 {
		t.Fatal("the repeated 01:30 started a second run")
	}
}

// TestMissedRunsCollapse: a quarterly campaign whose runs were missed (the
// schedulers were down for most of a year, or it was paused over several
// due dates) runs once, and its next run is the next due date after now.
func TestMissedRunsCollapse(t *testing.T) {
	for _, how := range []string{"downtime", "paused"} {
		t.Run(how, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			clock := time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC)
			now := func() time.Time { return clock }
			if err := e.st.SaveCampaign(ctx, &store.Campaign{ID: "qm", Name: "quarterly", SurveyKey: "s",
				Schedule: campaign.Schedule{Kind: "quarterly", TimeZone: "Asia/Shanghai"}}); err != nil {
				t.Fatal(err)
			}
			m := &dispatcher.Campaigns{Store: e.st, Client: e.client, Now: now}
			if _, err := m.Schedule(ctx, "qm"); err != nil {
				t.Fatal(err)
			}
			f := e.fanout()
			f.Now = now
			e.workerWith(f)
			s := &dispatcher.Scheduler{Store: e.st, Client: e.client, Logger: quiet(), Now: now}
			if how == "paused" {
				if _, err := m.Pause(ctx, "qm"); err != nil {
					t.Fatal(err)
				}
			}
			// Four due dates pass: January, April, July, October 2027.
			clock = time.Date(2027, 12, 15, 3, 0, 0, 0, time.UTC)
			if how == "paused" {
				if n, _ := s.Tick(ctx); n != 0 {
					t.Fatal("a paused campaign ran")
				}
				if _, err := m.Resume(ctx, "qm"); err != nil {
					t.Fatal(err)
				}
			}
			runs := 0
			for i := 0; i < 6; i++ {
				n, err := s.Tick(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					break
				}
				runs++
				e.runDone(fmt.Sprintf("qm-r%d", runs))
			}
			c, _ := e.st.GetCampaign(ctx, "qm")
			if runs != 1 || c.Runs != 1 {
				t.Fatalf("%d runs (campaign says %d) for four missed due dates, want 1", runs, c.Runs)
			}
			if want := time.Date(2028, 1, 1, 1, 0, 0, 0, time.UTC); c.NextRunAt == nil || !c.NextRunAt.Equal(want) {
				t.Fatalf("next run %v, want %v", c.NextRunAt, want)
			}
		})
	}
}

// TestOnceCampaignCompletesWhenItsDeliveriesHaveGone: a once campaign
// whose deliveries wait for their send window is running, not completed,
// once its run is fanned out: it can be paused, resumed and cancelled.
// One whose deliveries have all gone is completed.
func TestOnceCampaignCompletesWhenItsDeliveriesHaveGone(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now()
	at := now.Add(-time.Second)
	// The window opens tomorrow (UTC), whatever today is.
	tomorrow := int(now.UTC().AddDate(0, 0, 1).Weekday())
	if tomorrow == 0 {
		tomorrow = 7
	}
	e.campaign(&store.Campaign{ID: "later", Schedule: campaign.Schedule{Kind: "once", At: &at},
		SendWindow: campaign.Window{Days: []int{tomorrow}}}, at)
	e.campaign(&store.Campaign{ID: "now", Schedule: campaign.Schedule{Kind: "once", At: &at}}, at)
	f := e.fanout()
	for _, id := range []string{"later", "now"} {
		if err := f.Start(ctx, dispatcher.StartRun{CampaignID: id, Number: 1, At: at}); err != nil {
			t.Fatal(err)
		}
		if err := f.Page(ctx, dispatcher.FanoutPage{RunID: id + "-r1"}); err != nil {
			t.Fatal(err)
		}
		if r, _ := e.st.GetRun(ctx, id+"-r1"); r.Status != "done" || r.Planned != 1 {
			t.Fatalf("run of %s: %+v", id, r)
		}
	}
	c, _ := e.st.GetCampaign(ctx, "later")
	if c.Status != store.CampaignRunning || c.NextRunAt != nil {
		t.Fatalf("a campaign with a delivery waiting for its window: %s, next %v", c.Status, c.NextRunAt)
	}
	m := &dispatcher.Campaigns{Store: e.st, Client: e.client}
	if _, err := m.Pause(ctx, "later"); err != nil {
		t.Fatalf("pause: %v", err)
	}
	if c, err := m.Resume(ctx, "later"); err != nil || c.Status != store.CampaignRunning {
		t.Fatalf("resume: %v", err)
	}
	e.worker()
	r := &dispatcher.Recoverer{Store: e.st, Client: e.client, Logger: quiet(), Grace: time.Nanosecond}
	eventually(t, "the campaign without a window sent", func() bool {
		counts, _, _ := e.st.CampaignCounts(ctx, "now")
		return counts[store.StatusSent] == 1
	})
	r.Sweep(ctx)
	for id, want := range map[string]store.CampaignStatus{"now": store.CampaignCompleted, "later": store.CampaignRunning} {
		if c, _ := e.st.GetCampaign(ctx, id); c.Status != want {
			t.Errorf("%s is %s, want %s", id, c.Status, want)
		}
	}
	if _, err := m.Cancel(ctx, "later"); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	eventually(t, "the waiting delivery dropped", func() bool {
		_, byReason, _ := e.st.CampaignCounts(ctx, "later")
		return byReason["campaign cancelled"] == 1
	})
	if _, err := m.Pause(ctx, "now"); !errors.Is(err, dispatcher.ErrCampaignState) {
		t.Fatalf("pausing a completed campaign: %v", err)
	}
}

// TestFanoutCountsSkipped: every contact of the audience is either planned
// or skipped with its reason (opted out, no address on the campaign's
// channels, over the per-account cap); a contact without an address does
// not take a colleague's place under the cap.
func TestFanoutCountsSkipped(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	add := func(id, email, phone, account, tier string, optedOut bool) {
		if _, err := e.st.UpsertContact(ctx, &store.Contact{ExternalID: id, Email: email, Phone: phone, Account: account,
			Role: "admin", Attributes: map[string]string{"tier": tier}}); err != nil {
			t.Fatal(err)
		}
		if optedOut {
			if err := e.st.OptOutContact(ctx, id, "stop", time.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	add("a1", "", "+15550001", "acme", "KA", false) // no email: skipped, not counted under acme's cap
	add("a2", "a2@acme.test", "", "acme", "KA", false)
	add("a3", "a3@acme.test", "", "acme", "KA", false) // acme's second admin: over the cap
	add("a4", "a4@acme.test", "", "acme", "KA", true)  // opted out
	add("b1", "b1@beta.test", "", "beta", "KA", false)
	add("b2", "b2@beta.test", "", "beta", "KA", false)   // over the cap
	add("x1", "x1@other.test", "", "other", "SMB", true) // not in the audience (c1 neither): not counted
	e.campaign(&store.Campaign{ID: "sk", Audience: "account.tier = KA", PerAccountRole: 1, Channels: []string{"email"}}, time.Now())
	f := e.fanout()
	f.PageSize = 3 // the cap spans pages
	if err := f.Start(ctx, dispatcher.StartRun{CampaignID: "sk", Number: 1, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if err := f.Page(ctx, dispatcher.FanoutPage{RunID: "sk-r1"}); err != nil {
			t.Fatal(err)
		}
	}
	run, _ := e.st.GetRun(ctx, "sk-r1")
	if run.Status != "done" || run.Planned != 2 {
		t.Fatalf("run %+v; want a2 and b1 planned", run)
	}
	skips, err := e.st.CampaignSkips(ctx, "sk")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{dispatcher.SkipOptedOut: 1, dispatcher.SkipNoAddress: 1, dispatcher.SkipAccountCap: 2}
	if fmt.Sprint(skips["sk-r1"]) != fmt.Sprint(want) {
		t.Fatalf("skipped %v, want %v", skips["sk-r1"], want)
	}
}
