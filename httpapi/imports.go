package httpapi

import (
	"errors"
	"io"
	"mime"
	"net/http"
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

type importJSON struct {
	ID              string            `json:"id"`
	Status          string            `json:"status"`
	Filename        string            `json:"filename,omitempty"`
	Rows            int               `json:"rows"`
	Imported        int               `json:"imported"`
	Unchanged       int               `json:"unchanged"`
	Failed          int               `json:"failed"`
	Errors          []importErrorJSON `json:"errors"`
	ErrorsTruncated bool              `json:"errors_truncated,omitempty"`
	Message         string            `json:"message,omitempty"`
	StartedAt       time.Time         `json:"started_at"`
	FinishedAt      *time.Time        `json:"finished_at,omitempty"`
}

func importToJSON(im *store.Import) importJSON {
	out := importJSON{ID: im.ID, Status: im.Status, Filename: im.Filename, Rows: im.Rows, Imported: im.Imported,
		Unchanged: im.Unchanged, Failed: im.Failed, ErrorsTruncated: im.ErrorsTruncated, Message: im.Message,
		StartedAt: im.StartedAt, FinishedAt: im.FinishedAt, Errors: []importErrorJSON{}}
	for _, e := range im.Errors {
		out.Errors = append(out.Errors, importErrorJSON{Row: e.Row, Field: e.Field, Reason: e.Reason})
	}
	return out
}

// importContacts reads a CSV body (text/csv, or the "file" part of a
// multipart form) as it arrives and writes contacts in batches; the job's
// progress can be followed at GET /v1/imports/{id} meanwhile. Good rows
// are kept, bad ones listed with row, field and reason.
func (a *API) importContacts(c *gin.Context) {
	var (
		body     io.Reader = c.Request.Body
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
	im, err := contactimport.Run(c.Request.Context(), a.cfg.Store, body, contactimport.Options{
		Filename: filename, PhoneRegion: a.cfg.PhoneRegion, Logger: a.log,
	})
	if im == nil {
		a.fail(c, err)
		return
	}
	status := http.StatusCreated
	if im.Status != store.ImportCompleted {
		status = http.StatusUnprocessableEntity
	}
	c.JSON(status, importToJSON(im))
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
