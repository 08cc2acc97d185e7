// Package feishu is the Feishu (飞书) / Lark channel: a message posted to a
// group's custom bot (自定义机器人). The message's To is the bot's webhook
// address, one string as a contact holds it:
//
//	https://open.feishu.cn/open-apis/bot/v2/hook/<token>[?secret=<secret>]
//
// (Lark's is https://open.larksuite.com/open-apis/bot/v2/hook/<token>.) A
// bot whose security setting is "signature verification" (签名校验) needs
// its secret: it travels in the address as the extra query parameter
// secret, which the channel removes before posting. The body then carries
// Feishu's timestamp (seconds, as a string) and sign,
//
//	base64(HMAC-SHA256(key = timestamp + "\n" + secret, message = ""))
//
// exactly as Feishu's own examples compute it: the string to sign is the
// HMAC key and the message is empty. The secret itself never leaves the
// process, and neither it nor the token ever appears in an error or a log
// line (those name the scheme and host only). Bots secured by keywords or
// an IP allow-list need no secret; their keyword must be in the text.
//
// Every message is an interactive card (msg_type "interactive"):
//
//   - a survey: a header with the title, m.Text (lark_md), m.Question in
//     bold unless m.Text already says it, and one button per score in an
//     action element whose buttons flow into as many rows as the screen
//     needs; without scores, one button to the reply page;
//   - an alert or digest: a header with the title, m.Text, and a
//     "View response" ("View results") button to m.ReplyURL when set.
//
// The title is m.Subject, else m.Question, else the first line of m.Text.
// m.Text is Feishu lark_md, as the chat template rendered it; it is sent as
// it is, cut with "…" when the body would exceed Feishu's 20 KB.
//
// Feishu answers {"code":0,"msg":"success","data":{}} (older deployments:
// {"StatusCode":0,"StatusMessage":"success"}), and refuses with another
// code, usually with HTTP 200 too; see Send for the mapping.
//
// # Rate limit
//
// Feishu takes at most 100 messages a minute, and 5 a second, from one
// bot. RateLimit (100/min), BurstLimit (5/s) and RateKey let the
// dispatcher keep each bot under that with a shared token bucket.
package feishu

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
const Name = "feishu"

// Feishu's limits per bot.
const (
	// RatePerMinute is how many messages a bot takes in a minute.
	RatePerMinute = 100
	// BurstPerSecond is how many messages a bot takes in a second.
	BurstPerSecond = 5
	// RateLimitedWait is the RetryAfter of a RateLimited error whose
	// answer gives none. Feishu does not say which of its two limits was
	// hit: a second would do for the 5/s one, up to a minute for the
	// 100/min one. Ten seconds covers the first with room and retries the
	// second a few times a minute at most, each retry being one more
	// request against the limit.
	RateLimitedWait = 10 * time.Second
)

// ErrInvalidMessage is wrapped by the Permanent error for a message that
// cannot be sent as it is (no text, a score without a URL), refused
// before any request.
var ErrInvalidMessage = errors.New("invalid message")

// Config configures the Feishu channel. Zero values get the documented
// defaults from New.
type Config struct {
	// Timeout bounds each post, from connecting to reading Feishu's
	// answer. Default 10s.
	Timeout time.Duration
	// Transport carries the requests; nil uses a clone of
	// http.DefaultTransport (see chathttp.Config).
	Transport http.RoundTripper
	// Logger receives send failures at debug level, with the bot's scheme
	// and host only; nil discards them.
	Logger *slog.Logger
}

// Channel posts messages to Feishu and Lark custom bots. Safe for
// concurrent use.
type Channel struct {
	http *chathttp.Client
	log  *slog.Logger
	now  func() time.Time
}

var (
	_ channels.Channel = (*Channel)(nil)
	_ channels.Closer  = (*Channel)(nil)
)

// New builds the Feishu channel. It does no I/O.
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

// Name implements channels.Channel: "feishu".
func (c *Channel) Name() string { return Name }

// RateLimit is Feishu's limit per bot: RatePerMinute messages a minute.
// The dispatcher applies it per RateKey, with a burst of at most
// BurstLimit.
func (c *Channel) RateLimit() (n int, per time.Duration) { return RatePerMinute, time.Minute }

// BurstLimit is Feishu's second limit per bot: BurstPerSecond messages a
// second.
func (c *Channel) BurstLimit() (n int, per time.Duration) { return BurstPerSecond, time.Second }

// RateKey is RateKey(address), as a method so that the dispatcher can find
// it on any channel that has one.
func (c *Channel) RateKey(address string) string { return RateKey(address) }

// RateKey names the bot an address posts to, for a rate limit shared by
// every process: "feishu:" and a SHA-256 of the hook token, never the
// token itself. Addresses of one bot with and without a secret have the
// same key. An address without a hook token is keyed by a hash of the
// whole address.
func RateKey(address string) string {
	id := strings.TrimSpace(address)
	if u, err := url.Parse(id); err == nil {
		if tok := hookToken(u); tok != "" {
			id = "hook=" + tok
		}
	}
	sum := sha256.Sum256([]byte(id))
	return Name + ":" + hex.EncodeToString(sum[:16])
}

// Send posts m to the bot at m.To (see the package documentation for the
// address and what is posted). Feishu gives no message id; the Result's
// ProviderID is m.DeliveryID.
//
// Errors are *channels.Error, except when ctx ends first: then ctx's
// error is returned, wrapped. Feishu's answers map so (Code is Feishu's
// code, else the HTTP status; Message is Feishu's msg):
//
//	code 0 (or StatusCode 0)                    sent
//	11232 (frequency limited),                  RateLimited, RetryAfter RateLimitedWait (10s)
//	  9499 "too many request"
//	HTTP 429                                    RateLimited, RetryAfter from the header, else 10s
//	19001 (token invalid)                       Permanent, wrapping chathttp.ErrWebhookGone
//	19021 (sign), 19022 (IP), 19024 (keyword),  Permanent
//	  9499 "Bad Request", any other code
//	HTTP 2xx that is not a Feishu answer        Retryable: the message may have been posted, and a
//	                                              duplicate beats a survey lost
//	HTTP 5xx, timeout, network error            Retryable
//	HTTP 3xx                                    Permanent "webhook redirected" (never followed)
//	other HTTP 4xx without a code               Permanent
//	an address that is not a bot's              Permanent, wrapping chathttp.ErrInvalidURL
//
// Feishu uses 9499 both for its request frequency limit ("too many
// request") and for a body it cannot read ("Bad Request"); retrying the
// second would never end, so only a 9499 whose msg speaks of a limit is
// RateLimited.
func (c *Channel) Send(ctx context.Context, m *channels.Message) (channels.Result, error) {
	if err := ctx.Err(); err != nil {
		return channels.Result{}, fmt.Errorf("%s: %w", Name, err)
	}
	if m == nil {
		return channels.Result{}, invalid("no message")
	}
	b, err := parseAddress(m.To)
	if err != nil {
		return channels.Result{}, &channels.Error{Channel: Name, Kind: channels.Permanent, Message: err.Error(), Err: err}
	}
	var ts, sig string
	if b.secret != "" {
		sec := c.now().Unix()
		ts, sig = strconv.FormatInt(sec, 10), sign(b.secret, sec)
	}
	body, err := payload(m, ts, sig)
	if err != nil {
		return channels.Result{}, err
	}
	resp, err := c.http.Post(ctx, b.u.String(), body, nil)
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

// bot is a parsed address: the URL to post to, without the secret, and
// the secret ("" for a bot that does not sign).
type bot struct {
	u      *url.URL
	secret string
}

// parseAddress checks a bot address and takes the secret out of it. Its
// errors wrap chathttp.ErrInvalidURL and never contain the address.
func parseAddress(raw string) (bot, error) {
	u, err := chathttp.ParseURL(raw)
	if err != nil {
		return bot{}, err
	}
	if hookToken(u) == "" {
		return bot{}, fmt.Errorf("%w: not a bot webhook, want …/bot/v2/hook/<token> (%s)", chathttp.ErrInvalidURL, chathttp.Redact(raw))
	}
	q := u.Query()
	secret := q.Get("secret")
	q.Del("secret")
	v := *u
	v.RawQuery = q.Encode()
	v.Fragment, v.RawFragment = "", ""
	return bot{u: &v, secret: secret}, nil
}

// hookToken is the token of a …/hook/<token> path, or "".
func hookToken(u *url.URL) string {
	_, tok, ok := strings.Cut(u.Path, "/hook/")
	if !ok || tok == "" || strings.Contains(tok, "/") {
		return ""
	}
	return tok
}

// sign is Feishu's custom bot signature of timestamp (seconds): the
// string to sign is the HMAC key, and the message is empty.
func sign(secret string, timestamp int64) string {
	mac := hmac.New(sha256.New, []byte(strconv.FormatInt(timestamp, 10)+"\n"+secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func invalid(format string, args ...any) *channels.Error {
	msg := fmt.Sprintf(format, args...)
	return &channels.Error{Channel: Name, Kind: channels.Permanent, Message: msg,
		Err: fmt.Errorf("%w: %s", ErrInvalidMessage, msg)}
}
