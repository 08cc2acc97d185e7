package reliability_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/npsgate/npsgate/internal/chattest"
)

// TestTwoReplicasOfEveryRole runs two `npsgate api` and two `npsgate
// worker` on the same Redis and PostgreSQL, as production scales out.
// Whatever replica takes a request or a task, a campaign runs once and
// reaches each contact once, a detractor raises one alert, a webhook
// subscriber gets one event, and the same trigger sent to both APIs at
// once makes one delivery.
func TestTwoReplicasOfEveryRole(t *testing.T) {
	const contacts = 200
	slack := chattest.StartSlack(t)
	recv := startReceiver(t, 0)
	c := newCluster(t, clusterOpts{})
	api1 := c.start("api-1", "api", nil)
	api2 := c.start("api-2", "api", nil)
	w1 := c.start("worker-1", "worker", nil)
	w2 := c.start("worker-2", "worker", nil)

	api1.survey("rel", []string{"email"}, map[string]any{
		"alert_targets": []any{map[string]any{"channel": "slack", "address": slack.WebhookURL("oncall")}}})
	api2.importContacts("c", contacts)
	api1.must(201, "POST", "/v1/webhooks", map[string]any{"url": recv.srv.URL, "events": []string{"response.created"}})

	at := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339)
	cp := api1.must(201, "POST", "/v1/campaigns", map[string]any{"name": "two of each", "survey": "rel",
		"schedule": map[string]any{"kind": "once", "at": at, "time_zone": "UTC"}})
	id := cp["id"].(string)
	api2.must(200, "POST", "/v1/campaigns/"+id+"/schedule", nil)

	start := time.Now()
	counts, _ := c.waitFinal(contacts, 60*time.Second)
	took := time.Since(start)
	// Let anything a second scheduler or worker would add arrive.
	time.Sleep(time.Second)
	per := received(c.smtp.Messages())
	campaignMsgs := c.smtp.Count()
	dups, extra := duplicates(per)
	if counts["sent"] != contacts || total(c.statusCounts()) != contacts || len(per) != contacts || extra != 0 {
		t.Errorf("campaign: deliveries %v, %d messages to %d deliveries, duplicates %v", counts, c.smtp.Count(), len(per), dups)
	}
	_, got := api2.api("GET", "/v1/campaigns/"+id, nil)
	if got["status"] != "completed" || got["runs"] != 1.0 || len(got["run_list"].([]any)) != 1 {
		t.Errorf("campaign after the run: status %v, runs %v, run list %v", got["status"], got["runs"], got["run_list"])
	}
	sent1, sent2 := w1.countLog(`msg="delivery sent"`), w2.countLog(`msg="delivery sent"`)
	if sent1+sent2 != contacts {
		t.Errorf("the workers logged %d and %d sends for %d contacts", sent1, sent2, contacts)
	}

	// One detractor, answered through the other API: one alert, one event.
	token := tokenInMail.FindStringSubmatch(string(c.smtp.Messages()[0].Data))[1]
	answer(t, api2, token, "2")
	if err := slack.WaitFor(1, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the webhook event", func() bool { return len(recv.list()) > 0 })
	time.Sleep(1500 * time.Millisecond)
	if n := slack.Count(); n != 1 {
		t.Errorf("%d alerts at the robot, want 1", n)
	}
	if posts := recv.list(); len(posts) != 1 || !strings.Contains(posts[0].Body, `"response.created"`) {
		t.Errorf("webhook posts: %v", posts)
	}
	_, alerts := api1.api("GET", "/v1/alerts", nil)
	if list, _ := alerts["alerts"].([]any); len(list) != 1 {
		t.Errorf("alerts: %v", alerts)
	}

	// The same trigger at both APIs at once: one delivery, one message.
	body := map[string]any{"survey": "rel", "idempotency_key": "both-apis",
		"contact": map[string]any{"external_id": "tx-1", "email": "tx-1@customer.example"}}
	var wg sync.WaitGroup
	answers := make([]map[string]any, 2)
	codes := make([]int, 2)
	for i, p := range []*proc{api1, api2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], answers[i], _ = p.do("POST", "/v1/triggers", body)
		}()
	}
	wg.Wait()
	if codes[0] != 202 || codes[1] != 202 || answers[0]["delivery_id"] != answers[1]["delivery_id"] {
		t.Fatalf("the same trigger at both APIs: %d %v, %d %v", codes[0], answers[0], codes[1], answers[1])
	}
	d := answers[0]["delivery_id"].(string)
	waitFor(t, 15*time.Second, "the trigger's message", func() bool { return received(c.smtp.Messages())[d] > 0 })
	time.Sleep(time.Second)
	if n := received(c.smtp.Messages())[d]; n != 1 {
		t.Errorf("the trigger sent to both APIs: %d messages", n)
	}
	// One of each leaves with SIGTERM: both exit 0 and the others go on.
	for _, p := range []*proc{api1, w1} {
		if took, err := p.term(30 * time.Second); err != nil {
			t.Errorf("%s after SIGTERM: %v (%s)", p.name, err, took)
		}
	}
	last := api2.must(202, "POST", "/v1/triggers", map[string]any{"survey": "rel",
		"contact": map[string]any{"external_id": "tx-2", "email": "tx-2@customer.example"}})
	waitFor(t, 15*time.Second, "a trigger after one of each left", func() bool {
		return received(c.smtp.Messages())[last["delivery_id"].(string)] == 1
	})
	t.Logf("RESULT two api + two worker: campaign of %d final in %s, one run, %d messages, %d duplicates (worker-1 sent %d, worker-2 %d); 1 alert, 1 webhook event, 1 delivery for a trigger sent to both APIs; SIGTERM of api-1 and worker-1: exit 0, the others go on",
		contacts, took.Round(time.Millisecond), campaignMsgs, extra, sent1, sent2)
}
