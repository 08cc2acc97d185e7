package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// contactBulkColumns are the columns UpsertContacts writes for each row, in
// the order of its arguments; opted_out_at is never written.
const contactBulkColumns = `external_id, name, email, phone, locale, time_zone, account, role, tags, attributes,
	created_at, updated_at`

// contactBulkParams is the number of arguments of one row of UpsertContacts.
const contactBulkParams = 12

// maxBulkRows bounds the rows of one multi-row INSERT whatever the
// dialect allows: past a few hundred rows a bigger statement is no faster.
const maxBulkRows = 500

// maxBindParams is how many arguments one statement may have:
// SQLITE_MAX_VARIABLE_NUMBER (32766 in modernc's build, as in every SQLite
// since 3.32) and PostgreSQL's protocol limit of 65535.
func (s *Store) maxBindParams() int {
	if s.d.name == sqliteDialect.name {
		return 32766
	}
	return 65535
}

// bulkChunk is how many rows of params arguments fit in one statement.
func (s *Store) bulkChunk(params int) int {
	return max(1, min(maxBulkRows, s.maxBindParams()/params))
}

// bulkValues assembles the VALUES of a multi-row statement, each argument
// with a placeholder of its own.
//
// Its placeholders are $N on PostgreSQL but ? on SQLite, the one place the
// store does not write $N: SQLite takes $1 for a named parameter and looks
// each name up in a list, at prepare and again at bind, which is quadratic
// in the number of parameters. With thousands in one statement that was
// 85% of an import's time; plain ? parameters are numbered as they come.
type bulkValues struct {
	sqlite bool
	b      strings.Builder
	args   []any
	rows   int
}

// newBulkValues starts a statement with stmt, which ends in VALUES and
// has no placeholder.
func (s *Store) newBulkValues(stmt string, rows, params int) *bulkValues {
	v := &bulkValues{sqlite: s.d.name == sqliteDialect.name, args: make([]any, 0, rows*params)}
	v.b.Grow(len(stmt) + rows*params*7 + 600)
	v.b.WriteString(stmt)
	return v
}

// row adds a row of values.
func (v *bulkValues) row(vals ...any) {
	if v.rows > 0 {
		v.b.WriteString(", ")
	}
	v.rows++
	v.b.WriteByte('(')
	for i, val := range vals {
		if i > 0 {
			v.b.WriteString(", ")
		}
		v.args = append(v.args, val)
		if v.sqlite {
			v.b.WriteByte('?')
		} else {
			v.b.WriteByte('$')
			v.b.WriteString(strconv.Itoa(len(v.args)))
		}
	}
	v.b.WriteByte(')')
}

// sql is the statement, with rest (which has no placeholder) appended.
func (v *bulkValues) sql(rest string) string {
	v.b.WriteString(rest)
	return v.b.String()
}

// UpsertContacts inserts the contacts that are new and replaces the fields
// of those that exist with cs's, as UpsertContact does for one: every field
// is overwritten, so an empty one clears the stored value; opted_out_at and
// created_at are left alone. A contact whose stored fields already equal
// its new ones is not written at all: its updated_at stays, and it does not
// count. changed is the number of contacts inserted or actually changed, so
// upserting the same contacts twice changes 0 the second time.
//
// When cs holds the same external id more than once, the last one wins and
// the others are dropped (they are not counted). All of cs is written in one
// transaction, in multi-row statements of at most 500 rows (and within the
// dialect's limit of bound parameters), so the call is atomic: on error
// nothing of it is stored. An empty external id is refused before anything
// is written. UpsertContacts does not fill CreatedAt, UpdatedAt or
// OptedOutAt into cs; read the contacts back for those.
//
// Tags and attributes are compared as the columns store them: as JSON text
// on SQLite (written by one encoder, whose map keys are sorted, so equal
// values give equal text) and as jsonb values on PostgreSQL.
func (s *Store) UpsertContacts(ctx context.Context, cs []*Contact) (changed int, err error) {
	const op = "upsert contacts"
	if len(cs) == 0 {
		return 0, nil
	}
	// Last one wins, in the place of the first: PostgreSQL refuses a
	// statement that would update one row twice.
	type row struct {
		c           *Contact
		tags, attrs string
	}
	rows := make([]row, 0, len(cs))
	at := make(map[string]int, len(cs))
	for i, c := range cs {
		if c == nil || c.ExternalID == "" {
			return 0, fmt.Errorf("store: %s: contact %d of %d has an empty external id", op, i+1, len(cs))
		}
		tags, err := jsonArg(c.Tags, "[]")
		if err != nil {
			return 0, fmt.Errorf("store: %s: contact %q: %w", op, c.ExternalID, err)
		}
		attrs, err := jsonArg(c.Attributes, "{}")
		if err != nil {
			return 0, fmt.Errorf("store: %s: contact %q: %w", op, c.ExternalID, err)
		}
		r := row{c, tags, attrs}
		if j, dup := at[c.ExternalID]; dup {
			rows[j] = r
			continue
		}
		at[c.ExternalID] = len(rows)
		rows = append(rows, r)
	}

	chunk := s.bulkChunk(contactBulkParams)
	err = s.InTx(ctx, func(tx *Store) error {
		now := tx.ts(tx.now())
		for start := 0; start < len(rows); start += chunk {
			part := rows[start:min(start+chunk, len(rows))]
			v := tx.newBulkValues(`INSERT INTO contacts (`+contactBulkColumns+`) VALUES `, len(part), contactBulkParams)
			for _, r := range part {
				c := r.c
				v.row(c.ExternalID, c.Name, c.Email, c.Phone, c.Locale, c.TimeZone, c.Account, c.Role,
					r.tags, r.attrs, now, now)
			}
			res, err := tx.q.ExecContext(ctx, v.sql(upsertContactsConflict), v.args...)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			changed += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, wrapErr(op, err)
	}
	return changed, nil
}

// upsertContactsConflict ends the statement of UpsertContacts. Its WHERE
// skips rows that would not change, which is what keeps their updated_at
// and keeps them out of the affected-rows count on both dialects. Every
// column is NOT NULL, so <> is enough; on PostgreSQL tags and attributes
// are jsonb and compare as JSON.
const upsertContactsConflict = ` ON CONFLICT (external_id) DO UPDATE SET
		name = excluded.name, email = excluded.email, phone = excluded.phone, locale = excluded.locale,
		time_zone = excluded.time_zone, account = excluded.account, role = excluded.role,
		tags = excluded.tags, attributes = excluded.attributes, updated_at = excluded.updated_at
	WHERE contacts.name <> excluded.name OR contacts.email <> excluded.email
		OR contacts.phone <> excluded.phone OR contacts.locale <> excluded.locale
		OR contacts.time_zone <> excluded.time_zone OR contacts.account <> excluded.account
		OR contacts.role <> excluded.role OR contacts.tags <> excluded.tags
		OR contacts.attributes <> excluded.attributes`

// ContactsPage returns up to limit contacts whose external id sorts after
// afterExternalID ("" for the first page), in external id order: keyset
// paging for reading every contact (campaign fan-out, audience preview)
// without OFFSET. Pass the last external id of a page to get the next; a
// page shorter than limit is the last. limit defaults to 100 and is capped
// at 1000.
//
// The order is the database's: byte order on SQLite, the collation of the
// database on PostgreSQL (which may not be byte order). Each is consistent
// with itself, which is all paging needs, but do not compare pages across
// dialects.
func (s *Store) ContactsPage(ctx context.Context, afterExternalID string, limit int) ([]*Contact, error) {
	const op = "contacts page"
	limit = pageLimit(limit)
	rows, err := s.q.QueryContext(ctx, `SELECT `+contactColumns+` FROM contacts
		WHERE external_id > $1 ORDER BY external_id LIMIT $2`, afterExternalID, limit)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	defer rows.Close()
	out := make([]*Contact, 0, limit)
	for rows.Next() {
		c, err := scanContact(rows)
		if err != nil {
			return nil, wrapErr(op, err)
		}
		out = append(out, c)
	}
	return out, wrapErr(op, rows.Err())
}
