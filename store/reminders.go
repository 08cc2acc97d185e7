package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/npsgate/npsgate/survey"
)

// RemindersOf returns the reminders of a survey delivery, by number.
func (s *Store) RemindersOf(ctx context.Context, deliveryID string) ([]*Delivery, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE reminder_of = $1 ORDER BY reminder_n`, deliveryID)
	if err != nil {
		return nil, wrapErr("reminders of", err)
	}
	defer rows.Close()
	var out []*Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, wrapErr("reminders of", err)
		}
		out = append(out, d)
	}
	return out, wrapErr("reminders of", rows.Err())
}

// CancelReminders ends the reminders of a delivery that have not gone out
// (suppressed, with reason): the contact answered, opted out or was
// suppressed. It returns how many it ended.
func (s *Store) CancelReminders(ctx context.Context, deliveryID, reason string) (int, error) {
	list, err := s.RemindersOf(ctx, deliveryID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range list {
		changed, err := s.Transition(ctx, r.ID, []DeliveryStatus{StatusQueued, StatusDeferred}, StatusSuppressed, Update{Reason: reason})
		if err != nil {
			return n, err
		}
		if changed {
			n++
		}
	}
	return n, nil
}

// CancelContactReminders ends every reminder to a contact that has not
// gone out (suppressed, with reason), as CancelReminders does for one
// survey: the contact opted out. The sender would drop them when due;
// ending them now makes the delivery views say so at once.
func (s *Store) CancelContactReminders(ctx context.Context, contactID, reason string) (int, error) {
	// The statuses are literals so that PostgreSQL can use the partial
	// index deliveries_pending_reminders_idx.
	list, err := s.queryDeliveries(ctx, nil, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE contact_id = $1 AND reminder_of <> '' AND status IN ('queued', 'deferred')`, contactID)
	if err != nil {
		return 0, wrapErr("cancel contact reminders", err)
	}
	return s.cancelPending(ctx, list, reason)
}

// CancelAddressReminders ends every reminder to an address on a channel
// that has not gone out: the address was suppressed, whichever contact
// it is saved on.
func (s *Store) CancelAddressReminders(ctx context.Context, channel, address, reason string) (int, error) {
	list, err := s.queryDeliveries(ctx, nil, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE address = $1 AND channel = $2 AND reminder_of <> '' AND status IN ('queued', 'deferred')`, address, channel)
	if err != nil {
		return 0, wrapErr("cancel address reminders", err)
	}
	return s.cancelPending(ctx, list, reason)
}

// cancelPending suppresses the deliveries of list still queued or
// deferred, each by compare-and-set: one a worker took meanwhile is left
// to the sender's own checks.
func (s *Store) cancelPending(ctx context.Context, list []*Delivery, reason string) (int, error) {
	n := 0
	for _, d := range list {
		changed, err := s.Transition(ctx, d.ID, []DeliveryStatus{StatusQueued, StatusDeferred}, StatusSuppressed, Update{Reason: reason})
		if err != nil {
			return n, err
		}
		if changed {
			n++
		}
	}
	return n, nil
}

// shortAlphabet avoids look-alike characters (0/O, 1/l/I) since people
// type short links from a phone screen.
const shortAlphabet = "23456789abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"

// ShortCodeLen is the length of a short link code: 57^7 ≈ 1.95e12 codes,
// unguessable enough behind the per-IP limit on look-ups.
const ShortCodeLen = 7

// ShortCode returns the short link code of a reply token, making one the
// first time. The same token always gets the same code.
func (s *Store) ShortCode(ctx context.Context, token string) (string, error) {
	var code string
	err := s.q.QueryRowContext(ctx, `SELECT code FROM short_links WHERE token = $1`, token).Scan(&code)
	if err == nil {
		return code, nil
	}
	if err = wrapErr("short code", err); !errors.Is(err, ErrNotFound) {
		return "", err
	}
	for attempt := 0; attempt < 5; attempt++ {
		c, err := randomCode()
		if err != nil {
			return "", err
		}
		res, err := s.q.ExecContext(ctx, `INSERT INTO short_links (code, token, created_at) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, c, token, s.ts(s.now()))
		if err != nil {
			return "", wrapErr("short code", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return c, nil
		}
		// Either the code was taken (try another) or the token got its
		// code from a concurrent call (read it).
		if err := s.q.QueryRowContext(ctx, `SELECT code FROM short_links WHERE token = $1`, token).Scan(&code); err == nil {
			return code, nil
		}
	}
	return "", fmt.Errorf("store: short code: no free code after 5 tries")
}

// ResolveShort returns the reply token of a short link code and which
// message it came from (via: 0 the survey, n its n-th reminder), or
// ErrNotFound. A reminder's SMS carries a code of the reminder's own
// token, which resolves to its survey's reply token: the answer counts
// once, and the link says which message it was without "?m=n".
func (s *Store) ResolveShort(ctx context.Context, code string) (token string, via int, err error) {
	var parent *string
	var n *int
	err = s.q.QueryRowContext(ctx, `SELECT l.token, p.token, d.reminder_n FROM short_links l
		LEFT JOIN deliveries d ON d.token = l.token AND d.reminder_of <> ''
		LEFT JOIN deliveries p ON p.id = d.reminder_of
		WHERE l.code = $1`, code).Scan(&token, &parent, &n)
	if err != nil {
		return "", 0, wrapErr("resolve short link", err)
	}
	if n != nil {
		if parent == nil {
			// A reminder whose survey delivery is gone answers nothing.
			return "", 0, wrapErr("resolve short link", ErrNotFound)
		}
		return *parent, *n, nil
	}
	return token, 0, nil
}

func randomCode() (string, error) {
	b := make([]byte, ShortCodeLen)
	max := big.NewInt(int64(len(shortAlphabet)))
	for i := range b {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", err
		}
		b[i] = shortAlphabet[n.Int64()]
	}
	return string(b), nil
}

// DigestRecord is what a digest with answers reported: the next digest
// shows the change since it.
type DigestRecord struct {
	From      time.Time   `json:"from"`
	To        time.Time   `json:"to"`
	Kind      survey.Kind `json:"kind"`
	Responses int         `json:"responses"`
	Score     float64     `json:"score"`
}

// LastDigest returns what the survey's last digest with answers reported,
// or nil when none has been sent.
func (s *Store) LastDigest(ctx context.Context, surveyKey string) (*DigestRecord, error) {
	var rec DigestRecord
	err := s.q.QueryRowContext(ctx, `SELECT digest_last FROM surveys WHERE key = $1`, surveyKey).Scan(jsonCol{&rec})
	if err != nil {
		return nil, wrapErr("last digest", err)
	}
	if rec.To.IsZero() {
		return nil, nil
	}
	return &rec, nil
}

// DigestSentTo reports whether the survey's digest of the period ending
// at period reached the target (a TargetKey).
func (s *Store) DigestSentTo(ctx context.Context, surveyKey string, period time.Time, target string) (bool, error) {
	var n int
	err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM digest_sends
		WHERE survey_key = $1 AND period_end = $2 AND target_key = $3`, surveyKey, s.ts(period), target).Scan(&n)
	return n > 0, wrapErr("digest sent to", err)
}

// RecordDigestSent notes that the digest of the period ending at period
// reached the target, so that a retry of the digest skips it.
func (s *Store) RecordDigestSent(ctx context.Context, surveyKey string, period time.Time, target string, at time.Time) error {
	_, err := s.q.ExecContext(ctx, `INSERT INTO digest_sends (survey_key, period_end, target_key, sent_at)
		VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, surveyKey, s.ts(period), target, s.ts(at))
	return wrapErr("record digest sent", err)
}

// FinishDigest moves the survey's next digest time from due to next if it
// is still due: the compare-and-set that ends a digest once however many
// workers handled it. period is the end of the period the digest covered.
// When sent, the digest went out: digest_last_at becomes period and rec,
// when not nil, becomes the last digest (LastDigest). The period's
// per-target records are deleted with it.
func (s *Store) FinishDigest(ctx context.Context, surveyKey string, due, next, period time.Time, sent bool, rec *DigestRecord) (bool, error) {
	const op = "finish digest"
	var a args
	sets := []string{"digest_next_at = " + a.add(s.ts(next))}
	if sent {
		sets = append(sets, "digest_last_at = "+a.add(s.ts(period)))
	}
	if rec != nil {
		b, err := jsonArg(rec, "{}")
		if err != nil {
			return false, fmt.Errorf("store: %s: %w", op, err)
		}
		sets = append(sets, "digest_last = "+a.add(b))
	}
	query := `UPDATE surveys SET ` + strings.Join(sets, ", ") + ` WHERE key = ` + a.add(surveyKey) +
		` AND digest_next_at = ` + a.add(s.ts(due))
	done := false
	err := s.InTx(ctx, func(tx *Store) error {
		res, err := tx.q.ExecContext(ctx, query, a...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return err
		}
		done = true
		_, err = tx.q.ExecContext(ctx, `DELETE FROM digest_sends WHERE survey_key = $1 AND period_end <= $2`,
			surveyKey, tx.ts(period))
		return err
	})
	return done, wrapErr(op, err)
}
