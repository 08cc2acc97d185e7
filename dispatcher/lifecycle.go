package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/npsgate/npsgate/store"
)

// ErrCampaignState is returned when a campaign cannot make a move from its
// current status (resuming a running campaign, scheduling a cancelled one).
var ErrCampaignState = errors.New("campaign cannot do that now")

// The reasons the send pipeline (campaignGate) gives a campaign delivery
// it holds for a pause or drops for a cancel; the sweeps use the same.
const (
	reasonPaused    = "campaign paused"
	reasonCancelled = "campaign cancelled"
)

// Page sizes of the sweeps: a cancel suppresses this many deliveries per
// statement (a transaction of its own, never one over the whole
// campaign); a resume reads and queues this many at a time.
const (
	cancelPage = 10000
	resumePage = 1000
)

// Campaigns moves campaigns through their lifecycle. A move changes the
// campaign's status, in the request, and that alone makes it take effect
// within seconds even mid-run: the fan-out re-reads the status before each
// page and every send before it calls a provider. What the move means for
// the deliveries already written (suppress them, queue them again) is a
// SweepCampaign task that works in pages, so the request takes the same
// few milliseconds for ten contacts and for a million.
type Campaigns struct {
	Store  *store.Store
	Client *Client
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Budget is how long one sweep task goes on through pages before it
	// hands on to a new task. Default DefaultFanoutBudget.
	Budget time.Duration
}

func (m *Campaigns) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Schedule moves a draft to scheduled, with its first run.
func (m *Campaigns) Schedule(ctx context.Context, id string) (*store.Campaign, error) {
	c, err := m.Store.GetCampaign(ctx, id)
	if err != nil {
		return nil, err
	}
	next, ok := c.Schedule.Next(m.now().Add(-time.Second))
	if !ok {
		return nil, fmt.Errorf("%w: its schedule has no run in the future", ErrCampaignState)
	}
	if changed, err := m.Store.SetCampaignState(ctx, id, []store.CampaignStatus{store.CampaignDraft}, store.CampaignScheduled, &next); err != nil {
		return nil, err
	} else if !changed {
		return nil, fmt.Errorf("%w: only a draft can be scheduled (it is %s)", ErrCampaignState, c.Status)
	}
	return m.Store.GetCampaign(ctx, id)
}

// Pause stops new sends and the fan-out; what is queued waits, deferred.
// A campaign whose last run is out but whose deliveries still wait (for
// their send window, a drip day) is running, so it can be paused too.
func (m *Campaigns) Pause(ctx context.Context, id string) (*store.Campaign, error) {
	c, err := m.Store.GetCampaign(ctx, id)
	if err != nil {
		return nil, err
	}
	changed, err := m.Store.SetCampaignState(ctx, id,
		[]store.CampaignStatus{store.CampaignScheduled, store.CampaignRunning}, store.CampaignPaused, c.NextRunAt)
	if err != nil {
		return nil, err
	}
	if !changed {
		return nil, fmt.Errorf("%w: only a scheduled or running campaign can be paused (it is %s)", ErrCampaignState, c.Status)
	}
	return m.Store.GetCampaign(ctx, id)
}

// Resume continues a paused campaign: unfinished runs go on from their
// cursor, and a sweep task queues again the deliveries the pause held. A
// run that fell due while paused starts now, once however many due dates
// the pause spanned (see Fanout.Start).
func (m *Campaigns) Resume(ctx context.Context, id string) (*store.Campaign, error) {
	c, err := m.Store.GetCampaign(ctx, id)
	if err != nil {
		return nil, err
	}
	to := store.CampaignScheduled
	if c.Runs > 0 {
		to = store.CampaignRunning
	}
	changed, err := m.Store.SetCampaignState(ctx, id, []store.CampaignStatus{store.CampaignPaused}, to, c.NextRunAt)
	if err != nil {
		return nil, err
	}
	if !changed {
		return nil, fmt.Errorf("%w: only a paused campaign can be resumed (it is %s)", ErrCampaignState, c.Status)
	}
	runs, err := m.Store.ListRuns(ctx, id)
	if err != nil {
		return nil, err
	}
	f := &Fanout{Client: m.Client}
	for _, r := range runs {
		if r.Status == "fanning_out" {
			if err := f.queuePage(ctx, r.ID, r.Cursor); err != nil {
				return nil, fmt.Errorf("campaign resumed, but its fan-out was not queued: %w", err)
			}
		}
	}
	if err := m.queueSweep(ctx, SweepCampaign{CampaignID: id, Action: SweepResume}); err != nil {
		// The recoverer queues held deliveries of a running campaign
		// once they are past their send time and its grace.
		return nil, fmt.Errorf("campaign resumed, but queuing its held deliveries was not: %w", err)
	}
	return m.Store.GetCampaign(ctx, id)
}

// Cancel ends a campaign: no further run, and nothing not yet sent goes
// out. The status alone stops every send and page at once; a sweep task
// then marks what was queued or deferred suppressed, "campaign
// cancelled".
func (m *Campaigns) Cancel(ctx context.Context, id string) (*store.Campaign, error) {
	c, err := m.Store.GetCampaign(ctx, id)
	if err != nil {
		return nil, err
	}
	changed, err := m.Store.SetCampaignState(ctx, id, []store.CampaignStatus{store.CampaignDraft, store.CampaignScheduled,
		store.CampaignRunning, store.CampaignPaused}, store.CampaignCancelled, nil)
	if err != nil {
		return nil, err
	}
	if !changed {
		return nil, fmt.Errorf("%w: the campaign is already %s", ErrCampaignState, c.Status)
	}
	if err := m.queueSweep(ctx, SweepCampaign{CampaignID: id, Action: SweepCancel}); err != nil {
		// Nothing goes out anyway: every send re-reads the status and
		// suppresses its delivery.
		return nil, fmt.Errorf("campaign cancelled, but sweeping its deliveries was not queued: %w", err)
	}
	return m.Store.GetCampaign(ctx, id)
}

func (m *Campaigns) queueSweep(ctx context.Context, args SweepCampaign) error {
	// No task ID: a sweep twice over is harmless (a cancel changes only
	// what is still pending, a resume's enqueues have task IDs), and a
	// second resume must not be dropped while the first one's task is
	// still there.
	return m.Client.Enqueue(ctx, args, asynq.Queue(QueueCampaigns), asynq.MaxRetry(m.Client.maxRetry))
}

// Sweep carries out a SweepCampaign. As a task it goes on through pages
// for Budget and then hands on to a new task; a direct call goes to the
// end. A sweep whose campaign has moved on meanwhile (paused again,
// cancelled) stops.
func (m *Campaigns) Sweep(ctx context.Context, args SweepCampaign) error {
	budget := m.Budget
	if budget == 0 {
		budget = DefaultFanoutBudget
	}
	_, inTask := asynq.GetTaskID(ctx)
	deadline := time.Now().Add(budget)
	out := func() bool { return inTask && time.Now().After(deadline) }
	c, err := m.Store.GetCampaign(ctx, args.CampaignID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	switch args.Action {
	case SweepCancel:
		if c.Status != store.CampaignCancelled {
			return nil
		}
		// The runs first: a page being planned now commits nothing
		// (CommitRunPage), so no delivery lands after the sweep.
		runs, err := m.Store.ListRuns(ctx, c.ID)
		if err != nil {
			return err
		}
		for _, r := range runs {
			if r.Status == "fanning_out" {
				if err := m.Store.FinishRun(ctx, r.ID, "cancelled"); err != nil {
					return err
				}
			}
		}
		for {
			n, err := m.Store.SuppressPending(ctx, c.ID, reasonCancelled, cancelPage)
			if err != nil {
				return err
			}
			if n < cancelPage {
				return nil
			}
			if out() {
				return m.queueSweep(ctx, args)
			}
		}
	case SweepResume:
		for {
			if c.Status != store.CampaignRunning && c.Status != store.CampaignScheduled {
				return nil
			}
			held, err := m.Store.HeldDeliveries(ctx, c.ID, reasonPaused, args.After, resumePage)
			if err != nil {
				return err
			}
			if err := m.Client.ScheduleDeliveries(ctx, held); err != nil {
				return err // retried from args.After; the task IDs keep what was queued from going twice
			}
			if len(held) < resumePage {
				return nil
			}
			args.After = held[len(held)-1].ID
			if out() {
				return m.queueSweep(ctx, args)
			}
			if c, err = m.Store.GetCampaign(ctx, c.ID); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("campaign sweep: unknown action %q: %w", args.Action, asynq.SkipRetry)
}
