package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

const contactColumns = `external_id, name, email, phone, locale, time_zone, account, role, tags, attributes,
	opted_out_at, created_at, updated_at`

// UpsertContact inserts the contact or replaces the fields of the existing
// one with c's, leaving its opt-out alone, and reports which happened. It
// fills CreatedAt and UpdatedAt into c, and OptedOutAt with the stored
// value so the caller sees whether the contact may be surveyed.
func (s *Store) UpsertContact(ctx context.Context, c *Contact) (created bool, err error) {
	op := fmt.Sprintf("upsert contact %q", c.ExternalID)
	if c.ExternalID == "" {
		return false, fmt.Errorf("store: upsert contact: empty external id")
	}
	tags, err := jsonArg(c.Tags, "[]")
	if err != nil {
		return false, fmt.Errorf("store: %s: %w", op, err)
	}
	attrs, err := jsonArg(c.Attributes, "{}")
	if err != nil {
		return false, fmt.Errorf("store: %s: %w", op, err)
	}
	now := s.now()
	var createdAt time.Time
	var optedOut *time.Time
	// Insert-or-nothing, then update, rather than one ON CONFLICT DO UPDATE:
	// it tells exactly which happened on both dialects.
	err = s.InTx(ctx, func(tx *Store) error {
		res, err := tx.q.ExecContext(ctx, `INSERT INTO contacts (`+contactColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, $11, $11)
			ON CONFLICT (external_id) DO NOTHING`,
			c.ExternalID, c.Name, c.Email, c.Phone, c.Locale, c.TimeZone, c.Account, c.Role, tags, attrs, tx.ts(now))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			created, createdAt = true, now
			return err
		}
		return tx.q.QueryRowContext(ctx, `UPDATE contacts SET name = $2, email = $3, phone = $4, locale = $5,
				time_zone = $6, account = $7, role = $8, tags = $9, attributes = $10, updated_at = $11
			WHERE external_id = $1 RETURNING created_at, opted_out_at`,
			c.ExternalID, c.Name, c.Email, c.Phone, c.Locale, c.TimeZone, c.Account, c.Role, tags, attrs, tx.ts(now),
		).Scan(timeCol{&createdAt}, nullTimeCol{&optedOut})
	})
	if err != nil {
		return false, wrapErr(op, err)
	}
	c.CreatedAt, c.UpdatedAt, c.OptedOutAt = createdAt, now, optedOut
	return created, nil
}

// GetContact returns the contact with externalID, or ErrNotFound.
func (s *Store) GetContact(ctx context.Context, externalID string) (*Contact, error) {
	c, err := scanContact(s.q.QueryRowContext(ctx, `SELECT `+contactColumns+` FROM contacts WHERE external_id = $1`, externalID))
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("get contact %q", externalID), err)
	}
	return c, nil
}

// ContactsByPhone returns every contact saved with the E.164 number: an
// SMS opt-out from that number applies to all of them.
func (s *Store) ContactsByPhone(ctx context.Context, phone string) ([]*Contact, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+contactColumns+` FROM contacts WHERE phone = $1 ORDER BY external_id`, phone)
	if err != nil {
		return nil, wrapErr("contacts by phone", err)
	}
	defer rows.Close()
	var out []*Contact
	for rows.Next() {
		c, err := scanContact(rows)
		if err != nil {
			return nil, wrapErr("contacts by phone", err)
		}
		out = append(out, c)
	}
	return out, wrapErr("contacts by phone", rows.Err())
}

func scanContact(row scanner) (*Contact, error) {
	var c Contact
	err := row.Scan(&c.ExternalID, &c.Name, &c.Email, &c.Phone, &c.Locale, &c.TimeZone, &c.Account, &c.Role,
		jsonCol{&c.Tags}, jsonCol{&c.Attributes}, nullTimeCol{&c.OptedOutAt},
		timeCol{&c.CreatedAt}, timeCol{&c.UpdatedAt})
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// OptOutContact opts the contact out of every survey at at (now if zero),
// keeping the time of a first opt-out, and suppresses its email address on
// "email" and its phone on "sms" with reason (default "unsubscribe").
// ErrNotFound if there is no such contact.
func (s *Store) OptOutContact(ctx context.Context, externalID, reason string, at time.Time) error {
	if at.IsZero() {
		at = time.Now()
	}
	if reason == "" {
		reason = "unsubscribe"
	}
	err := s.InTx(ctx, func(tx *Store) error {
		var email, phone string
		err := tx.q.QueryRowContext(ctx, `UPDATE contacts
			SET opted_out_at = COALESCE(opted_out_at, $2), updated_at = $3
			WHERE external_id = $1 RETURNING email, phone`,
			externalID, tx.ts(at), tx.ts(tx.now())).Scan(&email, &phone)
		if err != nil {
			return err
		}
		for channel, addr := range map[string]string{"email": email, "sms": phone} {
			if normalizeAddress(addr) == "" {
				continue
			}
			if err := tx.addSuppression(ctx, Suppression{
				Channel: channel, Address: addr, Reason: reason, ContactID: externalID, CreatedAt: at,
			}); err != nil {
				return err
			}
		}
		return nil
	})
	return wrapErr(fmt.Sprintf("opt out contact %q", externalID), err)
}

// optOutReasons are the suppressions a contact lifts by opting back in;
// bounces and manual suppressions stay.
var optOutReasons = []string{"stop", "unsubscribe"}

// OptInContact clears the contact's opt-out and lifts the "stop" and
// "unsubscribe" suppressions of its email and phone. ErrNotFound if there
// is no such contact.
func (s *Store) OptInContact(ctx context.Context, externalID string) error {
	err := s.InTx(ctx, func(tx *Store) error {
		var email, phone string
		err := tx.q.QueryRowContext(ctx, `UPDATE contacts SET opted_out_at = NULL, updated_at = $2
			WHERE external_id = $1 RETURNING email, phone`,
			externalID, tx.ts(tx.now())).Scan(&email, &phone)
		if err != nil {
			return err
		}
		_, err = tx.q.ExecContext(ctx, `DELETE FROM suppressions
			WHERE ((channel = 'email' AND address_lower = $1) OR (channel = 'sms' AND address_lower = $2))
			  AND reason IN ($3, $4)`,
			normalizeAddress(email), normalizeAddress(phone), optOutReasons[0], optOutReasons[1])
		return err
	})
	return wrapErr(fmt.Sprintf("opt in contact %q", externalID), err)
}

// GetContacts returns the contacts with the given external IDs by ID;
// those that do not exist are left out.
func (s *Store) GetContacts(ctx context.Context, externalIDs []string) (map[string]*Contact, error) {
	op := fmt.Sprintf("get %d contacts", len(externalIDs))
	out := make(map[string]*Contact, len(externalIDs))
	for chunk := range slices.Chunk(externalIDs, maxInList) {
		var a args
		in := make([]string, len(chunk))
		for i, id := range chunk {
			in[i] = a.add(id)
		}
		rows, err := s.q.QueryContext(ctx, `SELECT `+contactColumns+` FROM contacts WHERE external_id IN (`+strings.Join(in, ", ")+`)`, a...)
		if err != nil {
			return nil, wrapErr(op, err)
		}
		for rows.Next() {
			c, err := scanContact(rows)
			if err != nil {
				rows.Close()
				return nil, wrapErr(op, err)
			}
			out[c.ExternalID] = c
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, wrapErr(op, err)
		}
	}
	return out, nil
}
