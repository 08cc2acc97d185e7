// Package dispatcher owns the background work of npsgate on asynq: the task
// types, the client that enqueues them and the worker that runs them (the
// send pipeline: gate, render, send, record).
package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

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
}

// Kind implements TaskArgs.
func (SendDelivery) Kind() string { return "delivery:send" }

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
