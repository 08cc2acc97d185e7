// Package chathttp posts JSON to chat webhooks (Slack, Microsoft Teams, a
// customer's own endpoint) and classifies the HTTP failures into
// channels.Error kinds. It is what the chat channels have in common:
//
//   - every request is bound to the caller's context and to a timeout;
//   - an answer is read into memory up to MaxResponseBody, never more;
//   - a redirect is an answer, never followed: a webhook URL is a secret,
//     and following a 3xx would hand the payload (and, for a signed
//     webhook, a valid signature) to whoever the Location names;
//   - a webhook URL never appears in an error: its path or query is the
//     credential. Errors and logs name only its scheme and host (Redact).
package chathttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/internal/netguard"
)

const (
	// DefaultTimeout bounds one post, from connecting to reading the
	// answer, when Config.Timeout is zero.
	DefaultTimeout = 10 * time.Second
	// MaxResponseBody is how much of an answer is read. Chat webhooks
	// answer a word ("ok", "1") or a short error; anything longer is a
	// proxy's page, of which the start is enough.
	MaxResponseBody = 64 << 10
	// UserAgent is sent with every request.
	UserAgent = "npsgate"
	// DefaultRetryAfter is the wait of a RateLimited error whose answer
	// has no usable Retry-After.
	DefaultRetryAfter = time.Second
)

var (
	// ErrInvalidURL is wrapped by the Permanent error for a webhook URL
	// that cannot be posted to: not absolute, not https (http is accepted
	// for a loopback host only, for tests and local relays).
	ErrInvalidURL = errors.New("invalid webhook URL")
	// ErrRedirected is wrapped by the Permanent error for a 3xx answer.
	// The webhook moved or the URL is wrong; either way a person must
	// update it.
	ErrRedirected = errors.New("webhook redirected")
	// ErrWebhookGone is wrapped by the Permanent error for an answer that
	// says the webhook itself no longer exists (404, 410, and provider
	// words such as Slack's "no_service"), as opposed to a refusal of this
	// one message. The dispatcher can stop using the webhook with
	// errors.Is instead of failing every delivery to it one by one.
	ErrWebhookGone = errors.New("webhook gone")
)

// Config configures a Client. Zero values get the documented defaults.
type Config struct {
	// Timeout bounds each post, from connecting to reading the answer.
	// Default DefaultTimeout (10s).
	Timeout time.Duration
	// Transport carries the requests. Nil uses a clone of
	// http.DefaultTransport (proxy from the environment) that keeps up to
	// 64 idle connections per host. The gateway can pass a transport whose
	// dialer refuses private addresses, since webhook URLs come from users.
	Transport http.RoundTripper
}

// Client posts JSON to webhook URLs for one channel, whose name it puts
// on its errors. Safe for concurrent use.
type Client struct {
	name    string
	timeout time.Duration
	hc      *http.Client
	owned   *http.Transport // the transport New made, closed by Close
}

// New returns a Client whose errors carry the channel name. It does no I/O.
func New(name string, cfg Config) (*Client, error) {
	if name == "" {
		return nil, errors.New("chathttp: channel name: required")
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("%s: Timeout: must not be negative", name)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	c := &Client{name: name, timeout: cfg.Timeout}
	tr := cfg.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// Sends run concurrently against few hosts (hooks.slack.com); the
		// default of 2 idle connections per host would close and reopen
		// most of them.
		t.MaxIdleConnsPerHost = 64
		c.owned, tr = t, t
	}
	c.hc = &http.Client{
		Transport: tr,
		// A redirect is an answer (Failure makes it Permanent), never
		// something to follow with the payload and its signature.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

// Name is the channel name the Client puts on its errors.
func (c *Client) Name() string { return c.name }

// Timeout is the bound on each post.
func (c *Client) Timeout() time.Duration { return c.timeout }

// Close releases idle connections of the transport New made; a
// Config.Transport is the caller's to close. The Client stays usable.
func (c *Client) Close() error {
	if c.owned != nil {
		c.owned.CloseIdleConnections()
	}
	return nil
}

// Response is an HTTP answer of any status.
type Response struct {
	Status int
	Header http.Header
	// Body is the start of the answer, at most MaxResponseBody bytes;
	// Truncated says there was more.
	Body      []byte
	Truncated bool

	url *url.URL // the webhook, to keep it out of Text
}

// OK says the status is 2xx.
func (r *Response) OK() bool { return r.Status >= 200 && r.Status <= 299 }

// Text is the answer as words for an error message: its first line, at
// most 200 bytes, with the webhook URL's path and query (the secret parts)
// blanked out in case the server echoed them. An empty or markup body (an
// HTML error page) gives "".
func (r *Response) Text() string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(r.Body), "\uFFFD"))
	if s == "" || s[0] == '<' {
		return ""
	}
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	s = scrub(s, r.url)
	const max = 200
	if len(s) > max {
		cut := max
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// Scrub blanks out the secret parts of the webhook URL (path, query, user
// info, whole or in long pieces) wherever s repeats them: for words taken
// from the answer other than through Text.
func (r *Response) Scrub(s string) string { return scrub(s, r.url) }

// RetryAfter is the answer's Retry-After (seconds or an HTTP date) as a
// wait from now, capped at a day; def when there is none or it makes no
// sense.
func (r *Response) RetryAfter(def time.Duration) time.Duration {
	return retryAfter(r.Header.Get("Retry-After"), time.Now(), def)
}

// Post posts body, a JSON document, to rawURL with Content-Type
// application/json, User-Agent npsgate and the extra header (which may be
// nil). At most Timeout passes before it gives up.
//
// Any HTTP answer, whatever its status, is returned as a Response with a
// nil error: only the caller knows its provider's success and failure
// formats (Failure classifies by status alone). Without an answer the
// error is
//
//   - ctx's error, wrapped (not a *channels.Error), as soon as ctx ends;
//   - a Permanent *channels.Error wrapping ErrInvalidURL for a URL Post
//     cannot use (see ParseURL);
//   - a Retryable *channels.Error for a timeout, a network failure or an
//     answer cut off while it was read.
//
// The URL's path and query never appear in an error.
func (c *Client) Post(ctx context.Context, rawURL string, body []byte, header http.Header) (*Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	u, err := ParseURL(rawURL)
	if err != nil {
		return nil, &channels.Error{Channel: c.name, Kind: channels.Permanent, Message: err.Error(), Err: err}
	}

	callCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(callCtx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		// ParseURL accepted it, so this is not the URL's fault; the
		// *url.Error would carry the URL, so only its cause is kept.
		return nil, c.noAnswer(ctx, callCtx, u, err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)

	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.noAnswer(ctx, callCtx, u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody+1))
	if err != nil {
		return nil, c.noAnswer(ctx, callCtx, u, fmt.Errorf("reading the HTTP %d answer: %w", resp.StatusCode, err))
	}
	r := &Response{Status: resp.StatusCode, Header: resp.Header, Body: data, url: u}
	if len(data) > MaxResponseBody {
		r.Body, r.Truncated = data[:MaxResponseBody], true
	}
	return r, nil
}

// noAnswer classifies a post that got no (complete) answer.
func (c *Client) noAnswer(ctx, callCtx context.Context, u *url.URL, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: posting to %s: %w", c.name, redactURL(u), ctx.Err())
	}
	// A destination the network guard refuses will be refused again.
	kind := channels.Retryable
	if errors.Is(err, netguard.ErrForbidden) {
		kind = channels.Permanent
	}
	// A *url.Error repeats the whole URL; keep only what went wrong.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	err = errors.New(scrub(err.Error(), u))
	ce := &channels.Error{Channel: c.name, Kind: kind, Err: err}
	if callCtx.Err() != nil {
		ce.Message = fmt.Sprintf("no answer from %s within %s", redactURL(u), c.timeout)
	} else {
		ce.Message = fmt.Sprintf("posting to %s: %v", redactURL(u), err)
	}
	return ce
}

// Failure classifies an answer by its status alone, or returns nil for a
// 2xx (and 1xx, which Go's client never returns):
//
//	3xx            Permanent, wrapping ErrRedirected: never followed
//	404, 410       Permanent, wrapping ErrWebhookGone
//	408            Retryable: the receiver timed out reading us
//	429            RateLimited, RetryAfter from the header (DefaultRetryAfter without)
//	other 4xx      Permanent
//	5xx and other  Retryable
//
// Code is the status as text; Message is the answer's Text, or the status
// in words when the answer has none.
func (c *Client) Failure(r *Response) *channels.Error {
	if r.Status < 300 {
		return nil
	}
	ce := &channels.Error{Channel: c.name, Code: fmt.Sprint(r.Status), Message: r.Text()}
	if ce.Message == "" {
		ce.Message = fmt.Sprintf("HTTP %d %s", r.Status, http.StatusText(r.Status))
	}
	switch s := r.Status; {
	case s < 400:
		ce.Kind = channels.Permanent
		ce.Message = ErrRedirected.Error()
		if loc, err := url.Parse(r.Header.Get("Location")); err == nil && loc.Host != "" {
			ce.Message += " to " + redactURL(loc)
		}
		ce.Err = ErrRedirected
	case s == http.StatusNotFound, s == http.StatusGone:
		ce.Kind = channels.Permanent
		ce.Err = ErrWebhookGone
	case s == http.StatusRequestTimeout:
		ce.Kind = channels.Retryable
	case s == http.StatusTooManyRequests:
		ce.Kind = channels.RateLimited
		ce.RetryAfter = r.RetryAfter(DefaultRetryAfter)
	case s < 500:
		ce.Kind = channels.Permanent
	default:
		ce.Kind = channels.Retryable
	}
	return ce
}

// ParseURL checks a webhook URL: absolute, https, or http for a loopback
// host (tests, a local relay). Its errors wrap ErrInvalidURL and never
// contain the URL, which is a secret.
func ParseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	switch {
	case raw == "":
		return nil, fmt.Errorf("%w: empty", ErrInvalidURL)
	case err != nil:
		return nil, fmt.Errorf("%w: not a URL", ErrInvalidURL)
	case u.Scheme != "https" && u.Scheme != "http", u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("%w: want https://host/…", ErrInvalidURL)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return nil, fmt.Errorf("%w: http:// would send the webhook's secret in clear; use https:// (%s)", ErrInvalidURL, redactURL(u))
	}
	return u, nil
}

// Redact returns what of a webhook URL may be logged: its scheme and host
// ("https://hooks.slack.com"), without user info, path or query.
func Redact(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return "(not a URL)"
	}
	return redactURL(u)
}

func redactURL(u *url.URL) string { return u.Scheme + "://" + u.Host }

// scrub blanks out the secret parts of u (its path, query and user info,
// escaped or not, whole or in long pieces) wherever s repeats them.
func scrub(s string, u *url.URL) string {
	if u == nil {
		return s
	}
	var secrets []string
	add := func(v string) {
		if len(v) > 1 { // "/" is no secret, and replacing it would ruin s
			secrets = append(secrets, v)
		}
	}
	add(u.String())
	add(u.RequestURI())
	add(u.EscapedPath())
	add(u.Path)
	add(u.RawQuery)
	if q, err := url.QueryUnescape(u.RawQuery); err == nil {
		add(q)
	}
	if u.User != nil {
		add(u.User.String())
	}
	// A server may echo one part alone ("unknown token XXXX"): long path
	// segments and query values are tokens more often than not.
	const tokenLen = 8
	for _, seg := range strings.Split(u.Path, "/") {
		if len(seg) >= tokenLen {
			secrets = append(secrets, seg)
		}
	}
	for _, vs := range u.Query() {
		for _, v := range vs {
			if len(v) >= tokenLen {
				secrets = append(secrets, v)
			}
		}
	}
	for _, v := range secrets {
		s = strings.ReplaceAll(s, v, "[redacted]")
	}
	return s
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
