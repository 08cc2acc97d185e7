package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Import statuses. An import is running until FinishImport marks it
// completed or failed; it never goes back.
const (
	ImportRunning   = "running"
	ImportCompleted = "completed"
	ImportFailed    = "failed"
)

// MaxImportErrors is how many row errors an import keeps; later ones are
// counted in Failed and set ErrorsTruncated.
const MaxImportErrors = 1000

// Import is one contact import job (a CSV file) and its progress.
type Import struct {
	ID       string
	Status   string // ImportRunning, ImportCompleted or ImportFailed
	Filename string
	// Rows is the number of data rows read so far (the header excluded);
	// Imported rows inserted or changed a contact, Unchanged rows were valid
	// but changed nothing, Failed rows were refused. Once the import ends,
	// Rows = Imported + Unchanged + Failed.
	Rows, Imported, Unchanged, Failed int
	// Errors are the first MaxImportErrors row errors, in the order met;
	// ErrorsTruncated is set when there were more.
	Errors          []ImportError
	ErrorsTruncated bool
	StartedAt       time.Time
	// UpdatedAt is the time of the last change (progress or finish): a
	// running import whose UpdatedAt is old has lost its process.
	UpdatedAt  time.Time
	FinishedAt *time.Time
	// Message says why a failed import failed (or sums up a completed one).
	Message string
}

// ImportError is a row refused by an import.
type ImportError struct {
	Row    int    // 1-based data row; the header is not counted
	Field  string // the column at fault, "" when it is the row as a whole
	Reason string
}

const importColumns = `id, status, filename, rows_read, imported, unchanged, failed, errors_truncated, message,
	started_at, updated_at, finished_at`

// CreateImport records a new running import. imp.ID is kept when set
// (ErrConflict if taken) and otherwise filled with a new one; Status,
// StartedAt and UpdatedAt are filled, and the counts and errors reset.
func (s *Store) CreateImport(ctx context.Context, imp *Import) error {
	if imp.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("store: create import: %w", err)
		}
		imp.ID = "imp_" + id.String()
	}
	now := s.now()
	_, err := s.q.ExecContext(ctx, `INSERT INTO imports (id, status, filename, started_at, updated_at)
		VALUES ($1, $2, $3, $4, $4)`, imp.ID, ImportRunning, imp.Filename, s.ts(now))
	if err != nil {
		return wrapErr(fmt.Sprintf("create import %q", imp.ID), err)
	}
	imp.Status, imp.StartedAt, imp.UpdatedAt, imp.FinishedAt, imp.Message = ImportRunning, now, now, nil, ""
	imp.Rows, imp.Imported, imp.Unchanged, imp.Failed = 0, 0, 0, 0
	imp.Errors, imp.ErrorsTruncated = nil, false
	return nil
}

// UpdateImportProgress records the running totals of a running import
// (rows, imported, unchanged and failed so far, not increments) and
// appends newErrors, the errors met since the last call, keeping the first
// MaxImportErrors of the import and setting ErrorsTruncated past them.
// ErrNotFound if there is no such import, ErrConflict if it has finished.
// Inside an InTx with the rows it counts, the counts are exactly as durable
// as the rows.
func (s *Store) UpdateImportProgress(ctx context.Context, id string, rows, imported, unchanged, failed int,
	newErrors []ImportError) error {
	op := fmt.Sprintf("update import %q", id)
	err := s.InTx(ctx, func(tx *Store) error {
		now := tx.ts(tx.now())
		// The first write locks the row (PostgreSQL) for the read of
		// errors_kept; SQLite's transaction already holds the write lock.
		var status string
		var kept int
		err := tx.q.QueryRowContext(ctx, `UPDATE imports SET updated_at = $2 WHERE id = $1
			RETURNING status, errors_kept`, id, now).Scan(&status, &kept)
		if err != nil {
			return err
		}
		if status != ImportRunning {
			return fmt.Errorf("import is %s: %w", status, ErrConflict)
		}
		keep := max(0, min(len(newErrors), MaxImportErrors-kept))
		if err := tx.insertImportErrors(ctx, id, kept, newErrors[:keep]); err != nil {
			return err
		}
		_, err = tx.q.ExecContext(ctx, `UPDATE imports SET rows_read = $2, imported = $3, unchanged = $4,
				failed = $5, errors_kept = $6, errors_truncated = (errors_truncated OR $7)
			WHERE id = $1`,
			id, rows, imported, unchanged, failed, kept+keep, keep < len(newErrors))
		return err
	})
	return wrapErr(op, err)
}

// insertImportErrors appends errs after the kept ones already stored.
func (s *Store) insertImportErrors(ctx context.Context, id string, kept int, errs []ImportError) error {
	const params = 5
	chunk := s.bulkChunk(params)
	for start := 0; start < len(errs); start += chunk {
		part := errs[start:min(start+chunk, len(errs))]
		v := s.newBulkValues(`INSERT INTO import_errors (import_id, seq, row_num, field, reason) VALUES `, len(part), params)
		for i, e := range part {
			v.row(id, kept+start+i+1, e.Row, e.Field, e.Reason)
		}
		if _, err := s.q.ExecContext(ctx, v.sql(""), v.args...); err != nil {
			return err
		}
	}
	return nil
}

// FinishImport ends a running import as ImportCompleted or ImportFailed
// with message, setting FinishedAt. ErrNotFound if there is no such
// import, ErrConflict if it has already finished.
func (s *Store) FinishImport(ctx context.Context, id, status, message string) error {
	op := fmt.Sprintf("finish import %q", id)
	if status != ImportCompleted && status != ImportFailed {
		return fmt.Errorf("store: %s: status %q is not %s or %s", op, status, ImportCompleted, ImportFailed)
	}
	err := s.InTx(ctx, func(tx *Store) error {
		now := tx.ts(tx.now())
		res, err := tx.q.ExecContext(ctx, `UPDATE imports SET status = $2, message = $3, finished_at = $4, updated_at = $4
			WHERE id = $1 AND status = $5`, id, status, message, now, ImportRunning)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var current string
		if err := tx.q.QueryRowContext(ctx, `SELECT status FROM imports WHERE id = $1`, id).Scan(&current); err != nil {
			return err
		}
		return fmt.Errorf("import is already %s: %w", current, ErrConflict)
	})
	return wrapErr(op, err)
}

// GetImport returns the import with id and its kept errors, or
// ErrNotFound.
func (s *Store) GetImport(ctx context.Context, id string) (*Import, error) {
	op := fmt.Sprintf("get import %q", id)
	imp, err := scanImport(s.q.QueryRowContext(ctx, `SELECT `+importColumns+` FROM imports WHERE id = $1`, id))
	if err != nil {
		return nil, wrapErr(op, err)
	}
	rows, err := s.q.QueryContext(ctx, `SELECT row_num, field, reason FROM import_errors
		WHERE import_id = $1 ORDER BY seq`, id)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var e ImportError
		if err := rows.Scan(&e.Row, &e.Field, &e.Reason); err != nil {
			return nil, wrapErr(op, err)
		}
		imp.Errors = append(imp.Errors, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr(op, err)
	}
	return imp, nil
}

// ImportFilter selects the imports ListImports returns.
type ImportFilter struct {
	// Status keeps only the imports in that status; "" keeps all.
	Status string
	// Before is the ID of the last import of the previous page; "" starts
	// from the newest. ErrNotFound if there is no such import.
	Before string
	// Limit is the page size: default 100, at most 1000.
	Limit int
}

// ListImports returns imports newest first (by StartedAt, then ID) with
// their counts but without their errors, which GetImport reads.
func (s *Store) ListImports(ctx context.Context, f ImportFilter) ([]*Import, error) {
	const op = "list imports"
	var c conds
	if f.Status != "" {
		c.add("status = %s", f.Status)
	}
	if f.Before != "" {
		var one int
		err := s.q.QueryRowContext(ctx, `SELECT 1 FROM imports WHERE id = $1`, f.Before).Scan(&one)
		if err != nil {
			return nil, wrapErr(fmt.Sprintf("%s before %q", op, f.Before), err)
		}
		// The cursor's own started_at, read in SQL, so that each dialect
		// compares its timestamps as it stores them.
		c.add(`(started_at < (SELECT started_at FROM imports WHERE id = %[1]s)
			OR (started_at = (SELECT started_at FROM imports WHERE id = %[1]s) AND id < %[1]s))`, f.Before)
	}
	rows, err := s.q.QueryContext(ctx, `SELECT `+importColumns+` FROM imports`+c.where()+
		` ORDER BY started_at DESC, id DESC LIMIT `+c.args.add(pageLimit(f.Limit)), c.args...)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	defer rows.Close()
	var out []*Import
	for rows.Next() {
		imp, err := scanImport(rows)
		if err != nil {
			return nil, wrapErr(op, err)
		}
		out = append(out, imp)
	}
	return out, wrapErr(op, rows.Err())
}

// FailStaleImports ends as ImportFailed every import still running whose
// record has not changed since before: a running import records progress
// (or at least touches UpdatedAt) every few seconds, so one that went
// quiet has lost the process that ran it, and nothing else would ever end
// it. message gives each its Message, from the import as it was. The
// check and the update are one statement per import, so an import that
// records progress meanwhile is left running. It returns the imports it
// ended, as they are now, oldest first.
func (s *Store) FailStaleImports(ctx context.Context, before time.Time, message func(*Import) string) ([]*Import, error) {
	const op = "fail stale imports"
	var out []*Import
	err := s.InTx(ctx, func(tx *Store) error {
		out = nil
		rows, err := tx.q.QueryContext(ctx, `SELECT `+importColumns+` FROM imports
			WHERE status = $1 AND updated_at < $2 ORDER BY started_at, id`, ImportRunning, tx.ts(before))
		if err != nil {
			return err
		}
		var stale []*Import
		for rows.Next() {
			imp, err := scanImport(rows)
			if err != nil {
				rows.Close()
				return err
			}
			stale = append(stale, imp)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		now := tx.now()
		for _, imp := range stale {
			msg := message(imp)
			res, err := tx.q.ExecContext(ctx, `UPDATE imports SET status = $2, message = $3, finished_at = $4, updated_at = $4
				WHERE id = $1 AND status = $5 AND updated_at < $6`,
				imp.ID, ImportFailed, msg, tx.ts(now), ImportRunning, tx.ts(before))
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				if err != nil {
					return err
				}
				continue
			}
			finished := now
			imp.Status, imp.Message, imp.FinishedAt, imp.UpdatedAt = ImportFailed, msg, &finished, now
			out = append(out, imp)
		}
		return nil
	})
	if err != nil {
		return nil, wrapErr(op, err)
	}
	return out, nil
}

// scanImport reads a row of importColumns.
func scanImport(sc scanner) (*Import, error) {
	var imp Import
	err := sc.Scan(&imp.ID, &imp.Status, &imp.Filename, &imp.Rows, &imp.Imported, &imp.Unchanged, &imp.Failed,
		&imp.ErrorsTruncated, &imp.Message, timeCol{&imp.StartedAt}, timeCol{&imp.UpdatedAt},
		nullTimeCol{&imp.FinishedAt})
	if err != nil {
		return nil, err
	}
	return &imp, nil
}
