package dispatcher

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/npsgate/npsgate/store"
)

// Scheduler finds campaigns whose next run is due and queues the run. It
// runs in every worker process: the run's task ID (campaign and run
// number) makes the second and later schedulers' enqueues no-ops, and the
// run's row is created once in the store.
type Scheduler struct {
	Store  *store.Store
	Client *Client
	Logger *slog.Logger
	// Interval between looks. Default 5s.
	Interval time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time

	stop chan struct{}
	wg   sync.WaitGroup
}

// Start looks now and then every Interval, until Shutdown.
func (s *Scheduler) Start() {
	if s.Interval == 0 {
		s.Interval = 5 * time.Second
	}
	s.stop = make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(s.Interval)
		defer t.Stop()
		for {
			ctx, cancel := context.WithTimeout(context.Background(), s.Interval+10*time.Second)
			if _, err := s.Tick(ctx); err != nil {
				s.Logger.Warn("scheduler", "err", err)
			}
			cancel()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
}

// Shutdown stops the loop and waits for the current look.
func (s *Scheduler) Shutdown() {
	if s.stop != nil {
		close(s.stop)
		s.wg.Wait()
	}
}

// Tick queues every due campaign run and survey digest once and returns
// how many it queued.
func (s *Scheduler) Tick(ctx context.Context) (int, error) {
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	due, err := s.Store.DueCampaigns(ctx, now)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range due {
		args := StartRun{CampaignID: c.ID, Number: c.Runs + 1, At: *c.NextRunAt}
		if err := s.Client.Enqueue(ctx, args, asynq.TaskID(runTaskID(c.ID, args.Number)),
			asynq.Queue(QueueCampaigns), asynq.MaxRetry(s.Client.maxRetry)); err != nil {
			return n, err
		}
		n++
	}
	digests, err := s.Store.DueDigests(ctx, now)
	if err != nil {
		return n, err
	}
	for _, sv := range digests {
		// The task is named after the period it will report, the latest
		// one due: after downtime one task, not one per period missed, and
		// a period whose task was archived does not block the next.
		due := LatestDigest(sv.Digest, *sv.DigestNextAt, now)
		if err := s.Client.Enqueue(ctx, SendDigest{Survey: sv.Key, Due: due},
			asynq.TaskID("digest:"+sv.Key+":"+strconv.FormatInt(due.Unix(), 10)),
			asynq.Queue(QueueAlerts), asynq.MaxRetry(s.Client.maxRetry)); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func runTaskID(campaignID string, n int) string {
	return "campaign-run:" + campaignID + ":" + strconv.Itoa(n)
}
