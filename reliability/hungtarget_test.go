package reliability_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/internal/chattest"
	"github.com/npsgate/npsgate/internal/smtptest"
)

const hungTargetBug = "a provider or webhook subscriber that stops answering takes every worker slot, and a detractor's " +
	"alert waits for that provider's timeout: the alerts queue is only weighted ahead (dispatcher/worker.go, NewWorker: " +
	"one asynq.Server, Concurrency 20, Queues alerts 6 / deliveries 3 / campaigns 2 / webhooks 1), and a weight chooses " +
	"the next task for a free slot but frees none. Measured: alert at the robot ~10s after the answer while a webhook " +
	"subscriber hung (its 10s timeout), ~30s while the SMTP relay hung (its 30s timeout). Fix in dispatcher/worker.go " +
	"(NewWorker/Start/Shutdown): run the alerts queue on an asynq.Server of its own (Queues {alerts: 1}, a few slots " +
	"of its own), so that no other queue can hold them; likewise webhooks on their own small server, so that a hung " +
	"subscriber cannot hold the survey sends"

// TestHungTargetDoesNotStallAlerts: a webhook subscriber or an SMTP relay
// that stops answering while work for it is queued must not hold up a
// detractor's alert to a chat robot, which has its own queue ahead of
// everything else.
func TestHungTargetDoesNotStallAlerts(t *testing.T) {
	t.Run("webhook subscriber hangs", func(t *testing.T) {
		fixedBug(t, hungTargetBug)
		const burst = 40
		slack := chattest.StartSlack(t)
		recv := startReceiver(t, 1<<30) // every post hangs until the gateway gives up
		c := newCluster(t, clusterOpts{
			smtp: []smtptest.Option{smtptest.WithReply(smtptest.AtRcpt, func(rcpt string, _ int) *smtp.SMTPError {
				if strings.HasPrefix(rcpt, "bounce") {
					return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
				}
				return nil
			})},
		})
		api, token := alertSetup(t, c, slack)
		api.must(201, "POST", "/v1/webhooks", map[string]any{"url": recv.srv.URL, "events": []string{"delivery.failed"}})
		for i := 0; i < burst; i++ {
			api.must(202, "POST", "/v1/triggers", map[string]any{"survey": "tx",
				"contact": map[string]any{"external_id": fmt.Sprintf("b%02d", i), "email": fmt.Sprintf("bounce%02d@customer.example", i)}})
		}
		// Webhooks have a few slots of their own: the subscriber holds
		// all of them and nothing else.
		waitFor(t, 20*time.Second, "the subscriber hanging on the burst", func() bool { return len(recv.list()) >= dispatcher.WebhookSlots })
		alertWithin(t, api, slack, token, fmt.Sprintf("a webhook subscriber hangs on %d events", len(recv.list())))
	})

	t.Run("SMTP relay hangs", func(t *testing.T) {
		fixedBug(t, hungTargetBug)
		slack := chattest.StartSlack(t)
		c := newCluster(t, clusterOpts{
			smtp: []smtptest.Option{smtptest.WithHang(func(rcpt string, _ int) bool { return strings.HasPrefix(rcpt, "c") })},
		})
		api, token := alertSetup(t, c, slack)
		api.importContacts("c", 500)
		api.campaign("tx", "")
		waitFor(t, 20*time.Second, "sends hanging", func() bool { return len(c.deliveryIDs("sending")) >= 15 })
		alertWithin(t, api, slack, token, fmt.Sprintf("the SMTP relay hangs on %d sends", len(c.deliveryIDs("sending"))))
	})
}

// alertSetup starts an api and a worker, a survey whose detractors alert
// a Slack robot, and sends one survey; it returns that survey's token.
func alertSetup(t *testing.T, c *cluster, slack *chattest.SlackServer) (*proc, string) {
	t.Helper()
	api := c.start("api", "api", nil)
	c.start("worker", "worker", nil)
	api.survey("tx", []string{"email"}, map[string]any{
		"alert_targets": []any{map[string]any{"channel": "slack", "address": slack.WebhookURL("oncall")}}})
	first := api.must(202, "POST", "/v1/triggers", trigger("first", "first"))
	waitFor(t, 15*time.Second, "the first survey", func() bool { return received(c.smtp.Messages())[first["delivery_id"].(string)] == 1 })
	return api, tokenInMail.FindStringSubmatch(string(c.smtp.Messages()[0].Data))[1]
}

// alertWithin answers the survey as a detractor and wants the alert at
// the robot within 5s.
func alertWithin(t *testing.T, api *proc, slack *chattest.SlackServer, token, while string) {
	t.Helper()
	start := time.Now()
	answer(t, api, token, "0")
	err := slack.WaitFor(1, 60*time.Second)
	took := time.Since(start)
	t.Logf("RESULT alert while %s: at the robot %s after the answer (err %v)", while, took.Round(time.Millisecond), err)
	if err != nil || took > 5*time.Second {
		t.Errorf("the alert took %s (%v)", took, err)
	}
}
