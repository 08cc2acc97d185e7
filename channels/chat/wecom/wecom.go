// Package wecom is the WeCom (企业微信, WeChat Work) channel: a message
// posted to a group robot (群机器人). The message's To is the robot's
// webhook address, one string as a contact holds it:
//
//	https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=<key>
//
// WeCom robots do not sign, so they have no secret; a secret parameter in
// an address (the shape the DingTalk and Feishu channels use) is removed
// and ignored, never posted. The key never appears in an error or a log
// line (those name the scheme and host only).
//
// Every message is markdown (msgtype "markdown"):
//
//   - a survey: m.Text, m.Question in bold unless m.Text already says it,
//     and the scores as one row of links ("[0](…) | [1](…) | … | [10](…)",
//     WeCom's markdown has no buttons); without scores, a link to the
//     reply page;
//   - an alert or digest: m.Text and a "View response" ("View results")
//     link to m.ReplyURL when set.
//
// m.Text is WeCom markdown, as the chat template rendered it; it is sent
// as it is. WeCom refuses content over 4096 bytes, so a longer m.Text is
// cut, with "…", before the question and the links, which are always kept
// whole.
//
// WeCom answers HTTP 200 with {"errcode":0,"errmsg":"ok"}, and refuses
// with HTTP 200 too and another errcode; see Send for the mapping.
//
// # Rate limit
//
// WeCom takes at most 20 messages a minute from one robot. RateLimit and
// RateKey let the dispatcher keep each robot under that with a shared
// token bucket; a robot over it anyway answers RateLimited with
// RetryAfter 60s.
package wecom

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/channels/chat/chathttp"
)

// Name is the channel name.
const Name = "wecom"

// WeCom's limits per robot.
const (
	// RatePerMinute is how many messages a robot takes in a minute.
	RatePerMinute = 20
	// RateLimitedWait is the RetryAfter of a RateLimited error: WeCom's
	// window is a minute.
	RateLimitedWait = time.Minute
	// MaxContent is the most markdown content WeCom takes, in bytes.
	MaxContent = 4096
)

// ErrInvalidMessage is wrapped by the Permanent error for a message that
// cannot be sent as it is (no text, a score without a URL, links too long
// for WeCom), refused before any request.
var ErrInvalidMessage = errors.New("invalid message")

// Config configures the WeCom channel. Zero values get the documented
// defaults from New.
type Config struct {
	// Timeout bounds each post, from connecting to reading WeCom's
	// answer. Default 10s.
	Timeout time.Duration
	// Transport carries the requests; nil uses a clone of
	// http.DefaultTransport (see chathttp.Config).
	Transport http.RoundTripper
	// Logger receives send failures at debug level, with the robot's
	// scheme and host only; nil discards them.
	Logger *slog.Logger
}

// Channel posts messages to WeCom group robots. Safe for concurrent use.
type Channel struct {
	http *chathttp.Client
	log  *slog.Logger
}

var (
	_ channels.Channel = (*Channel)(nil)
	_ channels.Closer  = (*Channel)(nil)
)

// New builds the WeCom channel. It does no I/O.
func New(cfg Config) (*Channel, error) {
	hc, err := chathttp.New(Name, chathttp.Config{Timeout: cfg.Timeout, Transport: cfg.Transport})
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Channel{http: hc, log: log.With("channel", Name)}, nil
}

// Name implements channels.Channel: "wecom".
func (c *Channel) Name() string { return Name }

// RateLimit is WeCom's limit per robot: RatePerMinute messages a minute.
// The dispatcher applies it per RateKey.
func (c *Channel) RateLimit() (n int, per time.Duration) { return RatePerMinute, time.Minute }

// RateKey is RateKey(address), as a method so that the dispatcher can find
// it on any channel that has one.
func (c *Channel) RateKey(address string) string { return RateKey(address) }

// RateKey names the robot an address posts to, for a rate limit shared by
// every process: "wecom:" and a SHA-256 of the robot's key, never the key
// itself. An address without a key is keyed by a hash of the whole
// address.
func RateKey(address string) string {
	id := strings.TrimSpace(address)
	if u, err := url.Parse(id); err == nil {
		if key := u.Query().Get("key"); key != "" {
			id = "key=" + key
		}
	}
	sum := sha256.Sum256([]byte(id))
	return Name + ":" + hex.EncodeToString(sum[:16])
}

// Send posts m to the robot at m.To (see the package documentation for
// the address and what is posted). WeCom gives no message id; the
// Result's ProviderID is m.DeliveryID.
//
// Errors are *channels.Error, except when ctx ends first: then ctx's
// error is returned, wrapped. WeCom's answers map so (Code is the
// errcode, Message WeCom's errmsg):
//
//	errcode 0                                   sent
//	45009 (api freq out of limit)               RateLimited, RetryAfter 60s
//	-1 (system busy)                            Retryable
//	93000 (invalid webhook url)                 Permanent, wrapping chathttp.ErrWebhookGone
//	40008 (invalid message type),               Permanent
//	  40058 (invalid parameter), any other errcode
//	HTTP 200 that is not a WeCom answer         Retryable: the message may have been posted, and a
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
	target, err := parseAddress(m.To)
	if err != nil {
		return channels.Result{}, &channels.Error{Channel: Name, Kind: channels.Permanent, Message: err.Error(), Err: err}
	}
	body, err := payload(m)
	if err != nil {
		return channels.Result{}, err
	}
	resp, err := c.http.Post(ctx, target, body, nil)
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

// parseAddress checks a robot address and returns the URL to post to,
// without a secret parameter. Its errors wrap chathttp.ErrInvalidURL and
// never contain the address.
func parseAddress(raw string) (string, error) {
	u, err := chathttp.ParseURL(raw)
	if err != nil {
		return "", err
	}
	q := u.Query()
	if q.Get("key") == "" {
		return "", fmt.Errorf("%w: no key in the robot's address (%s)", chathttp.ErrInvalidURL, chathttp.Redact(raw))
	}
	q.Del("secret")
	v := *u
	v.RawQuery = q.Encode()
	v.Fragment, v.RawFragment = "", ""
	return v.String(), nil
}

func invalid(format string, args ...any) *channels.Error {
	msg := fmt.Sprintf(format, args...)
	return &channels.Error{Channel: Name, Kind: channels.Permanent, Message: msg,
		Err: fmt.Errorf("%w: %s", ErrInvalidMessage, msg)}
}
