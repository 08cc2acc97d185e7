// Package channels defines what the dispatcher needs from a way of reaching a
// contact (email, SMS, chat, the outbox) and keeps the registry of them.
// Each provider lives in its own folder below this one.
package channels

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Message is one rendered survey message, ready for a provider.
type Message struct {
	// DeliveryID identifies the delivery; providers use it for their own
	// idempotency and message ids where they can.
	DeliveryID string
	// To is the address on this channel: an email address, an E.164 number,
	// a chat webhook URL.
	To      string
	Locale  string
	Subject string
	Text    string
	HTML    string
	// ReplyURL is the link to the reply page.
	ReplyURL string
	// Question and Scores let rich channels (chat cards) draw their own
	// buttons: each score links to the reply page with it preselected.
	Question string
	Scores   []Score
	// Kind is "survey" for a survey, "alert" or "digest" for messages to
	// the people who run the surveys.
	Kind string
	// UnsubscribeURL is the https one-click unsubscribe link (RFC 8058) and
	// UnsubscribeMailto the mailto: alternative; email puts both in
	// List-Unsubscribe.
	UnsubscribeURL    string
	UnsubscribeMailto string
}

// Score is one answer button of a survey message.
type Score struct {
	Value int
	URL   string
}

// Result is what a provider says about an accepted message.
type Result struct {
	// ProviderID is the provider's id for the message (SMTP Message-ID,
	// Twilio SID), kept on the delivery for status callbacks and support.
	ProviderID string
}

// Channel sends messages of one kind. Send must honour ctx cancellation and
// return an *Error (possibly wrapped) for anything that went wrong with the
// provider, so the dispatcher can decide from its Kind alone.
type Channel interface {
	Name() string
	Send(ctx context.Context, m *Message) (Result, error)
}

// Closer is implemented by channels that hold connections (SMTP) so the
// gateway can release them at shutdown.
type Closer interface {
	Close() error
}

// ErrorKind says what the dispatcher should do next.
type ErrorKind int

const (
	// Retryable: a transient fault (timeout, 4xx SMTP, 5xx HTTP); try again
	// with backoff.
	Retryable ErrorKind = iota + 1
	// RateLimited: the provider asked us to slow down; try again after
	// RetryAfter without counting it as a failure.
	RateLimited
	// Permanent: the message can never be sent as it is (5xx SMTP, invalid
	// number); end the delivery failed.
	Permanent
	// OptedOut: the recipient refused messages at the provider (Twilio
	// 21610); suppress the contact.
	OptedOut
)

func (k ErrorKind) String() string {
	switch k {
	case Retryable:
		return "retryable"
	case RateLimited:
		return "rate_limited"
	case Permanent:
		return "permanent"
	case OptedOut:
		return "opted_out"
	}
	return "unknown"
}

// Error is a provider error with what to do next.
type Error struct {
	Channel string
	Kind    ErrorKind
	// Code is the provider's code, as text ("550", "21610").
	Code string
	// Message is the provider's own words, kept on the failed delivery.
	Message string
	// RetryAfter is the provider's wait hint, for RateLimited.
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s: %s", e.Channel, e.Kind)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil && e.Message == "" {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of a provider error. An error that is not an
// *Error (a bug, a context cancellation) is Retryable: the dispatcher must
// never drop a message because a provider forgot to classify a fault.
func KindOf(err error) ErrorKind {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Kind
	}
	return Retryable
}

// ErrDuplicate is returned by Register for a second channel of one name.
var ErrDuplicate = errors.New("channel already registered")

// ErrUnknown is returned by Get for a name with no channel.
var ErrUnknown = errors.New("unknown channel")

// Registry maps names to channels. Safe for concurrent use.
type Registry struct {
	mu sync.RWMutex
	m  map[string]Channel
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{m: map[string]Channel{}} }

// Register adds a channel under its Name; a second one of the same name is
// refused so that a misconfiguration cannot silently replace a provider.
func (r *Registry) Register(c Channel) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[c.Name()]; ok {
		return fmt.Errorf("%w: %q", ErrDuplicate, c.Name())
	}
	r.m[c.Name()] = c
	return nil
}

// Get returns the channel of that name.
func (r *Registry) Get(name string) (Channel, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.m[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknown, name)
	}
	return c, nil
}

// Names lists the registered channel names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.m))
	for n := range r.m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Close closes every channel that holds resources.
func (r *Registry) Close() error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var errs []error
	for _, c := range r.m {
		if cl, ok := c.(Closer); ok {
			errs = append(errs, cl.Close())
		}
	}
	return errors.Join(errs...)
}
