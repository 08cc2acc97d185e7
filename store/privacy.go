package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
)

// EraseContact removes a person from the store and keeps what is
// anonymous: their scores stay in the results under a random id, their
// comments, addresses and messages go. Suppressions of their addresses stay
// (an opt-out must outlive an erasure); so does the audit of status
// changes, which holds no personal data. ErrNotFound if there is no such
// contact.
func (s *Store) EraseContact(ctx context.Context, externalID string) error {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	anon := "erased-" + hex.EncodeToString(b)
	op := "erase contact"
	return s.InTx(ctx, func(tx *Store) error {
		c, err := tx.GetContact(ctx, externalID)
		if err != nil {
			return err
		}
		steps := []struct {
			q    string
			args []any
		}{
			{`UPDATE responses SET contact_id = $1, comment = '', may_contact = NULL WHERE contact_id = $2`, []any{anon, externalID}},
			{`UPDATE deliveries SET contact_id = $1, address = '', metadata = '{}' WHERE contact_id = $2`, []any{anon, externalID}},
			{`DELETE FROM outbox_messages WHERE to_address IN ($1, $2) AND to_address <> ''`, []any{c.Email, c.Phone}},
			{`UPDATE inbound_messages SET from_address = '', body = '' WHERE from_address = $1 AND from_address <> ''`, []any{c.Phone}},
			{`DELETE FROM contacts WHERE external_id = $1`, []any{externalID}},
		}
		for _, st := range steps {
			if _, err := tx.q.ExecContext(ctx, st.q, st.args...); err != nil {
				return wrapErr(op, err)
			}
		}
		return nil
	})
}

// ContactData is everything the store holds about a contact.
type ContactData struct {
	Contact      *Contact
	Deliveries   []*Delivery
	Responses    []*Response
	Suppressions []Suppression
	Inbound      []*InboundMessage
}

// ExportContact gathers everything held about a contact (at most 1000 of
// each kind, newest first).
func (s *Store) ExportContact(ctx context.Context, externalID string) (*ContactData, error) {
	c, err := s.GetContact(ctx, externalID)
	if err != nil {
		return nil, err
	}
	out := &ContactData{Contact: c}
	rows, err := s.q.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE contact_id = $1
		ORDER BY created_at DESC LIMIT 1000`, externalID)
	if err != nil {
		return nil, wrapErr("export contact", err)
	}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			rows.Close()
			return nil, wrapErr("export contact", err)
		}
		out.Deliveries = append(out.Deliveries, d)
	}
	rows.Close()
	rrows, err := s.q.QueryContext(ctx, `SELECT `+responseColumns+` FROM responses WHERE contact_id = $1
		ORDER BY created_at DESC LIMIT 1000`, externalID)
	if err != nil {
		return nil, wrapErr("export contact", err)
	}
	for rrows.Next() {
		r, err := scanResponse(rrows)
		if err != nil {
			rrows.Close()
			return nil, wrapErr("export contact", err)
		}
		out.Responses = append(out.Responses, r)
	}
	rrows.Close()
	for _, a := range []struct{ ch, addr string }{{"email", c.Email}, {"sms", c.Phone}, {"whatsapp", c.Phone}} {
		if a.addr == "" {
			continue
		}
		if why, ok, err := s.Suppressed(ctx, a.ch, a.addr); err != nil {
			return nil, err
		} else if ok {
			out.Suppressions = append(out.Suppressions, Suppression{Channel: a.ch, Address: a.addr, Reason: why})
		}
	}
	if c.Phone != "" {
		if out.Inbound, err = s.ListInbound(ctx, c.Phone, 1000); err != nil {
			return nil, err
		}
	}
	return out, nil
}
