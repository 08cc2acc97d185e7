package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// RecordInbound keeps an inbound message. created is false, with no error,
// when the provider message id was recorded before: the provider retried
// its webhook, and the caller must not process the message again. Called
// inside InTx with the processing, a failure rolls the claim back so the
// retry is processed.
func (s *Store) RecordInbound(ctx context.Context, m *InboundMessage) (created bool, err error) {
	op := fmt.Sprintf("record inbound %s message %q", m.Provider, m.ProviderMessageID)
	at := m.CreatedAt
	if at.IsZero() {
		at = s.now()
	}
	at = utc(at)
	res, err := s.q.ExecContext(ctx, `INSERT INTO inbound_messages
			(provider, provider_message_id, channel, from_address, to_address, body, delivery_id, outcome, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (provider, provider_message_id) DO NOTHING`,
		m.Provider, m.ProviderMessageID, m.Channel, m.From, m.To, m.Body, m.DeliveryID, m.Outcome, s.ts(at))
	if err != nil {
		return false, wrapErr(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, wrapErr(op, err)
	}
	m.CreatedAt = at
	return n == 1, nil
}

// ListInbound returns the newest inbound messages from an address (all when
// from is ""), newest first, at most limit (default 100, max 1000).
func (s *Store) ListInbound(ctx context.Context, from string, limit int) ([]*InboundMessage, error) {
	var c conds
	if from != "" {
		c.add("from_address = %s", from)
	}
	rows, err := s.q.QueryContext(ctx, `SELECT id, provider, provider_message_id, channel, from_address, to_address,
			body, delivery_id, outcome, created_at FROM inbound_messages`+c.where()+
		` ORDER BY id DESC LIMIT `+c.args.add(pageLimit(limit)), c.args...)
	if err != nil {
		return nil, wrapErr("list inbound", err)
	}
	defer rows.Close()
	var out []*InboundMessage
	for rows.Next() {
		var m InboundMessage
		if err := rows.Scan(&m.ID, &m.Provider, &m.ProviderMessageID, &m.Channel, &m.From, &m.To, &m.Body,
			&m.DeliveryID, &m.Outcome, timeCol{&m.CreatedAt}); err != nil {
			return nil, wrapErr("list inbound", err)
		}
		out = append(out, &m)
	}
	return out, wrapErr("list inbound", rows.Err())
}

// replyTargets are the conditions on the deliveries (columns prefixed
// with prefix) an inbound reply from address may answer: on one of the
// channels, created at or after since, and reached the contact.
func (s *Store) replyTargets(prefix string, channels []string, address string, since time.Time) conds {
	var c conds
	c.add(prefix+"address = %s", address)
	c.add(prefix+"created_at >= %s", s.ts(since))
	in := make([]string, len(channels))
	for i, ch := range channels {
		in[i] = c.args.add(ch)
	}
	c.parts = append(c.parts, prefix+"channel IN ("+strings.Join(in, ", ")+")",
		prefix+"status IN ('sent', 'delivered', 'responded')")
	return c
}

// RecentDeliveriesTo returns deliveries on the given channels to address
// that reached the contact (sent, delivered or responded) and were created
// at or after since, newest first: the candidates an inbound reply answers.
func (s *Store) RecentDeliveriesTo(ctx context.Context, channels []string, address string, since time.Time, limit int) ([]*Delivery, error) {
	op := "recent deliveries to address"
	if len(channels) == 0 {
		return nil, nil
	}
	c := s.replyTargets("", channels, address, since)
	rows, err := s.q.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries`+c.where()+
		` ORDER BY created_at DESC, id DESC LIMIT `+c.args.add(pageLimit(limit)), c.args...)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	defer rows.Close()
	var out []*Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, wrapErr(op, err)
		}
		out = append(out, d)
	}
	return out, wrapErr(op, rows.Err())
}

// GetDeliveryByProviderID returns the delivery a provider knows by its
// message id (Twilio's MessageSid), or ErrNotFound.
func (s *Store) GetDeliveryByProviderID(ctx context.Context, channel, providerID string) (*Delivery, error) {
	d, err := scanDelivery(s.q.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE provider_message_id = $1 AND channel = $2`, providerID, channel))
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("get delivery by provider id %q", providerID), err)
	}
	return d, nil
}
