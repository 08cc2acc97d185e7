package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"time"

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
	opts := []asynq.Option{
		asynq.TaskID(d.ID),
		asynq.Queue(QueueDeliveries),
		asynq.MaxRetry(c.maxRetry),
		// A send takes one provider call; anything longer is a hung
		// provider and must give the slot back.
		asynq.Timeout(2 * time.Minute),
	}
	if time.Until(d.SendAt) > 0 {
		opts = append(opts, asynq.ProcessAt(d.SendAt))
	}
	return c.Enqueue(ctx, SendDelivery{ID: d.ID}, opts...)
}
