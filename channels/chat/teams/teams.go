// Package teams is the Microsoft Teams channel: an Adaptive Card posted to
// a channel's incoming webhook, the message's To. Both kinds of webhook
// URL work: a Power Automate Workflows trigger ("Post to a channel when a
// webhook request is received"; …/workflows/…/triggers/manual/paths/invoke
// ?…&sig=…), which answers 202, and a legacy Office 365 connector
// (…/webhookb2/…), which answers 200 "1".
//
// A survey card shows the question and one button per score, in rows of
// at most six: Teams draws no more than six actions in a set and drops
// (desktop, web) or folds away (mobile) the rest, which for 0–10 would
// hide the promoters' scores. An alert or digest card shows the text and
// a button to the response.
package teams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/channels/chat/chathttp"
)

// Name is the channel name.
const Name = "teams"

// ErrInvalidMessage is wrapped by the Permanent error for a message that
// cannot be sent as it is (no text, a score without a URL, a card over
// Teams' size limit), refused before any request.
var ErrInvalidMessage = errors.New("invalid message")

// Config configures the Teams channel. Zero values get the documented
// defaults from New.
type Config struct {
	// Timeout bounds each post, from connecting to reading the answer.
	// Default 10s.
	Timeout time.Duration
	// Transport carries the requests; nil uses a clone of
	// http.DefaultTransport (see chathttp.Config).
	Transport http.RoundTripper
	// Logger receives send failures at debug level, with the webhook's
	// scheme and host only; nil discards them.
	Logger *slog.Logger
}

// Channel posts cards to Teams webhooks. Safe for concurrent use.
type Channel struct {
	http *chathttp.Client
	log  *slog.Logger
}

var (
	_ channels.Channel = (*Channel)(nil)
	_ channels.Closer  = (*Channel)(nil)
)

// New builds the Teams channel. It does no I/O.
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

// Name implements channels.Channel: "teams".
func (c *Channel) Name() string { return Name }

// Send posts m's card to the webhook m.To. Teams gives no message id; the
// Result's ProviderID is m.DeliveryID.
//
// Errors are *channels.Error, except when ctx ends first: then ctx's
// error is returned, wrapped. Teams' answers map so:
//
//	202; 200 with body "1" (or empty)       sent
//	200 with any other body (legacy         classified by the Teams status in its words
//	  connector: "Webhook message delivery    ("…returned HTTP error 429…"): 429 RateLimited,
//	  failed with error: …HTTP error N…")     5xx Retryable, else Permanent
//	400, other 4xx                          Permanent (404, 410 wrap chathttp.ErrWebhookGone)
//	429                                     RateLimited, RetryAfter from the header
//	5xx, timeout, network error             Retryable
//	3xx                                     Permanent "webhook redirected" (never followed)
func (c *Channel) Send(ctx context.Context, m *channels.Message) (channels.Result, error) {
	if err := ctx.Err(); err != nil {
		return channels.Result{}, fmt.Errorf("%s: %w", Name, err)
	}
	body, err := payload(m)
	if err != nil {
		return channels.Result{}, err
	}
	resp, err := c.http.Post(ctx, m.To, body, nil)
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

func invalid(format string, args ...any) *channels.Error {
	msg := fmt.Sprintf(format, args...)
	return &channels.Error{Channel: Name, Kind: channels.Permanent, Message: msg,
		Err: fmt.Errorf("%w: %s", ErrInvalidMessage, msg)}
}
