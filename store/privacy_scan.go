package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// TextFound is a column of the database holding a searched text.
type TextFound struct {
	Table, Column string
	// Text is the searched text, as given.
	Text string
	// Rows is how many rows of the column hold it.
	Rows int
}

// LocateText searches every text, JSON and binary column of every table
// of the database (every column on SQLite, whose columns hold any type)
// for each of texts, ignoring ASCII case, and returns
// where each was found, by table and column. The tables and columns are
// read from the database's catalogue, not from a list, so a table added
// by a later migration is searched too. It is a full scan of every such
// column: for audits (where does this person's address still appear
// after an erasure?) and tests, not for requests.
func (s *Store) LocateText(ctx context.Context, texts []string) ([]TextFound, error) {
	const op = "locate text"
	var needles []string
	for _, t := range texts {
		if t == "" {
			return nil, fmt.Errorf("store: %s: empty text: it is in every column", op)
		}
		if !slices.Contains(needles, t) {
			needles = append(needles, t)
		}
	}
	if len(needles) == 0 {
		return nil, nil
	}
	cols, err := s.textColumns(ctx)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	var out []TextFound
	for _, c := range cols {
		var a args
		sums := make([]string, len(needles))
		for i, n := range needles {
			sums[i] = fmt.Sprintf("COALESCE(SUM(CASE WHEN %s THEN 1 ELSE 0 END), 0)", s.containsText(c, a.add(n)))
		}
		counts := make([]int, len(needles))
		dest := make([]any, len(needles))
		for i := range counts {
			dest[i] = &counts[i]
		}
		q := `SELECT ` + strings.Join(sums, ", ") + ` FROM ` + quoteIdent(c.table)
		if err := s.q.QueryRowContext(ctx, q, a...).Scan(dest...); err != nil {
			return nil, wrapErr(fmt.Sprintf("%s in %s.%s", op, c.table, c.name), err)
		}
		for i, n := range counts {
			if n > 0 {
				out = append(out, TextFound{Table: c.table, Column: c.name, Text: needles[i], Rows: n})
			}
		}
	}
	return out, nil
}

type textColumn struct {
	table, name string
	binary      bool
}

// textColumns lists the columns of the database's own tables that can
// hold text, in table and column order.
func (s *Store) textColumns(ctx context.Context) ([]textColumn, error) {
	var q string
	if s.d.name == "postgres" {
		q = `SELECT c.table_name, c.column_name, c.data_type = 'bytea'
			FROM information_schema.columns c
			JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
			WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
			  AND c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'bytea', 'ARRAY', 'USER-DEFINED')
			ORDER BY c.table_name, c.ordinal_position`
	} else {
		// Every column: outside STRICT tables a column of any declared
		// type keeps a text that does not read as a number.
		q = `SELECT m.name, p.name, UPPER(p.type) LIKE '%BLOB%'
			FROM sqlite_master m JOIN pragma_table_info(m.name) p
			WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'
			ORDER BY m.name, p.cid`
	}
	var out []textColumn
	err := s.scanRows(ctx, func(row scanner) error {
		var c textColumn
		if err := row.Scan(&c.table, &c.name, &c.binary); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	}, q)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		// A search that finds nothing because it looked nowhere must not
		// pass for a clean database.
		return nil, fmt.Errorf("no text columns found in the %s catalogue", s.d.name)
	}
	return out, nil
}

// containsText is the SQL condition "column c holds the text bound as p",
// ignoring ASCII case.
func (s *Store) containsText(c textColumn, p string) string {
	col := quoteIdent(c.name)
	if s.d.name == "postgres" {
		if c.binary {
			col = "encode(" + col + ", 'escape')"
		} else {
			col = "CAST(" + col + " AS TEXT)"
		}
		return fmt.Sprintf("strpos(lower(%s), lower(%s)) > 0", col, p)
	}
	return fmt.Sprintf("instr(lower(CAST(%s AS TEXT)), lower(%s)) > 0", col, p)
}

func quoteIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }
