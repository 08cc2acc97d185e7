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
	rules, err := n.Store.ListAlertRules(ctx)
	if err != nil {
		return err
	}
	if len(v.sv.AlertTargets) > 0 {
		rules = append(rules, defaultRule(v.sv))
	}
	for _, r := range rules {
		if !Matches(r, v.resp, v.contact) {
			continue
		}
		for _, t := range r.Targets {
			a, created, err := n.Store.CreateAlert(ctx, &store.Alert{
				ID: uuid.Must(uuid.NewV7()).String(), ResponseID: v.resp.ID, RuleID: r.ID,
				Target: t, TargetKey: TargetKey(t), Priority: r.Priority,
			})
			if err != nil {
				return err
			}
			// A new comment on an alert already sent is a follow-up on the
			// same alert; a pending or waiting one will carry it anyway.
			if created || (a.Status == store.AlertSent && v.resp.Comment != a.SentComment) {
				if err := n.Client.Enqueue(ctx, SendAlert{AlertID: a.ID}, asynq.Queue(QueueAlerts), asynq.MaxRetry(n.Client.maxRetry)); err != nil {
					return err
				}
			}
		}
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

// SendAlert sends one alert, or its follow-up when the comment changed.
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
		return nil
	}
	if err != nil {
		return err
	}
	if a.Status == store.AlertSent && a.SentComment == v.resp.Comment {
		return nil // a replayed task
	}
	if a.Status == store.AlertWaiting {
		return nil // the flush of its target sends it
	}
	msg := n.alertMessage(a, v, a.Status == store.AlertSent)
	return n.deliverAlerts(ctx, a.Target, []*store.Alert{a}, msg, v.resp.Comment)
}

// deliverAlerts sends msg for alerts to target and records the outcome on
// each of them.
func (n *Notifier) deliverAlerts(ctx context.Context, target store.Target, alerts []*store.Alert, msg *channels.Message, comment string) error {
	log := n.Logger.With("target", TargetKey(target), "alerts", len(alerts))
	ch, err := n.Channels.Get(target.Channel)
	if err != nil {
		n.markAlerts(ctx, alerts, store.AlertUpdate{Status: store.AlertFailed, Reason: err.Error()})
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	msg.To = target.Address
	res, sendErr := ch.Send(ctx, msg)
	if sendErr == nil {
		c := comment
		n.markAlerts(ctx, alerts, store.AlertUpdate{Status: store.AlertSent, SentComment: &c, ProviderMessageID: res.ProviderID, CountSend: true})
		log.Info("alert sent")
		return nil
	}
	var pe *channels.Error
	words := sendErr.Error()
	if errors.As(sendErr, &pe) && pe.Message != "" {
		words = strings.TrimSpace(pe.Code + " " + pe.Message)
	}
	switch channels.KindOf(sendErr) {
	case channels.RateLimited:
		// Several alerts waiting for a blocked robot become one summary
		// when it opens again, rather than a queue of retries.
		n.markAlerts(ctx, alerts, store.AlertUpdate{Status: store.AlertWaiting, Reason: words})
		wait := time.Minute
		if pe != nil && pe.RetryAfter > 0 {
			wait = pe.RetryAfter
		}
		err := n.Client.Enqueue(ctx, FlushAlerts{TargetKey: TargetKey(target)},
			asynq.TaskID("alertflush:"+TargetKey(target)), asynq.ProcessIn(wait),
			asynq.Queue(QueueAlerts), asynq.MaxRetry(n.Client.maxRetry))
		log.Warn("alert target rate-limited; alerts wait for one summary", "retry_in", wait)
		return err
	case channels.Permanent, channels.OptedOut:
		n.markAlerts(ctx, alerts, store.AlertUpdate{Status: store.AlertFailed, Reason: words})
		return fmt.Errorf("%w: %w", sendErr, asynq.SkipRetry)
	}
	if retried, _ := asynq.GetRetryCount(ctx); retried >= maxRetryOf(ctx) {
		n.markAlerts(ctx, alerts, store.AlertUpdate{Status: store.AlertFailed, Reason: "gave up: " + words})
		return fmt.Errorf("%w: %w", sendErr, asynq.SkipRetry)
	}
	return sendErr
}

func maxRetryOf(ctx context.Context) int {
	n, _ := asynq.GetMaxRetry(ctx)
	return n
}

func (n *Notifier) markAlerts(ctx context.Context, alerts []*store.Alert, u store.AlertUpdate) {
	for _, a := range alerts {
		if err := n.Store.UpdateAlert(ctx, a.ID, u); err != nil {
			n.Logger.Error("record alert", "alert_id", a.ID, "err", err)
		}
	}
}

// FlushAlerts sends what waited for a target: the alert itself when one
// waited, one summary when several did.
func (n *Notifier) FlushAlerts(ctx context.Context, args FlushAlerts) error {
	waiting, err := n.Store.AlertsWaiting(ctx, args.TargetKey)
	if err != nil || len(waiting) == 0 {
		return err
	}
	var (
		views []*responseView
		keep  []*store.Alert
	)
	for _, a := range waiting {
		v, err := n.load(ctx, a.ResponseID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		views, keep = append(views, v), append(keep, a)
	}
	if len(keep) == 0 {
		return nil
	}
	var msg *channels.Message
	if len(keep) == 1 {
		msg = n.alertMessage(keep[0], views[0], false)
	} else {
		msg = n.summaryMessage(keep, views)
	}
	err = n.deliverAlerts(ctx, keep[0].Target, keep, msg, views[len(views)-1].resp.Comment)
	if err != nil && channels.KindOf(err) == channels.RateLimited {
		// Still blocked: this task's own retry waits the provider's time.
		return fmt.Errorf("%w: %w", ErrRateLimited, err)
	}
	if len(keep) > 1 {
		// Each alert records its own comment, not the last one's.
		for i, a := range keep {
			c := views[i].resp.Comment
			_ = n.Store.UpdateAlert(ctx, a.ID, store.AlertUpdate{Status: store.AlertSent, SentComment: &c, Reason: "merged into a summary"})
		}
	}
	return err
}

// alertMessage is what a person on call reads: who, how they scored, what
// they wrote, and where to look.
func (n *Notifier) alertMessage(a *store.Alert, v *responseView, followUp bool) *channels.Message {
	who := v.resp.ContactID
	if v.contact != nil && v.contact.Name != "" {
		who = v.contact.Name + " (" + v.resp.ContactID + ")"
	}
	var b strings.Builder
	title := fmt.Sprintf("[%s] %s %d/%d · %s", a.Priority, titleCase(string(v.resp.Category)), v.resp.Score, maxScore(v.sv), v.sv.ProductName)
	if followUp {
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
	link := n.Links.Base + "/v1/responses/" + v.resp.ID
	b.WriteString("Response: " + link)
	return &channels.Message{DeliveryID: a.ID, Kind: "alert", Locale: "en", Subject: title, Text: b.String(), ReplyURL: link}
}

func (n *Notifier) summaryMessage(alerts []*store.Alert, views []*responseView) *channels.Message {
	var b strings.Builder
	title := fmt.Sprintf("%d alerts while this channel was rate-limited", len(alerts))
	b.WriteString(title + "\n")
	for i, a := range alerts {
		v := views[i]
		fmt.Fprintf(&b, "• [%s] %s %d/%d · %s", a.Priority, v.resp.Category, v.resp.Score, maxScore(v.sv), v.resp.ContactID)
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
		b.WriteString(" " + n.Links.Base + "/v1/responses/" + v.resp.ID + "\n")
	}
	return &channels.Message{DeliveryID: alerts[0].ID + "-summary", Kind: "alert", Locale: "en", Subject: title, Text: strings.TrimSpace(b.String())}
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
		created, err := n.Store.CreateWebhookEvent(ctx, e)
		if err != nil {
			return err
		}
		if !created {
			continue // this task ran before and queued it
		}
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
