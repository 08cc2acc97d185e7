package store

import (
	"context"
	"fmt"
)

const outboxColumns = `id, delivery_id, channel, to_address, subject, body_text, body_html, reply_url, created_at`

// KeepOutbox stores a rendered message and fills its ID and, if zero,
// CreatedAt.
func (s *Store) KeepOutbox(ctx context.Context, m *OutboxMessage) error {
	created := m.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	created = utc(created)
	var id int64
	err := s.q.QueryRowContext(ctx, `INSERT INTO outbox_messages
			(delivery_id, channel, to_address, subject, body_text, body_html, reply_url, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		m.DeliveryID, m.Channel, m.To, m.Subject, m.Text, m.HTML, m.ReplyURL, s.ts(created)).Scan(&id)
	if err != nil {
		return wrapErr(fmt.Sprintf("keep outbox message for delivery %q", m.DeliveryID), err)
	}
	m.ID, m.CreatedAt = id, created
	return nil
}

// ListOutbox returns up to limit messages (default 100, at most 1000),
// newest first, with IDs below beforeID; 0 starts from the newest. The
// next page is beforeID = the last message's ID.
func (s *Store) ListOutbox(ctx context.Context, limit int, beforeID int64) ([]*OutboxMessage, error) {
	var c conds
	if beforeID > 0 {
		c.add("id < %s", beforeID)
	}
	rows, err := s.q.QueryContext(ctx, `SELECT `+outboxColumns+` FROM outbox_messages`+c.where()+
		` ORDER BY id DESC LIMIT `+c.args.add(pageLimit(limit)), c.args...)
	if err != nil {
		return nil, wrapErr("list outbox", err)
	}
	defer rows.Close()
	var out []*OutboxMessage
	for rows.Next() {
		var m OutboxMessage
		if err := rows.Scan(&m.ID, &m.DeliveryID, &m.Channel, &m.To, &m.Subject, &m.Text, &m.HTML, &m.ReplyURL,
			timeCol{&m.CreatedAt}); err != nil {
			return nil, wrapErr("list outbox", err)
		}
		out = append(out, &m)
	}
	return out, wrapErr("list outbox", rows.Err())
}
