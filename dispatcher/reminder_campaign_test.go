package dispatcher_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/npsgate/npsgate/campaign"
	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
)

// reminderCampaign runs a once campaign of the test survey, with one
// reminder ten minutes after the survey, to the one contact of newEnv, and
// returns its survey delivery, queued. The sender's clock is clk.
func (e *env) reminderCampaign(id string, clk *testenv.Clock) *store.Delivery {
	e.t.Helper()
	ctx := context.Background()
	e.withReminders(store.Reminder{After: 10 * time.Minute})
	e.sender.Now = clk.Now
	at := clk.Now().Add(-time.Second)
	e.campaign(&store.Campaign{ID: id, Schedule: campaign.Schedule{Kind: "once", At: &at}}, at)
	f := e.fanout()
	if err := f.Start(ctx, dispatcher.StartRun{CampaignID: id, Number: 1, At: at}); err != nil {
		e.t.Fatal(err)
	}
	if err := f.Page(ctx, dispatcher.FanoutPage{RunID: id + "-r1"}); err != nil {
		e.t.Fatal(err)
	}
	ds, err := e.st.CampaignDeliveries(ctx, id, store.StatusQueued, "", 10)
	if err != nil || len(ds) != 1 {
		e.t.Fatalf("the run's deliveries: %v, %v", ds, err)
	}
	return ds[0]
}

// reminderOf returns the one reminder of a survey delivery.
func (e *env) reminderOf(id string) *store.Delivery {
	e.t.Helper()
	rems, err := e.st.RemindersOf(context.Background(), id)
	if err != nil || len(rems) != 1 {
		e.t.Fatalf("reminders of %s: %v, %v", id, rems, err)
	}
	return rems[0]
}

// campaignStatus reads a campaign's status after the recoverer's sweep has
// settled it (as it does every minute).
func (e *env) campaignStatus(id string) store.CampaignStatus {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.st.CompleteCampaigns(ctx); err != nil {
		e.t.Fatal(err)
	}
	c, err := e.st.GetCampaign(ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return c.Status
}

// TestCancelledCampaignSendsNoReminder: a campaign whose surveys have all
// gone but whose reminders are still due is running, not completed, and
// its counts show the reminder queued; cancelling it then suppresses the
// reminder, "campaign cancelled", and nothing goes out when it falls due,
// whether the cancel's sweep got to it first or the reminder's own send
// found the campaign cancelled.
func TestCancelledCampaignSendsNoReminder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sweep bool
	}{
		{"swept", true},
		{"found when due", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			clk := testenv.NewClock(time.Now().UTC())
			d := e.reminderCampaign("rc", clk)
			if err := e.send(d.ID); err != nil {
				t.Fatal(err)
			}
			rem := e.reminderOf(d.ID)
			if st := e.campaignStatus("rc"); st != store.CampaignRunning {
				t.Fatalf("with its reminder due the campaign is %s, want running", st)
			}
			if byStatus, _, _ := e.st.CampaignCounts(ctx, "rc", true); byStatus[store.StatusQueued] != 1 {
				t.Fatalf("reminder counts %v, want one queued", byStatus)
			}

			m := &dispatcher.Campaigns{Store: e.st, Client: e.client}
			if _, err := m.Cancel(ctx, "rc"); err != nil {
				t.Fatalf("cancel with a reminder due: %v", err)
			}
			if tc.sweep {
				if err := m.Sweep(ctx, dispatcher.SweepCampaign{CampaignID: "rc", Action: dispatcher.SweepCancel}); err != nil {
					t.Fatal(err)
				}
				if got := e.status(rem.ID); got.Status != store.StatusSuppressed || got.Reason != "campaign cancelled" {
					t.Fatalf("reminder after the cancel's sweep: %s %q", got.Status, got.Reason)
				}
			}
			clk.Set(clk.Now().Add(10 * time.Minute))
			if err := e.send(rem.ID); err != nil {
				t.Fatal(err)
			}
			if got := e.status(rem.ID); got.Status != store.StatusSuppressed || got.Reason != "campaign cancelled" {
				t.Fatalf("reminder when due: %s %q", got.Status, got.Reason)
			}
			if _, sent := e.ch.count(); sent != 1 {
				t.Fatalf("%d messages, want the survey alone", sent)
			}
			if _, byReason, _ := e.st.CampaignCounts(ctx, "rc", true); len(byReason) != 1 || byReason["campaign cancelled"] != 1 {
				t.Fatalf("suppressed reminders by reason %v, want one, campaign cancelled", byReason)
			}
			if st := e.campaignStatus("rc"); st != store.CampaignCancelled {
				t.Fatalf("campaign is %s", st)
			}
		})
	}
}

// TestPausedCampaignHoldsItsReminder: a pause holds a reminder that falls
// due, and the resume sends it; the campaign completes once it has gone.
func TestPausedCampaignHoldsItsReminder(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	clk := testenv.NewClock(time.Now().UTC())
	d := e.reminderCampaign("rp", clk)
	if err := e.send(d.ID); err != nil {
		t.Fatal(err)
	}
	rem := e.reminderOf(d.ID)
	if st := e.campaignStatus("rp"); st != store.CampaignRunning {
		t.Fatalf("with its reminder due the campaign is %s, want running", st)
	}
	m := &dispatcher.Campaigns{Store: e.st, Client: e.client}
	if _, err := m.Pause(ctx, "rp"); err != nil {
		t.Fatalf("pause with a reminder due: %v", err)
	}
	clk.Set(clk.Now().Add(10 * time.Minute))
	if err := e.send(rem.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.status(rem.ID); got.Status != store.StatusDeferred || got.Reason != "campaign paused" {
		t.Fatalf("reminder due while paused: %s %q", got.Status, got.Reason)
	}
	if _, sent := e.ch.count(); sent != 1 {
		t.Fatalf("%d messages while paused, want the survey alone", sent)
	}
	if st := e.campaignStatus("rp"); st != store.CampaignPaused {
		t.Fatalf("campaign is %s, want paused", st)
	}

	if _, err := m.Resume(ctx, "rp"); err != nil {
		t.Fatal(err)
	}
	if err := m.Sweep(ctx, dispatcher.SweepCampaign{CampaignID: "rp", Action: dispatcher.SweepResume}); err != nil {
		t.Fatal(err)
	}
	// The resume queued the held reminder again.
	info, err := asynq.NewInspector(e.redis).GetTaskInfo(dispatcher.DeliveryQueue("email"), rem.ID)
	if err != nil || (info.State != asynq.TaskStatePending && info.State != asynq.TaskStateScheduled) {
		t.Fatalf("task of the held reminder after the resume: %+v %v", info, err)
	}
	if err := e.send(rem.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.status(rem.ID); got.Status != store.StatusSent {
		t.Fatalf("reminder after the resume: %s %q", got.Status, got.Reason)
	}
	if _, sent := e.ch.count(); sent != 2 {
		t.Fatalf("%d messages, want the survey and its reminder", sent)
	}
	if st := e.campaignStatus("rp"); st != store.CampaignCompleted {
		t.Fatalf("campaign is %s once its reminder went, want completed", st)
	}
}

// cancelling is the email channel of a campaign that is cancelled (status
// and sweep) while its survey is with the provider: the survey goes, and
// its reminders are planned after the sweep ran.
type cancelling struct {
	scripted
	m  *dispatcher.Campaigns
	id string
}

func (c *cancelling) Send(ctx context.Context, msg *channels.Message) (channels.Result, error) {
	if _, err := c.m.Cancel(ctx, c.id); err != nil {
		return channels.Result{}, err
	}
	if err := c.m.Sweep(ctx, dispatcher.SweepCampaign{CampaignID: c.id, Action: dispatcher.SweepCancel}); err != nil {
		return channels.Result{}, err
	}
	return c.scripted.Send(ctx, msg)
}

// TestReminderOfSurveySentDuringCancel: a survey that was with the provider
// when its campaign was cancelled gets its reminder recorded as
// suppressed, "campaign cancelled", and not queued.
func TestReminderOfSurveySentDuringCancel(t *testing.T) {
	e := newEnv(t)
	clk := testenv.NewClock(time.Now().UTC())
	d := e.reminderCampaign("rs", clk)
	ch := &cancelling{m: &dispatcher.Campaigns{Store: e.st, Client: e.client}, id: "rs"}
	e.useChannels(ch)
	if err := e.send(d.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.status(d.ID); got.Status != store.StatusSent {
		t.Fatalf("survey: %s %q", got.Status, got.Reason)
	}
	rem := e.reminderOf(d.ID)
	if rem.Status != store.StatusSuppressed || rem.Reason != "campaign cancelled" {
		t.Fatalf("reminder of a survey sent during the cancel: %s %q", rem.Status, rem.Reason)
	}
	if _, err := asynq.NewInspector(e.redis).GetTaskInfo(dispatcher.DeliveryQueue("email"), rem.ID); err == nil {
		t.Fatal("the reminder of a cancelled campaign was queued")
	}
	if st := e.campaignStatus("rs"); st != store.CampaignCancelled {
		t.Fatalf("campaign is %s", st)
	}
	if _, sent := ch.count(); sent != 1 {
		t.Fatalf("%d messages, want the survey alone", sent)
	}
}
