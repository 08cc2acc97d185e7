package store

import (
	"context"
	"fmt"
	"time"
)

const webhookColumns = `id, url, secret, events, enabled, created_at, updated_at`

// CreateWebhook inserts a subscription and fills its times.
func (s *Store) CreateWebhook(ctx context.Context, w *WebhookSubscription) error {
	events, err := jsonArg(w.Events, "[]")
	if err != nil {
		return fmt.Errorf("store: create webhook: %w", err)
	}
	now := s.now()
	_, err = s.q.ExecContext(ctx, `INSERT INTO webhook_subscriptions (`+webhookColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $6)`, w.ID, w.URL, w.Secret, events, w.Enabled, s.ts(now))
	if err != nil {
		return wrapErr("create webhook", err)
	}
	w.CreatedAt, w.UpdatedAt = now, now
	return nil
}

// GetWebhook returns the subscription with id, or ErrNotFound.
func (s *Store) GetWebhook(ctx context.Context, id string) (*WebhookSubscription, error) {
	w, err := scanWebhook(s.q.QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhook_subscriptions WHERE id = $1`, id))
	return w, wrapErr(fmt.Sprintf("get webhook %q", id), err)
}

// DeleteWebhook removes a subscription and its events; ErrNotFound if none.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	res, err := s.q.ExecContext(ctx, `DELETE FROM webhook_subscriptions WHERE id = $1`, id)
	if err != nil {
		return wrapErr("delete webhook", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return wrapErr("delete webhook", ErrNotFound)
	}
	return nil
}

// ListWebhooks returns every subscription, oldest first.
func (s *Store) ListWebhooks(ctx context.Context) ([]*WebhookSubscription, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+webhookColumns+` FROM webhook_subscriptions ORDER BY created_at, id`)
	if err != nil {
		return nil, wrapErr("list webhooks", err)
	}
	defer rows.Close()
	var out []*WebhookSubscription
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, wrapErr("list webhooks", err)
		}
		out = append(out, w)
	}
	return out, wrapErr("list webhooks", rows.Err())
}

func scanWebhook(row scanner) (*WebhookSubscription, error) {
	var w WebhookSubscription
	if err := row.Scan(&w.ID, &w.URL, &w.Secret, jsonCol{&w.Events}, &w.Enabled, timeCol{&w.CreatedAt}, timeCol{&w.UpdatedAt}); err != nil {
		return nil, err
	}
	return &w, nil
}

const webhookEventColumns = `id, subscription_id, event_id, type, payload, status, attempts, last_status, last_error,
	created_at, updated_at`

// CreateWebhookEvent records an event for a subscription once: created is
// false when the subscription already has that event, and e is then the
// stored one (its ID and status), so that a retry of the fan-out can queue
// again an event whose first enqueue failed.
func (s *Store) CreateWebhookEvent(ctx context.Context, e *WebhookEvent) (created bool, err error) {
	now := s.now()
	if e.Status == "" {
		e.Status = "pending"
	}
	res, err := s.q.ExecContext(ctx, `INSERT INTO webhook_events (`+webhookEventColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, 0, 0, '', $7, $7)
		ON CONFLICT (subscription_id, event_id) DO NOTHING`,
		e.ID, e.SubscriptionID, e.EventID, e.Type, string(e.Payload), e.Status, s.ts(now))
	if err != nil {
		return false, wrapErr("create webhook event", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, wrapErr("create webhook event", err)
	}
	if n == 1 {
		e.CreatedAt, e.UpdatedAt = now, now
		return true, nil
	}
	got, err := scanWebhookEvent(s.q.QueryRowContext(ctx, `SELECT `+webhookEventColumns+` FROM webhook_events
		WHERE subscription_id = $1 AND event_id = $2`, e.SubscriptionID, e.EventID))
	if err != nil {
		return false, wrapErr("create webhook event", err)
	}
	*e = *got
	return false, nil
}

// GetWebhookEvent returns the event with id, or ErrNotFound.
func (s *Store) GetWebhookEvent(ctx context.Context, id string) (*WebhookEvent, error) {
	e, err := scanWebhookEvent(s.q.QueryRowContext(ctx, `SELECT `+webhookEventColumns+` FROM webhook_events WHERE id = $1`, id))
	return e, wrapErr(fmt.Sprintf("get webhook event %q", id), err)
}

// RecordWebhookAttempt keeps one attempt and moves the event to status.
func (s *Store) RecordWebhookAttempt(ctx context.Context, eventID, status string, a WebhookAttempt) error {
	return s.InTx(ctx, func(tx *Store) error {
		if _, err := tx.q.ExecContext(ctx, `INSERT INTO webhook_attempts (event_id, at, status_code, response, error, duration_ms)
			VALUES ($1, $2, $3, $4, $5, $6)`, eventID, tx.ts(a.At), a.StatusCode, a.Response, a.Error, a.Duration.Milliseconds()); err != nil {
			return wrapErr("record webhook attempt", err)
		}
		_, err := tx.q.ExecContext(ctx, `UPDATE webhook_events SET status = $1, attempts = attempts + 1, last_status = $2,
			last_error = $3, updated_at = $4 WHERE id = $5`, status, a.StatusCode, a.Error, tx.ts(a.At), eventID)
		return wrapErr("record webhook attempt", err)
	})
}

// SetWebhookEventStatus moves an event to status (a replay sets pending).
func (s *Store) SetWebhookEventStatus(ctx context.Context, eventID, status string) error {
	res, err := s.q.ExecContext(ctx, `UPDATE webhook_events SET status = $1, updated_at = $2 WHERE id = $3`,
		status, s.ts(s.now()), eventID)
	if err != nil {
		return wrapErr("set webhook event status", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return wrapErr("set webhook event status", ErrNotFound)
	}
	return nil
}

// ListWebhookEvents returns a subscription's events, newest first.
func (s *Store) ListWebhookEvents(ctx context.Context, subscriptionID string, limit int) ([]*WebhookEvent, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+webhookEventColumns+` FROM webhook_events
		WHERE subscription_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, subscriptionID, pageLimit(limit))
	if err != nil {
		return nil, wrapErr("list webhook events", err)
	}
	defer rows.Close()
	var out []*WebhookEvent
	for rows.Next() {
		e, err := scanWebhookEvent(rows)
		if err != nil {
			return nil, wrapErr("list webhook events", err)
		}
		out = append(out, e)
	}
	return out, wrapErr("list webhook events", rows.Err())
}

// WebhookAttempts returns the attempts of an event, oldest first.
func (s *Store) WebhookAttempts(ctx context.Context, eventID string) ([]WebhookAttempt, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT at, status_code, response, error, duration_ms FROM webhook_attempts
		WHERE event_id = $1 ORDER BY id`, eventID)
	if err != nil {
		return nil, wrapErr("webhook attempts", err)
	}
	defer rows.Close()
	var out []WebhookAttempt
	for rows.Next() {
		var (
			a  WebhookAttempt
			ms int64
		)
		if err := rows.Scan(timeCol{&a.At}, &a.StatusCode, &a.Response, &a.Error, &ms); err != nil {
			return nil, wrapErr("webhook attempts", err)
		}
		a.Duration = time.Duration(ms) * time.Millisecond
		out = append(out, a)
	}
	return out, wrapErr("webhook attempts", rows.Err())
}

func scanWebhookEvent(row scanner) (*WebhookEvent, error) {
	var (
		e       WebhookEvent
		payload string
	)
	err := row.Scan(&e.ID, &e.SubscriptionID, &e.EventID, &e.Type, &payload, &e.Status, &e.Attempts, &e.LastStatus,
		&e.LastError, timeCol{&e.CreatedAt}, timeCol{&e.UpdatedAt})
	if err != nil {
		return nil, err
	}
	e.Payload = []byte(payload)
	return &e, nil
}
