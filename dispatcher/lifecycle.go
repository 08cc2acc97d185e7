package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/npsgate/npsgate/store"
)

// ErrCampaignState is returned when a campaign cannot make a move from its
// current status (resuming a running campaign, scheduling a cancelled one).
var ErrCampaignState = errors.New("campaign cannot do that now")

// Campaigns moves campaigns through their lifecycle. Each move takes
// effect within seconds even mid-run: the status is read by every page of
// the fan-out and by every send.
type Campaigns struct {
	Store  *store.Store
	Client *Client
	// Now is the clock; nil is time.Now.
	Now func() time.Time
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

// Resume continues a paused campaign: held deliveries are queued again
// and unfinished runs go on from their cursor. A run that fell due while
// paused starts now.
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
				return nil, err
			}
		}
	}
	after := ""
	for {
		held, err := m.Store.CampaignDeliveries(ctx, id, store.StatusDeferred, after, 500)
		if err != nil {
			return nil, err
		}
		for _, d := range held {
			if err := m.Client.ScheduleDelivery(ctx, d); err != nil {
				return nil, err
			}
		}
		if len(held) < 500 {
			break
		}
		after = held[len(held)-1].ID
	}
	return m.Store.GetCampaign(ctx, id)
}

// Cancel ends a campaign: no further run, and nothing not yet sent goes
// out (those deliveries end suppressed, "campaign cancelled").
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
	for _, st := range []store.DeliveryStatus{store.StatusQueued, store.StatusDeferred} {
		after := ""
		for {
			list, err := m.Store.CampaignDeliveries(ctx, id, st, after, 500)
			if err != nil {
				return nil, err
			}
			for _, d := range list {
				if _, err := m.Store.Transition(ctx, d.ID, []store.DeliveryStatus{st}, store.StatusSuppressed,
					store.Update{Reason: "campaign cancelled"}); err != nil {
					return nil, err
				}
			}
			if len(list) < 500 {
				break
			}
			after = list[len(list)-1].ID
		}
	}
	return m.Store.GetCampaign(ctx, id)
}
