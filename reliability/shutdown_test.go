package reliability_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/npsgate/npsgate/internal/smtptest"
)

// TestSIGTERMWithSlowProvider stops a worker with SIGTERM while a slow SMTP
// relay holds its sends, then lets another worker finish. A normal
// shutdown must never send a message twice and must leave nothing
// `sending` (README, "Production" and "the duplicate window").
func TestSIGTERMWithSlowProvider(t *testing.T) {
	t.Run("provider answers within shutdown_timeout", func(t *testing.T) {
		sigtermCase(t, 150*time.Millisecond, "10s", 120, 10)
	})
	t.Run("provider slower than shutdown_timeout", func(t *testing.T) {
		fixedBug(t, "SIGTERM while a provider call outlasts shutdown_timeout sends those messages twice and leaves "+
			"their deliveries `sending`: asynq's processor, once ShutdownTimeout passes, requeues the running task "+
			"(processor.exec, case <-p.abort) and cancels the handler's context; Sender.Send's provider call is "+
			"cancelled after the relay already read the message, its status writes fail with the cancelled "+
			"context (\"could not put delivery back in the queue: context canceled\"), and the next worker sends "+
			"the `sending` delivery again. Measured: 4 of 4 in-flight messages sent twice. Fix in "+
			"dispatcher/worker.go (NewWorker/Shutdown) and dispatcher/sender.go (Send): never let asynq abort a "+
			"running send (asynq ShutdownTimeout = shutdown_timeout + the channel's timeout, and a BaseContext the "+
			"worker cancels itself at shutdown_timeout), and run the provider call and the status write after it "+
			"on context.WithoutCancel(ctx) bounded by the channel timeout, so a shutdown only cancels sends that "+
			"have not reached the provider")
		sigtermCase(t, 2500*time.Millisecond, "1s", 24, 4)
	})
}

func sigtermCase(t *testing.T, latency time.Duration, shutdownTimeout string, contacts, concurrency int) {
	c := newCluster(t, clusterOpts{
		smtp: []smtptest.Option{slowSMTP(latency)},
		env: map[string]string{
			"NPSGATE_WORKER_CONCURRENCY": fmt.Sprint(concurrency),
			"NPSGATE_SHUTDOWN_TIMEOUT":   shutdownTimeout,
		},
	})
	api := c.start("api", "api", nil)
	api.survey("rel", []string{"email"}, nil)
	api.importContacts("c", contacts)
	w1 := c.start("worker-1", "worker", nil)
	api.campaign("rel", "")

	waitFor(t, 30*time.Second, "sends in flight", func() bool { return len(c.deliveryIDs("sending")) >= 4 })
	inFlight := len(c.deliveryIDs("sending"))
	took, err := w1.term(60 * time.Second)
	if err != nil {
		t.Errorf("worker-1 after SIGTERM: %v", err)
	}
	// Whatever the relay still holds lands now.
	time.Sleep(latency + 200*time.Millisecond)
	stuck := c.deliveryIDs("sending")
	t.Logf("SIGTERM with %d sends in flight: worker-1 exited in %s; %d deliveries left sending; %d messages received; %v",
		inFlight, took.Round(time.Millisecond), len(stuck), c.smtp.Count(), c.statusCounts())

	c.start("worker-2", "worker", nil)
	counts, waited := c.waitFinal(contacts, 75*time.Second)
	per := received(c.smtp.Messages())
	dups, extra := duplicates(per)
	t.Logf("RESULT SIGTERM (provider %s, shutdown_timeout %s): %d messages for %d contacts, %d duplicate messages %v, %d left sending by the shutdown; all final %s after worker-2 started",
		latency, shutdownTimeout, c.smtp.Count(), contacts, extra, dups, len(stuck), waited.Round(time.Millisecond))
	if counts["sent"] != contacts {
		t.Errorf("deliveries %v, want all %d sent", counts, contacts)
	}
	for _, d := range c.deliveryIDs("sent") {
		if per[d] == 0 {
			t.Errorf("delivery %s is sent but the relay never got it", d)
		}
	}
	if len(stuck) > 0 {
		t.Errorf("a normal shutdown left %d deliveries sending: %v", len(stuck), stuck)
	}
	if extra > 0 {
		t.Errorf("a normal shutdown sent %d messages twice: %v", extra, dups)
	}
}
