package dispatcher

import (
	"context"
	"fmt"
	"sync"

	"github.com/npsgate/npsgate/store"
)

// enqueueParallelism bounds the enqueues ScheduleDeliveries has in flight.
// An enqueue is one Redis round trip, so one after the other mostly waits;
// 16 stays below go-redis's default pool (10 per CPU) so that other users
// of the client still get a connection.
const enqueueParallelism = 16

// ScheduleDeliveries enqueues the sends of many deliveries whose rows are
// already written: as SendBatch tasks of up to BatchSize deliveries of one
// channel family due in the same second, or as a SendDelivery where a
// delivery is alone, with up to 16 enqueues in flight. A batch's task ID
// names its first delivery and its size, so the same page of a campaign
// queued again adds nothing. It returns the first error after every enqueue
// started has ended; after an error no further enqueue starts. The
// deliveries not queued stay queued in the store, where the recoverer
// finds them.
func (c *Client) ScheduleDeliveries(ctx context.Context, ds []*store.Delivery) error {
	return scheduleAll(ctx, batches(ds), enqueueParallelism, c.scheduleChunk)
}

// scheduleAll runs schedule for every item, at most n at once, and returns
// the first error (with how many failed).
func scheduleAll[T any](ctx context.Context, ds []T, n int, schedule func(context.Context, T) error) error {
	if len(ds) == 0 {
		return nil
	}
	if len(ds) == 1 || n <= 1 {
		for _, d := range ds {
			if err := schedule(ctx, d); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu     sync.Mutex
		first  error
		failed int
		wg     sync.WaitGroup
		next   = make(chan T)
	)
	for range min(n, len(ds)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range next {
				if err := schedule(ctx, d); err != nil {
					mu.Lock()
					if first == nil {
						first = err
						cancel() // stop handing out more work
					}
					failed++
					mu.Unlock()
				}
			}
		}()
	}
	handed := 0
feed:
	for _, d := range ds {
		select {
		case next <- d:
			handed++
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first == nil {
		if handed < len(ds) {
			// The caller's context ended before every send was queued.
			return fmt.Errorf("schedule deliveries: %d of %d not queued: %w", len(ds)-handed, len(ds), ctx.Err())
		}
		return nil
	}
	if failed > 1 {
		return fmt.Errorf("%w (and %d more enqueues failed)", first, failed-1)
	}
	return first
}
