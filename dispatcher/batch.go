package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/store"
)

// BatchSize is the most deliveries one SendBatch carries. Past a few dozen
// the saving per message is small, and a batch is the unit a crash or a
// shutdown hands back.
const BatchSize = 50

// batchTimeout bounds a whole batch: several sends of a hung provider
// fit. What is left when it runs out goes back with the task's retry.
const batchTimeout = 10 * time.Minute

// errStopping is returned by a batch cut short by a shutdown: its
// remaining deliveries are still queued and the task's retry sends them.
var errStopping = errors.New("worker stopping: the rest of the batch goes with the retry")

// SendBatch sends the deliveries of a batch: one read of the deliveries,
// one of their contacts, one of each survey, then the pipeline of Send for
// each, one after the other. A delivery that must be tried again later goes on
// as a SendDelivery of its own; the batch fails (and is retried, skipping
// what it sent) only when that cannot be queued.
func (s *Sender) SendBatch(ctx context.Context, args SendBatch) error {
	ds, err := s.Store.GetDeliveries(ctx, args.IDs)
	if err != nil {
		return fmt.Errorf("load batch: %w", err)
	}
	var contactIDs []string
	surveys := map[string]*store.Survey{}
	for _, d := range ds {
		contactIDs = append(contactIDs, d.ContactID)
		surveys[d.SurveyKey] = nil
	}
	contacts, err := s.Store.GetContacts(ctx, contactIDs)
	if err != nil {
		return fmt.Errorf("load batch contacts: %w", err)
	}
	for key := range surveys {
		sv, err := s.Store.GetSurvey(ctx, key)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("load survey %q: %w", key, err)
		}
		surveys[key] = sv // nil when gone: send reports it per delivery
	}
	// A retried batch is one whose worker died or was stopped: what it
	// left sending is the documented duplicate window.
	retried, _ := asynq.GetRetryCount(ctx)

	// One send at a time: a worker slot is one send in flight, as
	// worker.concurrency says, and the crash window stays one message per
	// slot. What batching saves is the task and the reads, not the wait.
	var firstErr error
	left := 0
	for _, d := range ds {
		if s.stopping.Load() || ctx.Err() != nil {
			left++
			continue
		}
		log := s.Logger.With("delivery_id", d.ID)
		err := s.send(ctx, log, d, &prefetched{contact: contacts[d.ContactID], survey: surveys[d.SurveyKey]}, retried > 0)
		if err == nil || errors.Is(err, asynq.SkipRetry) {
			continue
		}
		if qerr := s.retryAlone(ctx, d, err); qerr != nil {
			log.Error("delivery of a batch not queued for its retry; the batch is retried", "err", qerr)
			if firstErr == nil {
				firstErr = qerr
			}
		}
	}
	if firstErr != nil {
		return firstErr
	}
	if left > 0 {
		return fmt.Errorf("%w (%d left)", errStopping, left)
	}
	return nil
}

// retryAlone queues a delivery of a batch that must wait (a retryable
// error, a rate limit, a deferral) as a task of its own, due when asynq
// would have retried it.
func (s *Sender) retryAlone(ctx context.Context, d *store.Delivery, err error) error {
	if s.Events == nil {
		return err
	}
	var after time.Duration
	var pe *channels.Error
	switch {
	case errors.As(err, &pe) && pe.Kind == channels.RateLimited && pe.RetryAfter > 0:
		after = pe.RetryAfter + time.Second
	case s.retryDelay != nil:
		after = s.retryDelay(0, err, nil)
	default:
		after = 10 * time.Second
	}
	return s.Events.enqueueDelivery(ctx, d, SendDelivery{ID: d.ID}, asynq.ProcessIn(after))
}

// batchSpread is how many tasks a group of deliveries is spread over at
// least, up to one per delivery: a batch sends one message after the other,
// so a small campaign on a slow provider must still use several slots.
const batchSpread = 16

// batchSize is the size of the batches of a group of n deliveries.
func batchSize(n int) int { return min(BatchSize, max(1, n/batchSpread)) }

// batches cuts deliveries into the chunks ScheduleDeliveries queues: of
// one channel family due in the same second, batchSize of them, in the
// order given, so the same page cuts the same way again.
func batches(ds []*store.Delivery) [][]*store.Delivery {
	type group struct {
		family string
		at     int64
	}
	groups := map[group][]*store.Delivery{}
	var order []group
	for _, d := range ds {
		g := group{TemplateFamily(d.Channel), d.SendAt.Unix()}
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], d)
	}
	var out [][]*store.Delivery
	for _, g := range order {
		size := batchSize(len(groups[g]))
		for i := 0; i < len(groups[g]); i += size {
			out = append(out, groups[g][i:min(i+size, len(groups[g]))])
		}
	}
	return out
}

func (c *Client) scheduleChunk(ctx context.Context, ds []*store.Delivery) error {
	if len(ds) == 1 {
		return c.ScheduleDelivery(ctx, ds[0])
	}
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	opts := []asynq.Option{
		asynq.TaskID("batch:" + ids[0] + ":" + strconv.Itoa(len(ids))),
		asynq.Queue(DeliveryQueue(ds[0].Channel)),
		asynq.MaxRetry(c.maxRetry),
		asynq.Timeout(batchTimeout),
	}
	if time.Until(ds[0].SendAt) > 0 {
		opts = append(opts, asynq.ProcessAt(ds[0].SendAt))
	}
	return c.Enqueue(ctx, SendBatch{IDs: ids}, opts...)
}
