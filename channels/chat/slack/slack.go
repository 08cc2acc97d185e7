// Package slack is the Slack channel: a message posted to a channel's
// incoming webhook (https://hooks.slack.com/services/T…/B…/…), the
// message's To. A survey is a Block Kit message with the question and one
// link button per score; an alert or digest is its text with a link
// button to the response.
//
// Slack answers 200 "ok", or a status with one word naming the problem
// ("invalid_payload", "no_service", "channel_is_archived"…); see Send for
// how that becomes a channels.Error.
//
// Link buttons open the URL in the browser; Slack also notifies the
// webhook's app of the click, which incoming-webhook apps have no use for.
// An app without an interactivity Request URL may show a small warning
// next to the clicked button; the link still opens.
package slack

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
const Name = "slack"

// ErrInvalidMessage is wrapped by the Permanent error for a message that
// cannot be sent as it is (no text, a score without a URL), refused
// before any request.
var ErrInvalidMessage = errors.New("invalid message")

// Config configures the Slack channel. Zero values get the documented
// defaults from New.
type Config struct {
	// Timeout bounds each post, from connecting to reading Slack's answer.
	// Default 10s.
	Timeout time.Duration
	// Transport carries the requests; nil uses a clone of
	// http.DefaultTransport (see chathttp.Config).
	Transport http.RoundTripper
	// Logger receives send failures at debug level, with the webhook's
	// scheme and host only; nil discards them.
	Logger *slog.Logger
}

// Channel posts messages to Slack incoming webhooks. Safe for concurrent
// use.
type Channel struct {
	http *chathttp.Client
	log  *slog.Logger
}

var (
	_ channels.Channel = (*Channel)(nil)
	_ channels.Closer  = (*Channel)(nil)
)

// New builds the Slack channel. It does no I/O.
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

// Name implements channels.Channel: "slack".
func (c *Channel) Name() string { return Name }

// Send posts m to the incoming webhook m.To. Slack gives no message id;
// the Result's ProviderID is m.DeliveryID.
//
// Errors are *channels.Error, except when ctx ends first: then ctx's
// error is returned, wrapped. Slack's answers map so:
//
//	200                                         sent
//	400 404 403 410 (invalid_payload,           Permanent, Slack's word as Message; no_service,
//	  no_service, action_prohibited,              invalid_token, channel_not_found, channel_is_archived,
//	  channel_is_archived, invalid_token…)        team_disabled and no_team wrap chathttp.ErrWebhookGone
//	429                                         RateLimited, RetryAfter from the header
//	5xx, timeout, network error                 Retryable
//	3xx                                         Permanent "webhook redirected" (never followed)
func (c *Channel) Send(ctx context.Context, m *channels.Message) (channels.Result, error) {
	if err := ctx.Err(); err != nil {
		return channels.Result{}, fmt.Errorf("%s: %w", Name, err)
	}
	body, err := c.payload(m)
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

// goneWords are Slack's answers that say the webhook itself is dead
// rather than this message refused.
var goneWords = map[string]bool{
	"no_service":          true,
	"no_service_id":       true,
	"no_team":             true,
	"team_disabled":       true,
	"invalid_token":       true,
	"channel_not_found":   true,
	"channel_is_archived": true,
}

// failure classifies Slack's answer: by status (chathttp.Failure), with
// Slack's word as the message; nil for a 2xx.
func (c *Channel) failure(r *chathttp.Response) *channels.Error {
	ce := c.http.Failure(r)
	if ce == nil {
		return nil
	}
	if ce.Kind == channels.Permanent && ce.Err == nil && goneWords[r.Text()] {
		ce.Err = chathttp.ErrWebhookGone
	}
	return ce
}

func invalid(format string, args ...any) *channels.Error {
	msg := fmt.Sprintf(format, args...)
	return &channels.Error{Channel: Name, Kind: channels.Permanent, Message: msg,
		Err: fmt.Errorf("%w: %s", ErrInvalidMessage, msg)}
}
