package contactimport

import (
	"fmt"
	"strings"

	"github.com/npsgate/npsgate/store"
)

// The known columns, by their index in columns.known.
const (
	colExternalID = iota
	colName
	colEmail
	colPhone
	colLocale
	colTimeZone
	colAccount
	colRole
	colTags
	numKnown
)

var knownColumns = map[string]int{
	"external_id": colExternalID,
	"name":        colName,
	"email":       colEmail,
	"phone":       colPhone,
	"locale":      colLocale,
	"time_zone":   colTimeZone,
	"account":     colAccount,
	"role":        colRole,
	"tags":        colTags,
}

// refusedColumns are fields of a contact that a file may not set.
var refusedColumns = map[string]string{
	"opted_out_at": "opt-outs come from the contact (a STOP reply, an unsubscribe link) or POST /v1/contacts/{id}/opt-out, never from a file",
	"created_at":   "npsgate keeps it",
	"updated_at":   "npsgate keeps it",
}

// columns maps the cells of a row to a contact.
type columns struct {
	width int
	known [numKnown]int // cell index, or -1 when the file has no such column
	attrs []attrColumn
}

type attrColumn struct {
	index int
	name  string
}

// parseHeader reads the header row. Every fault in it fails the import:
// without a trustworthy header no row means anything.
func parseHeader(header []string) (*columns, error) {
	cols := &columns{width: len(header)}
	for i := range cols.known {
		cols.known[i] = -1
	}
	attrSeen := map[string]int{}
	for i, raw := range header {
		name := strings.TrimSpace(raw)
		lower := strings.ToLower(name)
		switch {
		case name == "":
			return nil, fmt.Errorf("%w: column %d of the header has no name", ErrInvalidFile, i+1)
		case badText(name) != "":
			return nil, fmt.Errorf("%w: column %d of the header %s", ErrInvalidFile, i+1, badText(name))
		}
		if why, refused := refusedColumns[lower]; refused {
			return nil, fmt.Errorf("%w: column %q cannot be imported: %s; remove it", ErrInvalidFile, name, why)
		}
		if k, ok := knownColumns[lower]; ok {
			if prev := cols.known[k]; prev >= 0 {
				return nil, fmt.Errorf("%w: columns %d and %d are both %q", ErrInvalidFile, prev+1, i+1, lower)
			}
			cols.known[k] = i
			continue
		}
		if prev, dup := attrSeen[name]; dup {
			return nil, fmt.Errorf("%w: columns %d and %d are both %q", ErrInvalidFile, prev+1, i+1, name)
		}
		attrSeen[name] = i
		cols.attrs = append(cols.attrs, attrColumn{index: i, name: name})
	}
	if cols.known[colExternalID] < 0 {
		return nil, fmt.Errorf("%w: the header has no external_id column (it has %s)",
			ErrInvalidFile, clip(strings.Join(header, ", ")))
	}
	return cols, nil
}

// contact builds the contact of a row, or says why the row has none.
// Cells are trimmed; record's strings are kept, so it must be the csv
// reader's record of this row (ReuseRecord reuses the slice, not the
// strings).
func (cols *columns) contact(record []string) (c *store.Contact, field, reason string) {
	if len(record) != cols.width {
		return nil, "", fmt.Sprintf("the row has %d cells, the header %d", len(record), cols.width)
	}
	cell := func(k int) string {
		if i := cols.known[k]; i >= 0 {
			return strings.TrimSpace(record[i])
		}
		return ""
	}
	c = &store.Contact{
		ExternalID: cell(colExternalID),
		Name:       cell(colName),
		Email:      cell(colEmail),
		Phone:      cell(colPhone),
		Locale:     cell(colLocale),
		TimeZone:   cell(colTimeZone),
		Account:    cell(colAccount),
		Role:       cell(colRole),
		Tags:       splitTags(cell(colTags)),
	}
	for _, a := range cols.attrs {
		v := strings.TrimSpace(record[a.index])
		if v == "" {
			continue
		}
		if c.Attributes == nil {
			c.Attributes = make(map[string]string, len(cols.attrs))
		}
		c.Attributes[a.name] = v
	}
	return c, "", ""
}

// splitTags splits a tags cell on ";" and "|", dropping empty tags.
func splitTags(s string) []string {
	if s == "" {
		return nil
	}
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == '|' })
	tags := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			tags = append(tags, p)
		}
	}
	if len(tags) == 0 {
		return nil
	}
	return tags
}
