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
// delivery whose task still exists is not queued twice. Each sweep also
// completes the campaigns whose last deliveries have gone.
type Recoverer struct {
	Store  *store.Store
	Client *Client
	Logger *slog.Logger
	// Interval between sweeps. Default 1m.
	Interval time.Duration
	// Grace is how long past its send time a queued delivery may wait
	// before it counts as lost. Default 2m.
	Grace time.Duration
	// PerSweep is how many queued (and as many deferred) deliveries one
	// sweep looks at, going on from where the last one stopped. Default
	// 10,000.
	PerSweep int

	stop chan struct{}
	wg   sync.WaitGroup
	// mu guards cursors: where the next sweep goes on, by status.
	mu      sync.Mutex
	cursors map[store.DeliveryStatus]store.SendCursor
}

// recoverPage is how many deliveries a sweep reads and queues at a time.
const recoverPage = 500

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

// Sweep re-enqueues lost deliveries and returns how many it queued.
//
// Queued and deferred deliveries past their send time (and the grace) are
// read in pages by send time, going on from where the previous sweep
// stopped and starting over once it reached the end, up to PerSweep of
// each status a sweep. A delivery whose task exists is among them until a
// worker takes it (its enqueue is a no-op), so a sweep that always began
// with the oldest would see the same page every time and never reach a
// lost delivery behind it. Deliveries of paused campaigns are left out:
// the pause holds them and resume queues them.
func (r *Recoverer) Sweep(ctx context.Context) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	grace := r.Grace
	if grace == 0 {
		grace = 2 * time.Minute
	}
	perSweep := r.PerSweep
	if perSweep <= 0 {
		perSweep = 10000
	}
	if r.cursors == nil {
		r.cursors = map[store.DeliveryStatus]store.SendCursor{}
	}
	before := time.Now().Add(-grace)
	n := 0
	// A delivery left sending by a database outage right after its send,
	// or by a worker stopped mid-batch, has no task any more. A send in
	// progress is younger than SendTimeout, so only one marked sending
	// longer ago than that (and the grace) is taken; one whose own task
	// still exists is not queued twice (task ID). Re-sending it is the
	// documented window.
	stuck, err := r.Store.SendingSince(ctx, before.Add(-SendTimeout), recoverPage)
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
		k, err := r.sweep(ctx, status, before, perSweep)
		n += k
		if err != nil {
			r.Logger.Warn("recoverer: sweep", "status", status, "err", err)
			return n
		}
	}
	if n > 0 {
		r.Logger.Info("recoverer: re-queued deliveries", "count", n)
	}
	if done, err := r.Store.CompleteCampaigns(ctx); err != nil {
		r.Logger.Warn("recoverer: complete campaigns", "err", err)
	} else if len(done) > 0 {
		r.Logger.Info("recoverer: campaigns completed", "campaign_ids", done)
	}
	return n
}

// sweep queues up to limit deliveries in status from the status's cursor
// and moves the cursor on (back to the start at the end).
func (r *Recoverer) sweep(ctx context.Context, status store.DeliveryStatus, before time.Time, limit int) (int, error) {
	n := 0
	for n < limit {
		want := min(recoverPage, limit-n)
		list, err := r.Store.RecoverableDeliveries(ctx, status, before, r.cursors[status], want)
		if err != nil {
			return n, err
		}
		if err := scheduleAll(ctx, list, enqueueParallelism, r.Client.ScheduleDelivery); err != nil {
			return n, err // the cursor stays: the next sweep tries this page again
		}
		n += len(list)
		if len(list) < want {
			r.cursors[status] = store.SendCursor{}
			return n, nil
		}
		last := list[len(list)-1]
		r.cursors[status] = store.SendCursor{SendAt: last.SendAt, ID: last.ID}
	}
	return n, nil
}
