package dispatcher_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/npsgate/npsgate/campaign"
	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/store"
)

// TestFanoutEnqueueFailure: when Redis fails while a page's sends are
// queued, the page returns the error (asynq retries it), its rows stay
// queued in the store, the recoverer queues them, and the run goes on from
// the next page: every delivery is written once and has its task.
func TestFanoutEnqueueFailure(t *testing.T) {
	e := newEnv(t)
	e.contacts(20) // plus c1
	now := time.Now()
	e.campaign(&store.Campaign{ID: "ef"}, now)
	ctx := context.Background()
	if err := e.fanout().Start(ctx, dispatcher.StartRun{CampaignID: "ef", Number: 1, At: now}); err != nil {
		t.Fatal(err)
	}
	bad := dispatcher.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond}, 2)
	defer bad.Close()
	broken := &dispatcher.Fanout{Store: e.st, Client: bad, Logger: quiet(), PageSize: 7}
	if err := broken.Page(ctx, dispatcher.FanoutPage{RunID: "ef-r1"}); err == nil {
		t.Fatal("a page whose sends could not be queued must fail, to be retried")
	}
	run, _ := e.st.GetRun(ctx, "ef-r1")
	counts, _, _ := e.st.CampaignCounts(ctx, "ef")
	if run.Planned != 7 || counts[store.StatusQueued] != 7 || run.Status != "fanning_out" {
		t.Fatalf("after the failed page: run %+v, counts %v", run, counts)
	}
	r := &dispatcher.Recoverer{Store: e.st, Client: e.client, Logger: quiet(), Grace: time.Nanosecond}
	if n := r.Sweep(ctx); n != 7 {
		t.Fatalf("recoverer queued %d, want the failed page's 7", n)
	}
	// asynq retries the page: it goes on from the next one.
	f := e.fanout()
	for i := 0; ; i++ {
		if err := f.Page(ctx, dispatcher.FanoutPage{RunID: "ef-r1"}); err != nil {
			t.Fatal(err)
		}
		if run, _ := e.st.GetRun(ctx, "ef-r1"); run.Status == "done" {
			break
		}
		if i > 10 {
			t.Fatal("run not done")
		}
	}
	run, _ = e.st.GetRun(ctx, "ef-r1")
	ds, _ := e.st.CampaignDeliveries(ctx, "ef", store.StatusQueued, "", 100)
	if run.Planned != 21 || len(ds) != 21 {
		t.Fatalf("planned %d, %d queued; want 21", run.Planned, len(ds))
	}
	insp := asynq.NewInspector(e.redis)
	defer insp.Close()
	tasks := deliveryTasks(t, insp, dispatcher.DeliveryQueue("email"))
	for _, d := range ds {
		if tasks[d.ID] == nil {
			t.Fatalf("delivery %s has no task", d.ID)
		}
	}
}

// TestFanoutQueuesEveryDelivery: a run fanned out by the worker (several
// pages per task) writes every delivery and queues its send (in batches);
// doing a page again writes and queues nothing new.
func TestFanoutQueuesEveryDelivery(t *testing.T) {
	e := newEnv(t)
	e.contacts(60) // plus c1
	now := time.Now()
	tomorrow := int(now.UTC().Add(24 * time.Hour).Weekday())
	if tomorrow == 0 {
		tomorrow = 7
	}
	// The window opens tomorrow (UTC; the contacts have no zone), so the
	// sends wait in asynq's scheduled set.
	e.campaign(&store.Campaign{ID: "all", SendWindow: campaign.Window{Days: []int{tomorrow}},
		Schedule: campaign.Schedule{Kind: "cron", Cron: "* * * * *", TimeZone: "UTC"}}, now)
	s := &dispatcher.Scheduler{Store: e.st, Client: e.client, Logger: quiet(), Now: func() time.Time { return now }}
	if n, err := s.Tick(context.Background()); err != nil || n != 1 {
		t.Fatalf("tick: %d %v", n, err)
	}
	e.worker()
	e.runDone("all-r1")
	ctx := context.Background()
	run, _ := e.st.GetRun(ctx, "all-r1")
	if run.Planned != 61 {
		t.Fatalf("planned %d, want 61", run.Planned)
	}
	ds, err := e.st.CampaignDeliveries(ctx, "all", store.StatusQueued, "", 1000)
	if err != nil || len(ds) != 61 {
		t.Fatalf("%d queued deliveries (%v), want 61", len(ds), err)
	}
	insp := asynq.NewInspector(e.redis)
	defer insp.Close()
	tasks := deliveryTasks(t, insp, dispatcher.DeliveryQueue("email"))
	for _, d := range ds {
		info := tasks[d.ID]
		if info == nil {
			t.Fatalf("delivery %s has no task", d.ID)
		}
		if info.State != asynq.TaskStateScheduled || info.NextProcessAt.Unix() != d.SendAt.Unix() {
			t.Fatalf("task of %s: %v at %v, want scheduled at %v", d.ID, info.State, info.NextProcessAt, d.SendAt)
		}
	}
	if calls, _ := e.ch.count(); calls != 0 {
		t.Fatalf("%d sends before the window", calls)
	}
}
