// Package dispatcher owns the background work of npsgate on asynq: the task
// types, the client that enqueues them and the worker that runs them (the
// send pipeline: gate, render, send, record).
package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// TaskArgs is a typed task payload. Kind is the asynq task type; the payload
// is the JSON of the value, so a handler gets its own type back.
type TaskArgs interface {
	Kind() string
}

// SendDelivery sends one delivery through the pipeline.
type SendDelivery struct {
	ID string `json:"id"`
	// Resume sends a delivery left sending by a worker that died or lost
	// the database mid-send: the documented duplicate window. Without it a
	// sending delivery belongs to whoever marked it.
	Resume bool `json:"resume,omitempty"`
}

// Kind implements TaskArgs.
func (SendDelivery) Kind() string { return "delivery:send" }

// SendBatch sends many deliveries of one channel family, due at the same
// time, in one task: one read of the deliveries and one of their contacts,
// and one asynq task instead of one per message, which alone capped a
// worker below asynq's no-op task rate. A delivery that must wait (a
// retryable error, a rate limit, quiet hours) goes on as a SendDelivery of
// its own, with its own retries.
type SendBatch struct {
	IDs []string `json:"ids"`
}

// Kind implements TaskArgs.
func (SendBatch) Kind() string { return "delivery:send-batch" }

// Queue names. Deliveries have their own queue so that later kinds of work
// (alerts, webhooks) can be weighted against them.
const (
	QueueDeliveries = "deliveries"
)

// newTask builds the asynq task of args.
func newTask(args TaskArgs, opts ...asynq.Option) (*asynq.Task, error) {
	b, err := json.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", args.Kind(), err)
	}
	return asynq.NewTask(args.Kind(), b, opts...), nil
}

// handle adapts a typed handler to asynq. A payload that does not decode can
// never succeed, so it is not retried.
func handle[T TaskArgs](fn func(context.Context, T) error) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		var args T
		if err := json.Unmarshal(t.Payload(), &args); err != nil {
			return fmt.Errorf("decode %s: %v: %w", t.Type(), err, asynq.SkipRetry)
		}
		return fn(ctx, args)
	})
}

// register adds the typed handler for T's kind to the mux.
func register[T TaskArgs](mux *asynq.ServeMux, fn func(context.Context, T) error) {
	var zero T
	mux.Handle(zero.Kind(), handle(fn))
}

// ErrRateLimited is returned (wrapped) by a handler that waits for a
// provider's rate limit: asynq then retries it after the provider's delay
// without counting a failure.
var ErrRateLimited = errors.New("rate limited")

// NotifyResponse runs the closed loop for a saved response: alert rules and
// webhook events. Event is "response.created" or "response.updated".
type NotifyResponse struct {
	ResponseID string `json:"response_id"`
	Event      string `json:"event"`
}

// Kind implements TaskArgs.
func (NotifyResponse) Kind() string { return "response:notify" }

// SendAlert brings one alert to its target (or a follow-up with a new
// comment).
type SendAlert struct {
	AlertID string `json:"alert_id"`
}

// Kind implements TaskArgs.
func (SendAlert) Kind() string { return "alert:send" }

// FlushAlerts sends the alerts that waited for a rate-limited target as one
// summary.
type FlushAlerts struct {
	TargetKey string `json:"target_key"`
}

// Kind implements TaskArgs.
func (FlushAlerts) Kind() string { return "alert:flush" }

// FanoutEvent turns one event into a webhook event per subscription.
type FanoutEvent struct {
	Event Event `json:"event"`
}

// Kind implements TaskArgs.
func (FanoutEvent) Kind() string { return "event:fanout" }

// SendWebhook posts one webhook event to its subscription.
type SendWebhook struct {
	EventID string `json:"event_id"`
}

// Kind implements TaskArgs.
func (SendWebhook) Kind() string { return "webhook:send" }

// Event is what subscribers receive, in the Standard Webhooks shape:
// {"type": …, "timestamp": …, "data": {…}}. ID is unique per event; each
// subscription's copy gets its own webhook-id.
type Event struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// Event types subscribers can choose.
const (
	EventResponseCreated = "response.created"
	EventResponseUpdated = "response.updated"
	EventDeliveryFailed  = "delivery.failed"
	EventContactOptedOut = "contact.opted_out"
	QueueAlerts          = "alerts"
	QueueWebhooks        = "webhooks"
)

// EventTypes lists the event types, for validation.
var EventTypes = []string{EventResponseCreated, EventResponseUpdated, EventDeliveryFailed, EventContactOptedOut}

// StartRun starts run Number of a campaign, due at At. Its task ID names
// the campaign and the number, so however many schedulers see the campaign
// due, the run starts once.
type StartRun struct {
	CampaignID string    `json:"campaign_id"`
	Number     int       `json:"number"`
	At         time.Time `json:"at"`
}

// Kind implements TaskArgs.
func (StartRun) Kind() string { return "campaign:run" }

// FanoutPage turns the next page of a run's audience into deliveries.
type FanoutPage struct {
	RunID string `json:"run_id"`
}

// Kind implements TaskArgs.
func (FanoutPage) Kind() string { return "campaign:fanout" }

// SweepCampaign carries a cancel or a resume out over a campaign's
// deliveries in the background, in pages: the request only moves the
// campaign's status (which every send re-reads, so the move takes effect at
// once) and queues this. Cancel suppresses what was not sent; resume
// queues again what the pause held, from the delivery ID After on.
type SweepCampaign struct {
	CampaignID string `json:"campaign_id"`
	Action     string `json:"action"` // SweepCancel or SweepResume
	After      string `json:"after,omitempty"`
}

// Kind implements TaskArgs.
func (SweepCampaign) Kind() string { return "campaign:sweep" }

// The actions of a SweepCampaign.
const (
	SweepCancel = "cancel"
	SweepResume = "resume"
)

// QueueCampaigns holds the runs and their fan-out pages.
const QueueCampaigns = "campaigns"

// DeliveryQueue is the queue of a channel's surveys: one per template
// family (email, sms, chat), so a slow SMTP relay with a backlog does not
// hold up SMS or chat surveys behind it.
func DeliveryQueue(channel string) string { return QueueDeliveries + ":" + TemplateFamily(channel) }
