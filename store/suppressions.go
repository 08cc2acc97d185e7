package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// normalizeAddress is the form suppressions are keyed by. Lowering is
// what email needs and does nothing to a phone number.
func normalizeAddress(addr string) string { return strings.ToLower(strings.TrimSpace(addr)) }

// AddSuppression suppresses sp.Address on sp.Channel. It is idempotent on
// the channel and the address regardless of case: an existing suppression
// is kept as it is. Reason defaults to "manual", CreatedAt to now.
func (s *Store) AddSuppression(ctx context.Context, sp Suppression) error {
	return wrapErr(fmt.Sprintf("add suppression %s %q", sp.Channel, sp.Address), s.addSuppression(ctx, sp))
}

func (s *Store) addSuppression(ctx context.Context, sp Suppression) error {
	key := normalizeAddress(sp.Address)
	if sp.Channel == "" || key == "" {
		return errors.New("empty channel or address")
	}
	if sp.Reason == "" {
		sp.Reason = "manual"
	}
	if sp.CreatedAt.IsZero() {
		sp.CreatedAt = s.now()
	}
	_, err := s.q.ExecContext(ctx, `INSERT INTO suppressions
			(channel, address_lower, address, reason, contact_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (channel, address_lower) DO NOTHING`,
		sp.Channel, key, strings.TrimSpace(sp.Address), sp.Reason, sp.ContactID, s.ts(sp.CreatedAt))
	return err
}

// Suppressed reports whether address is suppressed on channel, and why.
func (s *Store) Suppressed(ctx context.Context, channel, address string) (reason string, ok bool, err error) {
	err = s.q.QueryRowContext(ctx, `SELECT reason FROM suppressions WHERE channel = $1 AND address_lower = $2`,
		channel, normalizeAddress(address)).Scan(&reason)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, wrapErr(fmt.Sprintf("check suppression %s %q", channel, address), err)
	}
	return reason, true, nil
}

// RemoveSuppression lifts the suppression of address on channel, whatever
// its reason. ErrNotFound if there is none.
func (s *Store) RemoveSuppression(ctx context.Context, channel, address string) error {
	op := fmt.Sprintf("remove suppression %s %q", channel, address)
	res, err := s.q.ExecContext(ctx, `DELETE FROM suppressions WHERE channel = $1 AND address_lower = $2`,
		channel, normalizeAddress(address))
	if err != nil {
		return wrapErr(op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrapErr(op, err)
	} else if n == 0 {
		return wrapErr(op, ErrNotFound)
	}
	return nil
}

// ListSuppressions returns suppressions, newest first, on channel (all
// when ""), at most limit (default 100, at most 1000).
func (s *Store) ListSuppressions(ctx context.Context, channel string, limit int) ([]Suppression, error) {
	var c conds
	if channel != "" {
		c.add("channel = %s", channel)
	}
	rows, err := s.q.QueryContext(ctx, `SELECT channel, address, reason, contact_id, created_at FROM suppressions`+
		c.where()+` ORDER BY created_at DESC, address_lower LIMIT `+c.args.add(pageLimit(limit)), c.args...)
	if err != nil {
		return nil, wrapErr("list suppressions", err)
	}
	defer rows.Close()
	var out []Suppression
	for rows.Next() {
		var sp Suppression
		if err := rows.Scan(&sp.Channel, &sp.Address, &sp.Reason, &sp.ContactID, timeCol{&sp.CreatedAt}); err != nil {
			return nil, wrapErr("list suppressions", err)
		}
		out = append(out, sp)
	}
	return out, wrapErr("list suppressions", rows.Err())
}
