// Package dingtalk is the DingTalk (钉钉) channel: a message posted to a
// group's custom robot (自定义机器人). The message's To is the robot's
// address, one string as a contact holds it:
//
//	https://oapi.dingtalk.com/robot/send?access_token=<token>[&secret=<SEC…>]
//
// A robot whose security setting is "signature" (加签) needs its secret:
// it travels in the address as the extra query parameter secret, which the
// channel removes before posting and replaces with DingTalk's timestamp
// (milliseconds) and sign parameters, sign being
//
//	base64(HMAC-SHA256(key = secret, message = timestamp + "\n" + secret))
//
// URL-encoded, as DingTalk documents. The secret itself never leaves the
// process, and neither it nor the access token ever appears in an error or
// a log line (those name the scheme and host only). Robots secured by
// keywords or an IP allow-list need no secret; their keyword must be in
// the rendered text.
//
// A survey is an actionCard: the text, the question and the scores as one
// row of links ("[0](…) | [1](…) | … | [10](…)"), and one full-width
// button to the reply page. DingTalk draws an actionCard's own buttons
// either side by side (btnOrientation "1"), where eleven of them shrink to
// unreadable slivers, or one under another ("0"), where eleven make a card
// taller than a phone screen; a row of links keeps the 0–10 scale on one
// line and answers in one tap. An alert or digest is a markdown message:
// its text and a link to the response.
//
// m.Text is DingTalk markdown, as the chat template rendered it; it is
// sent as it is.
//
// DingTalk answers HTTP 200 with {"errcode":0,"errmsg":"ok"}, and refuses
// with HTTP 200 too and another errcode; see Send for the mapping.
//
// # Rate limit
//
// DingTalk takes at most 20 messages a minute from one robot and blocks a
// robot that sends more for 10 minutes. RateLimit and RateKey let the
// dispatcher keep each robot under that with a shared token bucket; a
// robot that was blocked anyway answers RateLimited with RetryAfter 10m.
package dingtalk

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/channels/chat/chathttp"
)

// Name is the channel name.
const Name = "dingtalk"

// DingTalk's limits per robot.
const (
	// RatePerMinute is how many messages a robot takes in a minute.
	RatePerMinute = 20
	// BlockedFor is how long DingTalk refuses a robot that sent more than
	// RatePerMinute: the RetryAfter of its RateLimited errors.
	BlockedFor = 10 * time.Minute
)

// ErrInvalidMessage is wrapped by the Permanent error for a message that
// cannot be sent as it is (no text, a score without a URL), refused
// before any request.
var ErrInvalidMessage = errors.New("invalid message")

// Config configures the DingTalk channel. Zero values get the documented
// defaults from New.
type Config struct {
	// Timeout bounds each post, from connecting to reading DingTalk's
	// answer. Default 10s.
	Timeout time.Duration
	// Transport carries the requests; nil uses a clone of
	// http.DefaultTransport (see chathttp.Config).
	Transport http.RoundTripper
	// Logger receives send failures at debug level, with the robot's
	// scheme and host only; nil discards them.
	Logger *slog.Logger
}

// Channel posts messages to DingTalk custom robots. Safe for concurrent
// use.
type Channel struct {
	http *chathttp.Client
	log  *slog.Logger
	now  func() time.Time
}

var (
	_ channels.Channel = (*Channel)(nil)
	_ channels.Closer  = (*Channel)(nil)
)

// New builds the DingTalk channel. It does no I/O.
func New(cfg Config) (*Channel, error) {
	hc, err := chathttp.New(Name, chathttp.Config{Timeout: cfg.Timeout, Transport: cfg.Transport})
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Channel{http: hc, log: log.With("channel", Name), now: time.Now}, nil
}

// Name implements channels.Channel: "dingtalk".
func (c *Channel) Name() string { return Name }

// RateLimit is DingTalk's limit per robot: RatePerMinute messages a
// minute. The dispatcher applies it per RateKey.
func (c *Channel) RateLimit() (n int, per time.Duration) { return RatePerMinute, time.Minute }

// RateKey is RateKey(address), as a method so that the dispatcher can find
// it on any channel that has one.
func (c *Channel) RateKey(address string) string { return RateKey(address) }

// RateKey names the robot an address posts to, for a rate limit shared by
// every process: "dingtalk:" and a SHA-256 of the access token, never the
// token itself. Addresses of one robot with and without a secret, or with
// the parameters in another order, have the same key. An address without
// an access token is keyed by a hash of the whole address.
func RateKey(address string) string {
	id := strings.TrimSpace(address)
	if u, err := url.Parse(id); err == nil {
		if tok := u.Query().Get("access_token"); tok != "" {
			id = "access_token=" + tok
		}
	}
	sum := sha256.Sum256([]byte(id))
	return Name + ":" + hex.EncodeToString(sum[:16])
}

// Send posts m to the robot at m.To (see the package documentation for
// the address and what is posted). DingTalk gives no message id; the
// Result's ProviderID is m.DeliveryID.
//
// Errors are *channels.Error, except when ctx ends first: then ctx's
// error is returned, wrapped. DingTalk's answers map so (Code is the
// errcode, Message DingTalk's errmsg):
//
//	errcode 0                                   sent
//	130101, 410100 (send too fast)              RateLimited, RetryAfter 10m (DingTalk blocks the robot
//	                                              for 10 minutes)
//	-1 (system busy)                            Retryable
//	300001 (token is not exist),                Permanent, wrapping chathttp.ErrWebhookGone
//	  400013 (group dissolved)
//	310000 (sign, keyword or IP check failed),  Permanent
//	  any other errcode
//	HTTP 200 that is not a DingTalk answer      Retryable: the message may have been posted, and a
//	                                              duplicate beats a survey lost
//	HTTP 5xx, timeout, network error            Retryable
//	HTTP 429                                    RateLimited, RetryAfter from the header
//	HTTP 3xx                                    Permanent "webhook redirected" (never followed)
//	other HTTP 4xx                              Permanent
//	an address that is not a robot's            Permanent, wrapping chathttp.ErrInvalidURL
func (c *Channel) Send(ctx context.Context, m *channels.Message) (channels.Result, error) {
	if err := ctx.Err(); err != nil {
		return channels.Result{}, fmt.Errorf("%s: %w", Name, err)
	}
	if m == nil {
		return channels.Result{}, invalid("no message")
	}
	rb, err := parseAddress(m.To)
	if err != nil {
		return channels.Result{}, &channels.Error{Channel: Name, Kind: channels.Permanent, Message: err.Error(), Err: err}
	}
	body, err := payload(m)
	if err != nil {
		return channels.Result{}, err
	}
	resp, err := c.http.Post(ctx, rb.target(c.now()), body, nil)
	if err == nil {
		if ce := c.failure(resp); ce != nil {
			err = ce
		}
	}
	if err != nil {
		c.log.Debug("send failed", "delivery", m.DeliveryID, "webhook", chathttp.Redact(m.To),
			"kind", channels.KindOf(err), "err", err)
		return channels.Result{}, err
	}
	return channels.Result{ProviderID: m.DeliveryID}, nil
}

// Close releases idle connections. The channel stays usable.
func (c *Channel) Close() error { return c.http.Close() }

// robot is a parsed address: the URL to post to, without the secret, and
// the secret ("" for a robot that does not sign).
type robot struct {
	u      *url.URL
	secret string
}

// parseAddress checks a robot address and takes the secret out of it. Its
// errors wrap chathttp.ErrInvalidURL and never contain the address.
func parseAddress(raw string) (robot, error) {
	u, err := chathttp.ParseURL(raw)
	if err != nil {
		return robot{}, err
	}
	q := u.Query()
	secret := q.Get("secret")
	q.Del("secret")
	if q.Get("access_token") == "" {
		return robot{}, fmt.Errorf("%w: no access_token in the robot's address (%s)", chathttp.ErrInvalidURL, chathttp.Redact(raw))
	}
	if secret != "" {
		// A pasted signed URL carries a stale signature; ours replaces it.
		q.Del("timestamp")
		q.Del("sign")
	}
	v := *u
	v.RawQuery = q.Encode()
	v.Fragment, v.RawFragment = "", ""
	return robot{u: &v, secret: secret}, nil
}

// target is the URL to post to at now: with timestamp and sign when the
// robot signs.
func (r robot) target(now time.Time) string {
	if r.secret == "" {
		return r.u.String()
	}
	ts := now.UnixMilli()
	q := r.u.Query()
	q.Set("timestamp", strconv.FormatInt(ts, 10))
	q.Set("sign", sign(r.secret, ts)) // Encode URL-encodes it, as DingTalk wants
	v := *r.u
	v.RawQuery = q.Encode()
	return v.String()
}

// sign is DingTalk's robot signature of timestamp (milliseconds).
func sign(secret string, timestamp int64) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestamp, 10) + "\n" + secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func invalid(format string, args ...any) *channels.Error {
	msg := fmt.Sprintf(format, args...)
	return &channels.Error{Channel: Name, Kind: channels.Permanent, Message: msg,
		Err: fmt.Errorf("%w: %s", ErrInvalidMessage, msg)}
}
