package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
	"github.com/npsgate/npsgate/templates"
)

// Sender is the send pipeline: it re-reads the delivery, gates it, renders
// it, hands it to its channel and records what happened.
type Sender struct {
	Store     *store.Store
	Channels  *channels.Registry
	Templates *templates.Set
	Links     Links
	// Gate, when set, holds back what must not go now (fatigue, caps,
	// quiet hours, rate limits); nil sends whatever passes the opt-outs.
	Gate *Gate
	// Events, when set, receives delivery.failed and contact.opted_out.
	Events *Client
	// Metrics, when set, counts the moves sends make and times the
	// provider calls.
	Metrics *Metrics
	Logger  *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// retryDelay is the worker's retry schedule, for a batch's delivery
	// that goes on alone; stopping is set when the worker shuts down, so
	// a batch starts no more sends.
	retryDelay asynq.RetryDelayFunc
	stopping   atomic.Bool
}

// sendable are the statuses a send may start from. sending is among them
// because a worker that died between marking a delivery sending and
// recording the outcome leaves it there; asynq hands the task to another
// worker after the lease expires (or the recoverer queues it again), and
// sending again is the documented duplicate window. Only such a resumed
// attempt may take a sending delivery (see send).
var sendable = []store.DeliveryStatus{store.StatusQueued, store.StatusDeferred, store.StatusSending}

// observed is the compare-and-set condition of every move an attempt makes:
// the status it read. Two attempts at one delivery (a batch and a single
// task the recoverer queued) then cannot both act on it: the second one's
// moves change nothing.
func observed(d *store.Delivery) []store.DeliveryStatus { return []store.DeliveryStatus{d.Status} }

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Send runs the pipeline for one delivery.
func (s *Sender) Send(ctx context.Context, args SendDelivery) error {
	log := s.Logger.With("delivery_id", args.ID)
	d, err := s.Store.GetDelivery(ctx, args.ID)
	if errors.Is(err, store.ErrNotFound) {
		log.Warn("delivery vanished before it was sent")
		return nil
	}
	if err != nil {
		return fmt.Errorf("load delivery: %w", err)
	}
	// asynq retries a task whose worker died (lease expired) as a retry.
	retried, _ := asynq.GetRetryCount(ctx)
	return s.send(ctx, log, d, nil, args.Resume || retried > 0)
}

// prefetched is what a batch read ahead for a delivery: its contact (nil
// when the contact is gone) and its survey.
type prefetched struct {
	contact *store.Contact
	survey  *store.Survey
}

// lastAttempt says whether a failed send must give up now: when the task's
// retries are spent. A batch never gives up on a delivery: it hands it to a
// task of its own, which has all its retries.
func lastAttempt(ctx context.Context, pre *prefetched) (bool, int) {
	if pre != nil {
		return false, 0
	}
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	return retried >= maxRetry, retried
}

// send runs the pipeline for a loaded delivery; pre, when not nil, holds
// its contact. resume lets it take a delivery left sending.
func (s *Sender) send(ctx context.Context, log *slog.Logger, d *store.Delivery, pre *prefetched, resume bool) error {
	var err error
	if !statusIn(d.Status, sendable) {
		// Already sent, answered, suppressed or failed: a replayed task.
		log.Debug("delivery not sendable", "status", d.Status)
		return nil
	}
	if d.Status == store.StatusSending {
		if !resume {
			log.Debug("delivery is being sent by another task")
			return nil
		}
		log.Warn("previous attempt ended without an outcome; sending again (possible duplicate)")
	}

	var parent *store.Delivery
	if d.ReminderOf != "" {
		var done bool
		if parent, done, err = s.reminderGate(ctx, log, d); done {
			// Every way reminderGate ends a reminder suppresses it (its
			// survey was answered, closed or never went out).
			if err == nil {
				s.Gate.count("suppressed", "reminder")
				s.Metrics.delivery(d.Channel, store.StatusSuppressed)
			}
			return err
		}
	}
	// The contact is read once, here (or by the batch, seconds before),
	// for every check below: opt-outs are read at send time, so one
	// recorded days after the delivery was queued stops it.
	var contact *store.Contact
	if pre != nil {
		contact = pre.contact
	} else if c, err := s.Store.GetContact(ctx, d.ContactID); err == nil {
		contact = c
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("load contact: %w", err)
	}
	if d.CampaignID != "" {
		if done, err := s.campaignGate(ctx, log, d, contact); done || err != nil {
			return err
		}
	}
	if rule, reason, err := s.gate(ctx, d, contact); err != nil {
		return err
	} else if reason != "" {
		return s.holdBack(ctx, log, d, observed(d), store.StatusSuppressed, rule, reason, time.Time{})
	}

	var sv *store.Survey
	if pre != nil && pre.survey != nil {
		sv = pre.survey
	} else if sv, err = s.Store.GetSurvey(ctx, d.SurveyKey); err != nil {
		return fmt.Errorf("load survey %q: %w", d.SurveyKey, err)
	}
	if s.Gate != nil {
		dec, err := s.Gate.Before(ctx, d, sv, contact, s.now())
		if err != nil {
			return err
		}
		if done, err := s.apply(ctx, log, d, contact, nil, dec); done {
			return err
		}
	}

	var msg *channels.Message
	if parent != nil {
		msg, err = s.renderReminder(ctx, d, parent, sv, contact)
	} else {
		msg, err = s.render(ctx, d, sv, contact)
	}
	if err != nil {
		// Templates are validated when saved, so a render error here is a
		// broken survey or contact, which retrying will not mend.
		s.fail(ctx, log, d, "render: "+err.Error())
		s.release(ctx, d, contact, nil)
		return fmt.Errorf("render: %w", asynq.SkipRetry)
	}
	if s.Gate != nil {
		dec, err := s.Gate.BeforeSend(ctx, d, msg, s.now())
		if err != nil {
			return err
		}
		if done, err := s.apply(ctx, log, d, contact, msg, dec); done {
			return err
		}
	}
	ch, err := s.Channels.Get(d.Channel)
	if err != nil {
		s.fail(ctx, log, d, err.Error())
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}

	changed, err := s.Store.Transition(ctx, d.ID, observed(d), store.StatusSending, store.Update{})
	if err != nil {
		return fmt.Errorf("mark sending: %w", err)
	}
	if !changed {
		log.Debug("another worker took the delivery")
		return nil
	}
	d.Status = store.StatusSending

	// From here on a shutdown must not cut the call short: a message the
	// provider took but we never recorded is the duplicate window. The
	// worker gives running sends SendTimeout beyond its shutdown timeout.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), SendTimeout)
	defer cancel()
	start := time.Now()
	res, sendErr := ch.Send(ctx, msg)
	s.Metrics.provider(d.Channel, time.Since(start), sendErr)
	if sendErr == nil {
		// Counted once the provider took it, whatever the write below
		// does: the message is out (a status callback may even have
		// moved the row first).
		s.Metrics.delivery(d.Channel, store.StatusSent)
		if err := s.recordSent(ctx, d, res.ProviderID); err != nil {
			// The message is out; failing here would send it again. The
			// row stays sending; the recoverer re-queues it much later.
			log.Error("sent, but recording it failed", "err", err)
		}
		log.Info("delivery sent", "channel", d.Channel, "provider_id", res.ProviderID)
		s.planReminders(ctx, log, d, sv)
		return nil
	}
	last, retried := lastAttempt(ctx, pre)
	final, err := s.handleSendError(ctx, log, d, sendErr, last, retried)
	if final {
		// The survey never reached the contact: it must not rest them a
		// whole window, take a slot of their account, or make the same
		// text a duplicate.
		s.release(ctx, d, contact, msg)
	}
	return err
}

// SendTimeout bounds one provider call and the writes after it.
const SendTimeout = 2 * time.Minute

// recordSent writes the sent status, retrying a few times over a few
// seconds: a database blip right after the provider accepted a message
// must not leave it looking unsent.
func (s *Sender) recordSent(ctx context.Context, d *store.Delivery, providerID string) error {
	var err error
	for attempt, wait := 0, 100*time.Millisecond; attempt < 6; attempt, wait = attempt+1, wait*2 {
		if _, err = s.Store.Transition(ctx, d.ID, []store.DeliveryStatus{store.StatusSending}, store.StatusSent,
			store.Update{ProviderMessageID: providerID}); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
	return err
}

// apply carries out a gate decision: suppress for good, or defer until the
// gate opens (a wait, not a failure: the retry after it counts none). m is
// the rendered message once there is one.
func (s *Sender) apply(ctx context.Context, log *slog.Logger, d *store.Delivery, c *store.Contact, m *channels.Message, dec Decision) (bool, error) {
	switch {
	case dec.Suppress != "":
		s.release(ctx, d, c, m)
		return true, s.holdBack(ctx, log, d, observed(d), store.StatusSuppressed, dec.Rule, dec.Suppress, time.Time{})
	case !dec.Until.IsZero():
		if err := s.holdBack(ctx, log, d, observed(d), store.StatusDeferred, dec.Rule, dec.Reason, dec.Until); err != nil {
			return true, err
		}
		return true, s.wait(d, dec.Reason, dec.Until)
	}
	return false, nil
}

// wait is the error a handler returns for a delivery deferred until a
// time: asynq retries it then, and the worker counts no failure for it.
func (s *Sender) wait(d *store.Delivery, reason string, until time.Time) error {
	return fmt.Errorf("%w: %w", ErrRateLimited, &channels.Error{Channel: d.Channel, Kind: channels.RateLimited,
		Message: reason, RetryAfter: max(until.Sub(s.now()), time.Millisecond)})
}

// holdBack records a delivery held back, suppressed for good or deferred
// until a time (zero: until something else moves it), with its reason,
// and counts it under rule in the gate's Decisions metric. Every check
// that holds a delivery back (the gate's rules, opt-outs, suppressions,
// the campaign's state, a reminder's survey, the provider's answers) ends
// here, so none goes uncounted, and a move another attempt already made
// is not counted twice.
func (s *Sender) holdBack(ctx context.Context, log *slog.Logger, d *store.Delivery, from []store.DeliveryStatus,
	to store.DeliveryStatus, rule, reason string, until time.Time) error {
	changed, err := s.Store.Transition(ctx, d.ID, from, to, store.Update{Reason: reason, SendAt: until})
	if err != nil || !changed {
		return err
	}
	s.Metrics.delivery(d.Channel, to)
	if to == store.StatusDeferred {
		s.Gate.count("deferred", rule)
		log.Info("delivery deferred", "reason", reason, "until", until)
		return nil
	}
	s.Gate.count("suppressed", rule)
	log.Info("delivery suppressed", "reason", reason)
	return nil
}

func (s *Sender) release(ctx context.Context, d *store.Delivery, c *store.Contact, m *channels.Message) {
	if s.Gate != nil {
		s.Gate.release(ctx, d, c, m)
	}
}

// handleSendError records what a provider's refusal means for the
// delivery and returns the handler's error; final says the delivery ended
// without reaching the contact (failed), so its claims are given back.
func (s *Sender) handleSendError(ctx context.Context, log *slog.Logger, d *store.Delivery, sendErr error, last bool, retried int) (final bool, err error) {
	var pe *channels.Error
	words := sendErr.Error()
	if errors.As(sendErr, &pe) && pe.Message != "" {
		words = pe.Message
		if pe.Code != "" {
			words = pe.Code + " " + pe.Message
		}
	}
	sending := []store.DeliveryStatus{store.StatusSending}
	switch channels.KindOf(sendErr) {
	case channels.Permanent:
		s.fail(ctx, log, d, words)
		s.bounced(ctx, log, d, sendErr, words)
		s.fallback(ctx, log, d)
		return true, fmt.Errorf("%w: %w", sendErr, asynq.SkipRetry)
	case channels.OptedOut:
		if err := s.Store.OptOutContact(ctx, d.ContactID, "provider: "+words, s.now()); err != nil {
			log.Error("opt-out from provider not recorded", "err", err)
		}
		s.emit(ctx, log, EventContactOptedOut, OptedOutData{ContactID: d.ContactID, Channel: d.Channel, Reason: words})
		if err := s.holdBack(ctx, log, d, sending, store.StatusSuppressed, "provider_opt_out", "opted_out: "+words, time.Time{}); err != nil {
			return true, err
		}
		return true, fmt.Errorf("%w: %w", sendErr, asynq.SkipRetry)
	case channels.RateLimited:
		// The provider said to slow down: this delivery waits what it
		// asked, and so does every other one to the same sender or robot,
		// in every worker, instead of each finding out by being refused.
		after := time.Second
		if pe != nil && pe.RetryAfter > 0 {
			after = pe.RetryAfter
		}
		until := s.now().Add(after)
		if s.Gate != nil {
			if err := s.Gate.Block(ctx, d.Channel, d.Address, until); err != nil {
				log.Error("provider's rate limit not shared with the other workers", "err", err)
			}
		}
		if err := s.holdBack(ctx, log, d, sending, store.StatusDeferred, "rate_limited", "rate_limited: "+words, until); err != nil {
			log.Error("could not defer the rate-limited delivery", "err", err)
		}
		return false, fmt.Errorf("%w: %w", ErrRateLimited, sendErr)
	}
	if last {
		s.fail(ctx, log, d, fmt.Sprintf("gave up after %d attempts: %s", retried+1, words))
		return true, fmt.Errorf("%w: %w", sendErr, asynq.SkipRetry)
	}
	if changed, err := s.Store.Transition(ctx, d.ID, sending, store.StatusQueued,
		store.Update{Reason: words}); err != nil {
		log.Error("could not put delivery back in the queue", "err", err)
	} else if changed {
		s.Metrics.delivery(d.Channel, store.StatusQueued)
	}
	log.Warn("send failed, will retry", "attempt", retried+1, "err", sendErr)
	return false, sendErr
}

// enhancedCoder is an SMTP error that carries the server's enhanced status
// code (RFC 3463, "5.1.1"); the email channel's errors do.
type enhancedCoder interface{ EnhancedCode() string }

// bounced suppresses an address the provider said does not exist: an SMTP
// permanent failure whose enhanced status is 5.1.x, a bad mailbox or
// domain, so that no survey goes there again. 5.1.7 and 5.1.8 are about
// our sender's address, not the contact's, and suppress nothing.
func (s *Sender) bounced(ctx context.Context, log *slog.Logger, d *store.Delivery, sendErr error, words string) {
	var ec enhancedCoder
	if !errors.As(sendErr, &ec) {
		return
	}
	detail, ok := strings.CutPrefix(ec.EnhancedCode(), "5.1.")
	if !ok || detail == "" || detail == "7" || detail == "8" {
		return
	}
	if err := s.Store.AddSuppression(ctx, store.Suppression{Channel: d.Channel, Address: d.Address, Reason: "bounce",
		ContactID: d.ContactID, CreatedAt: s.now()}); err != nil {
		log.Error("hard bounce not suppressed", "err", err, "smtp", words)
		return
	}
	log.Info("address suppressed: hard bounce", "smtp", words)
}

func (s *Sender) fail(ctx context.Context, log *slog.Logger, d *store.Delivery, reason string) {
	changed, err := s.Store.Transition(ctx, d.ID, observed(d), store.StatusFailed, store.Update{Reason: reason})
	if err != nil {
		log.Error("could not record failure", "err", err, "reason", reason)
		return
	}
	if changed {
		s.Metrics.delivery(d.Channel, store.StatusFailed)
	}
	log.Warn("delivery failed", "reason", reason)
	s.emit(ctx, log, EventDeliveryFailed, DeliveryFailedData{ID: d.ID, Survey: d.SurveyKey, ContactID: d.ContactID,
		Channel: d.Channel, Reason: reason, Metadata: d.Metadata})
}

// DeliveryFailedData is the "data" of delivery.failed.
type DeliveryFailedData struct {
	ID        string            `json:"id"`
	Survey    string            `json:"survey"`
	ContactID string            `json:"contact_id"`
	Channel   string            `json:"channel"`
	Reason    string            `json:"reason"`
	Metadata  map[string]string `json:"metadata,omitempty"`
}

// OptedOutData is the "data" of contact.opted_out.
type OptedOutData struct {
	ContactID string `json:"contact_id"`
	Channel   string `json:"channel"`
	Reason    string `json:"reason"`
}

// emit sends an event to the webhook subscriptions; losing one is logged,
// never a reason to fail the send that raised it.
func (s *Sender) emit(ctx context.Context, log *slog.Logger, typ string, data any) {
	if s.Events == nil {
		return
	}
	if err := s.Events.Emit(ctx, typ, data); err != nil {
		log.Error("event not queued", "type", typ, "err", err)
	}
}

// campaignGate holds a campaign's delivery while the campaign is paused
// (resume queues it again), drops it when the campaign is cancelled, and
// defers it to the next opening of the send window in the contact's time
// zone: a run that waited in a queue must still not wake anyone. done says
// the delivery was dealt with.
func (s *Sender) campaignGate(ctx context.Context, log *slog.Logger, d *store.Delivery, ct *store.Contact) (done bool, err error) {
	c, err := s.Store.GetCampaign(ctx, d.CampaignID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return true, fmt.Errorf("load campaign: %w", err)
	}
	switch c.Status {
	case store.CampaignPaused:
		// Held with no time: resuming the campaign queues it again.
		return true, s.holdBack(ctx, log, d, observed(d), store.StatusDeferred, "campaign_paused", "campaign paused", time.Time{})
	case store.CampaignCancelled:
		return true, s.holdBack(ctx, log, d, observed(d), store.StatusSuppressed, "campaign_cancelled", "campaign cancelled", time.Time{})
	}
	if c.SendWindow.IsZero() {
		return false, nil
	}
	if ct == nil {
		return false, nil // the gate deals with a vanished contact
	}
	now := s.now()
	next := c.SendWindow.Next(now, contactLocation(ct, c.Schedule.TimeZone))
	if !next.After(now) {
		return false, nil
	}
	if err := s.holdBack(ctx, log, d, observed(d), store.StatusDeferred, "send_window", "outside send window", next); err != nil {
		return true, err
	}
	// Waiting is not failing: the retry after the wait counts no failure.
	return true, s.wait(d, "outside send window", next)
}

// fallback tries a campaign delivery that failed for good (an invalid
// number) once more on the next channel of the campaign's order.
func (s *Sender) fallback(ctx context.Context, log *slog.Logger, d *store.Delivery) {
	if d.CampaignID == "" || d.Metadata["fallback_of"] != "" || s.Events == nil {
		return
	}
	c, err := s.Store.GetCampaign(ctx, d.CampaignID)
	if err != nil {
		return
	}
	ct, err := s.Store.GetContact(ctx, d.ContactID)
	if err != nil {
		return
	}
	order := c.Channels
	if len(order) == 0 {
		if sv, err := s.Store.GetSurvey(ctx, d.SurveyKey); err == nil {
			order = sv.Channels
		}
	}
	ch, addr := chooseChannel(ct, order, d.Channel)
	if ch == "" {
		return
	}
	meta := map[string]string{"fallback_of": d.ID}
	for k, v := range d.Metadata {
		meta[k] = v
	}
	nd := &store.Delivery{ID: uuid.NewSHA1(deliveryNamespace, []byte("fallback\x00"+d.ID)).String(),
		SurveyKey: d.SurveyKey, ContactID: d.ContactID, Channel: ch, Address: addr, Locale: d.Locale,
		Token: NewToken(), Status: store.StatusQueued, Source: d.Source, Metadata: meta, SendAt: s.now(),
		ExpiresAt: d.ExpiresAt, CampaignID: d.CampaignID, RunID: d.RunID}
	got, created, err := s.Store.CreateDelivery(ctx, nd)
	if err != nil || !created {
		return
	}
	if err := s.Events.ScheduleDelivery(ctx, got); err != nil {
		log.Error("fallback delivery not queued", "err", err)
		return
	}
	log.Info("trying the next channel", "channel", ch, "fallback_delivery_id", got.ID)
}

// gate returns why a delivery must not be sent, and the rule that says
// so, or "" to go on; c is nil when the contact is gone.
func (s *Sender) gate(ctx context.Context, d *store.Delivery, c *store.Contact) (rule, reason string, err error) {
	switch {
	case c == nil:
		return "contact_deleted", "contact_deleted", nil
	case c.OptedOutAt != nil:
		return "opted_out", "opted_out", nil
	}
	if d.Address == "" {
		return "no_address", "no_address", nil
	}
	why, suppressed, err := s.Store.Suppressed(ctx, d.Channel, d.Address)
	if err != nil {
		return "", "", fmt.Errorf("check suppressions: %w", err)
	}
	if suppressed {
		return "suppression_list", "suppressed: " + why, nil
	}
	return "", "", nil
}

func (s *Sender) render(ctx context.Context, d *store.Delivery, sv *store.Survey, c *store.Contact) (*channels.Message, error) {
	data := MessageData(sv, d, s.Links)
	personalize(&data, c)
	if err := s.shorten(ctx, d, d.Token, &data, ""); err != nil {
		return nil, err
	}
	surveyOv, _ := SplitOverrides(sv.Templates)
	m, err := s.Templates.Render(TemplateFamily(d.Channel), d.Locale, surveyOv, data)
	if err != nil {
		return nil, err
	}
	return s.message(d, d.Token, data, m), nil
}

// shorten puts a short reply link in an SMS (the gateway's own /s/{code},
// no third-party shortener): a full reply URL alone takes a third of a
// segment.
func (s *Sender) shorten(ctx context.Context, d *store.Delivery, token string, data *templates.Data, query string) error {
	if TemplateFamily(d.Channel) != "sms" {
		return nil
	}
	code, err := s.Store.ShortCode(ctx, token)
	if err != nil {
		return fmt.Errorf("short link: %w", err)
	}
	data.ReplyURL = s.Links.Short(code) + query
	return nil
}

// message is the channel message of a rendered delivery.
func (s *Sender) message(d *store.Delivery, token string, data templates.Data, m templates.Message) *channels.Message {
	scores := make([]channels.Score, len(data.Scores))
	for i, sc := range data.Scores {
		scores[i] = channels.Score{Value: sc.Value, URL: sc.URL}
	}
	return &channels.Message{
		DeliveryID:        d.ID,
		To:                d.Address,
		Locale:            d.Locale,
		Subject:           m.Subject,
		Text:              m.Text,
		HTML:              m.HTML,
		ReplyURL:          data.ReplyURL,
		UnsubscribeURL:    data.UnsubscribeURL,
		UnsubscribeMailto: s.Links.UnsubscribeMailtoURL(token),
		Question:          data.Question,
		Scores:            scores,
		Kind:              "survey",
	}
}

// MessageData is what templates see for a delivery; previews use it too.
func MessageData(sv *store.Survey, d *store.Delivery, l Links) templates.Data {
	text, _ := survey.TextFor(sv.Kind, sv.Texts, d.Locale)
	text = text.WithProduct(sv.ProductName)
	data := templates.Data{
		Kind:           string(sv.Kind),
		ProductName:    sv.ProductName,
		Question:       text.Question,
		ReplyURL:       l.Reply(d.Token),
		UnsubscribeURL: l.Unsubscribe(d.Token),
	}
	for _, n := range sv.Kind.Scores() {
		data.Scores = append(data.Scores, templates.Score{Value: n, URL: l.Score(d.Token, n)})
	}
	return data
}

// personalize fills in what templates may say about the contact ("Hi
// Ana!"); c is nil when the contact is gone.
func personalize(data *templates.Data, c *store.Contact) {
	if c != nil {
		data.ContactName = c.Name
	}
}

// TemplateFamily is the template set a channel renders with: email, sms
// (also WhatsApp) or chat (every chat robot and webhook).
func TemplateFamily(channel string) string {
	switch channel {
	case "email", "sms":
		return channel
	case "whatsapp":
		return "sms"
	}
	return "chat"
}

func statusIn(s store.DeliveryStatus, set []store.DeliveryStatus) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}
