package feishu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/channels/chat/chathttp"
)

// Feishu codes the mapping names.
const (
	codeOK              = 0
	codeGateway         = 9499  // "too many request", or "Bad Request"
	codeFrequencyLimit  = 11232 // "frequency limited …"
	codeTokenInvalid    = 19001 // "param invalid: incoming webhook access token invalid"
	codeSignMatchFail   = 19021 // "sign match fail or timestamp is not within one hour from current time"
	codeIPNotAllowed    = 19022 // "Ip Not Allowed"
	codeKeyWordNotFound = 19024 // "Key Words Not Found"
)

// maxMessage bounds Feishu's words kept on an error.
const maxMessage = 200

// answer is Feishu's JSON answer, current (code, msg) or older
// (StatusCode, StatusMessage).
type answer struct {
	Code          *int   `json:"code"`
	Msg           string `json:"msg"`
	StatusCode    *int   `json:"StatusCode"`
	StatusMessage string `json:"StatusMessage"`
}

func decodeAnswer(body []byte) (code int, msg string, ok bool) {
	var a answer
	if json.Unmarshal(body, &a) != nil {
		return 0, "", false
	}
	switch {
	case a.Code != nil:
		return *a.Code, a.Msg, true
	case a.StatusCode != nil:
		return *a.StatusCode, a.StatusMessage, true
	}
	return 0, "", false
}

// failure classifies Feishu's answer (see Send), or returns nil when the
// message was posted.
func (c *Channel) failure(r *chathttp.Response) *channels.Error {
	code, msg, ok := decodeAnswer(r.Body)
	switch {
	case r.Status == http.StatusTooManyRequests:
		ce := c.http.Failure(r)
		ce.RetryAfter = r.RetryAfter(RateLimitedWait)
		if ok && code != codeOK {
			ce.Code, ce.Message = strconv.Itoa(code), words(r, code, msg)
		}
		return ce
	case r.Status < 200, r.Status >= 300 && r.Status < 400, r.Status >= 500:
		return c.http.Failure(r)
	case !ok && r.OK():
		return &channels.Error{Channel: Name, Kind: channels.Retryable, Code: strconv.Itoa(r.Status),
			Message: fmt.Sprintf("HTTP %d without a Feishu answer; the message may have been posted", r.Status)}
	case !ok, code == codeOK && !r.OK():
		return c.http.Failure(r)
	case code == codeOK:
		return nil
	}

	ce := &channels.Error{Channel: Name, Code: strconv.Itoa(code), Message: words(r, code, msg)}
	switch code {
	case codeFrequencyLimit:
		ce.Kind = channels.RateLimited
		ce.RetryAfter = RateLimitedWait
	case codeGateway:
		if speaksOfLimit(msg) {
			ce.Kind = channels.RateLimited
			ce.RetryAfter = RateLimitedWait
		} else {
			ce.Kind = channels.Permanent
		}
	case codeTokenInvalid:
		ce.Kind = channels.Permanent
		ce.Err = chathttp.ErrWebhookGone
	default: // 19021, 19022, 19024 and the rest
		ce.Kind = channels.Permanent
	}
	return ce
}

// speaksOfLimit says a 9499's msg is about the request frequency ("too
// many request"), not about the request ("Bad Request").
func speaksOfLimit(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "too many") || strings.Contains(m, "frequency") || strings.Contains(m, "limit")
}

// words is Feishu's msg for an error: scrubbed of the address's secret
// parts in case it echoes them, on one line, at most maxMessage bytes. An
// empty msg gives "code N".
func words(r *chathttp.Response, code int, msg string) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(msg, "\uFFFD")), " ")
	if s == "" {
		return "code " + strconv.Itoa(code)
	}
	s = r.Scrub(s)
	if len(s) > maxMessage {
		cut := maxMessage
		for cut > 0 && s[cut]&0xC0 == 0x80 {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
