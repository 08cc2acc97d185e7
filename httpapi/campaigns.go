package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/npsgate/npsgate/audience"
	"github.com/npsgate/npsgate/campaign"
	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/store"
)

type campaignJSON struct {
	ID             string            `json:"id,omitempty"`
	Name           string            `json:"name"`
	Survey         string            `json:"survey"`
	Audience       string            `json:"audience,omitempty"`
	PerAccountRole int               `json:"per_account_role,omitempty"`
	Channels       []string          `json:"channels,omitempty"`
	Schedule       campaign.Schedule `json:"schedule"`
	SendWindow     campaign.Window   `json:"send_window,omitempty"`
	Sampling       int               `json:"sampling,omitempty"`
	Drip           campaign.Drip     `json:"drip,omitempty"`
	// Plan is the latest run's deliveries by the UTC day they are due,
	// with how many went out (read-only; for drip runs).
	Plan []dayPlanJSON `json:"plan,omitempty"`
	// Read-only:
	Status    string         `json:"status,omitempty"`
	Runs      int            `json:"runs,omitempty"`
	NextRunAt *time.Time     `json:"next_run_at,omitempty"`
	Counts    *campaignCount `json:"counts,omitempty"`
	// Reminders counts the reminders apart from the surveys.
	Reminders map[string]int `json:"reminders,omitempty"`
	RunList   []runJSON      `json:"run_list,omitempty"`
	CreatedAt *time.Time     `json:"created_at,omitempty"`
	UpdatedAt *time.Time     `json:"updated_at,omitempty"`
}

type campaignCount struct {
	// Planned is every survey delivery the campaign made: its runs'
	// fan-out and the fallbacks to a next channel (Fallbacks of them).
	Planned    int            `json:"planned"`
	Fallbacks  int            `json:"fallbacks"`
	Queued     int            `json:"queued"`
	Deferred   int            `json:"deferred"`
	Sent       int            `json:"sent"`
	Delivered  int            `json:"delivered"`
	Responded  int            `json:"responded"`
	Failed     int            `json:"failed"`
	Suppressed int            `json:"suppressed"`
	ByReason   map[string]int `json:"suppressed_by_reason"`
	// Skipped is the audience the fan-out left out, by reason
	// (opted_out, no_address, account_cap): in no other count.
	Skipped map[string]int `json:"skipped"`
}

type dayPlanJSON struct {
	Day     string `json:"day"`
	Planned int    `json:"planned"`
	Sent    int    `json:"sent"`
}

type runJSON struct {
	Number       int            `json:"number"`
	Status       string         `json:"status"`
	Planned      int            `json:"planned"`
	ScheduledFor time.Time      `json:"scheduled_for"`
	StartedAt    time.Time      `json:"started_at"`
	FinishedAt   *time.Time     `json:"finished_at,omitempty"`
	Skipped      map[string]int `json:"skipped,omitempty"`
}

func (a *API) campaignFromJSON(c *gin.Context, in campaignJSON) (*store.Campaign, error) {
	if strings.TrimSpace(in.Name) == "" {
		return nil, badField("name", "name is required")
	}
	sv, err := a.cfg.Store.GetSurvey(c.Request.Context(), in.Survey)
	if errors.Is(err, store.ErrNotFound) {
		return nil, badField("survey", "no survey with key %q", in.Survey)
	}
	if err != nil {
		return nil, err
	}
	if _, err := audience.Parse(in.Audience); err != nil {
		return nil, badField("audience", "%v", err)
	}
	for i, ch := range in.Channels {
		if _, err := a.cfg.Channels.Get(ch); err != nil {
			return nil, badField(fmt.Sprintf("channels[%d]", i), "unknown channel %q (have %v)", ch, a.cfg.Channels.Names())
		}
	}
	if err := in.Schedule.Validate(); err != nil {
		field, msg := splitField("schedule", err)
		return nil, badField(field, "%s", msg)
	}
	if err := in.SendWindow.Validate(); err != nil {
		field, msg := splitField("send_window", err)
		return nil, badField(field, "%s", msg)
	}
	if err := in.Drip.Validate(); err != nil {
		field, msg := splitField("drip", err)
		return nil, badField(field, "%s", msg)
	}
	if in.Sampling < 0 || in.Sampling > 52 {
		return nil, badField("sampling", "sampling is k in \"1/k of the audience per run\", from 1 to 52")
	}
	if in.PerAccountRole < 0 {
		return nil, badField("per_account_role", "per_account_role must not be negative")
	}
	return &store.Campaign{ID: in.ID, Name: in.Name, SurveyKey: sv.Key, Audience: in.Audience, PerAccountRole: in.PerAccountRole,
		Channels: in.Channels, Schedule: in.Schedule, SendWindow: in.SendWindow, Sampling: in.Sampling, Drip: in.Drip}, nil
}

// splitField turns campaign's "invalid: cron: …" into ("schedule.cron", "…").
func splitField(prefix string, err error) (string, string) {
	msg := strings.TrimPrefix(err.Error(), campaign.ErrInvalid.Error()+": ")
	if name, rest, ok := strings.Cut(msg, ": "); ok && !strings.Contains(name, " ") {
		return prefix + "." + name, rest
	}
	return prefix, msg
}

func (a *API) campaignToJSON(c *gin.Context, cp *store.Campaign, detail bool) (campaignJSON, error) {
	out := campaignJSON{ID: cp.ID, Name: cp.Name, Survey: cp.SurveyKey, Audience: cp.Audience, PerAccountRole: cp.PerAccountRole,
		Channels: cp.Channels, Schedule: cp.Schedule, SendWindow: cp.SendWindow, Sampling: cp.Sampling, Drip: cp.Drip, Status: string(cp.Status),
		Runs: cp.Runs, NextRunAt: cp.NextRunAt, CreatedAt: &cp.CreatedAt, UpdatedAt: &cp.UpdatedAt}
	if !detail {
		return out, nil
	}
	ctx := c.Request.Context()
	byStatus, byReason, err := a.cfg.Store.CampaignCounts(ctx, cp.ID)
	if err != nil {
		return out, err
	}
	rem, _, err := a.cfg.Store.CampaignCounts(ctx, cp.ID, true)
	if err != nil {
		return out, err
	}
	if len(rem) > 0 {
		out.Reminders = map[string]int{}
		for st, n := range rem {
			out.Reminders[string(st)] = n
		}
	}
	runs, err := a.cfg.Store.ListRuns(ctx, cp.ID)
	if err != nil {
		return out, err
	}
	skips, err := a.cfg.Store.CampaignSkips(ctx, cp.ID)
	if err != nil {
		return out, err
	}
	cnt := &campaignCount{Queued: byStatus[store.StatusQueued] + byStatus[store.StatusSending], Deferred: byStatus[store.StatusDeferred],
		Sent: byStatus[store.StatusSent], Delivered: byStatus[store.StatusDelivered], Responded: byStatus[store.StatusResponded],
		Failed: byStatus[store.StatusFailed], Suppressed: byStatus[store.StatusSuppressed], ByReason: byReason,
		Skipped: map[string]int{dispatcher.SkipOptedOut: 0, dispatcher.SkipNoAddress: 0, dispatcher.SkipAccountCap: 0}}
	// Every survey delivery of the campaign is one its runs planned or a
	// fallback to the next channel after a permanent failure.
	for _, n := range byStatus {
		cnt.Planned += n
	}
	fannedOut := 0
	for _, r := range runs {
		fannedOut += r.Planned
		for reason, n := range skips[r.ID] {
			cnt.Skipped[reason] += n
		}
		out.RunList = append(out.RunList, runJSON{Number: r.Number, Status: r.Status, Planned: r.Planned,
			ScheduledFor: r.ScheduledFor, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, Skipped: skips[r.ID]})
	}
	// The counts and the runs are two reads: a page committed between
	// them must not make the fallbacks negative.
	cnt.Fallbacks = max(0, cnt.Planned-fannedOut)
	cnt.Planned = max(cnt.Planned, fannedOut)
	out.Counts = cnt
	// A campaign whose last run is out is completed when nothing of it
	// waits any more; the recoverer notices within a minute, a read at
	// once (the same conditional move, made at most once).
	pending := byStatus[store.StatusQueued] + byStatus[store.StatusSending] + byStatus[store.StatusDeferred]
	if cp.Status == store.CampaignRunning && cp.NextRunAt == nil && pending == 0 {
		done, err := a.cfg.Store.CompleteCampaigns(ctx, cp.ID)
		if err != nil {
			return out, err
		}
		if len(done) == 1 {
			out.Status = string(store.CampaignCompleted)
		}
	}
	if cp.Drip.On() && len(runs) > 0 {
		plan, err := a.cfg.Store.RunPlan(ctx, runs[0].ID)
		if err != nil {
			return out, err
		}
		for _, p := range plan {
			out.Plan = append(out.Plan, dayPlanJSON{Day: p.Day, Planned: p.Planned, Sent: p.Sent})
		}
	}
	return out, nil
}

func (a *API) createCampaign(c *gin.Context) {
	var in campaignJSON
	if err := decode(c, &in); err != nil {
		a.fail(c, err)
		return
	}
	in.ID = "cmp_" + strings.ReplaceAll(uuid.Must(uuid.NewV7()).String(), "-", "")[:20]
	cp, err := a.campaignFromJSON(c, in)
	if err != nil {
		a.fail(c, err)
		return
	}
	if err := a.cfg.Store.SaveCampaign(c.Request.Context(), cp); err != nil {
		a.fail(c, err)
		return
	}
	out, _ := a.campaignToJSON(c, cp, false)
	c.JSON(http.StatusCreated, out)
}

// updateCampaign changes a draft or a paused campaign's definition.
func (a *API) updateCampaign(c *gin.Context) {
	cur, ok := a.loadCampaign(c)
	if !ok {
		return
	}
	if cur.Status != store.CampaignDraft && cur.Status != store.CampaignPaused {
		a.fail(c, &apiError{Status: http.StatusConflict, Code: "conflict", Field: "status",
			Message: fmt.Sprintf("a %s campaign cannot be changed; pause it first", cur.Status)})
		return
	}
	var in campaignJSON
	if err := decode(c, &in); err != nil {
		a.fail(c, err)
		return
	}
	in.ID = cur.ID
	cp, err := a.campaignFromJSON(c, in)
	if err != nil {
		a.fail(c, err)
		return
	}
	if err := a.cfg.Store.SaveCampaign(c.Request.Context(), cp); err != nil {
		a.fail(c, err)
		return
	}
	cp, _ = a.cfg.Store.GetCampaign(c.Request.Context(), cp.ID)
	out, err := a.campaignToJSON(c, cp, true)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (a *API) loadCampaign(c *gin.Context) (*store.Campaign, bool) {
	cp, err := a.cfg.Store.GetCampaign(c.Request.Context(), c.Param("id"))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = notFound("campaign")
		}
		a.fail(c, err)
		return nil, false
	}
	return cp, true
}

func (a *API) getCampaign(c *gin.Context) {
	cp, ok := a.loadCampaign(c)
	if !ok {
		return
	}
	out, err := a.campaignToJSON(c, cp, true)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (a *API) listCampaigns(c *gin.Context) {
	list, err := a.cfg.Store.ListCampaigns(c.Request.Context())
	if err != nil {
		a.fail(c, err)
		return
	}
	out := make([]campaignJSON, 0, len(list))
	for _, cp := range list {
		j, _ := a.campaignToJSON(c, cp, false)
		out = append(out, j)
	}
	c.JSON(http.StatusOK, gin.H{"campaigns": out})
}

// campaignAction is schedule, pause, resume or cancel.
func (a *API) campaignAction(c *gin.Context) {
	m := &dispatcher.Campaigns{Store: a.cfg.Store, Client: a.cfg.Dispatcher, Now: a.cfg.Now}
	ctx := c.Request.Context()
	id := c.Param("id")
	var (
		cp  *store.Campaign
		err error
	)
	switch c.Param("action") {
	case "schedule":
		cp, err = m.Schedule(ctx, id)
	case "pause":
		cp, err = m.Pause(ctx, id)
	case "resume":
		cp, err = m.Resume(ctx, id)
	case "cancel":
		cp, err = m.Cancel(ctx, id)
	default:
		a.fail(c, &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "no such action (schedule, pause, resume, cancel)"})
		return
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		a.fail(c, notFound("campaign"))
		return
	case errors.Is(err, dispatcher.ErrCampaignState):
		a.fail(c, &apiError{Status: http.StatusConflict, Code: "conflict", Field: "status", Message: err.Error()})
		return
	case err != nil:
		a.fail(c, err)
		return
	}
	out, err := a.campaignToJSON(c, cp, true)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

type previewJSON struct {
	Audience       string `json:"audience"`
	PerAccountRole int    `json:"per_account_role,omitempty"`
	// Sample is how many matching external ids to return.
	Sample int `json:"sample,omitempty"`
}

// previewAudience counts the contacts an audience selects, reading the
// contacts page by page.
func (a *API) previewAudience(c *gin.Context) {
	var in previewJSON
	if err := decode(c, &in); err != nil {
		a.fail(c, err)
		return
	}
	f, err := audience.Parse(in.Audience)
	if err != nil {
		a.fail(c, badField("audience", "%v", err))
		return
	}
	if in.Sample < 0 || in.Sample > 100 {
		a.fail(c, badField("sample", "sample must be from 0 to 100"))
		return
	}
	var capper *audience.Cap
	if in.PerAccountRole > 0 {
		capper = audience.NewCap(in.PerAccountRole)
	}
	count, optedOut := 0, 0
	sample := []string{}
	after := ""
	for {
		page, err := a.cfg.Store.ContactsPage(c.Request.Context(), after, 1000)
		if err != nil {
			a.fail(c, err)
			return
		}
		for _, ct := range page {
			if !f.Match(ct) {
				continue
			}
			// The same order as a run: opted-out contacts take no place
			// under the per-account cap.
			if ct.OptedOutAt != nil {
				optedOut++
				continue
			}
			if capper != nil && !capper.Allow(ct) {
				continue
			}
			count++
			if len(sample) < in.Sample {
				sample = append(sample, ct.ExternalID)
			}
		}
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].ExternalID
	}
	c.JSON(http.StatusOK, gin.H{"audience": f.String(), "count": count, "opted_out": optedOut, "sample": sample})
}
