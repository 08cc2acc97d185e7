package reliability_test

import (
	"fmt"
	"github.com/npsgate/npsgate/internal/smtptest"
	"testing"
	"time"
)

// TestKill9WorkerMidCampaign crashes a worker (SIGKILL) in the middle of a
// campaign on a slow SMTP relay. Another worker finishes the campaign and,
// once asynq's lease on the dead worker's tasks has run out, the tasks it
// held; every delivery ends final and every contact got the survey. A
// message goes out twice only for a delivery that was `sending` when the
// worker died (the documented crash window), so the duplicates are at most
// the worker's in-flight sends.
func TestKill9WorkerMidCampaign(t *testing.T) {
	const (
		contacts    = 600
		concurrency = 10
	)
	c := newCluster(t, clusterOpts{
		smtp: []smtptest.Option{slowSMTP(60 * time.Millisecond)},
		env:  map[string]string{"NPSGATE_WORKER_CONCURRENCY": fmt.Sprint(concurrency)},
	})
	api := c.start("api", "api", nil)
	api.survey("rel", []string{"email"}, nil)
	api.importContacts("c", contacts)
	w1 := c.start("worker-1", "worker", nil)
	begin := time.Now()
	id := api.campaign("rel", "")

	if err := c.smtp.WaitFor(contacts/3, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	w1.kill9()
	killed := time.Now()
	c.waitSessionsGone("worker-1", 10*time.Second)
	inFlight := c.deliveryIDs("sending")
	atKill := c.statusCounts()
	t.Logf("kill -9 of worker-1 %s into the campaign: %d messages received, deliveries %v, %d of them sending",
		killed.Sub(begin).Round(time.Millisecond), c.smtp.Count(), atKill, len(inFlight))

	w2 := c.start("worker-2", "worker", nil)
	counts, _ := c.waitFinal(contacts, 100*time.Second)
	recovered := time.Since(killed)
	if counts["sent"] != contacts {
		t.Errorf("deliveries %v, want all %d sent", counts, contacts)
	}

	per := received(c.smtp.Messages())
	for _, d := range c.deliveryIDs("sent") {
		if per[d] == 0 {
			t.Errorf("delivery %s is sent but the relay never got it", d)
		}
	}
	dups, extra := duplicates(per)
	wasSending := map[string]bool{}
	for _, d := range inFlight {
		wasSending[d] = true
	}
	for _, d := range dups {
		if !wasSending[d] {
			t.Errorf("delivery %s went out %d times but was not sending when the worker died", d, per[d])
		}
	}
	if extra > len(inFlight) || len(inFlight) > concurrency {
		t.Errorf("%d duplicate messages, %d deliveries in flight at the kill, concurrency %d", extra, len(inFlight), concurrency)
	}
	_, cp := api.api("GET", "/v1/campaigns/"+id, nil)
	if cp["status"] != "completed" {
		t.Errorf("campaign %v", cp["status"])
	}
	resent := w2.countLog("possible duplicate")
	if resent != len(inFlight) {
		t.Errorf("worker-2 sent %d deliveries found `sending` again, %d were in flight", resent, len(inFlight))
	}
	t.Logf("RESULT kill -9: %d contacts, %d messages received, %d duplicate messages (%d deliveries were sending at the kill and were sent again after the lease, crash window bound %d); all final %s after the kill",
		contacts, c.smtp.Count(), extra, len(inFlight), concurrency, recovered.Round(time.Millisecond))
}
