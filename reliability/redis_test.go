package reliability_test

import (
	"testing"
	"time"

	"github.com/npsgate/npsgate/internal/smtptest"
	"github.com/npsgate/npsgate/reliability/internal/redisproc"
)

// TestRedisRestartMidCampaign restarts the gateway's Redis (a redis-server
// of the test's own, with AOF) in the middle of a campaign. While it is
// down the API says so: /readyz and POST /v1/triggers answer 503. When it
// is back the API recovers at once, the caller's retry of the refused
// trigger goes through, and the campaign finishes with no delivery lost
// and none sent twice.
func TestRedisRestartMidCampaign(t *testing.T) {
	requireServices(t)
	rs := redisproc.Start(t)
	const contacts = 400
	c := newCluster(t, clusterOpts{
		redisURL: rs.URL(),
		smtp:     []smtptest.Option{slowSMTP(40 * time.Millisecond)},
		env:      map[string]string{"NPSGATE_WORKER_CONCURRENCY": "10"},
	})
	api := c.start("api", "api", nil)
	api.survey("rel", []string{"email"}, nil)
	api.survey("tx", []string{"email"}, nil)
	api.importContacts("c", contacts)
	c.start("worker", "worker", nil)
	id := api.campaign("rel", "")
	if err := c.smtp.WaitFor(contacts/4, 60*time.Second); err != nil {
		t.Fatal(err)
	}

	if err := rs.Stop(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	t.Logf("redis-server stopped with %d messages received, deliveries %v", c.smtp.Count(), c.statusCounts())
	start := time.Now()
	code, ready := api.api("GET", "/readyz", nil)
	readyTook := time.Since(start)
	if checks, _ := ready["checks"].(map[string]any); code != 503 || checks["redis"] == "ok" || checks["database"] != "ok" {
		t.Errorf("/readyz with Redis down: %d %v", code, ready)
	}
	start = time.Now()
	code, refused := api.api("POST", "/v1/triggers", trigger("t-outage", "during-redis-outage"))
	triggerTook := time.Since(start)
	if e, _ := refused["error"].(map[string]any); code != 503 || e["code"] != "unavailable" {
		t.Errorf("POST /v1/triggers with Redis down: %d %v, want 503", code, refused)
	}
	time.Sleep(2*time.Second - time.Since(down))

	if err := rs.Up(); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	readyAgain := waitFor(t, 30*time.Second, "/readyz after Redis is back", func() bool {
		code, _, err := api.do("GET", "/readyz", nil)
		return err == nil && code == 200
	})
	// The caller retries with its idempotency key: the row written before
	// the 503 is queued now, and a new trigger goes too.
	retry := api.must(202, "POST", "/v1/triggers", trigger("t-outage", "during-redis-outage"))
	fresh := api.must(202, "POST", "/v1/triggers", trigger("t-after", "after-redis-outage"))
	t.Logf("retry of the refused trigger: %v", retry)

	// Usually all is sent within seconds. A task a worker was taking from
	// Redis as it stopped is held "active" by asynq under a 30s lease,
	// and asynq's recoverer looks for expired leases once a minute: that
	// delivery goes out up to about two minutes later, still once.
	counts, _ := c.waitFinal(contacts+2, 3*time.Minute)
	finished := time.Since(up)
	per := received(c.smtp.Messages())
	dups, extra := duplicates(per)
	if counts["sent"] != contacts+2 {
		t.Errorf("deliveries %v, want all %d sent", counts, contacts+2)
	}
	for _, d := range c.deliveryIDs("sent") {
		if per[d] == 0 {
			t.Errorf("delivery %s is sent but the relay never got it", d)
		}
	}
	if per[retry["delivery_id"].(string)] != 1 || per[fresh["delivery_id"].(string)] != 1 {
		t.Errorf("the triggers after the outage: %d and %d messages", per[retry["delivery_id"].(string)], per[fresh["delivery_id"].(string)])
	}
	if extra > 0 {
		t.Errorf("%d messages sent twice across the Redis restart: %v", extra, dups)
	}
	_, cp := api.api("GET", "/v1/campaigns/"+id, nil)
	if cp["status"] != "completed" {
		t.Errorf("campaign %v", cp["status"])
	}
	t.Logf("RESULT Redis restarted (down %s) mid-campaign: /readyz 503 in %s, trigger 503 in %s, /readyz 200 %s after Redis was up; campaign of %d plus 2 triggers all final %s after Redis was up; %d messages, %d duplicates",
		up.Sub(down).Round(time.Millisecond), readyTook.Round(time.Millisecond), triggerTook.Round(time.Millisecond),
		readyAgain.Round(time.Millisecond), contacts, finished.Round(time.Millisecond), c.smtp.Count(), extra)
}
