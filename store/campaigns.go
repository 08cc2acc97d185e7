package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/npsgate/npsgate/campaign"
)

// CampaignStatus is a campaign's place in its lifecycle: draft → scheduled
// → running → completed, with paused and cancelled on the side.
type CampaignStatus string

const (
	CampaignDraft     CampaignStatus = "draft"
	CampaignScheduled CampaignStatus = "scheduled"
	CampaignRunning   CampaignStatus = "running"
	CampaignPaused    CampaignStatus = "paused"
	CampaignCompleted CampaignStatus = "completed"
	CampaignCancelled CampaignStatus = "cancelled"
)

// Campaign is relationship NPS: a survey to an audience on a schedule.
type Campaign struct {
	ID        string
	Name      string
	SurveyKey string
	// Audience is an audience filter expression ("" = every contact).
	Audience string
	// PerAccountRole caps contacts per account and role in each run; 0 =
	// no cap.
	PerAccountRole int
	// Channels is the order tried when a contact has no preferred one.
	Channels   []string
	Schedule   campaign.Schedule
	SendWindow campaign.Window
	// Sampling k > 1 surveys 1/k of the audience per run, so that every
	// contact is reached once per k runs.
	Sampling int
	// Drip spreads each run over days instead of sending it at once.
	Drip      campaign.Drip
	Status    CampaignStatus
	Runs      int
	NextRunAt *time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

// CampaignRun is one run of a campaign; its fan-out reads the contacts in
// pages, and Cursor is the last contact a committed page covered.
type CampaignRun struct {
	ID           string
	CampaignID   string
	Number       int
	ScheduledFor time.Time
	Status       string // fanning_out, done, cancelled
	Cursor       string
	Planned      int
	StartedAt    time.Time
	FinishedAt   *time.Time
}

const campaignColumns = `id, name, survey_key, audience, per_account_role, channels, schedule, send_window, sampling,
	status, runs, next_run_at, created_at, updated_at, drip`

// SaveCampaign inserts the campaign or replaces its definition (not its
// status, runs or next run, which only the lifecycle methods change).
func (s *Store) SaveCampaign(ctx context.Context, c *Campaign) error {
	op := fmt.Sprintf("save campaign %q", c.ID)
	ch, err := jsonArg(c.Channels, "[]")
	if err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	sched, err := jsonArg(c.Schedule, "{}")
	if err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	win, err := jsonArg(c.SendWindow, "{}")
	if err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	drip, err := jsonArg(c.Drip, "{}")
	if err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	if c.Status == "" {
		c.Status = CampaignDraft
	}
	if c.Sampling < 1 {
		c.Sampling = 1
	}
	now := s.now()
	var created time.Time
	err = s.q.QueryRowContext(ctx, `INSERT INTO campaigns (`+campaignColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, NULL, $11, $11, $12)
		ON CONFLICT (id) DO UPDATE SET name = $2, survey_key = $3, audience = $4, per_account_role = $5,
			channels = $6, schedule = $7, send_window = $8, sampling = $9, updated_at = $11, drip = $12
		RETURNING created_at`,
		c.ID, c.Name, c.SurveyKey, c.Audience, c.PerAccountRole, ch, sched, win, c.Sampling, string(c.Status), s.ts(now), drip,
	).Scan(timeCol{&created})
	if err != nil {
		return wrapErr(op, err)
	}
	c.CreatedAt, c.UpdatedAt = created, now
	return nil
}

// GetCampaign returns the campaign with id, or ErrNotFound.
func (s *Store) GetCampaign(ctx context.Context, id string) (*Campaign, error) {
	c, err := scanCampaign(s.q.QueryRowContext(ctx, `SELECT `+campaignColumns+` FROM campaigns WHERE id = $1`, id))
	return c, wrapErr(fmt.Sprintf("get campaign %q", id), err)
}

// ListCampaigns returns every campaign, newest first.
func (s *Store) ListCampaigns(ctx context.Context) ([]*Campaign, error) {
	return s.campaigns(ctx, `ORDER BY created_at DESC, id`)
}

// DueCampaigns returns scheduled or running campaigns whose next run is at
// or before now.
func (s *Store) DueCampaigns(ctx context.Context, now time.Time) ([]*Campaign, error) {
	return s.campaigns(ctx, `WHERE status IN ('scheduled', 'running') AND next_run_at IS NOT NULL AND next_run_at <= $1
		ORDER BY next_run_at LIMIT 100`, s.ts(now))
}

func (s *Store) campaigns(ctx context.Context, tail string, args ...any) ([]*Campaign, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+campaignColumns+` FROM campaigns `+tail, args...)
	if err != nil {
		return nil, wrapErr("list campaigns", err)
	}
	defer rows.Close()
	var out []*Campaign
	for rows.Next() {
		c, err := scanCampaign(rows)
		if err != nil {
			return nil, wrapErr("list campaigns", err)
		}
		out = append(out, c)
	}
	return out, wrapErr("list campaigns", rows.Err())
}

// SetCampaignState moves a campaign to status if its status is one of
// from, and sets its next run (nil clears it); changed is false when the
// status did not match.
func (s *Store) SetCampaignState(ctx context.Context, id string, from []CampaignStatus, to CampaignStatus, next *time.Time) (bool, error) {
	var a args
	in := make([]string, len(from))
	for i, f := range from {
		in[i] = a.add(string(f))
	}
	var nextArg any
	if next != nil {
		nextArg = s.ts(*next)
	}
	q := `UPDATE campaigns SET status = ` + a.add(string(to)) + `, next_run_at = ` + a.add(nextArg) +
		`, updated_at = ` + a.add(s.ts(s.now())) + ` WHERE id = ` + a.add(id) + ` AND status IN (` + strings.Join(in, ", ") + `)`
	res, err := s.q.ExecContext(ctx, q, a...)
	if err != nil {
		return false, wrapErr("set campaign state", err)
	}
	n, err := res.RowsAffected()
	return n == 1, wrapErr("set campaign state", err)
}

// StartRun records run number n of a campaign scheduled for at, and moves
// the campaign's next run to next (nil: no more runs). created is false
// when that run exists: another scheduler started it.
func (s *Store) StartRun(ctx context.Context, c *Campaign, n int, at time.Time, next *time.Time) (*CampaignRun, bool, error) {
	run := &CampaignRun{ID: fmt.Sprintf("%s-r%d", c.ID, n), CampaignID: c.ID, Number: n, ScheduledFor: utc(at),
		Status: "fanning_out", StartedAt: s.now()}
	created := false
	err := s.InTx(ctx, func(tx *Store) error {
		res, err := tx.q.ExecContext(ctx, `INSERT INTO campaign_runs (id, campaign_id, number, scheduled_for, status, started_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`,
			run.ID, run.CampaignID, run.Number, tx.ts(run.ScheduledFor), run.Status, tx.ts(run.StartedAt))
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return nil
		}
		created = true
		var nextArg any
		if next != nil {
			nextArg = tx.ts(*next)
		}
		_, err = tx.q.ExecContext(ctx, `UPDATE campaigns SET runs = $1, next_run_at = $2, updated_at = $3,
			status = CASE WHEN status = 'scheduled' THEN 'running' ELSE status END WHERE id = $4`,
			n, nextArg, tx.ts(run.StartedAt), c.ID)
		return err
	})
	if err != nil {
		return nil, false, wrapErr("start run", err)
	}
	if !created {
		got, err := s.GetRun(ctx, run.ID)
		return got, false, err
	}
	return run, true, nil
}

const runColumns = `id, campaign_id, number, scheduled_for, status, cursor, planned, started_at, finished_at`

// GetRun returns the run with id, or ErrNotFound.
func (s *Store) GetRun(ctx context.Context, id string) (*CampaignRun, error) {
	r, err := scanRun(s.q.QueryRowContext(ctx, `SELECT `+runColumns+` FROM campaign_runs WHERE id = $1`, id))
	return r, wrapErr(fmt.Sprintf("get run %q", id), err)
}

// ListRuns returns a campaign's runs, newest first.
func (s *Store) ListRuns(ctx context.Context, campaignID string) ([]*CampaignRun, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+runColumns+` FROM campaign_runs WHERE campaign_id = $1 ORDER BY number DESC`, campaignID)
	if err != nil {
		return nil, wrapErr("list runs", err)
	}
	defer rows.Close()
	var out []*CampaignRun
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, wrapErr("list runs", err)
		}
		out = append(out, r)
	}
	return out, wrapErr("list runs", rows.Err())
}

// FinishRun ends a run with status.
func (s *Store) FinishRun(ctx context.Context, id, status string) error {
	_, err := s.q.ExecContext(ctx, `UPDATE campaign_runs SET status = $1, finished_at = $2 WHERE id = $3 AND finished_at IS NULL`,
		status, s.ts(s.now()), id)
	return wrapErr("finish run", err)
}

// CommitPage writes one page of a run's fan-out in one transaction: the
// deliveries (an ID that exists is skipped, so a page done twice writes
// nothing twice), the per-account caps, and the cursor. It returns the
// deliveries actually inserted. The fan-out itself uses CommitRunPage,
// which also guards the run's cursor and status.
func (s *Store) CommitPage(ctx context.Context, runID, cursor string, ds []*Delivery, caps map[[2]string]int) ([]*Delivery, error) {
	var inserted []*Delivery
	err := s.InTx(ctx, func(tx *Store) error {
		var err error
		inserted, err = tx.commitPage(ctx, RunPage{RunID: runID, Cursor: cursor, Deliveries: ds, Caps: caps})
		return err
	})
	return inserted, wrapErr("commit page", err)
}

// RunPage is one page of a run's fan-out, read from the contacts after
// From up to Cursor.
type RunPage struct {
	RunID, From, Cursor string
	Deliveries          []*Delivery
	// Caps are the run's new per-account-and-role counts.
	Caps map[[2]string]int
	// Skipped counts the page's audience left out, by reason (opted_out,
	// no_address, account_cap).
	Skipped map[string]int
}

// CommitRunPage writes a page like CommitPage, and its skipped counts, but
// only while the run is fanning out from p.From: committed is false, and
// nothing is written, when the run was cancelled meanwhile or another task
// committed this page first (a resume can queue a page whose earlier task
// is still running), so nothing is counted twice and a cancelled run gets
// no deliveries after the cancel swept it.
func (s *Store) CommitRunPage(ctx context.Context, p RunPage) (inserted []*Delivery, committed bool, err error) {
	err = s.InTx(ctx, func(tx *Store) error {
		// First, so that on PostgreSQL the run's row lock orders this page
		// against a concurrent commit or cancel.
		res, err := tx.q.ExecContext(ctx, `UPDATE campaign_runs SET cursor = $1
			WHERE id = $2 AND cursor = $3 AND status = 'fanning_out'`, p.Cursor, p.RunID, p.From)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		committed = true
		if inserted, err = tx.commitPage(ctx, p); err != nil {
			return err
		}
		for reason, n := range p.Skipped {
			if n == 0 {
				continue
			}
			if _, err := tx.q.ExecContext(ctx, `INSERT INTO campaign_run_skips (run_id, reason, n) VALUES ($1, $2, $3)
				ON CONFLICT (run_id, reason) DO UPDATE SET n = campaign_run_skips.n + excluded.n`, p.RunID, reason, n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, wrapErr("commit page", err)
	}
	return inserted, committed, nil
}

func (s *Store) commitPage(ctx context.Context, p RunPage) ([]*Delivery, error) {
	inserted, err := s.insertDeliveries(ctx, p.Deliveries)
	if err != nil {
		return nil, err
	}
	for k, n := range p.Caps {
		if _, err := s.q.ExecContext(ctx, `INSERT INTO campaign_run_caps (run_id, account, role, n) VALUES ($1, $2, $3, $4)
			ON CONFLICT (run_id, account, role) DO UPDATE SET n = $4`, p.RunID, k[0], k[1], n); err != nil {
			return nil, err
		}
	}
	_, err = s.q.ExecContext(ctx, `UPDATE campaign_runs SET cursor = $1, planned = planned + $2 WHERE id = $3`,
		p.Cursor, len(inserted), p.RunID)
	return inserted, err
}

// CampaignSkips returns, by run ID, how many of each run's audience its
// fan-out left out, by reason.
func (s *Store) CampaignSkips(ctx context.Context, campaignID string) (map[string]map[string]int, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT k.run_id, k.reason, k.n FROM campaign_run_skips k
		JOIN campaign_runs r ON r.id = k.run_id WHERE r.campaign_id = $1`, campaignID)
	if err != nil {
		return nil, wrapErr("campaign skips", err)
	}
	defer rows.Close()
	out := map[string]map[string]int{}
	for rows.Next() {
		var (
			run, reason string
			n           int
		)
		if err := rows.Scan(&run, &reason, &n); err != nil {
			return nil, wrapErr("campaign skips", err)
		}
		if out[run] == nil {
			out[run] = map[string]int{}
		}
		out[run][reason] = n
	}
	return out, wrapErr("campaign skips", rows.Err())
}

// pendingStatuses are the statuses of a delivery that may still go out.
const pendingStatuses = `('queued', 'deferred', 'sending')`

// CompleteCampaigns settles the status of campaigns whose runs are all
// out: the ones given, or all when none is. It moves to completed the
// running campaigns with no next run, no run still fanning out and no
// delivery still queued, deferred or sending, and returns the IDs it
// moved. Pending counts every delivery of the campaign: its surveys (of a
// run or a fallback) and their reminders, which go out days after their
// survey, so that a campaign with reminders still due stays running and
// can still be paused or cancelled (which holds or drops them too).
//
// It first moves back to running a completed campaign that has something
// pending again: a reminder or a fallback written the moment its last
// survey went out, after this sweep found nothing pending. The sender
// does the same at once when it plans reminders (see dispatcher's
// planReminders); this catches what a race between the two left.
func (s *Store) CompleteCampaigns(ctx context.Context, ids ...string) ([]string, error) {
	if _, err := s.ReopenCampaigns(ctx, ids...); err != nil {
		return nil, err
	}
	var a args
	q := `UPDATE campaigns SET status = 'completed', updated_at = ` + a.add(s.ts(s.now())) + `
		WHERE status = 'running' AND next_run_at IS NULL
		AND NOT EXISTS (SELECT 1 FROM campaign_runs r WHERE r.campaign_id = campaigns.id AND r.status = 'fanning_out')
		AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.campaign_id = campaigns.id AND d.status IN ` + pendingStatuses + `)` +
		campaignIDs(&a, ids)
	out, err := s.campaignIDList(ctx, q+` RETURNING id`, a)
	return out, wrapErr("complete campaigns", err)
}

// ReopenCampaigns moves back to running the completed campaigns (the ones
// given, or all when none is) that have a delivery queued, deferred or
// sending, and returns their IDs: completed means nothing of the campaign
// can go out any more, and a campaign that still sends must stay open to a
// pause or a cancel.
func (s *Store) ReopenCampaigns(ctx context.Context, ids ...string) ([]string, error) {
	var a args
	q := `UPDATE campaigns SET status = 'running', updated_at = ` + a.add(s.ts(s.now())) + `
		WHERE status = 'completed' AND next_run_at IS NULL
		AND EXISTS (SELECT 1 FROM deliveries d WHERE d.campaign_id = campaigns.id AND d.status IN ` + pendingStatuses + `)` +
		campaignIDs(&a, ids)
	out, err := s.campaignIDList(ctx, q+` RETURNING id`, a)
	return out, wrapErr("reopen campaigns", err)
}

// campaignIDs is the condition " AND id IN (…)" on ids, or "" for none.
func campaignIDs(a *args, ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	in := make([]string, len(ids))
	for i, id := range ids {
		in[i] = a.add(id)
	}
	return ` AND id IN (` + strings.Join(in, ", ") + `)`
}

// campaignIDList runs q and returns the first column of its rows.
func (s *Store) campaignIDList(ctx context.Context, q string, a args) ([]string, error) {
	rows, err := s.q.QueryContext(ctx, q, a...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// SuppressPending moves up to limit of a campaign's queued and deferred
// deliveries to suppressed with reason, with their events, in one
// transaction, and returns how many it moved: a cancel in pages, each a
// statement or two instead of a round trip per delivery, and none a
// transaction over the whole campaign. Sending deliveries are left to
// their attempt.
func (s *Store) SuppressPending(ctx context.Context, campaignID, reason string, limit int) (int, error) {
	if limit <= 0 {
		limit = 10000
	}
	now := s.ts(s.now())
	op := fmt.Sprintf("suppress pending deliveries of campaign %q", campaignID)
	pick := `UPDATE deliveries SET status = $1, reason = $2, updated_at = $3
		WHERE id IN (SELECT id FROM deliveries WHERE campaign_id = $4 AND status IN ('queued', 'deferred') LIMIT $5)
		AND status IN ('queued', 'deferred') RETURNING id`
	if s.d.name == postgresDialect.name {
		// One statement: the events are inserted from the rows the UPDATE
		// returns. A row a sender moves meanwhile is re-checked by the
		// UPDATE after its lock and left out.
		res, err := s.q.ExecContext(ctx, `WITH u AS (`+pick+`)
			INSERT INTO delivery_events (delivery_id, status, reason, at) SELECT id, $1, $2, $3 FROM u`,
			string(StatusSuppressed), reason, now, campaignID, limit)
		if err != nil {
			return 0, wrapErr(op, err)
		}
		n, err := res.RowsAffected()
		return int(n), wrapErr(op, err)
	}
	// SQLite has no UPDATE inside WITH; the IDs go back in as one JSON
	// argument rather than a placeholder each.
	n := 0
	err := s.InTx(ctx, func(tx *Store) error {
		rows, err := tx.q.QueryContext(ctx, pick, string(StatusSuppressed), reason, now, campaignID, limit)
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(ids) == 0 {
			return err
		}
		list, err := jsonArg(ids, "[]")
		if err != nil {
			return err
		}
		_, err = tx.q.ExecContext(ctx, `INSERT INTO delivery_events (delivery_id, status, reason, at)
			SELECT value, $1, $2, $3 FROM json_each($4)`, string(StatusSuppressed), reason, now, list)
		n = len(ids)
		return err
	})
	if err != nil {
		return 0, wrapErr(op, err)
	}
	return n, nil
}

// HeldDeliveries returns up to limit (at most 1000) of a campaign's
// deferred deliveries with reason, with IDs after after, by ID: what a
// pause held back, for resume to queue again.
func (s *Store) HeldDeliveries(ctx context.Context, campaignID, reason, after string, limit int) ([]*Delivery, error) {
	out, err := s.queryDeliveries(ctx, nil, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE campaign_id = $1 AND status = $2 AND reason = $3 AND id > $4 ORDER BY id LIMIT $5`,
		campaignID, string(StatusDeferred), reason, after, pageLimit(limit))
	return out, wrapErr("held deliveries", err)
}

// SendCursor is a place in the deliveries ordered by send time and ID.
type SendCursor struct {
	SendAt time.Time
	ID     string
}

// RecoverableDeliveries returns up to limit (at most 1000) deliveries in
// status due at or before before, after the cursor, by send time and ID,
// leaving out those of paused campaigns: a pause holds them on purpose
// and resume queues them, and queued again they would only be held again,
// taking the recoverer's whole page every sweep.
func (s *Store) RecoverableDeliveries(ctx context.Context, status DeliveryStatus, before time.Time, after SendCursor, limit int) ([]*Delivery, error) {
	out, err := s.queryDeliveries(ctx, nil, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE status = $1 AND send_at <= $2 AND (send_at > $3 OR (send_at = $3 AND id > $4))
		AND (campaign_id = '' OR NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.id = deliveries.campaign_id AND c.status = 'paused'))
		ORDER BY send_at, id LIMIT $5`,
		string(status), s.ts(before), s.ts(after.SendAt), after.ID, pageLimit(limit))
	return out, wrapErr(fmt.Sprintf("recoverable deliveries in %s", status), err)
}

// RunCaps returns the per-account-and-role counts of a run for accounts.
func (s *Store) RunCaps(ctx context.Context, runID string, accounts []string) (map[[2]string]int, error) {
	out := map[[2]string]int{}
	if len(accounts) == 0 {
		return out, nil
	}
	var a args
	run := a.add(runID)
	in := make([]string, len(accounts))
	for i, acc := range accounts {
		in[i] = a.add(acc)
	}
	rows, err := s.q.QueryContext(ctx, `SELECT account, role, n FROM campaign_run_caps WHERE run_id = `+run+
		` AND account IN (`+strings.Join(in, ", ")+`)`, a...)
	if err != nil {
		return nil, wrapErr("run caps", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			acc, role string
			n         int
		)
		if err := rows.Scan(&acc, &role, &n); err != nil {
			return nil, wrapErr("run caps", err)
		}
		out[[2]string{acc, role}] = n
	}
	return out, wrapErr("run caps", rows.Err())
}

// deliveryBulkRows is the rows of one statement of insertDeliveries: a
// 1,000-row statement writes twice as fast per row as 100-row ones, and
// 27 arguments a row keep it within both dialects' limits.
const deliveryBulkRows = 1000

// insertDeliveries writes many deliveries with one statement per chunk and
// their first events, skipping IDs that exist. On PostgreSQL a chunk and
// its events are one statement (the events are inserted from the rows the
// deliveries' INSERT returns); SQLite takes two.
func (s *Store) insertDeliveries(ctx context.Context, ds []*Delivery) ([]*Delivery, error) {
	const cols = 27
	chunk := max(1, min(deliveryBulkRows, s.maxBindParams()/cols-1))
	postgres := s.d.name == postgresDialect.name
	inserted := make([]*Delivery, 0, len(ds))
	now := s.now()
	nowArg := s.ts(now)
	for start := 0; start < len(ds); start += chunk {
		part := ds[start:min(start+chunk, len(ds))]
		head := `INSERT INTO deliveries (` + deliveryColumns + `) VALUES `
		if postgres {
			head = `WITH ins AS (` + head
		}
		v := s.newBulkValues(head, len(part), cols)
		byID := make(map[string]*Delivery, len(part))
		for _, d := range part {
			if d.Status == "" {
				d.Status = StatusQueued
			}
			d.CreatedAt, d.UpdatedAt = now, now
			if d.SendAt.IsZero() {
				d.SendAt = now
			}
			meta, err := jsonArg(d.Metadata, "{}")
			if err != nil {
				return nil, err
			}
			var exp any
			if !d.ExpiresAt.IsZero() {
				exp = s.ts(d.ExpiresAt)
			}
			v.row(d.ID, d.SurveyKey, d.ContactID, d.Channel, d.Address, d.Locale, d.Token, string(d.Status), d.Reason,
				"", nil, "", d.Source, meta, s.ts(d.SendAt), 0, exp, nowArg, nowArg, nil, nil, nil,
				d.CampaignID, d.RunID, d.ThrottleDays, d.ReminderOf, d.ReminderN)
			byID[d.ID] = d
		}
		var q string
		if postgres {
			v.args = append(v.args, nowArg)
			q = v.sql(` ON CONFLICT (id) DO NOTHING RETURNING id, status, reason),
				ev AS (INSERT INTO delivery_events (delivery_id, status, reason, at)
					SELECT id, status, reason, $` + strconv.Itoa(len(v.args)) + ` FROM ins)
				SELECT id FROM ins`)
		} else {
			q = v.sql(` ON CONFLICT (id) DO NOTHING RETURNING id`)
		}
		rows, err := s.q.QueryContext(ctx, q, v.args...)
		if err != nil {
			return nil, err
		}
		ids := make([]string, 0, len(part))
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		for _, id := range ids {
			inserted = append(inserted, byID[id])
		}
		if postgres || len(ids) == 0 {
			continue
		}
		ev := s.newBulkValues(`INSERT INTO delivery_events (delivery_id, status, reason, at) VALUES `, len(ids), 4)
		for _, id := range ids {
			d := byID[id]
			ev.row(id, string(d.Status), d.Reason, nowArg)
		}
		if _, err := s.q.ExecContext(ctx, ev.sql(""), ev.args...); err != nil {
			return nil, err
		}
	}
	return inserted, nil
}

// CampaignCounts counts a campaign's survey deliveries (reminders=false)
// or its reminders (true) by status, and the suppressed ones by reason.
func (s *Store) CampaignCounts(ctx context.Context, campaignID string, reminders ...bool) (map[DeliveryStatus]int, map[string]int, error) {
	byStatus := map[DeliveryStatus]int{}
	byReason := map[string]int{}
	which := "reminder_of = ''"
	if len(reminders) > 0 && reminders[0] {
		which = "reminder_of <> ''"
	}
	rows, err := s.q.QueryContext(ctx, `SELECT status, reason, COUNT(*) FROM deliveries WHERE campaign_id = $1 AND `+which+`
		GROUP BY status, reason`, campaignID)
	if err != nil {
		return nil, nil, wrapErr("campaign counts", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			st     DeliveryStatus
			reason string
			n      int
		)
		if err := rows.Scan(&st, &reason, &n); err != nil {
			return nil, nil, wrapErr("campaign counts", err)
		}
		byStatus[st] += n
		if st == StatusSuppressed {
			byReason[reason] += n
		}
	}
	return byStatus, byReason, wrapErr("campaign counts", rows.Err())
}

// CampaignDeliveries returns up to limit of a campaign's deliveries in
// status with IDs after after, by ID (for resume and cancel sweeps).
func (s *Store) CampaignDeliveries(ctx context.Context, campaignID string, status DeliveryStatus, after string, limit int) ([]*Delivery, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE campaign_id = $1 AND status = $2 AND id > $3 ORDER BY id LIMIT $4`, campaignID, string(status), after, pageLimit(limit))
	if err != nil {
		return nil, wrapErr("campaign deliveries", err)
	}
	defer rows.Close()
	var out []*Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, wrapErr("campaign deliveries", err)
		}
		out = append(out, d)
	}
	return out, wrapErr("campaign deliveries", rows.Err())
}

func scanCampaign(row scanner) (*Campaign, error) {
	var c Campaign
	err := row.Scan(&c.ID, &c.Name, &c.SurveyKey, &c.Audience, &c.PerAccountRole, jsonCol{&c.Channels},
		jsonCol{&c.Schedule}, jsonCol{&c.SendWindow}, &c.Sampling, &c.Status, &c.Runs, nullTimeCol{&c.NextRunAt},
		timeCol{&c.CreatedAt}, timeCol{&c.UpdatedAt}, jsonCol{&c.Drip})
	if err != nil {
		return nil, err
	}
	return &c, nil
}

func scanRun(row scanner) (*CampaignRun, error) {
	var r CampaignRun
	err := row.Scan(&r.ID, &r.CampaignID, &r.Number, timeCol{&r.ScheduledFor}, &r.Status, &r.Cursor, &r.Planned,
		timeCol{&r.StartedAt}, nullTimeCol{&r.FinishedAt})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// DayPlan is how many of a run's survey deliveries are due on one UTC day,
// and how many of those went out.
type DayPlan struct {
	Day     string // "2006-01-02"
	Planned int
	Sent    int
}

// RunPlan is a run's deliveries by the UTC day they are due: the progress
// of a drip.
func (s *Store) RunPlan(ctx context.Context, runID string) ([]DayPlan, error) {
	day := fmt.Sprintf(s.d.utcDay, "send_at")
	rows, err := s.q.QueryContext(ctx, `SELECT `+day+` AS day, COUNT(*),
			SUM(CASE WHEN status IN ('sent', 'delivered', 'responded') THEN 1 ELSE 0 END)
		FROM deliveries WHERE run_id = $1 AND reminder_of = '' GROUP BY day ORDER BY day`, runID)
	if err != nil {
		return nil, wrapErr("run plan", err)
	}
	defer rows.Close()
	var out []DayPlan
	for rows.Next() {
		var p DayPlan
		if err := rows.Scan(&p.Day, &p.Planned, &p.Sent); err != nil {
			return nil, wrapErr("run plan", err)
		}
		out = append(out, p)
	}
	return out, wrapErr("run plan", rows.Err())
}
