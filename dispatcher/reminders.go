package dispatcher

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/templates"
)

// DefaultReminders is what a new survey gets unless it says otherwise:
// one reminder three days after the survey.
var DefaultReminders = []store.Reminder{{After: 72 * time.Hour}}

// MaxReminders is how many reminders a survey may have.
const MaxReminders = 3

// ReminderSuffix marks template overrides for reminders: "email_reminder"
// overrides the email of reminders as "email" does for the survey.
const ReminderSuffix = "_reminder"

// SplitOverrides separates a survey's template overrides into the survey's
// own and the reminders' (keyed by their family, ready to validate and
// render).
func SplitOverrides(ov map[string]map[string]map[string]string) (surveyOv, reminderOv templates.Overrides) {
	surveyOv, reminderOv = templates.Overrides{}, templates.Overrides{}
	for ch, locales := range ov {
		if fam, ok := strings.CutSuffix(ch, ReminderSuffix); ok {
			reminderOv[fam] = locales
		} else {
			surveyOv[ch] = locales
		}
	}
	return surveyOv, reminderOv
}

// ReminderOverrides are the overrides a reminder renders with: its own
// (the n-th reminder's templates, then the channel-wide "…_reminder"
// ones every reminder shares), and the survey's, which it falls back to
// part by part (see templates.Set.RenderReminder).
func ReminderOverrides(sv *store.Survey, n int) (own []templates.Overrides, surveyOv templates.Overrides) {
	surveyOv, shared := SplitOverrides(sv.Templates)
	if n >= 1 && n <= len(sv.Reminders) && len(sv.Reminders[n-1].Templates) > 0 {
		own = append(own, templates.Overrides(sv.Reminders[n-1].Templates))
	}
	if len(shared) > 0 {
		own = append(own, shared)
	}
	return own, surveyOv
}

// planReminders queues a sent survey's reminders, each a delivery of its
// own that carries the survey's reply link and is cancelled by an answer.
//
// A campaign's reminders follow the campaign: they keep it from completing
// until they have gone (store.CompleteCampaigns), a pause holds each as it
// falls due and a resume queues it again, and a cancel suppresses them
// (the cancel's sweep, and campaignGate for any it missed).
func (s *Sender) planReminders(ctx context.Context, log *slog.Logger, d *store.Delivery, sv *store.Survey) {
	if d.ReminderOf != "" || len(sv.Reminders) == 0 || s.Events == nil {
		return
	}
	sentAt := s.now()
	var contact *store.Contact
	var planned []*store.Delivery
	for i, r := range sv.Reminders {
		if i == MaxReminders {
			break
		}
		ch, addr := d.Channel, d.Address
		if r.NextChannel {
			if contact == nil {
				contact, _ = s.Store.GetContact(ctx, d.ContactID)
			}
			if contact != nil {
				if c2, a2 := chooseChannel(contact, nextAfter(sv.Channels, d.Channel), d.Channel); c2 != "" {
					ch, addr = c2, a2
				}
			}
		}
		rd := &store.Delivery{
			ID:        uuid.NewSHA1(deliveryNamespace, []byte(d.ID+"\x00reminder\x00"+strconv.Itoa(i+1))).String(),
			SurveyKey: d.SurveyKey, ContactID: d.ContactID, Channel: ch, Address: addr, Locale: d.Locale,
			Token: NewToken(), Status: store.StatusQueued, Source: "reminder", Metadata: d.Metadata,
			SendAt: sentAt.Add(r.After), ExpiresAt: d.ExpiresAt, CampaignID: d.CampaignID, RunID: d.RunID,
			ReminderOf: d.ID, ReminderN: i + 1,
		}
		got, created, err := s.Store.CreateDelivery(ctx, rd)
		if err != nil || !created {
			if err != nil {
				log.Error("reminder not planned", "n", i+1, "err", err)
			}
			continue
		}
		planned = append(planned, got)
	}
	if len(planned) == 0 || (d.CampaignID != "" && !s.campaignTakes(ctx, log, d.CampaignID, planned)) {
		return
	}
	for _, rd := range planned {
		if err := s.Events.ScheduleDelivery(ctx, rd); err != nil {
			log.Error("reminder not queued (the recoverer will)", "n", rd.ReminderN, "err", err)
		}
	}
}

// campaignTakes reads the campaign of reminders just written and reports
// whether they are to be queued. The read comes after the writes, so a
// cancel or a completion either shows here or comes after it and sees the
// reminders: a campaign cancelled while their survey was being sent
// (whose sweep may have run before they were written) has them suppressed
// here, "campaign cancelled", rather than waiting as queued; a campaign
// that completed meanwhile (that send was the last thing pending) is
// running again, for them. On an error reading it they are queued, and
// campaignGate reads the status again as each falls due.
func (s *Sender) campaignTakes(ctx context.Context, log *slog.Logger, campaignID string, planned []*store.Delivery) bool {
	c, err := s.Store.GetCampaign(ctx, campaignID)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			log.Warn("campaign not read after planning reminders", "campaign_id", campaignID, "err", err)
		}
		return true
	}
	switch c.Status {
	case store.CampaignCancelled:
		for _, rd := range planned {
			rlog := log.With("reminder_id", rd.ID)
			if err := s.holdBack(ctx, rlog, rd, observed(rd), store.StatusSuppressed, "campaign_cancelled", reasonCancelled,
				time.Time{}); err != nil {
				// Queued, it is still dropped when due: the gate reads
				// the campaign's status before every send.
				rlog.Error("reminder of a cancelled campaign not suppressed; queuing it", "err", err)
				return true
			}
		}
		return false
	case store.CampaignCompleted:
		if _, err := s.Store.ReopenCampaigns(ctx, campaignID); err != nil {
			log.Error("completed campaign with reminders due not reopened (the recoverer will)", "campaign_id", campaignID, "err", err)
		}
	}
	return true
}

// nextAfter is the channel order starting after ch.
func nextAfter(order []string, ch string) []string {
	for i, c := range order {
		if c == ch {
			return append(append([]string{}, order[i+1:]...), order[:i]...)
		}
	}
	return order
}

// reminderGate ends a reminder whose survey was answered, or never went
// out; done says it was dealt with.
func (s *Sender) reminderGate(ctx context.Context, log *slog.Logger, d *store.Delivery) (*store.Delivery, bool, error) {
	parent, err := s.Store.GetDelivery(ctx, d.ReminderOf)
	if err != nil {
		return nil, true, s.suppress(ctx, log, d, "survey gone")
	}
	switch parent.Status {
	case store.StatusResponded:
		return nil, true, s.suppress(ctx, log, d, "answered")
	case store.StatusSuppressed, store.StatusFailed:
		return nil, true, s.suppress(ctx, log, d, "survey not delivered")
	}
	if s.now().After(parent.ExpiresAt) {
		return nil, true, s.suppress(ctx, log, d, "survey closed")
	}
	return parent, false, nil
}

func (s *Sender) suppress(ctx context.Context, log *slog.Logger, d *store.Delivery, reason string) error {
	_, err := s.Store.Transition(ctx, d.ID, observed(d), store.StatusSuppressed, store.Update{Reason: reason})
	log.Info("delivery suppressed", "reason", reason)
	return err
}

// renderReminder renders a reminder with its survey's reply link (an
// answer to any of the messages counts once) and its templates (see
// ReminderOverrides).
func (s *Sender) renderReminder(ctx context.Context, d, parent *store.Delivery, sv *store.Survey, c *store.Contact) (*channels.Message, error) {
	view := *d
	view.Token = parent.Token
	data := MessageData(sv, &view, s.Links)
	personalize(&data, c)
	// Links from a reminder say so, so results can tell which message an
	// answer came from.
	via := strconv.Itoa(d.ReminderN)
	data.ReplyURL += "?m=" + via
	for i := range data.Scores {
		data.Scores[i].URL += "&m=" + via
	}
	// An SMS carries the short link of the reminder's own token, which
	// leads to the survey's reply page as reminder n: "?m=n" would cost
	// four characters of a segment.
	if err := s.shorten(ctx, d, d.Token, &data, ""); err != nil {
		return nil, err
	}
	own, surveyOv := ReminderOverrides(sv, d.ReminderN)
	m, err := s.Templates.RenderReminder(TemplateFamily(d.Channel), d.Locale, own, surveyOv, data)
	if err != nil {
		return nil, err
	}
	return s.message(d, parent.Token, data, m), nil
}
