package throttle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultPrefix starts every key the Limiter writes.
const DefaultPrefix = "npsgate:throttle:"

var (
	// ErrCostExceedsBurst is returned by Take when cost > burst: the bucket can
	// never hold that many tokens, so waiting would never end.
	ErrCostExceedsBurst = errors.New("throttle: cost exceeds burst")
	// ErrNotHeld is returned by SetContactWindow and SetConversationWindow when
	// another delivery holds a live claim: the window was not changed.
	ErrNotHeld = errors.New("throttle: claim held by another delivery")
	// ErrInvalidArgument wraps every argument the Limiter refuses before
	// calling Redis (empty ids, windows under a millisecond, rates <= 0, ...).
	ErrInvalidArgument = errors.New("throttle: invalid argument")
)

// maxExact bounds the integers handed to the scripts: Lua numbers are
// float64, exact up to 2^53.
const maxExact = 1 << 52

// Limiter runs the gate's atomic Redis primitives. It is safe for concurrent
// use; any number of Limiters, in any number of processes, may share one
// Redis (or Cluster) as long as they use the same prefix.
type Limiter struct {
	rdb    redis.UniversalClient
	prefix string
	now    func() time.Time
}

// Option configures a Limiter.
type Option func(*Limiter)

// WithPrefix sets the key prefix. If unset or empty, DefaultPrefix is used.
func WithPrefix(prefix string) Option {
	return func(l *Limiter) {
		if prefix != "" {
			l.prefix = prefix
		}
	}
}

// WithClock sets the clock whose readings the scripts use as "now" (see the
// package documentation, Time). If unset or nil, time.Now is used. Tests pass
// a fake clock; every Limiter sharing a Redis must agree on the time.
func WithClock(now func() time.Time) Option {
	return func(l *Limiter) {
		if now != nil {
			l.now = now
		}
	}
}

// New returns a Limiter on rdb. It does no I/O: scripts are loaded on first use.
func New(rdb redis.UniversalClient, opts ...Option) *Limiter {
	l := &Limiter{rdb: rdb, prefix: DefaultPrefix, now: time.Now}
	for _, o := range opts {
		o(l)
	}
	return l
}

// key is the Redis key of one user-controlled name of a kind: the name is
// hashed, so it can hold any byte without colliding or escaping its kind.
func (l *Limiter) key(kind string, name string) string {
	sum := sha256.Sum256([]byte(name))
	return l.prefix + kind + ":" + hex.EncodeToString(sum[:])
}

// Key kinds.
const (
	kindContact = "contact"
	kindConv    = "conv"
	kindContent = "content"
	kindAccount = "account"
	kindBucket  = "bucket"
	kindAllow   = "allow"
	kindOnce    = "once"
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidArgument, fmt.Sprintf(format, args...))
}

func nonEmpty(what, v string) error {
	if v == "" {
		return invalid("empty %s", what)
	}
	return nil
}

// millis checks that d is a usable window and returns it in whole
// milliseconds, rounded up so that a window is never shorter than asked.
func millis(what string, d time.Duration) (int64, error) {
	if d < time.Millisecond {
		return 0, invalid("%s %v is under a millisecond", what, d)
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms > maxExact/4 {
		return 0, invalid("%s %v is too long", what, d)
	}
	return int64(ms), nil
}

// reply reads the {int, int} array every claim script returns.
func reply(v any, err error) (a, b int64, _ error) {
	if err != nil {
		return 0, 0, err
	}
	arr, ok := v.([]any)
	if !ok || len(arr) != 2 {
		return 0, 0, unexpected(v)
	}
	a, okA := arr[0].(int64)
	b, okB := arr[1].(int64)
	if !okA || !okB {
		return 0, 0, unexpected(v)
	}
	return a, b, nil
}

func unexpected(v any) error {
	return fmt.Errorf("throttle: unexpected script reply %#v", v)
}

// wrap names the operation an error from Redis came from.
func wrap(op string, err error) error {
	return fmt.Errorf("throttle: %s: %w", op, err)
}

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms) }

// hasNUL reports whether s holds a NUL byte.
func hasNUL(s string) bool { return strings.IndexByte(s, 0) >= 0 }

// nowMs is the caller's clock in milliseconds since the epoch.
func (l *Limiter) nowMs() int64 { return l.now().UnixMilli() }

// run runs a script, wrapping its error with the operation's name.
func (l *Limiter) run(ctx context.Context, op string, s *redis.Script, key string, args ...any) (any, error) {
	v, err := s.Run(ctx, l.rdb, []string{key}, args...).Result()
	if err != nil {
		return nil, wrap(op, err)
	}
	return v, nil
}
