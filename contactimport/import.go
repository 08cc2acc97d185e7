// Package contactimport imports contacts from a CSV file of up to a million
// rows (POST /v1/contacts/import) as a stream: rows are read, validated as
// the contacts API validates them, and written in batches, so memory stays
// flat whatever the size of the file, and the import's progress is kept in
// the store for anyone polling it.
//
// # The file
//
// UTF-8 CSV (RFC 4180, comma separated) with an optional byte order mark
// and a required header row. Header names are matched case-insensitively
// and trimmed; external_id is required and the known columns are name,
// email, phone, locale, time_zone, account, role and tags (separated by ";"
// or "|"). Every other column is an attribute of that name (as written, only
// trimmed); an empty attribute cell leaves the attribute out. The columns
// opted_out_at, created_at and updated_at are refused: opt-outs come from
// the contact, never from a file. Cells are trimmed of surrounding white
// space.
//
// # What a row does
//
// A row replaces the contact with its external_id, as PUT
// /v1/contacts/{id} does: every field takes the row's value, so a column
// left out of the file, or an empty cell, clears that field; the opt-out
// stays. A row identical to the stored contact writes nothing (its
// updated_at stays), so importing the same file twice changes nothing the
// second time.
//
// Rows are applied in file order, so when an external_id appears more than
// once the later row wins. Within one batch only the last of them is
// written and the earlier ones count as unchanged; rows far apart in the
// file are written in turn, the later over the earlier (and such a file
// re-imports as changed).
//
// A row that fails validation is counted as failed and reported as a
// store.ImportError (1-based data row, the header not counted; the column,
// or "" when the row has the wrong number of cells; the reason), and the
// rest of the file goes on. ValidateContact is the check, the API's own. A file that is not CSV,
// has no header or no external_id column, a row larger than MaxRowBytes, or
// more than Options.MaxRows rows, fails the import: the rows before the
// fault are written, none after it.
//
// # The job
//
// The import is recorded (Options.Started hears of it) before the file is
// read, and every batch is written with the import's progress in one
// transaction, so GET /v1/imports/{id} shows what is stored while the file
// still arrives. A file that arrives slowly is written at least every
// FlushInterval, so its rows show as they come; an import with nothing to
// write still touches its record every Heartbeat, so that SweepStale can
// tell it from one whose process died.
//
// An upload that stops (the client goes away, the reader fails, ctx is
// canceled) fails the import, but every row read before that is written
// and counted first: writes do not share the fate of the request that
// brought the rows, only a bound of their own.
package contactimport

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/npsgate/npsgate/store"
)

const (
	// DefaultBatchSize is the number of rows per transaction when
	// Options.BatchSize is zero.
	DefaultBatchSize = 1000
	// MaxBatchSize caps Options.BatchSize, which bounds the memory of Run.
	MaxBatchSize = 10000
	// DefaultMaxRows is the most data rows a file may have when
	// Options.MaxRows is zero.
	DefaultMaxRows = 1_000_000
	// MaxRowBytes bounds one row, header included: a line that never ends
	// (a binary file, an unclosed quote) fails the import instead of filling
	// memory.
	MaxRowBytes = 1 << 20
	// DefaultFlushInterval is Options.FlushInterval when zero.
	DefaultFlushInterval = time.Second
	// DefaultHeartbeat is Options.Heartbeat when zero.
	DefaultHeartbeat = 30 * time.Second
)

// ErrInvalidFile is wrapped by the error of Run when the file itself cannot
// be imported (malformed CSV, no header, no external_id column, a row too
// large, too many rows): the sender's fault, a 400 or 422 for the API. Any
// other error of Run comes from the store (ErrUnavailable and so on) or the
// context.
var ErrInvalidFile = errors.New("invalid contact file")

// Options configure Run.
type Options struct {
	// ImportID is the id of the import record Run creates; a new one when
	// empty (store.ErrConflict if taken).
	ImportID string
	// Filename is recorded with the import, for people.
	Filename string
	// BatchSize is how many rows are written per transaction and how often
	// progress is recorded. Zero means DefaultBatchSize; it is capped at
	// MaxBatchSize.
	BatchSize int
	// PhoneRegion is the region national phone numbers are read in, as in
	// ValidateContact.
	PhoneRegion string
	// MaxRows is the most data rows a file may have; zero means
	// DefaultMaxRows.
	MaxRows int
	// FlushInterval is the longest a row read waits to be written when the
	// file arrives too slowly to fill a batch: a smaller batch is written
	// then, so progress follows the upload. Zero means DefaultFlushInterval.
	FlushInterval time.Duration
	// Heartbeat is how often an import with nothing to write records that
	// it is alive (its UpdatedAt). Zero means DefaultHeartbeat; it must stay
	// well below StaleAfter.
	Heartbeat time.Duration
	// Logger receives a line when an import starts and ends; nil discards.
	Logger *slog.Logger
	// Started, when set, is called once the import is recorded and before
	// the file is read, in the goroutine of Run, with a copy of the record:
	// the place to tell a client the id to follow.
	Started func(*store.Import)
	// Progress, when set, is called after each batch is committed, with
	// the import as committed so far, and once more with the finished
	// import that Run returns. Calls come one at a time, in order, but not
	// all from the goroutine of Run. Each gets a copy of its own (the last
	// is the one Run returns); a slow Progress slows the import.
	Progress func(*store.Import)
}

func (o Options) withDefaults() Options {
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	o.BatchSize = min(o.BatchSize, MaxBatchSize)
	if o.MaxRows <= 0 {
		o.MaxRows = DefaultMaxRows
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

const (
	// finishTimeout bounds the writes that record the end of an import,
	// which run even when ctx is canceled so that a dropped upload does not
	// leave it running.
	finishTimeout = 10 * time.Second
	// writeTimeout bounds the write of one batch. Writes outlive ctx, so
	// that the rows of an upload cut short are kept; this is what stops a
	// database that does not answer from holding the import forever.
	writeTimeout = time.Minute
)

// Run imports the contacts of the CSV file r into st, recording the import
// (see the package documentation for the format and what a row does). It
// creates the import record, reads r to its end, writing a batch of rows
// and the progress in one transaction at a time, so each batch is atomic
// and the counts always match what is stored, and finishes the record as
// completed, or failed with a message saying why and how far it got.
//
// Run returns the finished import as stored, with a nil error when it
// completed (with or without failed rows), and with the error that failed
// it otherwise: one wrapping ErrInvalidFile for a bad file, the store's or
// the context's otherwise. When the record cannot even be created, the
// import is nil.
//
// When ctx is canceled Run stops reading at the next row, writes the rows
// it has read, and fails the import; a reader that blocks must be unblocked
// by its owner (an HTTP body is, when its connection goes).
//
// Run reads and validates the next batch while the last one is written, so
// it holds at most three batches of rows in memory whatever the size of
// the file.
func Run(ctx context.Context, st *store.Store, r io.Reader, opts Options) (*store.Import, error) {
	opts = opts.withDefaults()
	rec := &store.Import{ID: opts.ImportID, Filename: opts.Filename}
	if err := st.CreateImport(ctx, rec); err != nil {
		return nil, err
	}
	log := opts.Logger.With("import", rec.ID, "filename", opts.Filename)
	log.InfoContext(ctx, "contact import started")
	if opts.Started != nil {
		started := *rec
		opts.Started(&started)
	}
	im := &importer{
		st:   st,
		opts: opts,
		rec:  rec,
		v:    validator{phoneRegion: opts.PhoneRegion, zones: map[string]bool{}},
	}
	start := time.Now()
	runErr := im.run(ctx, r)

	status, message := store.ImportCompleted, ""
	if runErr != nil {
		status, message = store.ImportFailed, failMessage(runErr, rec.Rows)
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	final := im.snapshot()
	if err := st.FinishImport(fctx, rec.ID, status, message); err != nil {
		log.ErrorContext(ctx, "cannot record the end of a contact import", "status", status, "error", err)
		final.Status, final.Message = store.ImportRunning, message
		return final, errors.Join(runErr, err)
	}
	if got, err := st.GetImport(fctx, rec.ID); err == nil {
		final = got
	} else {
		now := time.Now().UTC()
		final.Status, final.Message, final.FinishedAt, final.UpdatedAt = status, message, &now, now
	}
	if opts.Progress != nil {
		opts.Progress(final)
	}

	elapsed := time.Since(start)
	attrs := []any{"rows", final.Rows, "imported", final.Imported, "unchanged", final.Unchanged,
		"failed", final.Failed, "duration", elapsed.Round(time.Millisecond),
		"rows_per_second", int(float64(final.Rows) / max(elapsed.Seconds(), 1e-9))}
	if runErr != nil {
		log.WarnContext(ctx, "contact import failed", append(attrs, "error", runErr)...)
		return final, runErr
	}
	log.InfoContext(ctx, "contact import completed", attrs...)
	return final, nil
}

// failMessage is the Message of a failed import: the cause and how far the
// import got.
func failMessage(err error, rows int) string {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("import canceled (%v); %s", err, processed(rows))
	case errors.Is(err, ErrInvalidFile):
		return strings.TrimPrefix(err.Error(), ErrInvalidFile.Error()+": ") + "; " + processed(rows)
	}
	return fmt.Sprintf("%v; %s", err, processed(rows))
}

// processed says how far a failed import got.
func processed(rows int) string {
	if rows == 0 {
		return "no rows were processed"
	}
	return fmt.Sprintf("the first %d rows were processed, none after", rows)
}

// importer is the state of one Run. Two goroutines share the work: Run's
// reads and validates rows into batches, and a writer writes each batch
// while the next is read, and takes the rows read so far itself when the
// file is slow to come. The writer is alone in writing rec and kept until
// it ends.
type importer struct {
	st   *store.Store
	opts Options
	rec  *store.Import // ID, Filename, StartedAt; counts as committed

	// The reader's.
	v            validator
	rows, failed int // every row read, every row refused
	sent         int // errors handed to the writer (at most MaxImportErrors+1)

	// mu is held to change cur and to hand a batch to todo, so that a
	// batch the writer takes from cur is never ahead of one in todo.
	mu   sync.Mutex
	cur  *batch
	todo chan *batch

	// The writer's.
	kept []store.ImportError // the first MaxImportErrors committed, for snapshots
}

// batch is the rows read since the previous batch: the valid ones, the
// errors of the others, and the totals of the import up to its end.
type batch struct {
	n            int // rows read into this batch
	contacts     []*store.Contact
	errs         []store.ImportError
	rows, failed int
}

// errStopped is read's error when ctx ended the reading.
var errStopped = errors.New("reading stopped")

// run reads r and writes its rows. A batch is written only after all
// those before it, so whatever stops the import, the rows written are the
// first ones of the file; and every row read is handed to the writer, so
// whatever stops the reading, the rows counted are the rows read.
func (im *importer) run(ctx context.Context, r io.Reader) error {
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	// One batch queued while one is written and one read: three in memory
	// at most.
	im.todo = make(chan *batch, 1)
	var werr error
	written := make(chan struct{})
	go func() {
		defer close(written)
		werr = im.writeLoop(context.WithoutCancel(ctx), stop)
	}()
	rerr := im.read(rctx, r)
	close(im.todo)
	<-written
	if errors.Is(rerr, errStopped) {
		// The writer failed, or ctx ended.
		if werr != nil {
			return werr
		}
		return ctx.Err()
	}
	return errors.Join(rerr, werr)
}

// read reads rows into batches and hands them to the writer. It returns
// the file's fault, if any, after handing over the rows before it, and
// errStopped when ctx ended first.
func (im *importer) read(ctx context.Context, r io.Reader) error {
	// Whatever ends the reading, the rows read are written.
	defer im.handOver()

	br := bufio.NewReaderSize(r, 64<<10)
	if err := skipBOM(br); err != nil {
		return err
	}
	lim := &rowLimit{r: br, max: MaxRowBytes}
	cr := csv.NewReader(lim)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1 // a row of the wrong width is a row error, not the file's

	header, err := cr.Read()
	switch {
	case lim.exceeded:
		return fmt.Errorf("%w: the header row is larger than %d bytes", ErrInvalidFile, MaxRowBytes)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w: the file is empty; a header row naming the columns (external_id first) is required", ErrInvalidFile)
	case err != nil:
		return readError(err)
	}
	cols, err := parseHeader(header)
	if err != nil {
		return err
	}

	for {
		if ctx.Err() != nil {
			return errStopped
		}
		lim.reset()
		record, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if lim.exceeded {
			err = fmt.Errorf("%w: data row %d is larger than %d bytes", ErrInvalidFile, im.rows+1, MaxRowBytes)
		} else if err != nil {
			err = readError(err)
		} else if im.rows == im.opts.MaxRows {
			err = fmt.Errorf("%w: the file has more than %d data rows; split it into files of at most %d",
				ErrInvalidFile, im.opts.MaxRows, im.opts.MaxRows)
		}
		if err != nil {
			// What was read before the fault is written, and nothing after.
			return err
		}
		im.rows++
		c, field, reason := cols.contact(record)
		if c != nil {
			var ok bool
			if field, reason, ok = im.v.validate(c); !ok {
				c = nil
				if a, ok := strings.CutPrefix(field, "attributes."); ok {
					field = a // the column is the attribute's name
				}
			}
		}
		var rowErr *store.ImportError
		if c == nil {
			im.failed++
			// One past the cap, so that the store sets ErrorsTruncated.
			if im.sent <= store.MaxImportErrors {
				rowErr = &store.ImportError{Row: im.rows, Field: field, Reason: reason}
				im.sent++
			}
		}
		im.add(c, rowErr)
	}
}

// add puts a row in the current batch (a contact, or the row's error, or
// neither for a refused row past the kept errors) and hands the batch over
// once it is full.
func (im *importer) add(c *store.Contact, rowErr *store.ImportError) {
	im.mu.Lock()
	b := im.cur
	if b == nil {
		b = &batch{contacts: make([]*store.Contact, 0, im.opts.BatchSize)}
		im.cur = b
	}
	b.n++
	if c != nil {
		b.contacts = append(b.contacts, c)
	}
	if rowErr != nil {
		b.errs = append(b.errs, *rowErr)
	}
	b.rows, b.failed = im.rows, im.failed
	full := b.n >= im.opts.BatchSize
	im.mu.Unlock()
	if full {
		im.handOver()
	}
}

// handOver queues the current batch for the writer, waiting for room.
// The writer drains the queue even after failing, so this never waits for
// good.
func (im *importer) handOver() {
	im.mu.Lock()
	defer im.mu.Unlock()
	if b := im.cur; b != nil {
		im.cur = nil
		// Sent under mu: takePending must not take a later batch while
		// this one waits for room.
		im.todo <- b
	}
}

// takePending takes the rows read so far for the writer, unless a batch
// is queued (it goes first) or being queued.
func (im *importer) takePending() *batch {
	if !im.mu.TryLock() {
		// The reader holds mu to hand over a batch: the writer will have
		// it next.
		return nil
	}
	defer im.mu.Unlock()
	if len(im.todo) > 0 || im.cur == nil {
		return nil
	}
	b := im.cur
	im.cur = nil
	return b
}

// writeLoop writes the batches of todo in order until it is closed; every
// FlushInterval it also writes the rows read so far when the reader has
// not filled a batch, and every Heartbeat without a write it touches the
// record. After a failure it stops the reader and drains todo, writing
// nothing more, and returns the failure.
func (im *importer) writeLoop(ctx context.Context, stop func()) error {
	// Half the interval, so that rows wait at most about FlushInterval.
	tick := time.NewTicker(max(min(im.opts.FlushInterval, im.opts.Heartbeat)/2, time.Millisecond))
	defer tick.Stop()
	var werr error
	last := time.Now()
	write := func(b *batch, heartbeat bool) {
		if werr = im.write(ctx, b, heartbeat); werr != nil {
			stop()
		}
		last = time.Now()
	}
	for {
		select {
		case b, ok := <-im.todo:
			if !ok {
				return werr
			}
			if werr == nil {
				write(b, false)
			}
		case now := <-tick.C:
			if werr != nil {
				continue
			}
			if now.Sub(last) >= im.opts.FlushInterval {
				if b := im.takePending(); b != nil {
					write(b, false)
					continue
				}
			}
			if now.Sub(last) >= im.opts.Heartbeat {
				write(&batch{rows: im.rec.Rows, failed: im.rec.Failed}, true)
			}
		}
	}
}

// write writes a batch and the progress in one transaction and tells
// Progress; a heartbeat (an empty batch) only touches the record. ctx
// outlives the caller's, so each write has a bound of its own.
func (im *importer) write(ctx context.Context, b *batch, heartbeat bool) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	valid := len(b.contacts)
	var changed int
	err := im.st.InTx(ctx, func(tx *store.Store) error {
		n, err := tx.UpsertContacts(ctx, b.contacts)
		if err != nil {
			return err
		}
		changed = n
		return tx.UpdateImportProgress(ctx, im.rec.ID, b.rows, im.rec.Imported+n,
			im.rec.Unchanged+valid-n, b.failed, b.errs)
	})
	if err != nil {
		return err
	}
	im.rec.Rows, im.rec.Failed = b.rows, b.failed
	im.rec.Imported += changed
	im.rec.Unchanged += valid - changed
	for _, e := range b.errs {
		if len(im.kept) < store.MaxImportErrors {
			im.kept = append(im.kept, e)
		} else {
			im.rec.ErrorsTruncated = true
		}
	}
	if im.opts.Progress != nil && !heartbeat {
		im.opts.Progress(im.snapshot())
	}
	return nil
}

// snapshot is the import as committed so far, as a copy of its own.
func (im *importer) snapshot() *store.Import {
	s := *im.rec
	s.Status = store.ImportRunning
	s.Errors = append([]store.ImportError(nil), im.kept...)
	s.UpdatedAt = time.Now().UTC()
	return &s
}

// skipBOM drops a UTF-8 byte order mark and refuses UTF-16, which would
// otherwise read as a file without an external_id column.
func skipBOM(br *bufio.Reader) error {
	b, _ := br.Peek(3)
	switch {
	case len(b) >= 3 && string(b[:3]) == "\xef\xbb\xbf":
		_, err := br.Discard(3)
		return err
	case len(b) >= 2 && (string(b[:2]) == "\xff\xfe" || string(b[:2]) == "\xfe\xff"):
		return fmt.Errorf("%w: the file is UTF-16; save it as CSV in UTF-8", ErrInvalidFile)
	}
	return nil
}

// readError is the error of a file csv cannot read.
func readError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%w: malformed CSV: %v", ErrInvalidFile, pe)
	}
	// The reader of the upload failed (a dropped connection, a body too
	// large for the server): not the file's fault as far as we know.
	return fmt.Errorf("read the file: %w", err)
}

// rowLimit fails a read once max bytes have been read since the last
// reset, which the importer does before each row.
type rowLimit struct {
	r        io.Reader
	n, max   int
	exceeded bool
}

var errRowTooLarge = errors.New("row too large")

func (l *rowLimit) Read(p []byte) (int, error) {
	if l.n >= l.max {
		l.exceeded = true
		return 0, errRowTooLarge
	}
	if len(p) > l.max-l.n {
		p = p[:l.max-l.n]
	}
	n, err := l.r.Read(p)
	l.n += n
	return n, err
}

// reset starts a new row. csv reads ahead by its buffer (4 KiB), so the
// limit of a row is max give or take that much.
func (l *rowLimit) reset() { l.n, l.exceeded = 0, false }
