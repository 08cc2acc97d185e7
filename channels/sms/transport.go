package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/npsgate/npsgate/channels"
)

// maxResponse bounds a Twilio answer read into memory. A Message resource
// or an error is about a kilobyte.
const maxResponse = 1 << 20

// exchange is the http.RoundTripper of one Send. twilio-go builds its
// request itself, with context.Background(), and gives no way to pass one
// in; exchange
//
//   - puts the Send's context on the request, so cancelling it (or its
//     Timeout) aborts the connection attempt, the wait for an answer and the
//     read of the body at once;
//   - sends the request to APIURL instead of https://api.twilio.com, when
//     set, by rewriting scheme, host and path prefix: twilio-go's generated
//     services have no base-URL setting;
//   - reads the whole answer into memory and closes the network body.
//     twilio-go v1.31.0 never closes the body of an error response
//     (client.doWithErr decodes it and returns). Go's transport takes the
//     connection back by itself only when the body was read to its end,
//     which json.Decoder does not do for, say, a proxy's HTML error page
//     longer than its first read: each such answer would strand a
//     connection and its two goroutines for good;
//   - keeps the HTTP status and Retry-After header, which twilio-go drops
//     (TwilioRestError only has the status copied from the JSON body).
//
// Its fields are written by RoundTrip, which http.Client.Do runs on the
// goroutine of Send, before CreateMessage returns.
type exchange struct {
	ctx  context.Context
	next http.RoundTripper
	base *url.URL

	status     int
	retryAfter string
}

func (ex *exchange) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(ex.ctx)
	if ex.base != nil {
		r.URL.Scheme = ex.base.Scheme
		r.URL.Host = ex.base.Host
		r.URL.Path = ex.base.Path + r.URL.Path
		r.URL.RawPath = ""
		r.Host = ""
	}
	resp, err := ex.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	ex.status = resp.StatusCode
	ex.retryAfter = resp.Header.Get("Retry-After")

	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	_ = resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading Twilio's answer (HTTP %d): %w", resp.StatusCode, err)
	}
	if len(body) > maxResponse {
		return nil, fmt.Errorf("Twilio's answer (HTTP %d) is larger than %d bytes", resp.StatusCode, maxResponse)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}

// maxRetryAfter caps a Retry-After: past a day it is more likely a
// misconfigured proxy than advice, and waiting longer helps nobody.
const maxRetryAfter = 24 * time.Hour

// retryAfterOr reads a Retry-After value (seconds or an HTTP date) and
// returns def when there is none or it makes no sense.
func retryAfterOr(v string, now time.Time, def time.Duration) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return def
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		d = time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d <= 0 {
		return def
	}
	return min(d, maxRetryAfter)
}

// contentVariables is the ContentVariables JSON of a WhatsApp template
// message: {"1": reply URL}.
func contentVariables(m *channels.Message) (string, error) {
	b, err := json.Marshal(map[string]string{"1": m.ReplyURL})
	return string(b), err
}
