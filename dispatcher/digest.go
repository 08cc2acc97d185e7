package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/internal/zone"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

// SendDigest sends a survey's digest that is due. Due is the end of the
// period the scheduler saw due (it names the task); the handler reports
// the latest period due when it runs.
type SendDigest struct {
	Survey string    `json:"survey"`
	Due    time.Time `json:"due"`
}

// Kind implements TaskArgs.
func (SendDigest) Kind() string { return "digest:send" }

// NextDigest is the first digest time after after: At in the digest's
// time zone, every day, or on Mondays for a weekly one.
func NextDigest(dg store.Digest, after time.Time) time.Time {
	loc := time.UTC
	if dg.TimeZone != "" {
		if l, err := zone.Load(dg.TimeZone); err == nil {
			loc = l
		}
	}
	var h, m int
	fmt.Sscanf(dg.At, "%d:%d", &h, &m)
	local := after.In(loc)
	for i := 0; i < 8; i++ {
		t := time.Date(local.Year(), local.Month(), local.Day()+i, h, m, 0, 0, loc)
		if !t.After(after) {
			continue
		}
		if dg.Frequency == "weekly" && t.Weekday() != time.Monday {
			continue
		}
		return t.UTC()
	}
	return after.Add(24 * time.Hour).UTC()
}

// LatestDigest is the latest digest time at or before now, counting from
// next (the survey's next digest time, already due). After downtime the
// periods missed are skipped: the owners get the latest digest, not a
// burst of stale ones.
func LatestDigest(dg store.Digest, next, now time.Time) time.Time {
	due := next
	for {
		n := NextDigest(dg, due)
		if n.After(now) || !n.After(due) {
			return due
		}
		due = n
	}
}

// digestPeriod is the start of the period a digest ending at due covers.
func digestPeriod(dg store.Digest, due time.Time) time.Time {
	if dg.Frequency == "weekly" {
		return due.Add(-7 * 24 * time.Hour)
	}
	return due.Add(-24 * time.Hour)
}

// DigestStore is what digests read and write; *store.Store is one.
type DigestStore interface {
	GetSurvey(ctx context.Context, key string) (*store.Survey, error)
	SentCounts(ctx context.Context, surveyKey string, from, to time.Time) (sent, responded int, err error)
	ScoreTally(ctx context.Context, surveyKey string, from, to time.Time) (survey.Tally, error)
	ListResponses(ctx context.Context, f store.ResponseFilter) ([]*store.Response, string, error)
	LastDigest(ctx context.Context, surveyKey string) (*store.DigestRecord, error)
	DigestSentTo(ctx context.Context, surveyKey string, period time.Time, target string) (bool, error)
	RecordDigestSent(ctx context.Context, surveyKey string, period time.Time, target string, at time.Time) error
	FinishDigest(ctx context.Context, surveyKey string, due, next, period time.Time, sent bool, rec *store.DigestRecord) (bool, error)
}

var _ DigestStore = (*store.Store)(nil)

// Digests sends survey digests.
type Digests struct {
	Store    DigestStore
	Channels *channels.Registry
	Links    Links
	Logger   interface {
		Info(string, ...any)
		Warn(string, ...any)
		Error(string, ...any)
	}
	// Metrics, when set, counts the sends and times the provider calls.
	Metrics *Metrics
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

func (g *Digests) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// DigestNumbers is what a digest reports for a period.
type DigestNumbers struct {
	From, To time.Time
	// Sent counts the surveys sent in the period, Answered those of them
	// answered by now: ResponseRate is the one over the other.
	Sent, Answered int
	// Responses are the answers given in the period, to surveys sent in
	// it or before.
	Responses int
	Summary   survey.Summary
	// Last is what the last digest with answers reported (nil: none, or
	// one of another kind); Previous is its summary, for the change.
	Last         *store.DigestRecord
	Previous     survey.Summary
	ResponseRate float64
	CommentRate  float64
	Detractors   []*store.Response
}

// Numbers computes a digest's figures for [from, to), and the change since
// the last digest that had answers.
func (g *Digests) Numbers(ctx context.Context, sv *store.Survey, from, to time.Time) (*DigestNumbers, error) {
	n := &DigestNumbers{From: from, To: to}
	var err error
	if n.Sent, n.Answered, err = g.Store.SentCounts(ctx, sv.Key, from, to); err != nil {
		return nil, err
	}
	tally, err := g.Store.ScoreTally(ctx, sv.Key, from, to)
	if err != nil {
		return nil, err
	}
	n.Summary = survey.Summarize(sv.Kind, tally)
	n.Responses = n.Summary.Responses
	last, err := g.Store.LastDigest(ctx, sv.Key)
	if err != nil {
		return nil, err
	}
	// A survey whose kind changed has no comparable score before.
	if last != nil && last.Kind == sv.Kind && last.Responses > 0 && last.To.Before(to) {
		n.Last = last
		n.Previous = survey.Summary{Kind: last.Kind, Responses: last.Responses, Score: last.Score}
	}
	if n.Sent > 0 {
		n.ResponseRate = 100 * float64(n.Answered) / float64(n.Sent)
	}
	withComment := 0
	after := ""
	for {
		page, next, err := g.Store.ListResponses(ctx, store.ResponseFilter{Survey: sv.Key, From: from, To: to, After: after, Limit: 1000})
		if err != nil {
			return nil, err
		}
		for _, r := range page {
			if r.Comment != "" {
				withComment++
				if r.Category == survey.Detractor {
					n.Detractors = append(n.Detractors, r)
				}
			}
		}
		if next == "" {
			break
		}
		after = next
	}
	if n.Responses > 0 {
		n.CommentRate = 100 * float64(withComment) / float64(n.Responses)
	}
	// The newest five detractors with their comments.
	if len(n.Detractors) > 5 {
		n.Detractors = n.Detractors[len(n.Detractors)-5:]
	}
	return n, nil
}

// lastTry reports whether the running task has no retry left. Outside a
// worker (a direct call) there is always another try: the caller decides.
func lastTry(ctx context.Context) bool {
	retried, ok1 := asynq.GetRetryCount(ctx)
	maxRetry, ok2 := asynq.GetMaxRetry(ctx)
	return ok1 && ok2 && retried >= maxRetry
}

// Send sends the survey's digest that is due: the one ending at the
// latest digest time at or before now (periods missed while nothing ran
// are skipped). The survey's next digest time moves on, by
// compare-and-set, only once the digest reached every target: an error
// before or while sending is retried, and a retry sends only to the
// targets the digest did not reach. When the task's retries are spent the
// digest is given up, so the next one is not held back.
func (g *Digests) Send(ctx context.Context, args SendDigest) error {
	sv, err := g.Store.GetSurvey(ctx, args.Survey)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if sv.Digest.Frequency == "" || sv.DigestNextAt == nil {
		return nil
	}
	now := g.now()
	stored := *sv.DigestNextAt
	if stored.After(now) {
		return nil // done already (a replayed task), or the digest was moved
	}
	due := LatestDigest(sv.Digest, stored, now)
	next := NextDigest(sv.Digest, due)
	if due.After(stored) {
		g.Logger.Warn("digest: periods missed while not running are skipped", "survey", sv.Key, "from", stored, "to", due)
	}
	n, err := g.Numbers(ctx, sv, digestPeriod(sv.Digest, due), due)
	if err != nil {
		if lastTry(ctx) {
			g.Logger.Error("digest given up", "survey", sv.Key, "period_end", due, "err", err)
			g.finish(ctx, sv.Key, stored, next, due, false, nil)
			return fmt.Errorf("digest %s: %w: %w", sv.Key, err, asynq.SkipRetry)
		}
		return fmt.Errorf("digest %s: %w", sv.Key, err)
	}
	if n.Sent == 0 && n.Responses == 0 {
		g.Logger.Info("digest: nothing happened, nothing sent", "survey", sv.Key)
		_, err := g.finish(ctx, sv.Key, stored, next, due, false, nil)
		return err
	}
	msg := g.message(sv, n)
	var errs []error
	reached := 0
	for _, t := range sv.Digest.Targets {
		key := TargetKey(t)
		done, err := g.Store.DigestSentTo(ctx, sv.Key, due, key)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if done {
			reached++
			continue // by an earlier try
		}
		ch, err := g.Channels.Get(t.Channel)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m := *msg
		m.To = t.Address
		start := time.Now()
		_, err = ch.Send(ctx, &m)
		g.Metrics.provider(t.Channel, time.Since(start), err)
		g.Metrics.digest(t.Channel, err)
		if err != nil {
			g.Logger.Warn("digest not delivered", "survey", sv.Key, "target", key, "err", err)
			errs = append(errs, err)
			continue
		}
		reached++
		if err := g.Store.RecordDigestSent(ctx, sv.Key, due, key, now); err != nil {
			// The target has it; only a retry would send it again.
			g.Logger.Warn("digest sent but not recorded", "survey", sv.Key, "target", key, "err", err)
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 && !lastTry(ctx) {
		return fmt.Errorf("digest %s: %w", sv.Key, errors.Join(errs...))
	}
	var rec *store.DigestRecord
	if reached > 0 && !n.Summary.Empty() {
		rec = &store.DigestRecord{From: n.From, To: n.To, Kind: sv.Kind, Responses: n.Responses, Score: n.Summary.Score}
	}
	if _, err := g.finish(ctx, sv.Key, stored, next, due, reached > 0, rec); err != nil && len(errs) == 0 {
		return err
	}
	if len(errs) > 0 {
		g.Logger.Error("digest given up for the targets it did not reach", "survey", sv.Key, "period_end", due, "err", errors.Join(errs...))
		return fmt.Errorf("digest %s: %w: %w", sv.Key, errors.Join(errs...), asynq.SkipRetry)
	}
	return nil
}

// finish moves the survey's digest on; ok is false when another worker
// did first.
func (g *Digests) finish(ctx context.Context, key string, due, next, period time.Time, sent bool, rec *store.DigestRecord) (bool, error) {
	ok, err := g.Store.FinishDigest(ctx, key, due, next, period, sent, rec)
	if err != nil {
		g.Logger.Warn("digest: next time not saved", "survey", key, "err", err)
		return false, fmt.Errorf("digest %s: %w", key, err)
	}
	return ok, nil
}

func (g *Digests) message(sv *store.Survey, n *DigestNumbers) *channels.Message {
	var b strings.Builder
	label := "NPS"
	switch sv.Kind {
	case survey.CSAT:
		label = "CSAT"
	case survey.CES:
		label = "CES"
	}
	loc := digestLocation(sv.Digest)
	title := fmt.Sprintf("%s %s digest: %s", sv.ProductName, sv.Digest.Frequency, n.To.In(loc).Format("2006-01-02"))
	b.WriteString(title + "\n")
	if n.Summary.Empty() {
		fmt.Fprintf(&b, "%s: no answers this period\n", label)
	} else {
		fmt.Fprintf(&b, "%s: %.1f (±%.1f) from %d answers", label, n.Summary.Score, n.Summary.MarginOfError, n.Responses)
		if n.Last != nil {
			fmt.Fprintf(&b, ", %+.1f since the last digest (%s)", n.Summary.Score-n.Previous.Score, n.Last.To.In(loc).Format("2006-01-02"))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "Sent: %d · response rate %.1f%% · comment rate %.1f%%\n", n.Sent, n.ResponseRate, n.CommentRate)
	if len(n.Detractors) > 0 {
		_, hi := sv.Kind.Range()
		b.WriteString("Newest detractors:\n")
		for i := len(n.Detractors) - 1; i >= 0; i-- {
			r := n.Detractors[i]
			c := r.Comment
			if rs := []rune(c); len(rs) > 200 {
				c = string(rs[:200]) + "…"
			}
			fmt.Fprintf(&b, "• %d/%d %s: “%s”\n", r.Score, hi, r.ContactID, c)
		}
	}
	// The dashboard's overview of the survey: owners sign in there, while
	// /v1/results wants an API key.
	link := g.Links.Base + "/dashboard/?survey=" + url.QueryEscape(sv.Key)
	b.WriteString("Results: " + link)
	return &channels.Message{DeliveryID: "digest-" + sv.Key + "-" + n.To.Format("20060102"), Kind: "digest", Locale: "en",
		Subject: title, Text: b.String(), ReplyURL: link}
}

func digestLocation(dg store.Digest) *time.Location {
	if dg.TimeZone != "" {
		if l, err := zone.Load(dg.TimeZone); err == nil {
			return l
		}
	}
	return time.UTC
}
