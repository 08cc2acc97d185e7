package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
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

// ResolveShort returns the reply token of a short link code, or ErrNotFound.
func (s *Store) ResolveShort(ctx context.Context, code string) (string, error) {
	var token string
	err := s.q.QueryRowContext(ctx, `SELECT token FROM short_links WHERE code = $1`, code).Scan(&token)
	return token, wrapErr("resolve short link", err)
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
