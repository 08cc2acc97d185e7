package webhook

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/channels/chat/chathttp"
)

// The Standard Webhooks headers.
const (
	HeaderID        = standardwebhooks.HeaderWebhookID
	HeaderTimestamp = standardwebhooks.HeaderWebhookTimestamp
	HeaderSignature = standardwebhooks.HeaderWebhookSignature
)

const (
	secretPrefix = "whsec_"
	// minSecret is the shortest key the spec allows (24 to 64 bytes).
	minSecret = 24
)

// ErrInvalidSecret is returned by NewSigner for a secret that is not
// "whsec_" and base64 of at least 24 bytes. Its errors never contain the
// secret.
var ErrInvalidSecret = errors.New("invalid signing secret")

// Signer signs payloads as the Standard Webhooks spec says, with the
// reference library: HMAC-SHA256 over "id.timestamp.payload", sent as
// "v1,<base64>". Safe for concurrent use.
type Signer struct {
	wh *standardwebhooks.Webhook
}

// NewSigner returns a Signer for secret: "whsec_" and the base64 of 24 to
// 64 random bytes (the prefix may be left out), as receivers following
// the spec generate and show it.
func NewSigner(secret string) (*Signer, error) {
	secret = strings.TrimSpace(secret)
	if secret == "" {
		return nil, fmt.Errorf("%w: empty", ErrInvalidSecret)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, secretPrefix))
	if err != nil {
		return nil, fmt.Errorf("%w: not %s and standard base64", ErrInvalidSecret, secretPrefix)
	}
	if len(key) < minSecret {
		return nil, fmt.Errorf("%w: %d bytes, want at least %d", ErrInvalidSecret, len(key), minSecret)
	}
	wh, err := standardwebhooks.NewWebhookRaw(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSecret, err)
	}
	return &Signer{wh: wh}, nil
}

// Sign returns the webhook-signature value ("v1,<base64>") of payload
// sent as message msgID at ts (to the second).
func (s *Signer) Sign(msgID string, ts time.Time, payload []byte) (string, error) {
	return s.wh.Sign(msgID, ts, payload)
}

// Header returns the three Standard Webhooks headers for payload sent as
// message msgID at ts.
func (s *Signer) Header(msgID string, ts time.Time, payload []byte) (http.Header, error) {
	sig, err := s.Sign(msgID, ts, payload)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set(HeaderID, msgID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return h, nil
}

// Deliver posts payload, a JSON event, to rawURL, signed by s as message
// msgID at the current time. msgID must stay the same across retries of
// one event: receivers drop a webhook-id they have seen.
//
// It returns the receiver's answer, if any, and an error that says what
// to do next (errors carry c's name as Channel):
//
//	2xx                         nil
//	408                         Retryable
//	429                         RateLimited, RetryAfter from the header
//	5xx, timeout, network error Retryable
//	410                         Permanent, wrapping chathttp.ErrWebhookGone (the receiver says gone; so does 404)
//	other 4xx                   Permanent
//	3xx                         Permanent "webhook redirected" (never followed)
//	ctx ended                   ctx's error, wrapped, with no answer
//
// The gateway's own event webhooks (response.created…) call it as the
// webhook channel does.
func Deliver(ctx context.Context, c *chathttp.Client, rawURL string, s *Signer, msgID string, payload []byte) (*chathttp.Response, error) {
	if msgID == "" {
		return nil, &channels.Error{Channel: c.Name(), Kind: channels.Permanent, Message: "no message id",
			Err: fmt.Errorf("%w: no message id", ErrInvalidMessage)}
	}
	h, err := s.Header(msgID, time.Now(), payload)
	if err != nil {
		return nil, &channels.Error{Channel: c.Name(), Kind: channels.Permanent, Message: "signing: " + err.Error(), Err: err}
	}
	resp, err := c.Post(ctx, rawURL, payload, h)
	if err != nil {
		return nil, err
	}
	if ce := c.Failure(resp); ce != nil {
		return resp, ce
	}
	return resp, nil
}
