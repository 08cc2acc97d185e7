package dingtalk

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/channels/chat/chathttp"
)

// DingTalk errcodes the mapping names.
const (
	codeOK             = 0
	codeSystemBusy     = -1
	codeSendTooFast    = 130101 // "send too fast, exceed 20 times per minute"
	codeTooFastBlocked = 410100 // "send too fast", the robot is blocked
	codeTokenNotExist  = 300001 // "token is not exist"
	codeGroupDissolved = 400013 // the robot's group was dissolved
)

// maxMessage bounds DingTalk's words kept on an error.
const maxMessage = 200

// answer is DingTalk's JSON answer.
type answer struct {
	ErrCode *int   `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// failure classifies DingTalk's answer (see Send), or returns nil when the
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
			Message: fmt.Sprintf("HTTP %d without a DingTalk answer; the message may have been posted", r.Status)}
	}
	code := *a.ErrCode
	if code == codeOK {
		return nil
	}
	ce := &channels.Error{Channel: Name, Code: strconv.Itoa(code), Message: words(r, a)}
	switch code {
	case codeSendTooFast, codeTooFastBlocked:
		ce.Kind = channels.RateLimited
		ce.RetryAfter = BlockedFor
	case codeSystemBusy:
		ce.Kind = channels.Retryable
	case codeTokenNotExist, codeGroupDissolved:
		ce.Kind = channels.Permanent
		ce.Err = chathttp.ErrWebhookGone
	default:
		ce.Kind = channels.Permanent
	}
	return ce
}

func decodeAnswer(body []byte) (answer, bool) {
	var a answer
	if err := json.Unmarshal(body, &a); err != nil || a.ErrCode == nil {
		return answer{}, false
	}
	return a, true
}

// words is DingTalk's errmsg for an error: scrubbed of the address's
// secret parts in case it echoes them, on one line, at most maxMessage
// bytes. An empty errmsg gives "errcode N".
func words(r *chathttp.Response, a answer) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(a.ErrMsg, "\uFFFD")), " ")
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
