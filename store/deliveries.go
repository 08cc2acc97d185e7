package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

const deliveryColumns = `id, survey_key, contact_id, channel, address, locale, token, status, reason,
	provider_message_id, idempotency_key, request_hash, source, metadata, send_at, attempts, expires_at,
	created_at, updated_at, sent_at, delivered_at, responded_at, campaign_id, run_id, throttle_days, reminder_of, reminder_n`

// CreateDelivery inserts d, whose ID and Token the caller sets. Status
// defaults to queued, CreatedAt and SendAt to now; UpdatedAt is CreatedAt.
// The initial status is recorded as the first DeliveryEvent.
//
// A non-empty IdempotencyKey that is already taken returns the delivery
// that took it and created=false: with a nil error when its RequestHash
// equals d's (a replay), with ErrConflict otherwise. d is then left
// untouched. Concurrent calls with one key create one delivery.
func (s *Store) CreateDelivery(ctx context.Context, d *Delivery) (*Delivery, bool, error) {
	op := fmt.Sprintf("create delivery %q", d.ID)
	if d.ID == "" || d.Token == "" {
		return nil, false, fmt.Errorf("store: %s: empty id or token", op)
	}
	row := *d
	now := s.now()
	if row.Status == "" {
		row.Status = StatusQueued
	}
	if row.CreatedAt.IsZero() {
		row.CreatedAt = now
	}
	row.CreatedAt = utc(row.CreatedAt)
	row.UpdatedAt = row.CreatedAt
	if row.SendAt.IsZero() {
		row.SendAt = row.CreatedAt
	}
	row.SendAt = utc(row.SendAt)
	if !row.ExpiresAt.IsZero() {
		row.ExpiresAt = utc(row.ExpiresAt)
	}
	for _, p := range []**time.Time{&row.SentAt, &row.DeliveredAt, &row.RespondedAt} {
		if *p != nil {
			t := utc(**p)
			*p = &t
		}
	}
	meta, err := jsonArg(row.Metadata, "{}")
	if err != nil {
		return nil, false, fmt.Errorf("store: %s: %w", op, err)
	}
	var idemKey any // NULL, not '', so that deliveries without a key never collide
	if row.IdempotencyKey != "" {
		idemKey = row.IdempotencyKey
	}

	var existing *Delivery
	err = s.InTx(ctx, func(tx *Store) error {
		// DO NOTHING only for the idempotency key: a duplicate ID or token
		// is a caller bug and fails as ErrConflict.
		res, err := tx.q.ExecContext(ctx, `INSERT INTO deliveries (`+deliveryColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
				$18, $18, $19, $20, $21, $22, $23, $24, $25, $26)
			ON CONFLICT (idempotency_key) DO NOTHING`,
			row.ID, row.SurveyKey, row.ContactID, row.Channel, row.Address, row.Locale, row.Token,
			string(row.Status), row.Reason, row.ProviderMessageID, idemKey, row.RequestHash, row.Source, meta,
			tx.ts(row.SendAt), row.Attempts, tx.tsOrNull(row.ExpiresAt), tx.ts(row.CreatedAt),
			tx.tsPtr(row.SentAt), tx.tsPtr(row.DeliveredAt), tx.tsPtr(row.RespondedAt), row.CampaignID, row.RunID, row.ThrottleDays, row.ReminderOf, row.ReminderN)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 1 {
			return tx.addEvent(ctx, row.ID, row.Status, row.Reason, row.CreatedAt)
		}
		// On PostgreSQL the INSERT waited for the transaction that holds
		// the key to commit, so this read (a fresh snapshot under READ
		// COMMITTED) sees its row.
		existing, err = scanDelivery(tx.q.QueryRowContext(ctx,
			`SELECT `+deliveryColumns+` FROM deliveries WHERE idempotency_key = $1`, row.IdempotencyKey))
		return err
	})
	switch {
	case err != nil:
		return nil, false, wrapErr(op, err)
	case existing == nil:
		*d = row
		return d, true, nil
	case existing.RequestHash != row.RequestHash:
		return existing, false, fmt.Errorf("store: %s: idempotency key %q was used for a different request: %w",
			op, row.IdempotencyKey, ErrConflict)
	}
	return existing, false, nil
}

func (s *Store) addEvent(ctx context.Context, deliveryID string, status DeliveryStatus, reason string, at time.Time) error {
	_, err := s.q.ExecContext(ctx, `INSERT INTO delivery_events (delivery_id, status, reason, at)
		VALUES ($1, $2, $3, $4)`, deliveryID, string(status), reason, s.ts(at))
	return err
}

// GetDelivery returns the delivery with id, or ErrNotFound.
func (s *Store) GetDelivery(ctx context.Context, id string) (*Delivery, error) {
	d, err := scanDelivery(s.q.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE id = $1`, id))
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("get delivery %q", id), err)
	}
	return d, nil
}

// GetDeliveryByToken returns the delivery with the reply token, or
// ErrNotFound.
func (s *Store) GetDeliveryByToken(ctx context.Context, token string) (*Delivery, error) {
	d, err := scanDelivery(s.q.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE token = $1`, token))
	if err != nil {
		// The token is a secret: keep it out of errors and logs.
		return nil, wrapErr("get delivery by token", err)
	}
	return d, nil
}

// Update is what a Transition changes besides the status. Zero fields are
// left as they are.
type Update struct {
	Reason            string
	ProviderMessageID string
	SendAt            time.Time
	// At is when the transition happened; zero means now.
	At time.Time
}

// Transition moves the delivery to status to if, and only if, its status
// is one of from, in one compare-and-set UPDATE; changed is false, with no
// error, when it was not (also when the delivery does not exist). It
// applies upd's non-zero fields, sets UpdatedAt, sets SentAt, DeliveredAt
// or RespondedAt the first time the delivery reaches sent, delivered or
// responded, counts an attempt on every move to sending, and records a
// DeliveryEvent.
func (s *Store) Transition(ctx context.Context, id string, from []DeliveryStatus, to DeliveryStatus, upd Update) (changed bool, err error) {
	op := fmt.Sprintf("transition delivery %q to %s", id, to)
	if len(from) == 0 {
		return false, fmt.Errorf("store: %s: no from status", op)
	}
	at := upd.At
	if at.IsZero() {
		at = s.now()
	}
	var a args
	sets := []string{"status = " + a.add(string(to)), "updated_at = " + a.add(s.ts(at))}
	if upd.Reason != "" {
		sets = append(sets, "reason = "+a.add(upd.Reason))
	}
	if upd.ProviderMessageID != "" {
		sets = append(sets, "provider_message_id = "+a.add(upd.ProviderMessageID))
	}
	if !upd.SendAt.IsZero() {
		sets = append(sets, "send_at = "+a.add(s.ts(upd.SendAt)))
	}
	switch to {
	case StatusSending:
		sets = append(sets, "attempts = attempts + 1")
	case StatusSent:
		sets = append(sets, "sent_at = COALESCE(sent_at, "+a.add(s.ts(at))+")")
	case StatusDelivered:
		sets = append(sets, "delivered_at = COALESCE(delivered_at, "+a.add(s.ts(at))+")")
	case StatusResponded:
		sets = append(sets, "responded_at = COALESCE(responded_at, "+a.add(s.ts(at))+")")
	}
	in := make([]string, len(from))
	for i, st := range from {
		in[i] = a.add(string(st))
	}
	query := `UPDATE deliveries SET ` + strings.Join(sets, ", ") +
		` WHERE id = ` + a.add(id) + ` AND status IN (` + strings.Join(in, ", ") + `)`

	if s.d.name == postgresDialect.name {
		// One statement, so one round trip and one commit instead of
		// BEGIN, UPDATE, INSERT, COMMIT: a send makes two transitions and
		// this was most of its database time. The event is inserted only
		// when the compare-and-set matched.
		query = `WITH u AS (` + query + ` RETURNING id)
			INSERT INTO delivery_events (delivery_id, status, reason, at)
			SELECT id, ` + a.add(string(to)) + `, ` + a.add(upd.Reason) + `, ` + a.add(s.ts(at)) + ` FROM u`
		res, err := s.q.ExecContext(ctx, query, a...)
		if err != nil {
			return false, wrapErr(op, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return false, wrapErr(op, err)
		}
		return n > 0, nil
	}
	// SQLite has no UPDATE inside WITH; its round trips are function calls.
	err = s.InTx(ctx, func(tx *Store) error {
		res, err := tx.q.ExecContext(ctx, query, a...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 0 {
			return err
		}
		changed = true
		return tx.addEvent(ctx, id, to, upd.Reason, at)
	})
	if err != nil {
		return false, wrapErr(op, err)
	}
	return changed, nil
}

// DeliveryEvents returns the status changes of a delivery, oldest first.
// ErrNotFound if the delivery does not exist.
func (s *Store) DeliveryEvents(ctx context.Context, id string) ([]DeliveryEvent, error) {
	op := fmt.Sprintf("delivery events %q", id)
	rows, err := s.q.QueryContext(ctx, `SELECT delivery_id, status, reason, at FROM delivery_events
		WHERE delivery_id = $1 ORDER BY at, id`, id)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	defer rows.Close()
	var out []DeliveryEvent
	for rows.Next() {
		var e DeliveryEvent
		if err := rows.Scan(&e.DeliveryID, &e.Status, &e.Reason, timeCol{&e.At}); err != nil {
			return nil, wrapErr(op, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr(op, err)
	}
	if len(out) == 0 {
		// Every delivery has its creation event, so none means no delivery.
		return nil, wrapErr(op, ErrNotFound)
	}
	return out, nil
}

// DeliveriesByStatus returns up to limit deliveries (default 100, at most
// 1000) in status whose SendAt is at or before before, oldest SendAt first,
// for recovery sweeps.
func (s *Store) DeliveriesByStatus(ctx context.Context, status DeliveryStatus, before time.Time, limit int) ([]*Delivery, error) {
	out, err := s.queryDeliveries(ctx, nil, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE status = $1 AND send_at <= $2 ORDER BY send_at, id LIMIT $3`,
		string(status), s.ts(before), pageLimit(limit))
	return out, wrapErr(fmt.Sprintf("deliveries in %s", status), err)
}

// queryDeliveries appends the deliveries a query returns to out.
func (s *Store) queryDeliveries(ctx context.Context, out []*Delivery, query string, a ...any) ([]*Delivery, error) {
	rows, err := s.q.QueryContext(ctx, query, a...)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return out, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// SentCounts counts the survey deliveries (not reminders) of a survey
// sent in [from, to), by sent_at, and how many of those have been
// answered. Digests count by sending, not creation: a drip run's
// deliveries are all created on its first day and sent over the
// following ones.
func (s *Store) SentCounts(ctx context.Context, surveyKey string, from, to time.Time) (sent, responded int, err error) {
	op := fmt.Sprintf("sent counts %q", surveyKey)
	err = s.q.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN responded_at IS NULL THEN 0 ELSE 1 END), 0)
		FROM deliveries WHERE survey_key = $1 AND reminder_of = '' AND sent_at >= $2 AND sent_at < $3`,
		surveyKey, s.ts(from), s.ts(to)).Scan(&sent, &responded)
	return sent, responded, wrapErr(op, err)
}

// DeliveryCounts counts the deliveries of a survey created in [from, to)
// by status; zero times leave that end open.
func (s *Store) DeliveryCounts(ctx context.Context, surveyKey string, from, to time.Time) (map[DeliveryStatus]int, error) {
	op := fmt.Sprintf("delivery counts %q", surveyKey)
	var c conds
	c.add("survey_key = %s", surveyKey)
	// Reminders share their survey's answer: counting them would halve
	// the response rate.
	c.parts = append(c.parts, "reminder_of = ''")
	s.addRange(&c, from, to)
	rows, err := s.q.QueryContext(ctx, `SELECT status, COUNT(*) FROM deliveries`+c.where()+` GROUP BY status`, c.args...)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	defer rows.Close()
	out := map[DeliveryStatus]int{}
	for rows.Next() {
		var (
			st DeliveryStatus
			n  int
		)
		if err := rows.Scan(&st, &n); err != nil {
			return nil, wrapErr(op, err)
		}
		out[st] = n
	}
	return out, wrapErr(op, rows.Err())
}

// addRange adds created_at in [from, to) with zero ends open.
func (s *Store) addRange(c *conds, from, to time.Time) {
	if !from.IsZero() {
		c.add("created_at >= %s", s.ts(from))
	}
	if !to.IsZero() {
		c.add("created_at < %s", s.ts(to))
	}
}

func scanDelivery(row scanner) (*Delivery, error) {
	var (
		d       Delivery
		idemKey *string
	)
	err := row.Scan(&d.ID, &d.SurveyKey, &d.ContactID, &d.Channel, &d.Address, &d.Locale, &d.Token, &d.Status,
		&d.Reason, &d.ProviderMessageID, &idemKey, &d.RequestHash, &d.Source, jsonCol{&d.Metadata},
		timeCol{&d.SendAt}, &d.Attempts, timeCol{&d.ExpiresAt}, timeCol{&d.CreatedAt}, timeCol{&d.UpdatedAt},
		nullTimeCol{&d.SentAt}, nullTimeCol{&d.DeliveredAt}, nullTimeCol{&d.RespondedAt}, &d.CampaignID, &d.RunID, &d.ThrottleDays, &d.ReminderOf, &d.ReminderN)
	if err != nil {
		return nil, err
	}
	if idemKey != nil {
		d.IdempotencyKey = *idemKey
	}
	return &d, nil
}

// GetDeliveries returns the deliveries with the given IDs, in no order;
// IDs that do not exist are left out. It is the batch send's one read.
func (s *Store) GetDeliveries(ctx context.Context, ids []string) ([]*Delivery, error) {
	op := fmt.Sprintf("get %d deliveries", len(ids))
	var out []*Delivery
	for chunk := range slices.Chunk(ids, maxInList) {
		var a args
		in := make([]string, len(chunk))
		for i, id := range chunk {
			in[i] = a.add(id)
		}
		var err error
		if out, err = s.queryDeliveries(ctx, out, `SELECT `+deliveryColumns+` FROM deliveries WHERE id IN (`+strings.Join(in, ", ")+`)`, a...); err != nil {
			return nil, wrapErr(op, err)
		}
	}
	return out, nil
}

// maxInList bounds the IDs of one IN (…) list, well below SQLite's limit
// of bound parameters.
const maxInList = 500

// SendingSince returns up to limit deliveries (default 100, at most 1000)
// left sending since before or earlier: a worker that died or lost the
// database between marking one sending and recording the outcome. A send in
// progress is younger than its timeout, so a before older than that picks
// only the abandoned.
func (s *Store) SendingSince(ctx context.Context, before time.Time, limit int) ([]*Delivery, error) {
	out, err := s.queryDeliveries(ctx, nil, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE status = $1 AND updated_at <= $2 ORDER BY updated_at, id LIMIT $3`,
		string(StatusSending), s.ts(before), pageLimit(limit))
	return out, wrapErr("deliveries left sending", err)
}
