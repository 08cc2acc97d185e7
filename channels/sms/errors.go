package sms

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/twilio/twilio-go/client"

	"github.com/npsgate/npsgate/channels"
)

var (
	// ErrInvalidMessage is wrapped by the Permanent error for a message
	// that cannot be sent as it is (no number, no text), refused before
	// any request.
	ErrInvalidMessage = errors.New("invalid message")
	// ErrInvalidDestination is wrapped (beside Twilio's error) by the
	// Permanent error for a recipient number Twilio says cannot receive
	// the message at all: not a phone number (21211), not a mobile
	// (21614), not on WhatsApp (63003). It lets a caller tell a bad number
	// from a bad message with errors.Is. Nothing suppresses the number on
	// it today: the dispatcher fails the delivery like any Permanent
	// error, with Twilio's code and message as the reason, and every later
	// delivery to the number goes to Twilio and fails the same way.
	ErrInvalidDestination = errors.New("invalid destination")
)

// defaultRetryAfter is the wait for a 429 without a usable Retry-After.
const defaultRetryAfter = time.Second

// Twilio error codes the mapping names.
const (
	codeAuthenticate     = 20003
	codeTooManyRequests  = 20429
	codeInvalidTo        = 21211
	codeRegionNotEnabled = 21408
	codeUnsubscribed     = 21610
	codeUnreachable      = 21612
	codeNotMobile        = 21614
	codeNoWhatsApp       = 63003
)

// classify maps a failed create-Message call to what the dispatcher should
// do. Twilio's error code decides first, then the HTTP status:
//
//	21610 unsubscribed (STOP)                          OptedOut
//	429, or code 20429                                 RateLimited, RetryAfter from the header (1s without)
//	5xx                                                Retryable
//	401, code 20003 (credentials)                      Retryable: a fault of our configuration, not of the
//	                                                   message; it succeeds once the operator fixes the token
//	21211 21614 63003 (the number cannot receive)      Permanent, wrapping ErrInvalidDestination
//	21612 21408 (not reachable from us), other 4xx     Permanent
//	no answer: network error, timeout, unreadable body Retryable
//
// Twilio's message goes in Message and its code, as text, in Code.
func (c *Channel) classify(err error, ex *exchange, timedOut bool) *channels.Error {
	ce := &channels.Error{Channel: c.name, Err: err}
	status := ex.status

	var te *client.TwilioRestError
	if errors.As(err, &te) {
		if status == 0 {
			status = te.Status
		}
		if te.Code != 0 {
			ce.Code = strconv.Itoa(te.Code)
		}
		ce.Message = te.Message
		if ce.Message == "" {
			ce.Message = fmt.Sprintf("HTTP %d", status)
		}
		switch te.Code {
		case codeUnsubscribed:
			ce.Kind = channels.OptedOut
			return ce
		case codeTooManyRequests:
			c.rateLimited(ce, ex)
			return ce
		case codeAuthenticate:
			ce.Kind = channels.Retryable
			return ce
		case codeInvalidTo, codeNotMobile, codeNoWhatsApp:
			ce.Kind = channels.Permanent
			ce.Err = fmt.Errorf("%w: %w", ErrInvalidDestination, err)
			return ce
		case codeUnreachable, codeRegionNotEnabled:
			ce.Kind = channels.Permanent
			return ce
		}
		ce.Kind = kindOfStatus(status)
		if ce.Kind == channels.RateLimited {
			c.rateLimited(ce, ex)
		}
		return ce
	}

	switch {
	case status >= 300:
		// An HTTP error without a Twilio error in the body: a proxy or
		// load balancer in front of the API answered.
		ce.Kind = kindOfStatus(status)
		ce.Message = fmt.Sprintf("HTTP %d %s without a Twilio error", status, http.StatusText(status))
		if ce.Kind == channels.RateLimited {
			c.rateLimited(ce, ex)
		}
	case timedOut:
		ce.Kind = channels.Retryable
		ce.Message = fmt.Sprintf("no answer from Twilio within %s", c.timeout)
	case status != 0:
		// 2xx with a body that is not a Message. The message may exist;
		// a rare duplicate beats a lost survey.
		ce.Kind = channels.Retryable
		ce.Message = fmt.Sprintf("HTTP %d with an unreadable message resource: %v", status, err)
	default:
		ce.Kind = channels.Retryable
		ce.Message = "request failed: " + err.Error()
	}
	return ce
}

func kindOfStatus(status int) channels.ErrorKind {
	switch {
	case status == http.StatusTooManyRequests:
		return channels.RateLimited
	case status == http.StatusUnauthorized:
		return channels.Retryable
	case status >= 500:
		return channels.Retryable
	case status >= 400:
		return channels.Permanent
	}
	return channels.Retryable
}

func (c *Channel) rateLimited(ce *channels.Error, ex *exchange) {
	ce.Kind = channels.RateLimited
	ce.RetryAfter = retryAfterOr(ex.retryAfter, time.Now(), defaultRetryAfter)
}

func (c *Channel) invalid(format string, args ...any) *channels.Error {
	msg := fmt.Sprintf(format, args...)
	return &channels.Error{Channel: c.name, Kind: channels.Permanent, Message: msg,
		Err: fmt.Errorf("%w: %s", ErrInvalidMessage, msg)}
}
