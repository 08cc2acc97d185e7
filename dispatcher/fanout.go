package dispatcher

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/npsgate/npsgate/audience"
	"github.com/npsgate/npsgate/internal/zone"
	"github.com/npsgate/npsgate/store"
)

// Fanout turns campaign runs into deliveries, a page of contacts at a
// time: each page is read, filtered, written in one transaction with the
// run's cursor, and queued. One task goes through pages for a couple of
// seconds, then the next page is a task of its own. Memory stays a few
// pages whatever the audience size, and a crash repeats at most one page,
// whose deliveries have fixed IDs and are not written twice.
type Fanout struct {
	Store  *store.Store
	Client *Client
	Links  Links
	Logger *slog.Logger
	// PageSize is how many contacts a page reads. Default 1000.
	PageSize int
	// ReplyWindow is how long a campaign survey's link works. Default 30
	// days.
	ReplyWindow time.Duration
	// Budget is how long one fan-out task goes on through pages before it
	// queues the next page as a new task. Default DefaultFanoutBudget.
	Budget time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

func (f *Fanout) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// Start records the run and queues its first page.
func (f *Fanout) Start(ctx context.Context, args StartRun) error {
	c, err := f.Store.GetCampaign(ctx, args.CampaignID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if c.Status != store.CampaignScheduled && c.Status != store.CampaignRunning {
		return nil
	}
	if args.Number != c.Runs+1 {
		return nil // started already, by this task's earlier attempt or another scheduler
	}
	// The next run is the first after now, not after the run due: runs
	// missed by a pause over several due dates, or by schedulers that were
	// down, become this one run instead of firing back to back.
	from := args.At
	if now := f.now(); now.After(from) {
		from = now
	}
	var next *time.Time
	if t, ok := c.Schedule.Next(from); ok {
		next = &t
	}
	run, created, err := f.Store.StartRun(ctx, c, args.Number, args.At, next)
	if err != nil {
		return err
	}
	if !created {
		return nil
	}
	f.Logger.Info("campaign run started", "campaign_id", c.ID, "run", run.Number)
	return f.queuePage(ctx, run.ID, "")
}

func (f *Fanout) queuePage(ctx context.Context, runID, cursor string) error {
	sum := sha256.Sum256([]byte(cursor))
	return f.Client.Enqueue(ctx, FanoutPage{RunID: runID},
		asynq.TaskID("fanout:"+runID+":"+hex.EncodeToString(sum[:8])),
		asynq.Queue(QueueCampaigns), asynq.MaxRetry(f.Client.maxRetry))
}

// deliveryNamespace makes campaign delivery IDs a function of run and
// contact, so a repeated page cannot survey anyone twice.
var deliveryNamespace = uuid.MustParse("6d1f6a52-1f0e-4a4b-9d0c-8f1a2b3c4d5e")

// DefaultFanoutBudget is how long one fan-out task goes on through pages
// before it hands the run on to a new task.
const DefaultFanoutBudget = 2 * time.Second

// queuingPages is how many pages' sends may be on their way to Redis at
// once: a page commits while the page before it is still being queued.
// A crash or a failed enqueue then leaves at most that many pages of rows
// without tasks, for the recoverer.
const queuingPages = 2

// Page fans out a run from its cursor. As a task it goes on through
// pages for Budget, so that the worker does not wait a poll interval
// between pages; a direct call (no task) does one page. Every page is
// read, filtered and committed as before, re-reading the campaign first,
// so a pause or cancel stops it between pages. A page's sends are queued
// in the background while the next page is read and committed, but a page
// commits (moves the cursor) only once the sends of the page before the
// previous one are all in Redis. An enqueue that fails fails the task, so
// asynq retries it from the cursor; the rows whose sends were lost stay
// queued in the store, where the recoverer finds them.
func (f *Fanout) Page(ctx context.Context, args FanoutPage) error {
	budget := f.Budget
	if budget == 0 {
		budget = DefaultFanoutBudget
	}
	_, inTask := asynq.GetTaskID(ctx)
	deadline := time.Now().Add(budget)

	var queuing []chan error // pages' sends on their way, oldest first
	// waitUntil waits until at most n pages' sends are on their way and
	// returns the first error of those it waited for.
	waitUntil := func(n int) error {
		var first error
		for len(queuing) > n {
			if err := <-queuing[0]; err != nil && first == nil {
				first = err
			}
			queuing = queuing[1:]
		}
		return first
	}
	defer func() { _ = waitUntil(0) }() // never leave the enqueues behind

	for {
		p, err := f.planPage(ctx, args.RunID)
		if err != nil {
			return err
		}
		if p.stop != nil {
			if err := waitUntil(0); err != nil {
				return err
			}
			return p.stop()
		}
		if err := waitUntil(queuingPages - 1); err != nil {
			return err
		}
		inserted, committed, err := f.Store.CommitRunPage(ctx, store.RunPage{RunID: p.run.ID, From: p.run.Cursor,
			Cursor: p.cursor, Deliveries: p.deliveries, Caps: p.caps, Skipped: p.skipped})
		if err != nil {
			return err
		}
		// Not committed: the run was cancelled, or another task did this
		// page; the next plan reads where the run is now.
		if committed {
			ch := make(chan error, 1)
			go func() { ch <- f.Client.ScheduleDeliveries(ctx, inserted) }()
			queuing = append(queuing, ch)
			if p.last {
				if err := waitUntil(0); err != nil {
					return err
				}
				return f.finish(ctx, p.campaign, p.run)
			}
		}
		if !inTask || time.Now().After(deadline) {
			if err := waitUntil(0); err != nil {
				return err
			}
			return f.queuePage(ctx, p.run.ID, p.cursor)
		}
	}
}

// pagePlan is one page of a run, read and turned into deliveries but not
// yet written; or, with stop set, what to do instead.
type pagePlan struct {
	run        *store.CampaignRun
	campaign   *store.Campaign
	cursor     string
	deliveries []*store.Delivery
	caps       map[[2]string]int
	skipped    map[string]int // the audience left out, by reason
	last       bool           // the page is the run's last
	stop       func() error
}

// planPage reads the run's next page and builds its deliveries.
func (f *Fanout) planPage(ctx context.Context, runID string) (*pagePlan, error) {
	done := func() error { return nil }
	run, err := f.Store.GetRun(ctx, runID)
	if errors.Is(err, store.ErrNotFound) {
		return &pagePlan{stop: done}, nil
	}
	if err != nil {
		return nil, err
	}
	if run.Status != "fanning_out" {
		return &pagePlan{stop: done}, nil
	}
	c, err := f.Store.GetCampaign(ctx, run.CampaignID)
	if err != nil {
		return nil, err
	}
	switch c.Status {
	case store.CampaignPaused:
		return &pagePlan{stop: done}, nil // resume queues this page again
	case store.CampaignCancelled:
		return &pagePlan{stop: func() error { return f.Store.FinishRun(ctx, run.ID, "cancelled") }}, nil
	}
	sv, err := f.Store.GetSurvey(ctx, c.SurveyKey)
	if err != nil {
		return nil, err
	}
	filter, err := audience.Parse(c.Audience)
	if err != nil {
		return nil, fmt.Errorf("campaign %s audience: %v: %w", c.ID, err, asynq.SkipRetry)
	}
	size := f.PageSize
	if size == 0 {
		size = 1000
	}
	page, err := f.Store.ContactsPage(ctx, run.Cursor, size)
	if err != nil {
		return nil, err
	}
	if len(page) == 0 {
		return &pagePlan{stop: func() error { return f.finish(ctx, c, run) }}, nil
	}

	channels := c.Channels
	if len(channels) == 0 {
		channels = sv.Channels
	}
	// Every contact of the run's audience (and slice) is either planned
	// or counted as skipped, so the campaign's counts add up. One without
	// an address on any channel is skipped before the per-account cap,
	// so that it does not take the place of a colleague who can be
	// reached.
	skipped := map[string]int{}
	var picked []*store.Contact
	routes := map[string][2]string{} // external ID → channel, address
	for _, ct := range page {
		if !filter.Match(ct) {
			continue
		}
		if c.Sampling > 1 && !audience.InSlice(c.ID, ct.ExternalID, run.Number-1, c.Sampling) {
			continue
		}
		if ct.OptedOutAt != nil {
			skipped[SkipOptedOut]++
			continue
		}
		ch, addr := chooseChannel(ct, channels, "")
		if ch == "" {
			skipped[SkipNoAddress]++
			continue
		}
		routes[ct.ExternalID] = [2]string{ch, addr}
		picked = append(picked, ct)
	}
	audienceSize := len(picked)
	picked, caps, err := f.applyCap(ctx, c, run, picked)
	if err != nil {
		return nil, err
	}
	skipped[SkipAccountCap] += audienceSize - len(picked)
	window := f.ReplyWindow
	if sv.ReplyWindow > 0 {
		window = sv.ReplyWindow
	}
	if window == 0 {
		window = 30 * 24 * time.Hour
	}
	now := f.now()
	runNumber := strconv.Itoa(run.Number)
	ds := make([]*store.Delivery, 0, len(picked))
	for _, ct := range picked {
		ch, addr := routes[ct.ExternalID][0], routes[ct.ExternalID][1]
		loc := contactLocation(ct, c.Schedule.TimeZone)
		sendAt := c.SendWindow.Next(now, loc)
		if c.Drip.On() {
			// Spread over the drip's days by run order (a daily cap) or by
			// contact, from the run's scheduled time: a repeated page gives
			// the same times.
			sendAt = c.Drip.SendAt(run.ScheduledFor, run.Planned+len(ds), ct.ExternalID, loc)
		}
		locale := ct.Locale
		if locale == "" {
			locale = "en"
		}
		ds = append(ds, &store.Delivery{
			ID:        uuid.NewSHA1(deliveryNamespace, []byte(run.ID+"\x00"+ct.ExternalID)).String(),
			SurveyKey: sv.Key, ContactID: ct.ExternalID, Channel: ch, Address: addr, Locale: locale,
			Token: NewToken(), Status: store.StatusQueued, Source: "campaign",
			Metadata: map[string]string{"campaign": c.ID, "run": runNumber},
			SendAt:   sendAt, ExpiresAt: sendAt.Add(window), CampaignID: c.ID, RunID: run.ID,
		})
	}
	return &pagePlan{run: run, campaign: c, cursor: page[len(page)-1].ExternalID, deliveries: ds, caps: caps,
		skipped: skipped, last: len(page) < size}, nil
}

// applyCap keeps at most PerAccountRole contacts per account and role in
// the run, counting what earlier pages took.
func (f *Fanout) applyCap(ctx context.Context, c *store.Campaign, run *store.CampaignRun, picked []*store.Contact) ([]*store.Contact, map[[2]string]int, error) {
	if c.PerAccountRole <= 0 {
		return picked, nil, nil
	}
	seen := map[string]bool{}
	var accounts []string
	for _, ct := range picked {
		if ct.Account != "" && !seen[ct.Account] {
			seen[ct.Account] = true
			accounts = append(accounts, ct.Account)
		}
	}
	counts, err := f.Store.RunCaps(ctx, run.ID, accounts)
	if err != nil {
		return nil, nil, err
	}
	changed := map[[2]string]int{}
	out := picked[:0]
	for _, ct := range picked {
		if ct.Account == "" {
			// Contacts without an account (B2C) are not capped.
			out = append(out, ct)
			continue
		}
		k := [2]string{ct.Account, ct.Role}
		if counts[k] >= c.PerAccountRole {
			continue
		}
		counts[k]++
		changed[k] = counts[k]
		out = append(out, ct)
	}
	return out, changed, nil
}

// Why a fan-out leaves a contact of the audience out, in the run's
// skipped counts.
const (
	SkipOptedOut   = "opted_out"
	SkipNoAddress  = "no_address"
	SkipAccountCap = "account_cap"
)

func (f *Fanout) finish(ctx context.Context, c *store.Campaign, run *store.CampaignRun) error {
	if err := f.Store.FinishRun(ctx, run.ID, "done"); err != nil {
		return err
	}
	f.Logger.Info("campaign run fanned out", "campaign_id", c.ID, "run", run.Number)
	// A campaign with no next run is complete once its last run is out
	// and none of its deliveries waits any more (for a send window, a
	// drip day): usually not yet. Until then it is running, and can be
	// paused or cancelled; the recoverer's sweeps and a read of the
	// campaign look again.
	_, err := f.Store.CompleteCampaigns(ctx, c.ID)
	return err
}

// Sweep runs a SweepCampaign task: see Campaigns.Sweep.
func (f *Fanout) Sweep(ctx context.Context, args SweepCampaign) error {
	m := &Campaigns{Store: f.Store, Client: f.Client, Now: f.Now, Budget: f.Budget}
	return m.Sweep(ctx, args)
}

// chooseChannel picks the contact's preferred channel (attribute
// "preferred_channel") when the campaign offers it, else the first of the
// order on which the contact has an address, skipping except.
func chooseChannel(ct *store.Contact, order []string, except string) (string, string) {
	if p := ct.Attributes["preferred_channel"]; p != "" && p != except {
		for _, ch := range order {
			if ch == p {
				if addr := AddressFor(ch, ct); addr != "" {
					return ch, addr
				}
			}
		}
	}
	for _, ch := range order {
		if ch == except {
			continue
		}
		if addr := AddressFor(ch, ct); addr != "" {
			return ch, addr
		}
	}
	return "", ""
}

// AddressFor is where a contact is reached on a channel: its email, its
// phone (SMS, WhatsApp), or for a chat channel the group webhook in the
// attribute "<channel>_webhook".
func AddressFor(channel string, c *store.Contact) string {
	switch channel {
	case "email":
		return c.Email
	case "sms", "whatsapp":
		return c.Phone
	}
	return c.Attributes[channel+"_webhook"]
}

// contactLocation is the contact's time zone, else the campaign's, else UTC.
func contactLocation(ct *store.Contact, fallback string) *time.Location {
	for _, name := range []string{ct.TimeZone, fallback} {
		if name == "" {
			continue
		}
		if l := loadLocation(name); l != nil {
			return l
		}
	}
	return time.UTC
}

// loadLocation is a contact's zone, nil when its name does not load;
// zone.Load remembers it, since a fan-out asks for every contact.
func loadLocation(name string) *time.Location {
	l, err := zone.Load(name)
	if err != nil {
		return nil
	}
	return l
}
