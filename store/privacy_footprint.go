package store

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// footprint is where a contact's personal data lies outside the contacts
// table, found from the contact's external id, its addresses and what
// links to them. EraseContact and ExportContact share it, so that what is
// exported is what is erased.
type footprint struct {
	// addresses are the contact's email and phone and every address its
	// deliveries went to (an address changed since still names them), in
	// lower case, without duplicates.
	addresses []string
	// alerts are the alerts raised on the contact's responses.
	alerts []string
	// webhookEvents are the webhook events whose data is about the
	// contact (data.contact_id).
	webhookEvents []string
	// outbox are the kept messages to the contact or about them (an
	// alert's message quotes their comment).
	outbox []int64
	// inbound are the messages the contact sent: from one of their
	// addresses, or matched to one of their deliveries.
	inbound []int64
}

// inChunk bounds the values bound in one IN list, far below PostgreSQL's
// 65535 parameters and SQLite's 32766.
const inChunk = 500

// inList appends vals to a and returns the "($n, …)" that names them.
func inList[T any](a *args, vals []T) string {
	ps := make([]string, len(vals))
	for i, v := range vals {
		ps[i] = a.add(v)
	}
	return "(" + strings.Join(ps, ", ") + ")"
}

// execIn runs query once per chunk of vals, %s being the chunk's IN list
// and fixed the arguments before it.
func execIn[T any](ctx context.Context, s *Store, query string, vals []T, fixed ...any) error {
	for part := range slices.Chunk(vals, inChunk) {
		a := append(args{}, fixed...)
		if _, err := s.q.ExecContext(ctx, fmt.Sprintf(query, inList(&a, part)), a...); err != nil {
			return err
		}
	}
	return nil
}

// queryIn runs query once per chunk of vals, as execIn does, and hands
// each row to scan.
func queryIn[T any](ctx context.Context, s *Store, query string, vals []T, scan func(scanner) error, fixed ...any) error {
	for part := range slices.Chunk(vals, inChunk) {
		a := append(args{}, fixed...)
		rows, err := s.q.QueryContext(ctx, fmt.Sprintf(query, inList(&a, part)), a...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := scan(rows); err != nil {
				rows.Close()
				return err
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// The contact's deliveries and responses, as subqueries on $1 (the
// external id): valid until EraseContact anonymises them, so everything
// that follows these links is found first.
const (
	contactDeliveries = `SELECT id FROM deliveries WHERE contact_id = $1`
	contactAlerts     = `SELECT id FROM alerts WHERE response_id IN (SELECT id FROM responses WHERE contact_id = $1)`
)

// outboxProvider is the provider message id the outbox channel gives a
// kept message: "outbox-" and the row's id (channels/outbox). A delivery
// or an alert sent through the outbox names its message so, which is how
// a summary of several alerts, whose own id names none of them, is found.
const outboxProvider = "outbox-"

func (s *Store) findFootprint(ctx context.Context, c *Contact) (*footprint, error) {
	fp := &footprint{}
	var providerIDs []string
	err := s.scanRows(ctx, func(row scanner) error {
		var addr, pid string
		if err := row.Scan(&addr, &pid); err != nil {
			return err
		}
		fp.addresses = append(fp.addresses, addr)
		providerIDs = append(providerIDs, pid)
		return nil
	}, `SELECT address, provider_message_id FROM deliveries WHERE contact_id = $1`, c.ExternalID)
	if err != nil {
		return nil, err
	}
	fp.addresses = append(fp.addresses, c.Email, c.Phone)
	fp.addresses = distinctLower(fp.addresses)

	err = s.scanRows(ctx, func(row scanner) error {
		var id, pid string
		if err := row.Scan(&id, &pid); err != nil {
			return err
		}
		fp.alerts = append(fp.alerts, id)
		providerIDs = append(providerIDs, pid)
		return nil
	}, `SELECT a.id, a.provider_message_id FROM alerts a JOIN responses r ON r.id = a.response_id
		WHERE r.contact_id = $1 ORDER BY a.created_at, a.id`, c.ExternalID)
	if err != nil {
		return nil, err
	}

	if fp.webhookEvents, err = s.webhookEventsAbout(ctx, c.ExternalID); err != nil {
		return nil, err
	}

	// Messages of the contact's deliveries and of the alerts on their
	// responses (a follow-up's id is the alert's and its number).
	seen := map[int64]bool{}
	addID := func(row scanner) error {
		var id int64
		if err := row.Scan(&id); err != nil {
			return err
		}
		if !seen[id] {
			seen[id] = true
			fp.outbox = append(fp.outbox, id)
		}
		return nil
	}
	err = s.scanRows(ctx, addID, `SELECT id FROM outbox_messages WHERE delivery_id IN (`+contactDeliveries+`)`, c.ExternalID)
	if err != nil {
		return nil, err
	}
	if err := queryIn(ctx, s, `SELECT id FROM outbox_messages WHERE delivery_id IN %s`, fp.alerts, addID); err != nil {
		return nil, err
	}
	for part := range slices.Chunk(fp.alerts, inChunk) {
		var a args
		likes := make([]string, len(part))
		for i, id := range part {
			likes[i] = "delivery_id LIKE " + a.add(escapeLike(id)+"-%") + ` ESCAPE '\'`
		}
		if err := s.scanRows(ctx, addID, `SELECT id FROM outbox_messages WHERE `+strings.Join(likes, " OR "), a...); err != nil {
			return nil, err
		}
	}
	err = queryIn(ctx, s, `SELECT id FROM outbox_messages WHERE LOWER(to_address) IN %s`, fp.addresses, addID)
	if err != nil {
		return nil, err
	}
	var kept []int64
	for _, pid := range providerIDs {
		if n, ok := strings.CutPrefix(pid, outboxProvider); ok {
			if id, err := strconv.ParseInt(n, 10, 64); err == nil && !seen[id] {
				kept = append(kept, id)
			}
		}
	}
	if err := queryIn(ctx, s, `SELECT id FROM outbox_messages WHERE id IN %s`, kept, addID); err != nil {
		return nil, err
	}
	slices.Sort(fp.outbox)

	seen = map[int64]bool{}
	addInbound := func(row scanner) error {
		var id int64
		if err := row.Scan(&id); err != nil {
			return err
		}
		if !seen[id] {
			seen[id] = true
			fp.inbound = append(fp.inbound, id)
		}
		return nil
	}
	err = s.scanRows(ctx, addInbound, `SELECT id FROM inbound_messages WHERE delivery_id IN (`+contactDeliveries+`)`, c.ExternalID)
	if err != nil {
		return nil, err
	}
	err = queryIn(ctx, s, `SELECT id FROM inbound_messages WHERE LOWER(from_address) IN %s`, fp.addresses, addInbound)
	if err != nil {
		return nil, err
	}
	slices.Sort(fp.inbound)
	return fp, nil
}

// webhookEventsAbout returns the ids of the webhook events whose data is
// about the contact: every event type (response.*, delivery.failed,
// contact.opted_out) carries data.contact_id. The payload is text in both
// dialects; a LIKE on the id as JSON writes it narrows the rows, and the
// payload is decoded to compare the field itself, so an id that is a part
// of another, or that appears in a comment, is no match.
func (s *Store) webhookEventsAbout(ctx context.Context, externalID string) ([]string, error) {
	quoted, err := json.Marshal(externalID)
	if err != nil {
		return nil, err
	}
	var out []string
	err = s.scanRows(ctx, func(row scanner) error {
		var id, payload string
		if err := row.Scan(&id, &payload); err != nil {
			return err
		}
		var ev struct {
			Data struct {
				ContactID string `json:"contact_id"`
			} `json:"data"`
		}
		// A payload that is not an event of ours (nothing but npsgate
		// writes them) is not about anyone.
		if json.Unmarshal([]byte(payload), &ev) == nil && ev.Data.ContactID == externalID {
			out = append(out, id)
		}
		return nil
	}, `SELECT id, payload FROM webhook_events WHERE payload LIKE $1 ESCAPE '\' ORDER BY created_at, id`,
		"%"+escapeLike(string(quoted))+"%")
	return out, err
}

func (s *Store) scanRows(ctx context.Context, scan func(scanner) error, query string, a ...any) error {
	rows, err := s.q.QueryContext(ctx, query, a...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func distinctLower(in []string) []string {
	var out []string
	for _, v := range in {
		v = strings.ToLower(strings.TrimSpace(v))
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// redactor blanks a contact's identifiers out of free text written about
// them, such as a provider's refusal ("550 5.1.1 <ada@example.com>: user
// unknown"), whatever their case.
type redactor struct{ re *regexp.Regexp }

// erasedMark stands where an identifier was.
const erasedMark = "[erased]"

// newRedactor matches every needle of at least minNeedle characters: a
// shorter one (an external id "7") would blank unrelated words.
func newRedactor(needles ...string) *redactor {
	const minNeedle = 3
	var alts []string
	for _, n := range distinctLower(needles) {
		if len(n) >= minNeedle {
			alts = append(alts, regexp.QuoteMeta(n))
		}
	}
	if len(alts) == 0 {
		return &redactor{}
	}
	// Longest first, so that a phone is blanked whole rather than the
	// digits a shorter needle shares with it.
	slices.SortFunc(alts, func(a, b string) int { return len(b) - len(a) })
	return &redactor{re: regexp.MustCompile(`(?i)` + strings.Join(alts, "|"))}
}

func (r *redactor) redact(s string) string {
	if r.re == nil || s == "" {
		return s
	}
	return r.re.ReplaceAllString(s, erasedMark)
}

// phoneDigits is a phone number as providers often quote it: without the
// plus of E.164.
func phoneDigits(addresses []string) []string {
	var out []string
	for _, a := range addresses {
		if d, ok := strings.CutPrefix(a, "+"); ok {
			out = append(out, d)
		}
	}
	return out
}

// redactColumn rewrites column of the rows of table that match where (on
// $1 …) through r, writing only the rows it changes; keys are the columns
// that name a row.
func (s *Store) redactColumn(ctx context.Context, r *redactor, table, column string, keys []string, where string, a ...any) error {
	var changed [][]any
	err := s.scanRows(ctx, func(sc scanner) error {
		vals := make([]any, len(keys)+1)
		dest := make([]any, len(vals))
		for i := range vals {
			dest[i] = &vals[i]
		}
		var text string
		dest[len(keys)] = &text
		if err := sc.Scan(dest...); err != nil {
			return err
		}
		if red := r.redact(text); red != text {
			vals[len(keys)] = red
			changed = append(changed, vals)
		}
		return nil
	}, `SELECT `+strings.Join(keys, ", ")+`, `+column+` FROM `+table+` WHERE `+where, a...)
	if err != nil {
		return err
	}
	conds := make([]string, len(keys))
	for i, k := range keys {
		conds[i] = fmt.Sprintf("%s = $%d", k, i+2)
	}
	q := `UPDATE ` + table + ` SET ` + column + ` = $1 WHERE ` + strings.Join(conds, " AND ")
	for _, vals := range changed {
		// The new text first, then the keys.
		if _, err := s.q.ExecContext(ctx, q, append([]any{vals[len(keys)]}, vals[:len(keys)]...)...); err != nil {
			return err
		}
	}
	return nil
}
