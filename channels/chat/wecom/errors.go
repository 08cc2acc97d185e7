package wecom

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/channels/chat/chathttp"
)

// WeCom errcodes the mapping names.
const (
	codeOK                = 0
	codeSystemBusy        = -1
	codeFreqOutOfLimit    = 45009 // "api freq out of limit"
	codeInvalidWebhookURL = 93000 // "invalid webhook url"
	codeInvalidMsgType    = 40008 // "invalid message type"
	codeInvalidParameter  = 40058 // e.g. "markdown.content exceed max length 4096"
)

// maxMessage bounds WeCom's words kept on an error.
const maxMessage = 200

type answer struct {
	ErrCode *int   `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

func decodeAnswer(body []byte) (answer, bool) {
	var a answer
	if err := json.Unmarshal(body, &a); err != nil || a.ErrCode == nil {
		return answer{}, false
	}
	return a, true
}

// failure classifies WeCom's answer (see Send), or returns nil when the
// message was posted.
func (c *Channel) failure(r *chathttp.Response) *channels.Error {
	if !r.OK() {
		ce := c.http.Failure(r)
		if a, ok := decodeAnswer(r.Body); ok && *a.ErrCode != codeOK && a.ErrMsg != "" {
			ce.Message = words(r, a)
		}
		return ce
	}
	a, ok := decodeAnswer(r.Body)
	if !ok {
		return &channels.Error{Channel: Name, Kind: channels.Retryable, Code: strconv.Itoa(r.Status),
			Message: fmt.Sprintf("HTTP %d without a WeCom answer; the message may have been posted", r.Status)}
	}
	code := *a.ErrCode
	if code == codeOK {
		return nil
	}
	ce := &channels.Error{Channel: Name, Code: strconv.Itoa(code), Message: words(r, a)}
	switch code {
	case codeFreqOutOfLimit:
		ce.Kind = channels.RateLimited
		ce.RetryAfter = RateLimitedWait
	case codeSystemBusy:
		ce.Kind = channels.Retryable
	case codeInvalidWebhookURL:
		ce.Kind = channels.Permanent
		ce.Err = chathttp.ErrWebhookGone
	default: // 40008, 40058 and the rest
		ce.Kind = channels.Permanent
	}
	return ce
}

// words is WeCom's errmsg for an error, without the ", hint: […], from
// ip: …, more info at …" that WeCom appends (the hint is kept: WeCom's
// support asks for it): scrubbed of the address's key in case it echoes
// it, on one line, at most maxMessage bytes. An empty errmsg gives
// "errcode N".
func words(r *chathttp.Response, a answer) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(a.ErrMsg, "\uFFFD")), " ")
	if i := strings.Index(s, ", from ip:"); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return "errcode " + strconv.Itoa(*a.ErrCode)
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
