package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/npsgate/npsgate/store"
)

// Client enqueues work. It is safe for concurrent use.
type Client struct {
	c        *asynq.Client
	maxRetry int
}

// NewClient returns a client on the given Redis connection. maxRetry is how
// often a retryable send is tried again (asynq's MaxRetry).
func NewClient(r asynq.RedisConnOpt, maxRetry int) *Client {
	return &Client{c: asynq.NewClient(r), maxRetry: maxRetry}
}

// Close releases the Redis connection.
func (c *Client) Close() error { return c.c.Close() }

// Enqueue adds one task. A task whose ID is already queued is not an error:
// that is how a replayed trigger or a second scheduler stays harmless.
func (c *Client) Enqueue(ctx context.Context, args TaskArgs, opts ...asynq.Option) error {
	t, err := newTask(args, opts...)
	if err != nil {
		return err
	}
	if _, err := c.c.EnqueueContext(ctx, t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue %s: %w", args.Kind(), err)
	}
	return nil
}

// ScheduleDelivery enqueues the send of a delivery whose row is already
// written. The task ID is the delivery ID, so the same delivery is never
// queued twice.
func (c *Client) ScheduleDelivery(ctx context.Context, d *store.Delivery) error {
	var opts []asynq.Option
	if time.Until(d.SendAt) > 0 {
		opts = append(opts, asynq.ProcessAt(d.SendAt))
	}
	return c.enqueueDelivery(ctx, d, SendDelivery{ID: d.ID}, opts...)
}

// ResumeDelivery queues again a delivery left sending by a worker that
// died or lost the database mid-send; it is sent again (the documented
// duplicate window) unless its task still exists.
func (c *Client) ResumeDelivery(ctx context.Context, d *store.Delivery) error {
	return c.enqueueDelivery(ctx, d, SendDelivery{ID: d.ID, Resume: true})
}

func (c *Client) enqueueDelivery(ctx context.Context, d *store.Delivery, args SendDelivery, extra ...asynq.Option) error {
	opts := append([]asynq.Option{
		asynq.TaskID(d.ID),
		asynq.Queue(DeliveryQueue(d.Channel)),
		asynq.MaxRetry(c.maxRetry),
		// A send takes one provider call; anything longer is a hung
		// provider and must give the slot back.
		asynq.Timeout(SendTimeout),
	}, extra...)
	return c.Enqueue(ctx, args, opts...)
}

// NotifyResponse queues the closed loop for a saved response.
func (c *Client) NotifyResponse(ctx context.Context, responseID, event string) error {
	return c.Enqueue(ctx, NotifyResponse{ResponseID: responseID, Event: event},
		asynq.Queue(QueueAlerts), asynq.MaxRetry(c.maxRetry))
}

// Emit queues an event for the webhook subscriptions. data is marshalled
// as the event's "data".
func (c *Client) Emit(ctx context.Context, typ string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode %s: %w", typ, err)
	}
	ev := Event{ID: uuid.Must(uuid.NewV7()).String(), Type: typ, Timestamp: time.Now().UTC().Format(time.RFC3339), Data: b}
	return c.Enqueue(ctx, FanoutEvent{Event: ev}, asynq.TaskID("event:"+ev.ID), asynq.Queue(QueueWebhooks), asynq.MaxRetry(c.maxRetry))
}
