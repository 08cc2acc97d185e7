package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/npsgate/npsgate/store"
)

// apiError is the one shape of every API error:
// {"error":{"code":"…","message":"…","field":"…"}}.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *apiError) Error() string { return e.Message }

func badField(field, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "invalid_field", Field: field, Message: fmt.Sprintf(format, args...)}
}

func notFound(what string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: "not_found", Message: what + " not found"}
}

// fail answers err as JSON. Store errors map to their HTTP meaning; anything
// else is a 500 whose details stay in the log, not in the answer.
func (a *API) fail(c *gin.Context, err error) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, store.ErrNotFound):
		ae = &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "not found"}
	case errors.Is(err, store.ErrConflict):
		ae = &apiError{Status: http.StatusConflict, Code: "conflict", Message: "conflict"}
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, errQueueUnavailable):
		ae = &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "a backing service is unavailable; try again"}
	default:
		a.log.Error("request failed", "method", c.Request.Method, "path", c.FullPath(), "err", err)
		ae = &apiError{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"}
	}
	c.AbortWithStatusJSON(ae.Status, gin.H{"error": ae})
}

var errQueueUnavailable = errors.New("queue unavailable")

// decode reads a JSON body strictly: unknown fields, trailing data, wrong
// types and oversize bodies are errors that name what is wrong.
func decode(c *gin.Context, v any) error {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		return jsonError(err)
	}
	// PostgreSQL stores no NUL in text; refuse it here, clearly, instead of
	// failing at the database.
	if bytes.Contains(body, []byte(`\u0000`)) {
		return &apiError{Status: http.StatusBadRequest, Code: "invalid_text", Message: "text must not contain NUL (\\u0000) characters"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return jsonError(err)
		}
		return &apiError{Status: http.StatusBadRequest, Code: "malformed_json", Message: "unexpected data after the JSON object"}
	}
	return nil
}

func jsonError(err error) error {
	var (
		syn      *json.SyntaxError
		typ      *json.UnmarshalTypeError
		tooLarge *http.MaxBytesError
	)
	switch {
	case errors.As(err, &tooLarge):
		return &apiError{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
			Message: fmt.Sprintf("request body is larger than %d bytes", tooLarge.Limit)}
	case errors.As(err, &syn):
		return &apiError{Status: http.StatusBadRequest, Code: "malformed_json", Message: fmt.Sprintf("malformed JSON at byte %d: %v", syn.Offset, syn)}
	case errors.As(err, &typ):
		field := typ.Field
		return &apiError{Status: http.StatusBadRequest, Code: "invalid_field", Field: field,
			Message: fmt.Sprintf("%s must be %s, not %s", field, typeName(typ.Type.String()), typ.Value)}
	case errors.Is(err, io.EOF):
		return &apiError{Status: http.StatusBadRequest, Code: "malformed_json", Message: "request body is empty; a JSON object is required"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &apiError{Status: http.StatusBadRequest, Code: "malformed_json", Message: "request body ends in the middle of the JSON"}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no typed error for DisallowUnknownFields.
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &apiError{Status: http.StatusBadRequest, Code: "unknown_field", Field: name, Message: fmt.Sprintf("unknown field %q", name)}
	}
	return &apiError{Status: http.StatusBadRequest, Code: "malformed_json", Message: err.Error()}
}

func typeName(t string) string {
	switch {
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "float"):
		return "a number"
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "map"), strings.HasPrefix(t, "struct"), strings.Contains(t, "."):
		return "an object"
	case strings.HasPrefix(t, "[]"):
		return "an array"
	}
	return t
}
