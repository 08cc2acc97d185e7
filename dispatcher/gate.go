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
	// Senders names the sending identity of a channel whose carrier limits
	// each sender (sms, whatsapp): the Twilio number or Messaging Service
	// SID. Their buckets are per sender, so each number has its own rate;
	// a channel missing here has one sender, named by the channel.
	Senders map[string]string
	// MaxWait is how long a send waits in its worker for rate-limit tokens
	// before it is deferred through the queue instead (whose retries come
	// a second or more later). If zero, DefaultMaxWait; negative never
	// waits.
	MaxWait time.Duration
	// Sleep waits d or until ctx ends; nil waits on a timer. Tests pass
	// one that moves a fake clock.
	Sleep func(ctx context.Context, d time.Duration) error
	// Window, when set, is a quiet-hours rule for every survey, in the
	// contact's time zone.
	Window campaign.Window
	// Decisions counts held-back deliveries by decision ("suppressed",
	// "deferred") and reason (a Rule); the Sender counts every one it
	// records, whichever check made it.
	Decisions *prometheus.CounterVec
}

// DefaultMaxWait is MaxWait when unset: a second covers the wait for the
// next token of one SMS segment a second, while a robot at 20 a minute
// (3s a token) waits in the queue rather than holding a worker.
const DefaultMaxWait = time.Second

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
	// Rule names the rule that decided, in a few fixed words ("fatigue",
	// "quiet_hours", ...): the reason label of the Decisions metric.
	Rule string
}

// count adds a held-back delivery to the Decisions metric; decision is
// "suppressed" or "deferred", rule one of a few fixed words (never the
// free text of a reason, which would make a series per provider message).
func (g *Gate) count(decision, rule string) {
	if g != nil && g.Decisions != nil {
		g.Decisions.WithLabelValues(decision, rule).Inc()
	}
}

// Windows are the fatigue windows of a delivery, the most specific
// winning: the trigger's throttle_days, else the survey's fatigue days
// (answered) and unanswered_days, else the gateway's for its source.
//
// A trigger's throttle_days N > 0 sets both windows to N days: the survey
// it sends rests the contact N days (answered or not), and, like any
// survey, it is suppressed (fatigue) while another survey's rest holds the
// contact; it does not shorten that rest. N = 0 exempts the survey from
// fatigue: it neither waits for another's rest nor rests the contact
// itself. The other rules (opt-outs, duplicate content, one open SMS
// conversation, the account cap, quiet hours, rates) still apply.
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
			return Decision{Until: next, Reason: "quiet hours", Rule: "quiet_hours"}, nil
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
			return Decision{Suppress: "fatigue: surveyed recently; next possible " + until.UTC().Format(time.RFC3339), Rule: "fatigue"}, nil
		}
	}
	if g.AccountCap > 0 && c.Account != "" && d.ReminderOf == "" {
		ok, until, err := g.Limiter.ClaimAccount(ctx, c.Account, d.ID, g.AccountCap, g.AccountWindow)
		if err != nil {
			return Decision{}, fmt.Errorf("account cap: %w", err)
		}
		if !ok {
			g.release(ctx, d, c, nil)
			return Decision{Suppress: fmt.Sprintf("account cap: %d surveys per account reached until %s", g.AccountCap, until.UTC().Format(time.RFC3339)),
				Rule: "account_cap"}, nil
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
			return Decision{Until: until, Reason: "another SMS survey to this number is open", Rule: "open_conversation"}, nil
		}
	}
	return Decision{}, nil
}

// BeforeSend runs the rules on the rendered message: no duplicate content,
// and the provider's rate limit for this sender. A short wait for tokens
// (up to MaxWait) is spent here, in the worker: a deferral through the
// queue comes back a second or more later, which at 10 messages a second
// would let most of the rate go unused.
func (g *Gate) BeforeSend(ctx context.Context, d *store.Delivery, m *channels.Message, now time.Time) (Decision, error) {
	if g.Duplicate > 0 {
		ok, err := g.Limiter.ClaimContent(ctx, d.Address, content(d, m), d.ID, g.Duplicate)
		if err != nil {
			return Decision{}, fmt.Errorf("duplicate content: %w", err)
		}
		if !ok {
			return Decision{Suppress: "duplicate: the same message went to this address recently", Rule: "duplicate"}, nil
		}
	}
	cost := 1.0
	if TemplateFamily(d.Channel) == "sms" {
		// Carriers count segments.
		_, n := templates.Segments(m.Text)
		cost = float64(max(n, 1))
	}
	var waited time.Duration
	for {
		wait, err := g.Token(ctx, d.Channel, d.Address, cost)
		if err != nil {
			return Decision{}, fmt.Errorf("rate limit: %w", err)
		}
		if wait == 0 {
			return Decision{}, nil
		}
		if g.MaxWait < 0 || waited+wait > g.maxWait() {
			return g.rateDecision(ctx, d, now.Add(waited+wait))
		}
		if err := g.sleep(ctx, wait); err != nil {
			// Shutting down: the wait goes on in the queue.
			return g.rateDecision(ctx, d, now.Add(waited+wait))
		}
		waited += wait
	}
}

// rateDecision defers a delivery that has no token: for the provider's
// block when there is one (the provider said to stop), else for the rate.
func (g *Gate) rateDecision(ctx context.Context, d *store.Delivery, until time.Time) (Decision, error) {
	if left, err := g.Limiter.Blocked(ctx, g.Bucket(d.Channel, d.Address)); err == nil && left > 0 {
		return Decision{Until: until, Reason: "rate_limited: the provider asked to wait", Rule: "rate_limited"}, nil
	}
	return Decision{Until: until, Reason: "rate limit", Rule: "rate_limit"}, nil
}

func (g *Gate) maxWait() time.Duration {
	if g.MaxWait == 0 {
		return DefaultMaxWait
	}
	return g.MaxWait
}

func (g *Gate) sleep(ctx context.Context, d time.Duration) error {
	if g.Sleep != nil {
		return g.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// content is what the duplicate rule compares: the rendered message
// without what is unique to each delivery, its reply token and (in an
// SMS) the short reply link, so that the same text to the same address
// reads the same whatever delivery carries it.
func content(d *store.Delivery, m *channels.Message) string {
	text := m.Subject + "\x00" + m.Text
	if m.ReplyURL != "" {
		text = strings.ReplaceAll(text, m.ReplyURL, "")
	}
	return strings.ReplaceAll(text, d.Token, "")
}

// Bucket names the rate bucket a message on channel to address takes its
// tokens from: SMS and WhatsApp per sender (see Senders), email per
// server, every chat robot on its own.
func (g *Gate) Bucket(channel, address string) string {
	switch {
	case TemplateFamily(channel) == "sms":
		sender := g.Senders[channel]
		if sender == "" {
			return channel
		}
		return channel + ":" + sender
	case channel == "email":
		return channel
	}
	return channel + ":" + TargetKey(store.Target{Channel: channel, Address: address})
}

// Token takes cost tokens (SMS segments; 1 for anything else) from the
// bucket of a message on channel to address, and reports how long to wait
// when it cannot: the bucket is blocked by the provider (Block), or empty.
// Nothing is taken then. A channel without a rate has no tokens to take,
// but waits out a block all the same. It does not wait itself: alerts and
// surveys share the buckets, and each caller waits its own way.
func (g *Gate) Token(ctx context.Context, channel, address string, cost float64) (time.Duration, error) {
	bucket := g.Bucket(channel, address)
	r, ok := g.Rates[channel]
	if !ok {
		return g.Limiter.Blocked(ctx, bucket)
	}
	cost = max(cost, 1)
	// A message of more segments than the burst takes them all at once,
	// when the bucket is full: it must wait for its tokens, not get them
	// for the price of one.
	return g.Limiter.Take(ctx, bucket, r.PerSecond, max(r.Burst, cost), cost)
}

// Block stops every send to address on channel (every survey and alert,
// in every worker) until until: the provider said to (DingTalk's "send
// too fast" blocks a robot for 10 minutes, a 429 names its Retry-After).
func (g *Gate) Block(ctx context.Context, channel, address string, until time.Time) error {
	return g.Limiter.Block(ctx, g.Bucket(channel, address), until)
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
// a failed or suppressed survey does not rest the contact, take a slot of
// its account, or make the same text a duplicate; m, when not nil, is the
// rendered message whose content it claimed. Each release is of the
// delivery's own claim, so one it does not hold is left alone.
func (g *Gate) release(ctx context.Context, d *store.Delivery, c *store.Contact, m *channels.Message) {
	_ = g.Limiter.ReleaseContact(ctx, d.ContactID, d.ID)
	if c != nil && c.Account != "" {
		_ = g.Limiter.ReleaseAccount(ctx, c.Account, d.ID)
	}
	if d.Channel == "sms" || d.Channel == "whatsapp" {
		_ = g.Limiter.EndConversation(ctx, d.Address, d.ID)
	}
	if m != nil && g.Duplicate > 0 && d.Address != "" {
		_ = g.Limiter.ReleaseContent(ctx, d.Address, content(d, m), d.ID)
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
