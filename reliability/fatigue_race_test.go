package reliability_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestTwoWorkersRaceForOneContact: N triggers for one contact, all due in
// the same second, taken by two worker processes at once: exactly one
// survey is sent (one message at the SMTP server), the other N-1 are
// suppressed with the reason "fatigue: …". A round where one worker took
// every delivery raced nothing across processes, so rounds are repeated
// (each checked) until both workers took part in one.
func TestTwoWorkersRaceForOneContact(t *testing.T) {
	const n = 24
	c := newCluster(t, clusterOpts{env: map[string]string{"NPSGATE_WORKER_CONCURRENCY": "4"}})
	api := c.start("api", "api", nil)
	w1 := c.start("worker-1", "worker", nil)
	w2 := c.start("worker-2", "worker", nil)
	api.survey("tx", []string{"email"}, nil)

	total := 0
	for round := 1; round <= 4; round++ {
		contact := fmt.Sprintf("racer-%d", round)
		due := time.Now().Add(3 * time.Second).UTC().Format(time.RFC3339)
		ids := make([]string, 0, n)
		for i := 0; i < n; i++ {
			out := api.must(202, "POST", "/v1/triggers", map[string]any{"survey": "tx", "send_at": due,
				"idempotency_key": fmt.Sprintf("%s-%d", contact, i),
				"contact":         map[string]any{"external_id": contact, "email": contact + "@customer.example"}})
			ids = append(ids, out["delivery_id"].(string))
		}
		total += n
		c.waitFinal(total, 60*time.Second)
		sent := c.count(`SELECT count(*) FROM deliveries WHERE contact_id = $1 AND status = 'sent'`, contact)
		fatigued := c.count(`SELECT count(*) FROM deliveries WHERE contact_id = $1 AND status = 'suppressed' AND reason LIKE 'fatigue: %'`, contact)
		if sent != 1 || fatigued != n-1 {
			t.Fatalf("round %d: %d sent and %d suppressed for fatigue of %d, want 1 and %d: %v", round, sent, fatigued, n, n-1, c.statusCounts())
		}
		if got := c.smtp.Count(); got != round {
			t.Fatalf("round %d: %d messages at the SMTP server in all, want %d", round, got, round)
		}
		took1, took2 := took(w1, ids), took(w2, ids)
		t.Logf("RESULT round %d: %d triggers for one contact, worker-1 decided %d, worker-2 %d: 1 sent, %d suppressed (fatigue)",
			round, n, took1, took2, n-1)
		if took1 > 0 && took2 > 0 {
			return
		}
	}
	t.Fatal("in every round one worker took all the deliveries: the processes never raced")
}

// took counts the deliveries of ids that a worker sent or suppressed.
func took(p *proc, ids []string) int {
	logs := p.logs()
	n := 0
	for _, id := range ids {
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, "delivery_id="+id) &&
				(strings.Contains(line, `msg="delivery sent"`) || strings.Contains(line, `msg="delivery suppressed"`)) {
				n++
				break
			}
		}
	}
	return n
}
