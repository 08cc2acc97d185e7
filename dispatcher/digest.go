package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

// SendDigest sends a survey's digest for the period ending at Due.
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
		if l, err := time.LoadLocation(dg.TimeZone); err == nil {
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

// Digests sends survey digests.
type Digests struct {
	Store    *store.Store
	Channels *channels.Registry
	Links    Links
	Logger   interface {
		Info(string, ...any)
		Warn(string, ...any)
	}
}

// DigestNumbers is what a digest reports for a period.
type DigestNumbers struct {
	From, To          time.Time
	Sent              int
	Responses         int
	Summary, Previous survey.Summary
	ResponseRate      float64
	CommentRate       float64
	Detractors        []*store.Response
}

// Numbers computes a digest's figures for [from, to) and the period
// before it, for the change.
func (g *Digests) Numbers(ctx context.Context, sv *store.Survey, from, to time.Time) (*DigestNumbers, error) {
	n := &DigestNumbers{From: from, To: to}
	counts, err := g.Store.DeliveryCounts(ctx, sv.Key, from, to)
	if err != nil {
		return nil, err
	}
	n.Sent = counts[store.StatusSent] + counts[store.StatusDelivered] + counts[store.StatusResponded]
	tally, err := g.Store.ScoreTally(ctx, sv.Key, from, to)
	if err != nil {
		return nil, err
	}
	n.Summary = survey.Summarize(sv.Kind, tally)
	n.Responses = n.Summary.Responses
	prev, err := g.Store.ScoreTally(ctx, sv.Key, from.Add(-to.Sub(from)), from)
	if err != nil {
		return nil, err
	}
	n.Previous = survey.Summarize(sv.Kind, prev)
	if n.Sent > 0 {
		n.ResponseRate = 100 * float64(counts[store.StatusResponded]) / float64(n.Sent)
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

// Send sends the digest due at args.Due once: the survey's next digest time
// moves forward by compare-and-set before anything is sent, so two workers
// never send the same digest.
func (g *Digests) Send(ctx context.Context, args SendDigest) error {
	sv, err := g.Store.GetSurvey(ctx, args.Survey)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if sv.Digest.Frequency == "" {
		return nil
	}
	from := args.Due.Add(-24 * time.Hour)
	if sv.Digest.Frequency == "weekly" {
		from = args.Due.Add(-7 * 24 * time.Hour)
	}
	next := NextDigest(sv.Digest, args.Due)
	ok, err := g.Store.AdvanceDigest(ctx, sv.Key, args.Due, args.Due, &next)
	if err != nil || !ok {
		return err
	}
	n, err := g.Numbers(ctx, sv, from, args.Due)
	if err != nil {
		return err
	}
	if n.Sent == 0 && n.Responses == 0 {
		g.Logger.Info("digest: nothing happened, nothing sent", "survey", sv.Key)
		return nil
	}
	msg := g.message(sv, n)
	var errs []error
	for _, t := range sv.Digest.Targets {
		ch, err := g.Channels.Get(t.Channel)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m := *msg
		m.To = t.Address
		if _, err := ch.Send(ctx, &m); err != nil {
			g.Logger.Warn("digest not delivered", "survey", sv.Key, "target", TargetKey(t), "err", err)
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		// The period is advanced; a digest is a summary, not a promise,
		// so a failed one is logged rather than sent twice to the others.
		return fmt.Errorf("digest %s: %w: %w", sv.Key, errors.Join(errs...), asynq.SkipRetry)
	}
	return nil
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
	title := fmt.Sprintf("%s %s digest: %s", sv.ProductName, sv.Digest.Frequency, n.To.Format("2006-01-02"))
	b.WriteString(title + "\n")
	if n.Summary.Empty() {
		fmt.Fprintf(&b, "%s: no answers this period\n", label)
	} else {
		fmt.Fprintf(&b, "%s: %.1f (±%.1f) from %d answers", label, n.Summary.Score, n.Summary.MarginOfError, n.Responses)
		if !n.Previous.Empty() {
			fmt.Fprintf(&b, ", %+.1f since the last digest", n.Summary.Score-n.Previous.Score)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "Sent: %d · response rate %.1f%% · comment rate %.1f%%\n", n.Sent, n.ResponseRate, n.CommentRate)
	if len(n.Detractors) > 0 {
		b.WriteString("Newest detractors:\n")
		for i := len(n.Detractors) - 1; i >= 0; i-- {
			r := n.Detractors[i]
			c := r.Comment
			if rs := []rune(c); len(rs) > 200 {
				c = string(rs[:200]) + "…"
			}
			fmt.Fprintf(&b, "• %d/10 %s: “%s”\n", r.Score, r.ContactID, c)
		}
	}
	link := g.Links.Base + "/v1/results?survey=" + sv.Key
	b.WriteString("Results: " + link)
	return &channels.Message{DeliveryID: "digest-" + sv.Key + "-" + n.To.Format("20060102"), Kind: "digest", Locale: "en",
		Subject: title, Text: b.String(), ReplyURL: link}
}
