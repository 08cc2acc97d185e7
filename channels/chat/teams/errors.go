package teams

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/channels/chat/chathttp"
)

// failure classifies Teams' answer, or returns nil when the message was
// taken.
func (c *Channel) failure(r *chathttp.Response) *channels.Error {
	if r.OK() {
		if r.Status != http.StatusOK {
			return nil // 202 from Workflows
		}
		status, failed := legacyFailure(r.Body)
		if !failed {
			return nil
		}
		ce := &channels.Error{Channel: Name, Message: r.Text()}
		if status != 0 {
			ce.Code = strconv.Itoa(status)
		}
		switch {
		case status == http.StatusTooManyRequests:
			ce.Kind = channels.RateLimited
			ce.RetryAfter = r.RetryAfter(chathttp.DefaultRetryAfter)
		case status >= 500:
			ce.Kind = channels.Retryable
		default:
			ce.Kind = channels.Permanent
		}
		return ce
	}
	ce := c.http.Failure(r)
	if msg := workflowError(r.Body); msg != "" {
		ce.Message = r.Scrub(msg)
	}
	return ce
}

// legacyStatus finds the Teams status in a legacy connector's failure text.
var legacyStatus = regexp.MustCompile(`HTTP error (\d{3})\b`)

// legacyFailure reads the body of an HTTP 200 from a webhook. A legacy
// (Office 365 connector) incoming webhook answers 200 "1" when Teams took
// the message; when Teams refused it, the connector still answers 200,
// with the failure in words and Teams' own status inside:
//
//	Webhook message delivery failed with error: Microsoft Teams endpoint
//	returned HTTP error 429 with ContextId tcid=…,server=…,cv=….
//
// That text is the connector's documented failure format, not a Go error,
// so reading it is the only way to tell; it is read here and nowhere
// else. Any 200 body other than "1" (or empty, as a flow may answer) is a
// failure, with status the number after "HTTP error", or 0.
func legacyFailure(body []byte) (status int, failed bool) {
	s := strings.TrimSpace(string(body))
	if s == "" || s == "1" {
		return 0, false
	}
	if m := legacyStatus.FindStringSubmatch(s); m != nil {
		status, _ = strconv.Atoi(m[1])
	}
	return status, true
}

// workflowError is the "code: message" of a Workflows (Logic Apps) error
// body, {"error":{"code":…,"message":…}}, or "".
func workflowError(body []byte) string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error.Code == "" {
		return ""
	}
	msg := e.Error.Code
	if e.Error.Message != "" {
		msg += ": " + e.Error.Message
	}
	if len(msg) > 200 {
		msg = strings.ToValidUTF8(msg[:200], "") + "…"
	}
	return msg
}
