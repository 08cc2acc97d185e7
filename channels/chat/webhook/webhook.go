// Package webhook is the generic webhook channel: a message posted as a
// JSON event to a URL of the customer's choosing, the message's To, signed
// as the Standard Webhooks spec says (https://www.standardwebhooks.com)
// so that the receiver can check it came from us:
//
//	POST <To>
//	webhook-id: <delivery id>
//	webhook-timestamp: <unix seconds>
//	webhook-signature: v1,<base64 HMAC-SHA256>
//
//	{"type":"survey.message","timestamp":"2025-01-02T03:04:05.678Z",
//	 "data":{"delivery_id":…,"locale":…,"question":…,"text":…,
//	         "reply_url":…,"scores":[{"value":0,"url":…},…],"kind":"survey"}}
//
// The webhook-id is the delivery id, the same on every retry of a
// delivery, so a receiver can drop a retry it already took.
//
// Signer and Deliver are the signing and posting on their own, for the
// gateway's event webhooks.
package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/channels/chat/chathttp"
)

// Name is the channel name.
const Name = "webhook"

// EventType is the type of the event the channel posts.
const EventType = "survey.message"

// ErrInvalidMessage is wrapped by the Permanent error for a message that
// cannot be sent as it is (no text, no URL), refused before any request.
var ErrInvalidMessage = errors.New("invalid message")

// Config configures the webhook channel. Zero values get the documented
// defaults from New.
type Config struct {
	// Secret signs every request: "whsec_" and the base64 of 24 to 64
	// random bytes (the prefix may be left out). Required. Receivers
	// verify with the same secret.
	Secret string
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

// Channel posts signed events to webhooks. Safe for concurrent use.
type Channel struct {
	http   *chathttp.Client
	signer *Signer
	log    *slog.Logger
}

var (
	_ channels.Channel = (*Channel)(nil)
	_ channels.Closer  = (*Channel)(nil)
)

// New builds the webhook channel. It does no I/O.
func New(cfg Config) (*Channel, error) {
	signer, err := NewSigner(cfg.Secret)
	if err != nil {
		return nil, fmt.Errorf("%s: Secret: %w", Name, err)
	}
	hc, err := chathttp.New(Name, chathttp.Config{Timeout: cfg.Timeout, Transport: cfg.Transport})
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Channel{http: hc, signer: signer, log: log.With("channel", Name)}, nil
}

// Name implements channels.Channel: "webhook".
func (c *Channel) Name() string { return Name }

// Send posts m as a signed survey.message event to m.To. The webhook-id,
// and the Result's ProviderID, is m.DeliveryID ("msg_" and random hex
// when m has none). Errors are as Deliver's.
func (c *Channel) Send(ctx context.Context, m *channels.Message) (channels.Result, error) {
	if err := ctx.Err(); err != nil {
		return channels.Result{}, fmt.Errorf("%s: %w", Name, err)
	}
	body, err := c.event(m)
	if err != nil {
		return channels.Result{}, err
	}
	id := m.DeliveryID
	if id == "" {
		id = randomID()
	}
	if _, err := Deliver(ctx, c.http, m.To, c.signer, id, body); err != nil {
		c.log.Debug("send failed", "delivery", m.DeliveryID, "webhook", chathttp.Redact(m.To),
			"kind", channels.KindOf(err), "err", err)
		return channels.Result{}, err
	}
	return channels.Result{ProviderID: id}, nil
}

// Close releases idle connections. The channel stays usable.
func (c *Channel) Close() error { return c.http.Close() }

type event struct {
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	Data      data   `json:"data"`
}

type data struct {
	DeliveryID string  `json:"delivery_id"`
	Locale     string  `json:"locale"`
	Question   string  `json:"question"`
	Text       string  `json:"text"`
	ReplyURL   string  `json:"reply_url"`
	Scores     []score `json:"scores"`
	Kind       string  `json:"kind"`
}

type score struct {
	Value int    `json:"value"`
	URL   string `json:"url"`
}

// event builds the JSON event for m. Scores is [] rather than null when
// m has none, and Kind "survey" when m's is empty.
func (c *Channel) event(m *channels.Message) ([]byte, error) {
	if m == nil {
		return nil, invalid("no message")
	}
	if strings.TrimSpace(m.To) == "" {
		return nil, invalid("no webhook URL")
	}
	if strings.TrimSpace(m.Text) == "" && strings.TrimSpace(m.Question) == "" {
		return nil, invalid("empty text")
	}
	d := data{
		DeliveryID: m.DeliveryID,
		Locale:     m.Locale,
		Question:   m.Question,
		Text:       m.Text,
		ReplyURL:   m.ReplyURL,
		Scores:     make([]score, 0, len(m.Scores)),
		Kind:       m.Kind,
	}
	if d.Kind == "" {
		d.Kind = "survey"
	}
	for _, s := range m.Scores {
		d.Scores = append(d.Scores, score{Value: s.Value, URL: s.URL})
	}
	b, err := json.Marshal(event{
		Type:      EventType,
		Timestamp: time.Now().UTC().Format(time.RFC3339Nano),
		Data:      d,
	})
	if err != nil {
		return nil, invalid("encoding the event: %v", err)
	}
	return b, nil
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "msg_" + hex.EncodeToString(b[:])
}

func invalid(format string, args ...any) *channels.Error {
	msg := fmt.Sprintf(format, args...)
	return &channels.Error{Channel: Name, Kind: channels.Permanent, Message: msg,
		Err: fmt.Errorf("%w: %s", ErrInvalidMessage, msg)}
}
