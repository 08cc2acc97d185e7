package dispatcher_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

// day is 09:00 UTC on the n-th day of a Monday-started test week: the
// time daily digests go.
func day(n int) time.Time { return time.Date(2026, 3, 2+n, 9, 0, 0, 0, time.UTC) }

// digests turns on a daily 09:00 UTC digest of survey s to targets, next
// due at next, and returns the digest sender on clk.
func (e *env) digests(clk *testenv.Clock, next time.Time, targets ...string) *dispatcher.Digests {
	e.t.Helper()
	ctx := context.Background()
	sv, err := e.st.GetSurvey(ctx, "s")
	if err != nil {
		e.t.Fatal(err)
	}
	sv.Digest = store.Digest{Frequency: "daily", At: "09:00", TimeZone: "UTC"}
	for _, a := range targets {
		sv.Digest.Targets = append(sv.Digest.Targets, store.Target{Channel: "email", Address: a})
	}
	sv.DigestNextAt = &next
	if err := e.st.UpdateSurvey(ctx, sv); err != nil {
		e.t.Fatal(err)
	}
	return &dispatcher.Digests{Store: e.st, Channels: e.sender.Channels, Links: e.sender.Links, Logger: quiet(), Now: clk.Now}
}

var spreadSeq int

// sentAt writes a survey delivery created at created and sent at sent,
// answered at answered with score when answered is not zero.
func (e *env) sentAt(created, sent, answered time.Time, score int, comment string) *store.Delivery {
	e.t.Helper()
	ctx := context.Background()
	spreadSeq++
	d := &store.Delivery{ID: fmt.Sprintf("drip-%04d", spreadSeq), SurveyKey: "s", ContactID: "c1", Channel: "email",
		Address: "c1@example.com", Locale: "en", Token: fmt.Sprintf("tok-drip-%04d", spreadSeq), Source: "campaign",
		CreatedAt: created, SendAt: sent, ExpiresAt: sent.Add(30 * 24 * time.Hour)}
	if _, _, err := e.st.CreateDelivery(ctx, d); err != nil {
		e.t.Fatal(err)
	}
	for _, st := range []store.DeliveryStatus{store.StatusSending, store.StatusSent} {
		if _, err := e.st.Transition(ctx, d.ID, []store.DeliveryStatus{store.StatusQueued, store.StatusSending}, st, store.Update{At: sent}); err != nil {
			e.t.Fatal(err)
		}
	}
	if !answered.IsZero() {
		if _, err := e.st.SaveResponse(ctx, &store.Response{DeliveryID: d.ID, Score: score, Comment: comment, CreatedAt: answered}); err != nil {
			e.t.Fatal(err)
		}
		if _, err := e.st.Transition(ctx, d.ID, []store.DeliveryStatus{store.StatusSent}, store.StatusResponded, store.Update{At: answered}); err != nil {
			e.t.Fatal(err)
		}
	}
	return d
}

func (e *env) nextDigest() time.Time {
	e.t.Helper()
	sv, err := e.st.GetSurvey(context.Background(), "s")
	if err != nil || sv.DigestNextAt == nil {
		e.t.Fatalf("survey: %+v %v", sv, err)
	}
	return *sv.DigestNextAt
}

// TestDigestCountsWhatWentOutInItsPeriod: a drip run creates all its
// deliveries on the first day and sends them over the next three. Each
// day's digest counts that day's sends, and the response rate is over
// them; the day with sends and no answers still gets its digest.
func TestDigestCountsWhatWentOutInItsPeriod(t *testing.T) {
	e := newEnv(t)
	clk := testenv.NewClock(time.Time{})
	g := e.digests(clk, day(1), "owners@acme.test")
	created := day(0).Add(-2 * time.Hour) // before any period the digests cover
	// Day k's period is [day(k-1), day(k)): 10 sent at 10:00, k-1 of them
	// answered at noon; day 3 has sends and no answers.
	for k := 1; k <= 3; k++ {
		for i := 0; i < 10; i++ {
			var answered time.Time
			if i < 3-k {
				answered = day(k - 1).Add(3 * time.Hour)
			}
			e.sentAt(created, day(k-1).Add(time.Hour), answered, 9, "")
		}
	}
	for k, want := range []string{"Sent: 10 · response rate 20.0%", "Sent: 10 · response rate 10.0%", "Sent: 10 · response rate 0.0%"} {
		clk.Set(day(k + 1).Add(time.Minute))
		if err := g.Send(context.Background(), dispatcher.SendDigest{Survey: "s", Due: day(k + 1)}); err != nil {
			t.Fatal(err)
		}
		msgs := e.waitSent(k + 1)
		if len(msgs) != k+1 || !strings.Contains(msgs[k].Text, want) {
			t.Fatalf("digest of day %d (%d sent):\n%s\nwant %q", k+1, len(msgs), msgs[len(msgs)-1].Text, want)
		}
	}
	if next := e.nextDigest(); !next.Equal(day(4)) {
		t.Fatalf("next digest %v", next)
	}
}

// TestDigestChangeSinceTheLastDigestSent: the change is against the last
// digest that went out with a score, not against the period just before
// (which had nothing, so no digest).
func TestDigestChangeSinceTheLastDigestSent(t *testing.T) {
	e := newEnv(t)
	clk := testenv.NewClock(time.Time{})
	g := e.digests(clk, day(1), "owners@acme.test")
	ctx := context.Background()
	for _, sc := range []int{10, 10, 0} { // NPS 33.3
		e.sentAt(day(0).Add(time.Hour), day(0).Add(time.Hour), day(0).Add(2*time.Hour), sc, "")
	}
	for _, sc := range []int{10, 10, 10, 0} { // NPS 50.0, two days later
		e.sentAt(day(2).Add(time.Hour), day(2).Add(time.Hour), day(2).Add(2*time.Hour), sc, "")
	}
	for k := 1; k <= 3; k++ {
		clk.Set(day(k))
		if err := g.Send(ctx, dispatcher.SendDigest{Survey: "s", Due: day(k)}); err != nil {
			t.Fatal(err)
		}
	}
	msgs := e.waitSent(2) // day 2 had nothing to tell
	if len(msgs) != 2 {
		t.Fatalf("%d digests, want 2", len(msgs))
	}
	if !strings.Contains(msgs[0].Text, "NPS: 33.3 (") || strings.Contains(msgs[0].Text, "since the last digest") {
		t.Fatalf("first digest:\n%s", msgs[0].Text)
	}
	if !strings.Contains(msgs[1].Text, "from 4 answers, +16.7 since the last digest (2026-03-03)") {
		t.Fatalf("third day's digest:\n%s", msgs[1].Text)
	}
	last, err := e.st.LastDigest(ctx, "s")
	if err != nil || last == nil || last.Score != 50 || !last.To.Equal(day(3)) || last.Kind != survey.NPS {
		t.Fatalf("last digest %+v %v", last, err)
	}
}

// faultyDigestStore fails the digest's first read of its numbers.
type faultyDigestStore struct {
	*store.Store
	mu    sync.Mutex
	fails int
}

func (f *faultyDigestStore) SentCounts(ctx context.Context, key string, from, to time.Time) (int, int, error) {
	f.mu.Lock()
	fail := f.fails > 0
	f.fails--
	f.mu.Unlock()
	if fail {
		return 0, 0, fmt.Errorf("sent counts: %w", store.ErrUnavailable)
	}
	return f.Store.SentCounts(ctx, key, from, to)
}

// TestDigestSurvivesADatabaseError: the numbers fail to load; the
// digest's time does not move, and the retry sends it.
func TestDigestSurvivesADatabaseError(t *testing.T) {
	e := newEnv(t)
	clk := testenv.NewClock(day(1))
	g := e.digests(clk, day(1), "owners@acme.test")
	g.Store = &faultyDigestStore{Store: e.st, fails: 1}
	e.sentAt(day(0).Add(time.Hour), day(0).Add(time.Hour), day(0).Add(2*time.Hour), 9, "")
	ctx := context.Background()
	if err := g.Send(ctx, dispatcher.SendDigest{Survey: "s", Due: day(1)}); !errors.Is(err, store.ErrUnavailable) || errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("first try: %v, want a retryable store error", err)
	}
	if next := e.nextDigest(); !next.Equal(day(1)) {
		t.Fatalf("the digest moved on to %v without being sent", next)
	}
	if err := g.Send(ctx, dispatcher.SendDigest{Survey: "s", Due: day(1)}); err != nil {
		t.Fatal(err)
	}
	if _, sent := e.ch.count(); sent != 1 || !e.nextDigest().Equal(day(2)) {
		t.Fatalf("after the retry: %d sent, next %v", sent, e.nextDigest())
	}
}

// TestDigestRetrySendsOnlyToTargetsItMissed: one of two targets fails;
// the digest is retried (not given up), and the retry sends to that
// target only.
func TestDigestRetrySendsOnlyToTargetsItMissed(t *testing.T) {
	e := newEnv(t, nil, &channels.Error{Channel: "email", Kind: channels.Retryable, Message: "connection reset"})
	clk := testenv.NewClock(day(1))
	g := e.digests(clk, day(1), "a@acme.test", "b@acme.test")
	reg := prometheus.NewRegistry()
	g.Metrics = dispatcher.NewMetrics(reg)
	e.sentAt(day(0).Add(time.Hour), day(0).Add(time.Hour), time.Time{}, 0, "")
	ctx := context.Background()
	err := g.Send(ctx, dispatcher.SendDigest{Survey: "s", Due: day(1)})
	if err == nil || errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("first try: %v, want a retryable error", err)
	}
	if next := e.nextDigest(); !next.Equal(day(1)) {
		t.Fatalf("next %v after a failed target", next)
	}
	for i := 0; i < 2; i++ { // the retry, then a replay of the task
		if err := g.Send(ctx, dispatcher.SendDigest{Survey: "s", Due: day(1)}); err != nil {
			t.Fatal(err)
		}
	}
	calls, _ := e.ch.count()
	var to []string
	for _, m := range e.ch.sent {
		to = append(to, m.To)
	}
	if calls != 3 || strings.Join(to, ",") != "a@acme.test,b@acme.test" || !e.nextDigest().Equal(day(2)) {
		t.Fatalf("%d calls, sent to %v, next %v", calls, to, e.nextDigest())
	}
	// Each try to each target was counted once: the failed one, then the
	// two that reached their owner; the replay sent nothing.
	for _, c := range []struct {
		outcome string
		want    float64
	}{{"sent", 2}, {"failed", 1}} {
		if got, _ := metricValue(t, reg, "npsgate_digests_total", "channel", "email", "outcome", c.outcome); got != c.want {
			t.Errorf("digests %s = %v, want %v", c.outcome, got, c.want)
		}
	}
	if got, _ := metricValue(t, reg, "npsgate_provider_send_seconds", "channel", "email"); got != 3 {
		t.Errorf("%v provider calls timed, want 3", got)
	}
}

// TestDigestAfterDowntimeSendsOnlyTheLatest: nothing ran for three days;
// the scheduler queues one digest, for the latest period, and the owners
// get that one, not four.
func TestDigestAfterDowntimeSendsOnlyTheLatest(t *testing.T) {
	e := newEnv(t)
	clk := testenv.NewClock(day(4).Add(time.Hour))
	g := e.digests(clk, day(1), "owners@acme.test")
	for k := 0; k < 4; k++ {
		e.sentAt(day(k).Add(time.Hour), day(k).Add(time.Hour), day(k).Add(2*time.Hour), 10-k, "")
	}
	ctx := context.Background()
	s := &dispatcher.Scheduler{Store: e.st, Client: e.client, Logger: quiet(), Now: clk.Now}
	if n, err := s.Tick(ctx); err != nil || n != 1 {
		t.Fatalf("tick: %d %v", n, err)
	}
	tasks, err := asynq.NewInspector(e.redis).ListPendingTasks(dispatcher.QueueAlerts)
	if err != nil || len(tasks) != 1 || tasks[0].ID != fmt.Sprintf("digest:s:%d", day(4).Unix()) {
		t.Fatalf("queued %v %v", tasks, err)
	}
	var args dispatcher.SendDigest
	if err := json.Unmarshal(tasks[0].Payload, &args); err != nil {
		t.Fatal(err)
	}
	if err := g.Send(ctx, args); err != nil {
		t.Fatal(err)
	}
	msgs := e.waitSent(1)
	if _, sent := e.ch.count(); sent != 1 || !strings.Contains(msgs[0].Subject, "2026-03-06") ||
		!strings.Contains(msgs[0].Text, "from 1 answers") {
		t.Fatalf("%d digests; %s\n%s", sent, msgs[0].Subject, msgs[0].Text)
	}
	if next := e.nextDigest(); !next.Equal(day(5)) {
		t.Fatalf("next %v", next)
	}
	if n, err := s.Tick(ctx); err != nil || n != 0 {
		t.Fatalf("second tick: %d %v", n, err)
	}
}

// TestDigestThroughTheScheduler: the scheduler queues the digest, a
// worker sends it; one target fails once and gets it on the retry, the
// other gets it once.
func TestDigestThroughTheScheduler(t *testing.T) {
	e := newEnv(t, nil, &channels.Error{Channel: "email", Kind: channels.Retryable, Message: "451 try again"})
	clk := testenv.NewClock(day(1).Add(time.Second))
	g := e.digests(clk, day(1), "a@acme.test", "b@acme.test")
	e.sentAt(day(0).Add(time.Hour), day(0).Add(time.Hour), day(0).Add(2*time.Hour), 3, "Slow")
	w := dispatcher.NewWorker(e.redis, dispatcher.WorkerConfig{Concurrency: 2, RetryBaseDelay: 10 * time.Millisecond,
		PollInterval: 20 * time.Millisecond, ShutdownTimeout: 5 * time.Second, Logger: quiet()}, e.sender, nil, nil, g)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Shutdown)
	s := &dispatcher.Scheduler{Store: e.st, Client: e.client, Logger: quiet(), Now: clk.Now}
	if n, err := s.Tick(context.Background()); err != nil || n != 1 {
		t.Fatalf("tick: %d %v", n, err)
	}
	eventually(t, "the digest finished", func() bool { return e.nextDigest().Equal(day(2)) })
	calls, sent := e.ch.count()
	if calls != 3 || sent != 2 || e.ch.sent[0].To != "a@acme.test" || e.ch.sent[1].To != "b@acme.test" {
		t.Fatalf("%d calls, %d sent", calls, sent)
	}
	if m := e.ch.sent[1]; m.Kind != "digest" || !strings.Contains(m.Text, "• 3/10 c1: “Slow”") {
		t.Fatalf("digest:\n%s", m.Text)
	}
}

// TestDigestMessage pins a CSAT digest: scores out of 5, and the link to
// the survey's dashboard overview (owners sign in there; /v1/results
// wants an API key).
func TestDigestMessage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sv, _ := e.st.GetSurvey(ctx, "s")
	sv.Kind = survey.CSAT
	if err := e.st.UpdateSurvey(ctx, sv); err != nil {
		t.Fatal(err)
	}
	clk := testenv.NewClock(day(1))
	g := e.digests(clk, day(1), "owners@acme.test")
	e.sentAt(day(0).Add(time.Hour), day(0).Add(time.Hour), day(0).Add(2*time.Hour), 5, "")
	e.sentAt(day(0).Add(time.Hour), day(0).Add(time.Hour), day(0).Add(3*time.Hour), 2, "Support never called back")
	if err := g.Send(ctx, dispatcher.SendDigest{Survey: "s", Due: day(1)}); err != nil {
		t.Fatal(err)
	}
	m := e.waitSent(1)[0]
	want := "Acme daily digest: 2026-03-03\n" +
		"CSAT: 50.0 (±69.3) from 2 answers\n" +
		"Sent: 2 · response rate 100.0% · comment rate 50.0%\n" +
		"Newest detractors:\n" +
		"• 2/5 c1: “Support never called back”\n" +
		"Results: https://nps.test/dashboard/?survey=s"
	if m.Text != want || m.ReplyURL != "https://nps.test/dashboard/?survey=s" {
		t.Fatalf("digest:\n%s\nwant:\n%s", m.Text, want)
	}
}
