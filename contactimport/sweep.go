package contactimport

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/npsgate/npsgate/store"
)

// StaleAfter is how long a running import may go without recording
// anything before SweepStale takes its process for dead. A live import
// records at least every Heartbeat (DefaultHeartbeat), and a write takes
// at most a minute (writeTimeout), so this is several beats missed.
const StaleAfter = 5 * time.Minute

// DefaultSweepInterval is Sweeper.Interval when zero.
const DefaultSweepInterval = time.Minute

// SweepStale ends as failed every import still running that has recorded
// nothing since before: the process that ran it died in the middle (a
// crash, a kill, a lost machine), and nothing else would ever end it. The
// rows it wrote stay, counted; its message says it was interrupted and how
// far it got. It returns the imports it ended.
func SweepStale(ctx context.Context, st *store.Store, before time.Time) ([]*store.Import, error) {
	return st.FailStaleImports(ctx, before, func(imp *store.Import) string {
		return fmt.Sprintf("interrupted: the process running the import stopped (nothing recorded since %s); %s",
			imp.UpdatedAt.Format(time.RFC3339), processed(imp.Rows))
	})
}

// Sweeper runs SweepStale when started and then every Interval, for the
// imports that went quiet StaleAfter ago. Any number of processes may run
// one: an import is ended once.
type Sweeper struct {
	Store *store.Store
	// Interval is the time between sweeps; zero means DefaultSweepInterval.
	Interval time.Duration
	// StaleAfter is how quiet an import must be to be swept; zero means
	// the package's StaleAfter.
	StaleAfter time.Duration
	// Logger hears of each import swept and of failed sweeps; nil
	// discards.
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Run sweeps until ctx is done.
func (s *Sweeper) Run(ctx context.Context) {
	interval, staleAfter, log, now := s.Interval, s.StaleAfter, s.Logger, s.Now
	if interval <= 0 {
		interval = DefaultSweepInterval
	}
	if staleAfter <= 0 {
		staleAfter = StaleAfter
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		swept, err := SweepStale(ctx, s.Store, now().Add(-staleAfter))
		for _, imp := range swept {
			log.WarnContext(ctx, "contact import ended: its process stopped", "import", imp.ID,
				"filename", imp.Filename, "rows", imp.Rows, "message", imp.Message)
		}
		if err != nil && ctx.Err() == nil {
			log.WarnContext(ctx, "cannot sweep interrupted contact imports", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
