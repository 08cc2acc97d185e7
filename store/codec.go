package store

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ts binds a time for a timestamp column.
func (s *Store) ts(t time.Time) any { return s.d.timeArg(t) }

// tsOrNull binds the zero time, which means "not set", as NULL.
func (s *Store) tsOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return s.ts(t)
}

func (s *Store) tsPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return s.ts(*t)
}

// now is the store's clock, already in the form every stored time takes.
func (s *Store) now() time.Time { return utc(time.Now()) }

// timeCol scans a timestamp of either dialect: time.Time from pgx, text
// from SQLite. NULL scans as the zero time.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(src any) error {
	t, err := parseTime(src)
	if err != nil {
		return err
	}
	if t == nil {
		*c.t = time.Time{}
	} else {
		*c.t = *t
	}
	return nil
}

// nullTimeCol scans a nullable timestamp into a *time.Time.
type nullTimeCol struct{ t **time.Time }

func (c nullTimeCol) Scan(src any) error {
	t, err := parseTime(src)
	if err != nil {
		return err
	}
	*c.t = t
	return nil
}

func parseTime(src any) (*time.Time, error) {
	var t time.Time
	switch v := src.(type) {
	case nil:
		return nil, nil
	case time.Time:
		t = v
	case string:
		return parseTimeText(v)
	case []byte:
		return parseTimeText(string(v))
	default:
		return nil, fmt.Errorf("store: cannot scan %T as a time", src)
	}
	t = utc(t)
	return &t, nil
}

func parseTimeText(s string) (*time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, fmt.Errorf("store: bad stored time %q: %w", s, err)
	}
	t = utc(t)
	return &t, nil
}

// jsonArg encodes a map or slice for a JSON column. Empty and nil encode
// alike ({} or []), so the column never holds JSON null.
func jsonArg(v any, empty string) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("store: encode JSON: %w", err)
	}
	if s := string(b); s != "null" && s != "{}" && s != "[]" {
		return s, nil
	}
	return empty, nil
}

// jsonCol decodes a JSON column into dst (a pointer to a map or slice).
// An empty container decodes as nil, mirroring jsonArg.
type jsonCol struct{ dst any }

func (c jsonCol) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("store: cannot scan %T as JSON", src)
	}
	switch strings.TrimSpace(string(b)) {
	case "", "null", "{}", "[]":
		return nil
	}
	if err := json.Unmarshal(b, c.dst); err != nil {
		return fmt.Errorf("store: decode JSON: %w", err)
	}
	return nil
}

// args accumulates query arguments and hands out their $N placeholders, so
// optional clauses can be assembled without counting by hand.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// conds is a conjunction of conditions for a WHERE clause.
type conds struct {
	parts []string
	args  args
}

// add appends a condition; each %s in expr is replaced with the placeholder
// of the matching value.
func (c *conds) add(expr string, vals ...any) {
	ph := make([]any, len(vals))
	for i, v := range vals {
		ph[i] = c.args.add(v)
	}
	c.parts = append(c.parts, fmt.Sprintf(expr, ph...))
}

func (c *conds) where() string {
	if len(c.parts) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(c.parts, " AND ")
}

// pageLimit applies the default and maximum page size.
func pageLimit(n int) int {
	switch {
	case n <= 0:
		return 100
	case n > 1000:
		return 1000
	}
	return n
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }
