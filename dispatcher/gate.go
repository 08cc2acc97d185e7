package dispatcher

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/npsgate/npsgate/campaign"
	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/templates"
	"github.com/npsgate/npsgate/throttle"
)

// Gate holds the rules every survey message passes before a provider is
// called, whatever made it (campaign, trigger, fallback). The decisions are
// atomic in Redis, so they hold across every worker process. Alerts do not
// pass it: a detractor must reach a person.
type Gate struct {
	Limiter *throttle.Limiter
	// Fatigue after a relationship (campaign) survey and after a
	// transactional (trigger) one; Unanswered, when set, is the shorter
	// rest after a survey that got no answer.
	Relationship, Transactional, Unanswered time.Duration
	// AccountCap limits surveys per account per AccountWindow; 0 = off.
	AccountCap    int
	AccountWindow time.Duration
	// Duplicate is how long the same text to the same address is refused.
	Duplicate time.Duration
	// Conversation is how long an SMS survey keeps its number for replies.
	Conversation time.Duration
	// Rates are token buckets per channel and sender.
	Rates map[string]Rate
	// Window, when set, is a quiet-hours rule for every survey, in the
	// contact's time zone.
	Window campaign.Window
	// Decisions counts held-back deliveries by decision and reason.
	Decisions *prometheus.CounterVec
}

// Rate is a token bucket: PerSecond tokens a second, up to Burst at once.
type Rate struct {
	PerSecond, Burst float64
}

// ParseRates reads "sms=1/s,dingtalk=20/m,email=50/s" (per second, minute
// or hour; the burst is one second's worth, at least 1).
func ParseRates(s string) (map[string]Rate, error) {
	out := map[string]Rate{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		ch, spec, ok := strings.Cut(part, "=")
		n, per, ok2 := strings.Cut(spec, "/")
		v, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		if !ok || !ok2 || err != nil || v <= 0 {
			return nil, fmt.Errorf("rate %q: want channel=N/s, N/m or N/h", part)
		}
		var secs float64
		switch strings.TrimSpace(per) {
		case "s":
			secs = 1
		case "m":
			secs = 60
		case "h":
			secs = 3600
		default:
			return nil, fmt.Errorf("rate %q: per must be s, m or h", part)
		}
		r := Rate{PerSecond: v / secs}
		r.Burst = max(1, r.PerSecond)
		out[strings.TrimSpace(ch)] = r
	}
	return out, nil
}

// Decision is what the gate says about a delivery.
type Decision struct {
	// Suppress, when set, is why the delivery must never go.
	Suppress string
	// Until, when set, is when it may go; Reason says why it waits.
	Until  time.Time
	Reason string
}

func (g *Gate) count(decision, reason string) {
	if g.Decisions != nil {
		g.Decisions.WithLabelValues(decision, reason).Inc()
	}
}

// Windows are the fatigue windows of a delivery: the trigger's override,
// else the survey's, else the gateway's for its source.
func (g *Gate) Windows(d *store.Delivery, sv *store.Survey) (answered, unanswered time.Duration) {
	answered = g.Transactional
	if d.Source == "campaign" {
		answered = g.Relationship
	}
	unanswered = g.Unanswered
	if sv != nil && sv.Fatigue.Days != nil {
		answered = days(*sv.Fatigue.Days)
	}
	if sv != nil && sv.Fatigue.UnansweredDays != nil {
		unanswered = days(*sv.Fatigue.UnansweredDays)
	}
	if d.ThrottleDays != nil {
		answered, unanswered = days(*d.ThrottleDays), days(*d.ThrottleDays)
	}
	if unanswered == 0 || unanswered > answered {
		unanswered = answered
	}
	return answered, unanswered
}

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

// Before runs the rules that need no rendered message: quiet hours, one
// survey per contact per window, the account cap, one open SMS
// conversation per number. Claims are idempotent per delivery, so a retry
// passes again.
func (g *Gate) Before(ctx context.Context, d *store.Delivery, sv *store.Survey, c *store.Contact, now time.Time) (Decision, error) {
	if !g.Window.IsZero() {
		if next := g.Window.Next(now, contactLocation(c, "")); next.After(now) {
			g.count("deferred", "quiet_hours")
			return Decision{Until: next, Reason: "quiet hours"}, nil
		}
	}
	// Reminders are exempt from fatigue and caps (their survey holds the
	// contact) but share its SMS conversation.
	holder := d.ID
	if d.ReminderOf != "" {
		holder = d.ReminderOf
	}
	if _, unanswered := g.Windows(d, sv); unanswered > 0 && d.ReminderOf == "" {
		ok, until, err := g.Limiter.ClaimContact(ctx, d.ContactID, d.ID, unanswered)
		if err != nil {
			return Decision{}, fmt.Errorf("fatigue: %w", err)
		}
		if !ok {
			g.count("suppressed", "fatigue")
			return Decision{Suppress: "fatigue: surveyed recently; next possible " + until.UTC().Format(time.RFC3339)}, nil
		}
	}
	if g.AccountCap > 0 && c.Account != "" && d.ReminderOf == "" {
		ok, until, err := g.Limiter.ClaimAccount(ctx, c.Account, d.ID, g.AccountCap, g.AccountWindow)
		if err != nil {
			return Decision{}, fmt.Errorf("account cap: %w", err)
		}
		if !ok {
			g.release(ctx, d, c)
			g.count("suppressed", "account_cap")
			return Decision{Suppress: fmt.Sprintf("account cap: %d surveys per account reached until %s", g.AccountCap, until.UTC().Format(time.RFC3339))}, nil
		}
	}
	if (d.Channel == "sms" || d.Channel == "whatsapp") && g.Conversation > 0 {
		ok, until, err := g.Limiter.ClaimConversation(ctx, d.Address, holder, g.Conversation)
		if err != nil {
			return Decision{}, fmt.Errorf("conversation: %w", err)
		}
		if !ok {
			// Replies to two open surveys on one number would be
			// ambiguous: wait for the first to close.
			g.count("deferred", "open_conversation")
			return Decision{Until: until, Reason: "another SMS survey to this number is open"}, nil
		}
	}
	return Decision{}, nil
}

// BeforeSend runs the rules on the rendered message: no duplicate content,
// and the provider's rate limit for this sender.
func (g *Gate) BeforeSend(ctx context.Context, d *store.Delivery, m *channels.Message, now time.Time) (Decision, error) {
	if g.Duplicate > 0 {
		// Every message carries its own reply token; without it, two
		// deliveries of the same survey read the same.
		content := strings.ReplaceAll(m.Subject+"\x00"+m.Text, d.Token, "")
		ok, err := g.Limiter.ClaimContent(ctx, d.Address, content, d.ID, g.Duplicate)
		if err != nil {
			return Decision{}, fmt.Errorf("duplicate content: %w", err)
		}
		if !ok {
			g.count("suppressed", "duplicate")
			return Decision{Suppress: "duplicate: the same message went to this address recently"}, nil
		}
	}
	r, ok := g.Rates[d.Channel]
	if !ok {
		return Decision{}, nil
	}
	bucket := d.Channel
	cost := 1.0
	switch d.Channel {
	case "sms", "whatsapp":
		// Carriers count segments, and the sender is the shared number.
		_, n := templates.Segments(m.Text)
		cost = min(float64(n), r.Burst)
	case "email":
	default:
		// Chat robots are limited one by one.
		bucket += ":" + TargetKey(store.Target{Channel: d.Channel, Address: d.Address})
	}
	wait, err := g.Limiter.Take(ctx, bucket, r.PerSecond, r.Burst, cost)
	if err != nil {
		return Decision{}, fmt.Errorf("rate limit: %w", err)
	}
	if wait > 0 {
		g.count("deferred", "rate_limit")
		return Decision{Until: now.Add(wait), Reason: "rate limit"}, nil
	}
	return Decision{}, nil
}

// Answered sets the contact's rest to the answered window, counted from
// when the survey was sent.
func (g *Gate) Answered(ctx context.Context, d *store.Delivery, sv *store.Survey) error {
	answered, _ := g.Windows(d, sv)
	from := d.CreatedAt
	if d.SentAt != nil {
		from = *d.SentAt
	}
	err := g.Limiter.SetContactWindow(ctx, d.ContactID, d.ID, from, answered)
	if err == throttle.ErrNotHeld {
		return nil // another survey holds the contact now
	}
	return err
}

// release gives back what a delivery claimed when it will not be sent, so
// a failed or suppressed survey does not rest the contact.
func (g *Gate) release(ctx context.Context, d *store.Delivery, c *store.Contact) {
	_ = g.Limiter.ReleaseContact(ctx, d.ContactID, d.ID)
	if c != nil && c.Account != "" {
		_ = g.Limiter.ReleaseAccount(ctx, c.Account, d.ID)
	}
	if d.Channel == "sms" || d.Channel == "whatsapp" {
		_ = g.Limiter.EndConversation(ctx, d.Address, d.ID)
	}
}

// NextSurvey is when a contact may next be surveyed (zero if now).
func (g *Gate) NextSurvey(ctx context.Context, contactID string) (time.Time, error) {
	next, claimed, err := g.Limiter.ContactNext(ctx, contactID)
	if err != nil || !claimed {
		return time.Time{}, err
	}
	return next, nil
}
