package store

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"slices"
)

// ErasedReason is the reason an erasure gives what it stopped: the
// contact's deliveries still waiting to go out and the alerts on their
// responses not sent yet.
const ErasedReason = "contact erased"

// EraseContact removes a person from the store, in one transaction, and
// keeps what is anonymous. ErrNotFound if there is no such contact.
//
// Kept, under a random id shared by the contact's rows: their scores (the
// results count them), their deliveries' statuses and times (the funnel
// and campaign counts), and the alerts raised on their answers (the
// record of what went to people on call). Gone from those rows: addresses,
// comments, metadata, idempotency keys and request hashes, provider
// message ids (which a provider's logs tie to an address), and reply
// tokens, replaced so that an old link neither shows nor takes an answer;
// their short links are deleted. Their identifiers are blanked out of the
// free text of refusals (delivery and alert reasons, import row errors).
//
// Deleted: the webhook events about them with their attempts (the payload
// is their answer; a pending one is never sent), the outbox's copies of
// messages to them or about them, and the text and sender of their
// inbound messages (the row stays, as the provider's message id keeps a
// provider's retry from being processed again).
//
// Stopped: deliveries still queued or deferred (reminders, drips) are
// suppressed, and alerts pending or waiting fail, both with ErasedReason.
//
// Suppressions of their addresses stay, without the contact's id: an
// opt-out must outlive an erasure, and an id would tie the address to the
// anonymous results.
func (s *Store) EraseContact(ctx context.Context, externalID string) error {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	anon := "erased-" + hex.EncodeToString(b)
	return s.InTx(ctx, func(tx *Store) error {
		c, err := tx.GetContact(ctx, externalID)
		if err != nil {
			return err
		}
		return wrapErr("erase contact", tx.erase(ctx, c, anon))
	})
}

func (s *Store) erase(ctx context.Context, c *Contact, anon string) error {
	id := c.ExternalID
	fp, err := s.findFootprint(ctx, c)
	if err != nil {
		return err
	}
	// Free text about the contact's own rows: anything that names them.
	red := newRedactor(append(append([]string{c.Email, c.Phone, c.Name, id}, fp.addresses...), phoneDigits(fp.addresses)...)...)

	// Nothing more goes out to them. cancelPending records the events.
	pending, err := s.queryDeliveries(ctx, nil, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE contact_id = $1 AND status IN ('queued', 'deferred')`, id)
	if err != nil {
		return err
	}
	if _, err := s.cancelPending(ctx, pending, ErasedReason); err != nil {
		return err
	}

	// Alerts: a pending or waiting one fails instead of being sent with
	// what is left; the sent comment goes, which also keeps the notifier
	// from sending the emptied comment as a follow-up (it sends one when
	// the comment differs from the one sent).
	if _, err := s.q.ExecContext(ctx, `UPDATE alerts SET sent_comment = '', provider_message_id = '',
			reason = CASE WHEN status IN ('pending', 'waiting') THEN $2 ELSE reason END,
			status = CASE WHEN status IN ('pending', 'waiting') THEN 'failed' ELSE status END,
			updated_at = $3
		WHERE id IN (`+contactAlerts+`)`, id, ErasedReason, s.ts(s.now())); err != nil {
		return err
	}
	if err := s.redactColumn(ctx, red, "alerts", "reason", []string{"id"}, `id IN (`+contactAlerts+`) AND reason <> ''`, id); err != nil {
		return err
	}

	if err := execIn(ctx, s, `DELETE FROM webhook_attempts WHERE event_id IN %s`, fp.webhookEvents); err != nil {
		return err
	}
	if err := execIn(ctx, s, `DELETE FROM webhook_events WHERE id IN %s`, fp.webhookEvents); err != nil {
		return err
	}
	if err := execIn(ctx, s, `DELETE FROM outbox_messages WHERE id IN %s`, fp.outbox); err != nil {
		return err
	}
	if err := execIn(ctx, s, `UPDATE inbound_messages SET from_address = '', body = '' WHERE id IN %s`, fp.inbound); err != nil {
		return err
	}

	// Deliveries and their events. Short links go with the tokens they
	// resolve to.
	if _, err := s.q.ExecContext(ctx, `DELETE FROM short_links WHERE token IN (SELECT token FROM deliveries WHERE contact_id = $1)`, id); err != nil {
		return err
	}
	if err := s.redactColumn(ctx, red, "delivery_events", "reason", []string{"id"},
		`delivery_id IN (`+contactDeliveries+`) AND reason <> ''`, id); err != nil {
		return err
	}
	if err := s.redactColumn(ctx, red, "deliveries", "reason", []string{"id"}, `contact_id = $1 AND reason <> ''`, id); err != nil {
		return err
	}
	var deliveries []string
	if err := s.scanRows(ctx, func(row scanner) error {
		var d string
		if err := row.Scan(&d); err != nil {
			return err
		}
		deliveries = append(deliveries, d)
		return nil
	}, contactDeliveries, id); err != nil {
		return err
	}
	for _, d := range deliveries {
		token, err := newErasedToken()
		if err != nil {
			return err
		}
		if _, err := s.q.ExecContext(ctx, `UPDATE deliveries SET contact_id = $1, address = '', metadata = '{}',
				idempotency_key = NULL, request_hash = '', provider_message_id = '', token = $2
			WHERE id = $3`, anon, token, d); err != nil {
			return err
		}
	}

	// Import row errors are not tied to a contact (a refused row made
	// none): those that quote one of the contact's addresses lose it.
	addrRed := newRedactor(append(slices.Clone(fp.addresses), phoneDigits(fp.addresses)...)...)
	for _, a := range fp.addresses {
		if d, ok := phoneDigitsOf(a); ok {
			a = d // also finds the number quoted without its plus
		}
		if err := s.redactColumn(ctx, addrRed, "import_errors", "reason", []string{"import_id", "seq"},
			`LOWER(reason) LIKE $1 ESCAPE '\'`, "%"+escapeLike(a)+"%"); err != nil {
			return err
		}
	}

	steps := []struct {
		q    string
		args []any
	}{
		{`UPDATE responses SET contact_id = $1, comment = '', may_contact = NULL WHERE contact_id = $2`, []any{anon, id}},
		{`UPDATE suppressions SET contact_id = '' WHERE contact_id = $1`, []any{id}},
		{`DELETE FROM contacts WHERE external_id = $1`, []any{id}},
	}
	for _, st := range steps {
		if _, err := s.q.ExecContext(ctx, st.q, st.args...); err != nil {
			return err
		}
	}
	return nil
}

// newErasedToken replaces an erased delivery's reply token: as random as
// a real one, known to no one.
func newErasedToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func phoneDigitsOf(addr string) (string, bool) {
	d := phoneDigits([]string{addr})
	if len(d) == 0 {
		return "", false
	}
	return d[0], true
}

// ContactData is everything the store holds about a contact.
type ContactData struct {
	Contact      *Contact
	Deliveries   []*Delivery
	Responses    []*Response
	Suppressions []Suppression
	// Inbound are the messages they sent: from one of their addresses or
	// answering one of their deliveries.
	Inbound []*InboundMessage
	// Alerts were raised on their responses; each went to a person on
	// call with their score and comment.
	Alerts []*Alert
	// WebhookEvents are the events about them sent to webhook
	// subscriptions, each with its payload.
	WebhookEvents []*WebhookEvent
	// Outbox holds the messages the outbox channel kept instead of
	// sending: to them, or alerts about them.
	Outbox []*OutboxMessage
}

// exportLimit is how many of each kind ExportContact returns.
const exportLimit = 1000

// ExportContact gathers everything held about a contact (at most 1000 of
// each kind, newest first): what EraseContact erases or anonymises.
func (s *Store) ExportContact(ctx context.Context, externalID string) (*ContactData, error) {
	c, err := s.GetContact(ctx, externalID)
	if err != nil {
		return nil, err
	}
	out := &ContactData{Contact: c}
	if err := s.exportContact(ctx, out); err != nil {
		return nil, wrapErr("export contact", err)
	}
	return out, nil
}

func (s *Store) exportContact(ctx context.Context, out *ContactData) error {
	c := out.Contact
	err := s.scanRows(ctx, func(row scanner) error {
		d, err := scanDelivery(row)
		if err != nil {
			return err
		}
		out.Deliveries = append(out.Deliveries, d)
		return nil
	}, `SELECT `+deliveryColumns+` FROM deliveries WHERE contact_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`,
		c.ExternalID, exportLimit)
	if err != nil {
		return err
	}
	err = s.scanRows(ctx, func(row scanner) error {
		r, err := scanResponse(row)
		if err != nil {
			return err
		}
		out.Responses = append(out.Responses, r)
		return nil
	}, `SELECT `+responseColumns+` FROM responses WHERE contact_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`,
		c.ExternalID, exportLimit)
	if err != nil {
		return err
	}
	// The suppressions of their addresses, and any saved with their id.
	err = s.scanRows(ctx, func(row scanner) error {
		var sp Suppression
		if err := row.Scan(&sp.Channel, &sp.Address, &sp.Reason, &sp.ContactID, timeCol{&sp.CreatedAt}); err != nil {
			return err
		}
		out.Suppressions = append(out.Suppressions, sp)
		return nil
	}, `SELECT channel, address, reason, contact_id, created_at FROM suppressions
		WHERE contact_id = $1
		   OR (channel = 'email' AND address_lower = $2)
		   OR (channel IN ('sms', 'whatsapp') AND address_lower = $3)
		ORDER BY created_at DESC, channel LIMIT $4`,
		c.ExternalID, normalizeAddress(c.Email), normalizeAddress(c.Phone), exportLimit)
	if err != nil {
		return err
	}

	fp, err := s.findFootprint(ctx, c)
	if err != nil {
		return err
	}
	err = queryIn(ctx, s, `SELECT id, provider, provider_message_id, channel, from_address, to_address,
			body, delivery_id, outcome, created_at FROM inbound_messages WHERE id IN %s`, newest(fp.inbound), func(row scanner) error {
		var m InboundMessage
		if err := row.Scan(&m.ID, &m.Provider, &m.ProviderMessageID, &m.Channel, &m.From, &m.To, &m.Body,
			&m.DeliveryID, &m.Outcome, timeCol{&m.CreatedAt}); err != nil {
			return err
		}
		out.Inbound = append(out.Inbound, &m)
		return nil
	})
	if err != nil {
		return err
	}
	err = queryIn(ctx, s, `SELECT `+alertColumns+` FROM alerts WHERE id IN %s`, newest(fp.alerts), func(row scanner) error {
		a, err := scanAlert(row)
		if err != nil {
			return err
		}
		out.Alerts = append(out.Alerts, a)
		return nil
	})
	if err != nil {
		return err
	}
	err = queryIn(ctx, s, `SELECT `+webhookEventColumns+` FROM webhook_events WHERE id IN %s`, newest(fp.webhookEvents), func(row scanner) error {
		e, err := scanWebhookEvent(row)
		if err != nil {
			return err
		}
		out.WebhookEvents = append(out.WebhookEvents, e)
		return nil
	})
	if err != nil {
		return err
	}
	err = queryIn(ctx, s, `SELECT `+outboxColumns+` FROM outbox_messages WHERE id IN %s`, newest(fp.outbox), func(row scanner) error {
		var m OutboxMessage
		if err := row.Scan(&m.ID, &m.DeliveryID, &m.Channel, &m.To, &m.Subject, &m.Text, &m.HTML, &m.ReplyURL,
			timeCol{&m.CreatedAt}); err != nil {
			return err
		}
		out.Outbox = append(out.Outbox, &m)
		return nil
	})
	if err != nil {
		return err
	}
	// Newest first; an IN list comes back in no order.
	slices.SortFunc(out.Inbound, func(a, b *InboundMessage) int { return cmp.Compare(b.ID, a.ID) })
	slices.SortFunc(out.Alerts, func(a, b *Alert) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(b.ID, a.ID))
	})
	slices.SortFunc(out.WebhookEvents, func(a, b *WebhookEvent) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(b.ID, a.ID))
	})
	slices.SortFunc(out.Outbox, func(a, b *OutboxMessage) int { return cmp.Compare(b.ID, a.ID) })
	return nil
}

// newest is the last exportLimit of a footprint's list, which is oldest
// first.
func newest[T any](list []T) []T { return list[max(0, len(list)-exportLimit):] }
