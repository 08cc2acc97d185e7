package dispatcher

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/channels/chat/chathttp"
	"github.com/npsgate/npsgate/channels/chat/webhook"
	"github.com/npsgate/npsgate/store"
)

// Notifier closes the loop: it raises alerts on responses that match a rule
// and sends events to webhook subscriptions. Alerts go out through the same
// channels and queue machinery as surveys.
type Notifier struct {
	Store    *store.Store
	Channels *channels.Registry
	Client   *Client
	Links    Links
	Logger   *slog.Logger
	// Gate, when set, is told of new answers: the contact's rest after an
	// answer (see Gate.Answered). It should be the Sender's gate.
	Gate *Gate
	// Transport carries webhook events; nil is the default. The gateway
	// may set one that refuses private addresses.
	Transport http.RoundTripper
	// Metrics, when set, counts alert sends and webhook posts and times
	// the provider calls of alerts.
	Metrics *Metrics

	hooksOnce sync.Once
	hooks     *chathttp.Client
	hooksErr  error
	// WebhookBackoff is the wait before each retry of a webhook event;
	// nil is the default schedule of about 24 hours in all.
	WebhookBackoff []time.Duration
}

// ResponseData is the "data" of response.created and response.updated.
type ResponseData struct {
	ID         string            `json:"id"`
	DeliveryID string            `json:"delivery_id"`
	Survey     string            `json:"survey"`
	ContactID  string            `json:"contact_id"`
	Account    string            `json:"account,omitempty"`
	Role       string            `json:"role,omitempty"`
	Channel    string            `json:"channel"`
	Locale     string            `json:"locale"`
	Score      int               `json:"score"`
	Category   string            `json:"category"`
	Comment    string            `json:"comment"`
	MayContact *bool             `json:"may_contact"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	CreatedAt  time.Time         `json:"created_at"`
	UpdatedAt  time.Time         `json:"updated_at"`
}

type responseView struct {
	resp    *store.Response
	d       *store.Delivery
	sv      *store.Survey
	contact *store.Contact // nil after an erasure
}

func (n *Notifier) load(ctx context.Context, responseID string) (*responseView, error) {
	resp, err := n.Store.GetResponse(ctx, responseID)
	if err != nil {
		return nil, err
	}
	v := &responseView{resp: resp}
	if v.d, err = n.Store.GetDelivery(ctx, resp.DeliveryID); err != nil {
		return nil, err
	}
	if v.sv, err = n.Store.GetSurvey(ctx, resp.SurveyKey); err != nil {
		return nil, err
	}
	v.contact, err = n.Store.GetContact(ctx, resp.ContactID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	return v, nil
}

// Notify does what follows a saved response. For a new one it first cancels
// the survey's reminders that have not gone out and gives the contact the
// rest that follows an answer; then, for every save, it raises the alerts
// of the response and queues its webhook events.
//
// The reply page and the SMS webhook queue this task after the answer is
// committed, instead of doing the first part in the request. Until it runs
// no reminder of the survey goes out anyway: the answer and the delivery's
// move to responded are one write, and the sender drops reminders of a
// responded delivery. The first part is idempotent and comes before
// anything that is not, so a retry of the task after a failure repeats
// nothing twice.
func (n *Notifier) Notify(ctx context.Context, args NotifyResponse) error {
	v, err := n.load(ctx, args.ResponseID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // erased since
	}
	if err != nil {
		return err
	}
	if args.Event == EventResponseCreated {
		if err := n.answered(ctx, v); err != nil {
			return err
		}
	}
	if err := n.raiseAlerts(ctx, v); err != nil {
		return err
	}
	data := ResponseData{ID: v.resp.ID, DeliveryID: v.d.ID, Survey: v.resp.SurveyKey, ContactID: v.resp.ContactID,
		Channel: v.resp.Channel, Locale: v.resp.Locale, Score: v.resp.Score, Category: string(v.resp.Category),
		Comment: v.resp.Comment, MayContact: v.resp.MayContact, Metadata: v.d.Metadata,
		CreatedAt: v.resp.CreatedAt, UpdatedAt: v.resp.UpdatedAt}
	if v.contact != nil {
		data.Account, data.Role = v.contact.Account, v.contact.Role
	}
	return n.Client.Emit(ctx, args.Event, data)
}

// raiseAlerts makes the alerts of a response and queues what must go out.
//
// A response has one alert per target, however many rules match it: a
// person on call must not get a second alert for a response they already
// have. A rule that matches later (a comment added to a detractor's
// answer) raises the priority of the alert already there, and the new
// comment goes out as one follow-up on each alert sent.
//
// An alert still pending is queued again: the enqueue of an earlier run
// may have failed, and nothing else would queue it. Sends are queued under
// the task ID of the send (sendTaskID), so none is queued twice.
func (n *Notifier) raiseAlerts(ctx context.Context, v *responseView) error {
	rules, err := n.Store.ListAlertRules(ctx)
	if err != nil {
		return err
	}
	if len(v.sv.AlertTargets) > 0 {
		rules = append(rules, defaultRule(v.sv))
	}
	alerts, err := n.Store.AlertsForResponse(ctx, v.resp.ID)
	if err != nil {
		return err
	}
	byTarget := map[string]*store.Alert{}
	for _, a := range alerts { // oldest first: the first alert is the thread
		if byTarget[a.TargetKey] == nil {
			byTarget[a.TargetKey] = a
		}
	}
	for _, r := range rules {
		if !Matches(r, v.resp, v.contact) {
			continue
		}
		for _, t := range r.Targets {
			key := TargetKey(t)
			a := byTarget[key]
			switch {
			case a == nil:
				a, _, err = n.Store.CreateAlert(ctx, &store.Alert{
					ID: uuid.Must(uuid.NewV7()).String(), ResponseID: v.resp.ID, RuleID: r.ID,
					Target: t, TargetKey: key, Priority: r.Priority,
				})
				if err != nil {
					return err
				}
				byTarget[key] = a
				alerts = append(alerts, a)
			case higherPriority(r.Priority, a.Priority):
				if err := n.Store.RaiseAlertPriority(ctx, a.ID, r.Priority); err != nil {
					return err
				}
				a.Priority = r.Priority
			}
		}
	}
	for _, a := range alerts {
		if err := n.queueIfDue(ctx, a, v.resp.Comment); err != nil {
			return err
		}
	}
	return nil
}

// higherPriority reports whether priority p is above q: P1 is the highest.
func higherPriority(p, q string) bool { return p != "" && (q == "" || p < q) }

// sendDue reports whether alert a has a send to make, the response's
// comment being comment: the alert itself, or a follow-up with a comment
// it has not sent.
func sendDue(a *store.Alert, comment string) bool {
	return a.Status == store.AlertPending || a.Status == store.AlertSent && a.SentComment != comment
}

// queueIfDue queues the send a has to make, if any; a waiting alert has
// its target's flush instead.
func (n *Notifier) queueIfDue(ctx context.Context, a *store.Alert, comment string) error {
	if a.Status == store.AlertWaiting {
		return n.ensureFlush(ctx, a.TargetKey, flushJoinDelay)
	}
	if !sendDue(a, comment) {
		return nil
	}
	return n.Client.Enqueue(ctx, SendAlert{AlertID: a.ID}, asynq.TaskID(sendTaskID(a)),
		asynq.Queue(QueueAlerts), asynq.MaxRetry(n.Client.maxRetry))
}

// sendTaskID names the next send of alert a: its ID and how often it was
// sent. One task owns each send. However often Notify runs, or the comment
// changes, before it is done, the send is queued once, and it sends the
// response as it is when it runs; a task of a send already made finds it
// is not the owner (ownsSend). A comment saved while its owner runs is
// caught after the send (queueAfterSend).
func sendTaskID(a *store.Alert) string { return fmt.Sprintf("alert:%s:%d", a.ID, a.Sends) }

// ownsSend reports whether the running SendAlert task is the one of a's
// next send. A task queued under another ID (before sends were named) owns
// any.
func ownsSend(ctx context.Context, a *store.Alert) bool {
	id, _ := asynq.GetTaskID(ctx)
	n, ok := strings.CutPrefix(id, "alert:"+a.ID+":")
	return !ok || n == strconv.Itoa(a.Sends)
}

// queueAfterSend queues the follow-up of an alert whose comment changed
// while it was being sent: the Notify of that change found the send's task
// still there, and queued nothing.
func (n *Notifier) queueAfterSend(ctx context.Context, alertID string) {
	err := func() error {
		a, err := n.Store.GetAlert(ctx, alertID)
		if err != nil {
			return err
		}
		resp, err := n.Store.GetResponse(ctx, a.ResponseID)
		if err != nil {
			return err
		}
		if a.Status != store.AlertSent {
			return nil
		}
		return n.queueIfDue(ctx, a, resp.Comment)
	}()
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		n.Logger.Error("follow-up of a comment saved during the send not queued", "alert_id", alertID, "err", err)
	}
}

// answered cancels the reminders of an answered survey and gives the
// contact the rest that follows an answer, counted from when the survey
// was sent (so the task's delay does not change it).
func (n *Notifier) answered(ctx context.Context, v *responseView) error {
	if _, err := n.Store.CancelReminders(ctx, v.d.ID, "answered"); err != nil {
		return fmt.Errorf("cancel reminders: %w", err)
	}
	if n.Gate == nil {
		return nil
	}
	if err := n.Gate.Answered(ctx, v.d, v.sv); err != nil {
		return fmt.Errorf("fatigue window: %w", err)
	}
	return nil
}

// TargetKey names a target without its address in clear: chat addresses
// are secret webhook URLs.
func TargetKey(t store.Target) string {
	sum := sha256.Sum256([]byte(t.Address))
	return t.Channel + ":" + hex.EncodeToString(sum[:8])
}

// Waiting alerts and their flush.
//
// An alert whose target is rate-limited waits (status waiting) for one
// summary of every alert waiting for that target. Whatever set of alerts
// waits, exactly one flush task owns it: the one named after the oldest
// waiting alert ("alertflush:<target key>:<alert id>"). A flush that finds
// another alert the oldest leaves the alerts to that one's task, so two
// flushes never send the same alerts; a flush that cannot send yet is
// retried under its own ID after the provider's wait, and picks up the
// alerts that joined meanwhile; after a send, alerts that came during it
// have a new oldest and so a task of their own.
const (
	// flushJoinDelay is when the flush is due that an alert joining
	// others queues, should their task be gone: their own flush is
	// normally queued already, for the provider's time.
	flushJoinDelay  = 5 * time.Second
	flushTaskPrefix = "alertflush:"
)

// ensureFlush queues the flush that owns the alerts waiting for a target,
// due in at least in; nothing when one is queued already or none wait.
func (n *Notifier) ensureFlush(ctx context.Context, targetKey string, in time.Duration) error {
	waiting, err := n.Store.AlertsWaiting(ctx, targetKey)
	if err != nil || len(waiting) == 0 {
		return err
	}
	return n.Client.Enqueue(ctx, FlushAlerts{TargetKey: targetKey},
		asynq.TaskID(flushTaskPrefix+targetKey+":"+waiting[0].ID), asynq.ProcessIn(in),
		asynq.Queue(QueueAlerts), asynq.MaxRetry(n.Client.maxRetry))
}

// flushOwner is the alert a running flush was queued for, from its task
// ID ("" for a flush queued before flushes were named so: it owns any).
func flushOwner(ctx context.Context, targetKey string) string {
	id, _ := asynq.GetTaskID(ctx)
	owner, _ := strings.CutPrefix(id, flushTaskPrefix+targetKey+":")
	if owner == id {
		return ""
	}
	return owner
}

// toWaiting moves alerts to waiting for their target's summary, with
// reason, and makes sure a flush is queued, due in at least in.
func (n *Notifier) toWaiting(ctx context.Context, targetKey string, alerts []*store.Alert, reason string, in time.Duration) error {
	for _, a := range alerts {
		if err := n.Store.UpdateAlert(ctx, a.ID, store.AlertUpdate{Status: store.AlertWaiting, Reason: reason}); err != nil {
			return err
		}
	}
	n.Logger.Warn("alert target rate-limited; alerts wait for one summary", "target", targetKey,
		"alerts", len(alerts), "reason", reason, "retry_in", in)
	return n.ensureFlush(ctx, targetKey, in)
}

// takeToken takes a token of the robot's rate bucket, the one its surveys
// take from (Gate.Token), so that alerts and surveys together stay under
// the provider's limit: DingTalk blocks a robot for 10 minutes past it.
// It returns how long to wait when there is none, or while the provider
// blocks the robot (Gate.Block); nothing is taken then. Email and SMS
// senders are shared by every survey, and an alert to a person on call
// does not queue behind a campaign: they take no token.
func (n *Notifier) takeToken(ctx context.Context, t store.Target) (time.Duration, error) {
	if n.Gate == nil || !perRobot(t.Channel) {
		return 0, nil
	}
	wait, err := n.Gate.Token(ctx, t.Channel, t.Address, 1)
	if err != nil {
		return 0, fmt.Errorf("alert rate limit: %w", err)
	}
	return wait, nil
}

// blockTarget tells every worker that the provider refused the robot for
// wait, as the sender does for a survey, so that its surveys wait too.
func (n *Notifier) blockTarget(ctx context.Context, t store.Target, wait time.Duration) {
	if n.Gate == nil || !perRobot(t.Channel) {
		return
	}
	if err := n.Gate.Block(ctx, t.Channel, t.Address, time.Now().Add(wait)); err != nil {
		n.Logger.Error("provider's rate limit not shared with the other workers", "target", TargetKey(t), "err", err)
	}
}

// perRobot reports whether a channel's rate limit is one target's own (a
// chat robot or webhook), not a sender's that every message shares.
func perRobot(channel string) bool {
	return channel != "email" && TemplateFamily(channel) != "sms"
}

// SendAlert sends one alert, or its follow-up when the comment changed.
// While other alerts wait for its target, or the target's rate limit is
// used up, it does not call the provider: the alert waits for the
// target's summary.
func (n *Notifier) SendAlert(ctx context.Context, args SendAlert) error {
	a, err := n.Store.GetAlert(ctx, args.AlertID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	v, err := n.load(ctx, a.ResponseID)
	if errors.Is(err, store.ErrNotFound) {
		return n.Store.UpdateAlert(ctx, a.ID, store.AlertUpdate{Status: store.AlertFailed, Reason: "response erased"})
	}
	if err != nil {
		return err
	}
	if a.Status == store.AlertWaiting {
		return n.ensureFlush(ctx, a.TargetKey, flushJoinDelay) // the flush sends it
	}
	if !sendDue(a, v.resp.Comment) {
		return nil // sent, or failed for good
	}
	if !ownsSend(ctx, a) {
		// A task of a send made since: the next one has its own.
		return n.queueIfDue(ctx, a, v.resp.Comment)
	}
	waiting, err := n.Store.AlertsWaiting(ctx, a.TargetKey)
	if err != nil {
		return err
	}
	if len(waiting) > 0 {
		// The target refused the last call: another would be refused too
		// (and DingTalk counts it), so the alert joins the summary.
		return n.toWaiting(ctx, a.TargetKey, []*store.Alert{a}, "the target is rate-limited: waits for its summary", flushJoinDelay)
	}
	wait, err := n.takeToken(ctx, a.Target)
	if err != nil {
		return err
	}
	if wait > 0 {
		return n.toWaiting(ctx, a.TargetKey, []*store.Alert{a}, "the target's rate limit is used up: waits for its summary", wait)
	}
	msg := n.alertMessage(a, v)
	res, sendErr := n.send(ctx, a.Target, msg)
	if sendErr == nil {
		n.markSent(ctx, []*store.Alert{a}, []string{v.resp.Comment}, res)
		n.queueAfterSend(ctx, a.ID)
		return nil
	}
	words := providerWords(sendErr)
	if channels.KindOf(sendErr) == channels.RateLimited {
		n.Metrics.alert(a.Target.Channel, alertRateLimited, 1)
		wait := retryAfter(sendErr)
		n.blockTarget(ctx, a.Target, wait)
		return n.toWaiting(ctx, a.TargetKey, []*store.Alert{a}, words, wait)
	}
	return n.failed(ctx, []*store.Alert{a}, sendErr, words)
}

// send sends msg to target on the target's channel.
func (n *Notifier) send(ctx context.Context, target store.Target, msg *channels.Message) (channels.Result, error) {
	ch, err := n.Channels.Get(target.Channel)
	if err != nil {
		return channels.Result{}, &channels.Error{Channel: target.Channel, Kind: channels.Permanent, Message: err.Error(), Err: err}
	}
	msg.To = target.Address
	start := time.Now()
	res, err := ch.Send(ctx, msg)
	n.Metrics.provider(target.Channel, time.Since(start), err)
	return res, err
}

// markSent records a send on the alerts it carried, each with its own
// comment as sent. A failure to record is logged: the message is out, and
// sending it again would be worse than a stale status.
func (n *Notifier) markSent(ctx context.Context, alerts []*store.Alert, comments []string, res channels.Result) {
	for i, a := range alerts {
		u := store.AlertUpdate{Status: store.AlertSent, SentComment: &comments[i], ProviderMessageID: res.ProviderID, CountSend: true}
		if len(alerts) > 1 {
			u.Reason = fmt.Sprintf("merged into a summary of %d alerts", len(alerts))
		}
		if err := n.Store.UpdateAlert(ctx, a.ID, u); err != nil {
			n.Logger.Error("record alert", "alert_id", a.ID, "err", err)
		}
	}
	n.Metrics.alert(alerts[0].Target.Channel, alertSent, len(alerts))
	n.Logger.Info("alert sent", "target", alerts[0].TargetKey, "alerts", len(alerts))
}

// failed handles a send that did not go out and was not rate-limited: a
// permanent refusal, or a retryable one after the last retry, fails the
// alerts with the provider's words; an earlier retryable one is retried.
func (n *Notifier) failed(ctx context.Context, alerts []*store.Alert, sendErr error, words string) error {
	reason := words
	switch channels.KindOf(sendErr) {
	case channels.Permanent, channels.OptedOut:
	default:
		if retried, _ := asynq.GetRetryCount(ctx); retried < maxRetryOf(ctx) {
			n.Metrics.alert(alerts[0].Target.Channel, alertRetry, len(alerts))
			return sendErr
		}
		reason = "gave up: " + words
	}
	for _, a := range alerts {
		if err := n.Store.UpdateAlert(ctx, a.ID, store.AlertUpdate{Status: store.AlertFailed, Reason: reason}); err != nil {
			return err
		}
	}
	n.Metrics.alert(alerts[0].Target.Channel, alertFailed, len(alerts))
	n.Logger.Warn("alert failed", "target", alerts[0].TargetKey, "alerts", len(alerts), "reason", reason)
	return fmt.Errorf("%w: %w", sendErr, asynq.SkipRetry)
}

// providerWords is what the provider said, for an alert's reason.
func providerWords(err error) string {
	var pe *channels.Error
	if errors.As(err, &pe) && pe.Message != "" {
		return strings.TrimSpace(pe.Code + " " + pe.Message)
	}
	return err.Error()
}

// retryAfter is the provider's wait on a rate-limited error, a minute when
// it named none.
func retryAfter(err error) time.Duration {
	var pe *channels.Error
	if errors.As(err, &pe) && pe.RetryAfter > 0 {
		return pe.RetryAfter
	}
	return time.Minute
}

func maxRetryOf(ctx context.Context) int {
	n, _ := asynq.GetMaxRetry(ctx)
	return n
}

// FlushAlerts sends what waited for a target: the alert itself when one
// waited, one summary when several did. An alert is marked sent only once
// the provider took the message. While the target is still rate-limited
// the task is retried after the provider's wait (a wait, not a failure)
// and keeps the alerts, with any that join them meanwhile.
func (n *Notifier) FlushAlerts(ctx context.Context, args FlushAlerts) error {
	waiting, err := n.Store.AlertsWaiting(ctx, args.TargetKey)
	if err != nil || len(waiting) == 0 {
		return err
	}
	if owner := flushOwner(ctx, args.TargetKey); owner != "" && owner != waiting[0].ID {
		// Another alert is the oldest now: its flush owns these.
		return n.ensureFlush(ctx, args.TargetKey, flushJoinDelay)
	}
	var (
		views []*responseView
		keep  []*store.Alert
	)
	for _, a := range waiting {
		v, err := n.load(ctx, a.ResponseID)
		if errors.Is(err, store.ErrNotFound) {
			if err := n.Store.UpdateAlert(ctx, a.ID, store.AlertUpdate{Status: store.AlertFailed, Reason: "response erased"}); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		views, keep = append(views, v), append(keep, a)
	}
	if len(keep) == 0 || keep[0] != waiting[0] {
		// The oldest alert was erased: the others belong to the flush
		// of the new oldest.
		return n.ensureFlush(ctx, args.TargetKey, 0)
	}
	target := keep[0].Target
	wait, err := n.takeToken(ctx, target)
	if err != nil {
		return err
	}
	if wait > 0 {
		return fmt.Errorf("%w: %w", ErrRateLimited, &channels.Error{Channel: target.Channel, Kind: channels.RateLimited,
			RetryAfter: wait, Message: "the target's rate limit is used up"})
	}
	var msg *channels.Message
	if len(keep) == 1 {
		msg = n.alertMessage(keep[0], views[0])
	} else {
		msg = n.summaryMessage(keep, views)
	}
	res, sendErr := n.send(ctx, target, msg)
	if sendErr == nil {
		comments := make([]string, len(keep))
		for i, v := range views {
			comments[i] = v.resp.Comment
		}
		n.markSent(ctx, keep, comments, res)
		for _, a := range keep {
			n.queueAfterSend(ctx, a.ID)
		}
		// Alerts that joined during the send have a new oldest, and so
		// their own flush.
		return n.ensureFlush(ctx, args.TargetKey, 0)
	}
	words := providerWords(sendErr)
	if channels.KindOf(sendErr) == channels.RateLimited {
		n.Metrics.alert(target.Channel, alertRateLimited, len(keep))
		for _, a := range keep {
			if err := n.Store.UpdateAlert(ctx, a.ID, store.AlertUpdate{Status: store.AlertWaiting, Reason: words}); err != nil {
				return err
			}
		}
		wait := retryAfter(sendErr)
		n.blockTarget(ctx, target, wait)
		n.Logger.Warn("alert target still rate-limited; the summary waits", "target", args.TargetKey,
			"alerts", len(keep), "retry_in", wait)
		return fmt.Errorf("%w: %w", ErrRateLimited, &channels.Error{Channel: target.Channel, Kind: channels.RateLimited,
			RetryAfter: wait, Message: words, Err: sendErr})
	}
	err = n.failed(ctx, keep, sendErr, words)
	if errors.Is(err, asynq.SkipRetry) {
		if qerr := n.ensureFlush(ctx, args.TargetKey, 0); qerr != nil {
			return qerr
		}
	}
	return err
}

// sendID is the message ID of an alert's next send: the alert's ID for the
// alert itself, with the send's number for a follow-up. It is the same on
// every retry of one send, and differs between sends: the generic webhook
// sends it as webhook-id, which receivers deduplicate on.
func sendID(a *store.Alert) string {
	if a.Sends == 0 {
		return a.ID
	}
	return fmt.Sprintf("%s-%d", a.ID, a.Sends+1)
}

// summaryID is the message ID of a summary: from the alerts it carries and
// their sends, so a retry of one summary keeps it and another summary,
// even one that starts with the same alert, gets its own.
func summaryID(alerts []*store.Alert) string {
	h := sha256.New()
	for _, a := range alerts {
		fmt.Fprintf(h, "%s:%d\n", a.ID, a.Sends)
	}
	return "alerts-" + hex.EncodeToString(h.Sum(nil)[:12])
}

// responseLink is where a person who reads an alert finds the response:
// the dashboard's comments of the survey, newest first, narrowed to the
// score and the contact's account. /v1/responses/{id} needs an API key,
// and the dashboard has no page for one response.
func (n *Notifier) responseLink(v *responseView) string {
	q := url.Values{"survey": {v.resp.SurveyKey}, "score": {strconv.Itoa(v.resp.Score)}, "sort": {"newest"}}
	if v.contact != nil && v.contact.Account != "" {
		q.Set("account", v.contact.Account)
	}
	return n.Links.Base + "/dashboard/comments?" + q.Encode()
}

// alertMessage is what a person on call reads: who, how they scored, what
// they wrote, and where to look. An alert sent before goes out as a
// follow-up, with the alert's priority as it is now.
func (n *Notifier) alertMessage(a *store.Alert, v *responseView) *channels.Message {
	who := v.resp.ContactID
	if v.contact != nil && v.contact.Name != "" {
		who = v.contact.Name + " (" + v.resp.ContactID + ")"
	}
	var b strings.Builder
	title := fmt.Sprintf("[%s] %s %d/%d · %s", a.Priority, titleCase(string(v.resp.Category)), v.resp.Score, maxScore(v.sv), v.sv.ProductName)
	if a.Sends > 0 {
		title = "Update: " + title
	}
	b.WriteString(title + "\n")
	b.WriteString("Contact: " + who)
	if v.contact != nil && v.contact.Account != "" {
		b.WriteString(" · account " + v.contact.Account)
	}
	if v.contact != nil && v.contact.Role != "" {
		b.WriteString(" · " + v.contact.Role)
	}
	b.WriteString("\n")
	if v.resp.Comment != "" {
		b.WriteString("Comment: “" + v.resp.Comment + "”\n")
	}
	if v.resp.MayContact != nil {
		if *v.resp.MayContact {
			b.WriteString("May we contact them: yes\n")
		} else {
			b.WriteString("May we contact them: no\n")
		}
	}
	link := n.responseLink(v)
	b.WriteString("Response: " + link)
	return &channels.Message{DeliveryID: sendID(a), Kind: "alert", Locale: "en", Subject: title, Text: b.String(), ReplyURL: link}
}

func (n *Notifier) summaryMessage(alerts []*store.Alert, views []*responseView) *channels.Message {
	var b strings.Builder
	title := fmt.Sprintf("%d alerts while this channel was rate-limited", len(alerts))
	b.WriteString(title + "\n")
	for i, a := range alerts {
		v := views[i]
		b.WriteString("• ")
		if a.Sends > 0 {
			b.WriteString("Update: ")
		}
		fmt.Fprintf(&b, "[%s] %s %d/%d · %s", a.Priority, v.resp.Category, v.resp.Score, maxScore(v.sv), v.resp.ContactID)
		if v.contact != nil && v.contact.Account != "" {
			b.WriteString(" · account " + v.contact.Account)
		}
		if v.resp.Comment != "" {
			c := v.resp.Comment
			if r := []rune(c); len(r) > 140 {
				c = string(r[:140]) + "…"
			}
			b.WriteString(": “" + c + "”")
		}
		b.WriteString(" " + n.responseLink(v) + "\n")
	}
	return &channels.Message{DeliveryID: summaryID(alerts), Kind: "alert", Locale: "en", Subject: title, Text: strings.TrimSpace(b.String())}
}

func maxScore(sv *store.Survey) int { _, hi := sv.Kind.Range(); return hi }

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Fanout gives every enabled subscription to the event's type its own
// copy, each sent and retried on its own.
func (n *Notifier) Fanout(ctx context.Context, args FanoutEvent) error {
	subs, err := n.Store.ListWebhooks(ctx)
	if err != nil {
		return err
	}
	payload, err := json.Marshal(args.Event)
	if err != nil {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	for _, s := range subs {
		if !s.Enabled || !subscribed(s.Events, args.Event.Type) {
			continue
		}
		e := &store.WebhookEvent{ID: "msg_" + strings.ReplaceAll(uuid.Must(uuid.NewV7()).String(), "-", ""),
			SubscriptionID: s.ID, EventID: args.Event.ID, Type: args.Event.Type, Payload: payload}
		if _, err := n.Store.CreateWebhookEvent(ctx, e); err != nil {
			return err
		}
		if e.Status != "pending" {
			continue // this task ran before, and the event went on
		}
		// A pending event is queued again when this task ran before: its
		// enqueue may have failed, and nothing else would queue it. The
		// task ID is the event's, so one still queued is not queued twice.
		if err := n.Client.Enqueue(ctx, SendWebhook{EventID: e.ID}, asynq.TaskID("webhook:"+e.ID),
			asynq.Queue(QueueWebhooks), asynq.MaxRetry(len(n.backoff()))); err != nil {
			return err
		}
	}
	return nil
}

func subscribed(events []string, typ string) bool {
	for _, e := range events {
		if e == typ || e == "*" {
			return true
		}
	}
	return false
}

// webhookBackoff is the wait before each retry of a webhook event: about
// 24 hours in all, then the event is kept as failed for a replay.
var webhookBackoff = []time.Duration{
	5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 8 * time.Hour,
}

// WebhookRetries is how often a webhook event is retried on the default
// schedule; a replay gets the same budget.
var WebhookRetries = len(webhookBackoff)

// maxWebhookAnswer is how much of a receiver's answer is kept per attempt.
const maxWebhookAnswer = 2048

// SendWebhook posts an event, signed by the Standard Webhooks scheme with
// the subscription's secret, and records the attempt.
func (n *Notifier) SendWebhook(ctx context.Context, args SendWebhook) error {
	e, err := n.Store.GetWebhookEvent(ctx, args.EventID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if e.Status != "pending" {
		return nil
	}
	sub, err := n.Store.GetWebhook(ctx, e.SubscriptionID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	start := time.Now()
	status, answer, postErr := n.post(ctx, sub, e)
	att := store.WebhookAttempt{At: start, StatusCode: status, Response: answer, Duration: time.Since(start)}
	if postErr != nil {
		att.Error = postErr.Error()
	}
	ok := postErr == nil && status >= 200 && status < 300
	next := "pending"
	retried, _ := asynq.GetRetryCount(ctx)
	switch {
	case ok:
		next = "succeeded"
	case retried >= len(n.backoff()):
		next = "failed"
	}
	if err := n.Store.RecordWebhookAttempt(ctx, e.ID, next, att); err != nil {
		return err
	}
	n.Metrics.webhook(next)
	switch next {
	case "succeeded":
		return nil
	case "failed":
		n.Logger.Warn("webhook event failed for good", "event_id", e.ID, "status", status)
		return fmt.Errorf("webhook %s: gave up: %w", e.ID, asynq.SkipRetry)
	}
	if postErr != nil {
		return fmt.Errorf("webhook %s: %w", e.ID, postErr)
	}
	return fmt.Errorf("webhook %s: answered %d", e.ID, status)
}

// post signs and sends an event with the same code the webhook channel
// uses (Standard Webhooks; no redirects; bounded answers).
func (n *Notifier) post(ctx context.Context, sub *store.WebhookSubscription, e *store.WebhookEvent) (int, string, error) {
	signer, err := webhook.NewSigner(sub.Secret)
	if err != nil {
		return 0, "", fmt.Errorf("subscription secret: %w", err)
	}
	n.hooksOnce.Do(func() {
		n.hooks, n.hooksErr = chathttp.New("webhooks", chathttp.Config{Transport: n.Transport})
	})
	if n.hooksErr != nil {
		return 0, "", n.hooksErr
	}
	resp, err := webhook.Deliver(ctx, n.hooks, sub.URL, signer, e.ID, e.Payload)
	if resp == nil {
		return 0, "", err
	}
	body := string(resp.Body)
	if len(body) > maxWebhookAnswer {
		body = body[:maxWebhookAnswer]
	}
	// A non-2xx answer is recorded from its status; only a failure to get
	// an answer at all is an error here.
	return resp.Status, body, nil
}

func (n *Notifier) backoff() []time.Duration {
	if len(n.WebhookBackoff) > 0 {
		return n.WebhookBackoff
	}
	return webhookBackoff
}

// webhookDelay is the delay before webhook retry i (0-based).
func (n *Notifier) webhookDelay(i int) time.Duration {
	b := n.backoff()
	if i >= len(b) {
		return b[len(b)-1]
	}
	return b[i]
}
