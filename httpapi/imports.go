package httpapi

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/npsgate/npsgate/contactimport"
	"github.com/npsgate/npsgate/store"
)

type importErrorJSON struct {
	Row    int    `json:"row"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

// importSummaryJSON is an import in a list: its counts, not its errors.
type importSummaryJSON struct {
	ID        string    `json:"id"`
	Status    string    `json:"status"`
	Filename  string    `json:"filename,omitempty"`
	Rows      int       `json:"rows"`
	Imported  int       `json:"imported"`
	Unchanged int       `json:"unchanged"`
	Failed    int       `json:"failed"`
	Message   string    `json:"message,omitempty"`
	StartedAt time.Time `json:"started_at"`
	// UpdatedAt moves at least every half minute while an import runs.
	UpdatedAt  time.Time  `json:"updated_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

type importJSON struct {
	importSummaryJSON
	Errors          []importErrorJSON `json:"errors"`
	ErrorsTruncated bool              `json:"errors_truncated,omitempty"`
}

func importSummary(im *store.Import) importSummaryJSON {
	return importSummaryJSON{ID: im.ID, Status: im.Status, Filename: im.Filename, Rows: im.Rows, Imported: im.Imported,
		Unchanged: im.Unchanged, Failed: im.Failed, Message: im.Message, StartedAt: im.StartedAt,
		UpdatedAt: im.UpdatedAt, FinishedAt: im.FinishedAt}
}

func importToJSON(im *store.Import) importJSON {
	out := importJSON{importSummaryJSON: importSummary(im), ErrorsTruncated: im.ErrorsTruncated,
		Errors: []importErrorJSON{}}
	for _, e := range im.Errors {
		out.Errors = append(out.Errors, importErrorJSON{Row: e.Row, Field: e.Field, Reason: e.Reason})
	}
	return out
}

const (
	// defaultUploadIdle is how long an upload may send nothing when the
	// server has no ReadTimeout to take it from.
	defaultUploadIdle = time.Minute
	// importWriteTimeout bounds each write of an import's response; the
	// server's WriteTimeout runs from the start of the request, which a
	// long upload outlasts.
	importWriteTimeout = time.Minute
)

// importContacts reads a CSV body (text/csv, or the "file" part of a
// multipart form) as it arrives and writes contacts in batches, as a job
// recorded before the file is read: GET /v1/imports and
// GET /v1/imports/{id} show its progress meanwhile. Good rows are kept,
// bad ones listed with row, field and reason.
//
// By default the answer comes once the file is imported: 201 with the
// import, or 422 when it failed. With "Prefer: respond-async" it is 202
// with the running import and its Location as soon as the import is
// recorded, while the client still sends the file; the response ends when
// the upload does.
//
// The server's read and write timeouts bound a whole request, which a file
// of a million rows outlasts (PostgreSQL writes some 23,000 rows a second),
// so this route lifts them: the upload only has to keep moving (see
// upload), and each write of the answer has a bound of its own. The
// router's request deadline does not apply to this route either.
func (a *API) importContacts(c *gin.Context) {
	rc := http.NewResponseController(c.Writer)
	up := newUpload(c.Request, rc)
	c.Request.Body = up
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		a.log.Debug("contact import keeps the server's write timeout", "err", err)
	}
	var (
		body     io.Reader = up
		filename           = c.Query("filename")
	)
	if mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type")); mt == "multipart/form-data" {
		mr, err := c.Request.MultipartReader()
		if err != nil {
			a.fail(c, badField("file", "malformed multipart body"))
			return
		}
		for {
			p, err := mr.NextPart()
			if err != nil {
				a.fail(c, badField("file", "the form has no \"file\" part with the CSV"))
				return
			}
			if p.FormName() == "file" {
				body, filename = p, p.FileName()
				break
			}
		}
	}

	// An early answer needs a connection that can send while it reads
	// (HTTP/2 always can, HTTP/1.1 when asked); without one the
	// preference is ignored, as RFC 7240 allows.
	async := preferAsync(c.Request.Header) && rc.EnableFullDuplex() == nil
	responded := false
	opts := contactimport.Options{Filename: filename, PhoneRegion: a.cfg.PhoneRegion, Logger: a.log}
	if async {
		opts.Started = func(im *store.Import) {
			c.Header("Location", "/v1/imports/"+im.ID)
			c.Header("Preference-Applied", "respond-async")
			answer(rc, func() { c.JSON(http.StatusAccepted, importToJSON(im)) })
			// The answer is out; the end of the response, after the
			// upload, gets a write deadline of its own below.
			_ = rc.SetWriteDeadline(time.Time{})
			responded = true
		}
	}
	// The request's context ends when the client goes: the import then
	// stops reading and fails, keeping the rows read so far.
	im, err := contactimport.Run(c.Request.Context(), a.cfg.Store, body, opts)
	if responded {
		_ = rc.SetWriteDeadline(time.Now().Add(importWriteTimeout))
		return
	}
	if im == nil {
		answer(rc, func() { a.fail(c, err) })
		return
	}
	status := http.StatusCreated
	if im.Status != store.ImportCompleted {
		status = http.StatusUnprocessableEntity
	}
	c.Header("Location", "/v1/imports/"+im.ID)
	answer(rc, func() { c.JSON(status, importToJSON(im)) })
}

// answer writes (a part of) an import's response within
// importWriteTimeout and sends it on.
func answer(rc *http.ResponseController, write func()) {
	_ = rc.SetWriteDeadline(time.Now().Add(importWriteTimeout))
	write()
	_ = rc.Flush()
}

// preferAsync reports whether the request prefers an asynchronous answer
// (RFC 7240 respond-async).
func preferAsync(h http.Header) bool {
	for _, v := range h.Values("Prefer") {
		for _, pref := range strings.Split(v, ",") {
			token, _, _ := strings.Cut(pref, ";")
			token, _, _ = strings.Cut(token, "=")
			if strings.EqualFold(strings.TrimSpace(token), "respond-async") {
				return true
			}
		}
	}
	return false
}

// upload is the body of an import as it arrives. Instead of the server's
// deadline for the whole request, the connection's read deadline is
// pushed back as the client reads on, so that only a client that sends
// nothing for about idle (the server's ReadTimeout) is cut off: a stalled
// client must not hold an import open for good. Its errors say what
// happened to the upload, for the import's message.
type upload struct {
	body    io.ReadCloser
	rc      *http.ResponseController
	idle    time.Duration
	renewed time.Time // when the deadline was last pushed back
	noLimit bool      // the connection takes no deadline: the server's stays
	n       int64     // bytes read
}

func newUpload(r *http.Request, rc *http.ResponseController) *upload {
	idle := defaultUploadIdle
	if srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok && srv.ReadTimeout > 0 {
		idle = srv.ReadTimeout
	}
	return &upload{body: r.Body, rc: rc, idle: idle}
}

func (u *upload) Read(p []byte) (int, error) {
	// Pushed back at most every quarter of idle: the deadline is a timer
	// to reset, not free per read. A silence of 3/4 idle to idle cuts.
	if now := time.Now(); !u.noLimit && now.Sub(u.renewed) >= u.idle/4 {
		if err := u.rc.SetReadDeadline(now.Add(u.idle)); err != nil {
			u.noLimit = true
		}
		u.renewed = now
	}
	n, err := u.body.Read(p)
	u.n += int64(n)
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.As(err, &tooLarge):
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = fmt.Errorf("the upload stalled: nothing arrived for %s after %d bytes: %w", u.idle, u.n, err)
	default:
		err = fmt.Errorf("the upload broke off after %d bytes: %w", u.n, err)
	}
	return n, err
}

func (u *upload) Close() error { return u.body.Close() }

// listImports shows recent imports, newest first, with their status and
// counts (the row errors are at GET /v1/imports/{id}); ?status= keeps one
// status, ?before=ID pages back from an import, ?limit= (default 20, at
// most 100) sizes the page.
func (a *API) listImports(c *gin.Context) {
	limit, err := intParam(c, "limit", 20, 1, 100)
	if err != nil {
		a.fail(c, err)
		return
	}
	f := store.ImportFilter{Status: c.Query("status"), Before: c.Query("before"), Limit: limit}
	switch f.Status {
	case "", store.ImportRunning, store.ImportCompleted, store.ImportFailed:
	default:
		a.fail(c, badField("status", "status must be %s, %s or %s", store.ImportRunning, store.ImportCompleted, store.ImportFailed))
		return
	}
	list, err := a.cfg.Store.ListImports(c.Request.Context(), f)
	if errors.Is(err, store.ErrNotFound) {
		err = badField("before", "no import %q to page back from", f.Before)
	}
	if err != nil {
		a.fail(c, err)
		return
	}
	out := make([]importSummaryJSON, 0, len(list))
	for _, im := range list {
		out = append(out, importSummary(im))
	}
	c.JSON(http.StatusOK, gin.H{"imports": out})
}

func (a *API) getImport(c *gin.Context) {
	im, err := a.cfg.Store.GetImport(c.Request.Context(), c.Param("id"))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = notFound("import")
		}
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, importToJSON(im))
}
