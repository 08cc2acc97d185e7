package dispatcher

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/npsgate/npsgate/store"
)

// Recoverer re-queues deliveries whose task is gone: the API wrote the row
// but Redis was down when it tried to enqueue, or the in-process Redis was
// lost with a restart. The store is the outbox and the source of truth;
// re-enqueueing is safe because the task ID is the delivery ID, so a
// delivery whose task still exists is not queued twice.
type Recoverer struct {
	Store  *store.Store
	Client *Client
	Logger *slog.Logger
	// Interval between sweeps. Default 1m.
	Interval time.Duration
	// Grace is how long past its send time a queued delivery may wait
	// before it counts as lost. Default 2m.
	Grace time.Duration

	stop chan struct{}
	wg   sync.WaitGroup
}

// Start runs the sweeps in the background, the first one at once.
func (r *Recoverer) Start() {
	if r.Interval == 0 {
		r.Interval = time.Minute
	}
	if r.Grace == 0 {
		r.Grace = 2 * time.Minute
	}
	r.stop = make(chan struct{})
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(r.Interval)
		defer t.Stop()
		for {
			ctx, cancel := context.WithTimeout(context.Background(), r.Interval)
			r.Sweep(ctx)
			cancel()
			select {
			case <-r.stop:
				return
			case <-t.C:
			}
		}
	}()
}

// Shutdown stops the sweeps and waits for the current one.
func (r *Recoverer) Shutdown() {
	if r.stop != nil {
		close(r.stop)
		r.wg.Wait()
	}
}

// Sweep re-enqueues every lost delivery once; it returns how many.
func (r *Recoverer) Sweep(ctx context.Context) int {
	before := time.Now().Add(-r.Grace)
	n := 0
	// A delivery left sending by a database outage right after its send,
	// or by a worker stopped mid-batch, has no task any more. A send in
	// progress is younger than SendTimeout, so only one marked sending
	// longer ago than that (and the grace) is taken; one whose own task
	// still exists is not queued twice (task ID). Re-sending it is the
	// documented window.
	stuck, err := r.Store.SendingSince(ctx, before.Add(-SendTimeout), 500)
	if err != nil {
		r.Logger.Warn("recoverer: list deliveries", "err", err)
	}
	for _, d := range stuck {
		if err := r.Client.ResumeDelivery(ctx, d); err != nil {
			r.Logger.Warn("recoverer: enqueue", "delivery_id", d.ID, "err", err)
			return n
		}
		n++
	}
	for _, status := range []store.DeliveryStatus{store.StatusQueued, store.StatusDeferred} {
		for {
			list, err := r.Store.DeliveriesByStatus(ctx, status, before, 500)
			if err != nil {
				r.Logger.Warn("recoverer: list deliveries", "err", err)
				break
			}
			for _, d := range list {
				if err := r.Client.ScheduleDelivery(ctx, d); err != nil {
					r.Logger.Warn("recoverer: enqueue", "delivery_id", d.ID, "err", err)
					return n
				}
				n++
			}
			// Enqueued rows stay queued until a worker takes them, so
			// the next page would be the same rows: one page a sweep.
			break
		}
	}
	if n > 0 {
		r.Logger.Info("recoverer: re-queued deliveries", "count", n)
	}
	return n
}
