package throttle

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// A lease is a key held by one delivery until a deadline: the contact
// fatigue claim, the open SMS conversation and the duplicate-content guard
// are all leases, on keys of different kinds. The value is a hash
// {d: delivery id, u: deadline in ms}; the claim is live while u > now.

// claimLease: KEYS[1] lease; ARGV now ms, window ms, delivery id.
// Returns {1, deadline} when the delivery holds the lease (newly, or already:
// an idempotent retry keeps the first deadline), {0, deadline} when another
// delivery holds it.
var claimLease = redis.NewScript(`
local now = tonumber(ARGV[1])
local cur = redis.call('HMGET', KEYS[1], 'd', 'u')
local exp = tonumber(cur[2])
if cur[1] and exp and exp > now then
  if cur[1] == ARGV[3] then return {1, exp} end
  return {0, exp}
end
local u = now + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'd', ARGV[3], 'u', string.format('%d', u))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, u}
`)

// setLease: KEYS[1] lease; ARGV now ms, new deadline ms, delivery id.
// Moves the deadline when the delivery holds the lease or nobody holds a live
// one; a deadline not after now ends the lease. Returns {1, deadline}, or
// {0, their deadline} when another delivery holds a live lease.
var setLease = redis.NewScript(`
local now = tonumber(ARGV[1])
local u = tonumber(ARGV[2])
local cur = redis.call('HMGET', KEYS[1], 'd', 'u')
local exp = tonumber(cur[2])
if cur[1] and exp and exp > now and cur[1] ~= ARGV[3] then return {0, exp} end
if u <= now then
  redis.call('DEL', KEYS[1])
  return {1, u}
end
redis.call('HSET', KEYS[1], 'd', ARGV[3], 'u', ARGV[2])
redis.call('PEXPIRE', KEYS[1], string.format('%d', u - now))
return {1, u}
`)

// releaseLease: KEYS[1] lease; ARGV delivery id. Deletes the lease if the
// delivery holds it; returns 1 if it did.
var releaseLease = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'd') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`)

func (l *Limiter) claim(ctx context.Context, op, key, deliveryID string, window time.Duration) (bool, time.Time, error) {
	if err := nonEmpty("delivery id", deliveryID); err != nil {
		return false, time.Time{}, err
	}
	ms, err := millis("window", window)
	if err != nil {
		return false, time.Time{}, err
	}
	ok, exp, err := reply(l.run(ctx, op, claimLease, key, l.nowMs(), ms, deliveryID))
	if err != nil {
		return false, time.Time{}, err
	}
	return ok == 1, fromMillis(exp), nil
}

func (l *Limiter) setWindow(ctx context.Context, op, key, deliveryID string, from time.Time, window time.Duration) error {
	if err := nonEmpty("delivery id", deliveryID); err != nil {
		return err
	}
	if window < 0 {
		return invalid("negative window %v", window)
	}
	until := from.Add(window)
	// Round up, as millis does: a window is never shorter than asked.
	ms := until.UnixMilli()
	if until.After(time.UnixMilli(ms)) {
		ms++
	}
	if ms <= 0 || ms > maxExact {
		return invalid("deadline %v out of range", until)
	}
	ok, _, err := reply(l.run(ctx, op, setLease, key, l.nowMs(), ms, deliveryID))
	if err != nil {
		return err
	}
	if ok != 1 {
		return ErrNotHeld
	}
	return nil
}

func (l *Limiter) release(ctx context.Context, op, key, deliveryID string) error {
	if err := nonEmpty("delivery id", deliveryID); err != nil {
		return err
	}
	_, err := l.run(ctx, op, releaseLease, key, deliveryID)
	return err
}

// holder reads a lease: who holds it and until when, if it is live.
func (l *Limiter) holder(ctx context.Context, op, key string) (deliveryID string, until time.Time, ok bool, err error) {
	v, err := l.rdb.HMGet(ctx, key, "d", "u").Result()
	if err != nil {
		return "", time.Time{}, false, wrap(op, err)
	}
	d, _ := v[0].(string)
	u, _ := v[1].(string)
	if d == "" || u == "" {
		return "", time.Time{}, false, nil
	}
	ms, err := strconv.ParseInt(u, 10, 64)
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("throttle: %s: bad deadline %q", op, u)
	}
	if ms <= l.nowMs() {
		return "", time.Time{}, false, nil
	}
	return d, fromMillis(ms), true, nil
}

// ClaimContact enforces survey fatigue: at most one survey per contact per
// window, across all surveys and channels. It atomically checks and records a
// claim for deliveryID lasting window from now.
//
// ok is true when deliveryID holds the claim, either newly or already (a
// retry of the same delivery is idempotent and keeps the first deadline);
// until is then when the claim ends. ok is false when another delivery holds
// a live claim; until is then when the contact may next be surveyed. Of any
// number of deliveries racing for one contact, in any number of processes,
// exactly one gets ok.
func (l *Limiter) ClaimContact(ctx context.Context, contactID, deliveryID string, window time.Duration) (ok bool, until time.Time, err error) {
	if err := nonEmpty("contact id", contactID); err != nil {
		return false, time.Time{}, err
	}
	return l.claim(ctx, "claim contact", l.key(kindContact, contactID), deliveryID, window)
}

// SetContactWindow re-sets the contact's claim to end at from+window, for a
// window that depends on what happened (e.g. 90 days from the send once the
// survey is answered, instead of 30). It extends or shortens; an end not
// after now gives the contact back at once.
//
// It applies when deliveryID holds the claim, and also when nobody holds a
// live one (the shorter window ran out before the answer came, so the longer
// one is put back for the rest of its time); it returns ErrNotHeld, changing
// nothing, when another delivery holds a live claim.
func (l *Limiter) SetContactWindow(ctx context.Context, contactID, deliveryID string, from time.Time, window time.Duration) error {
	if err := nonEmpty("contact id", contactID); err != nil {
		return err
	}
	return l.setWindow(ctx, "set contact window", l.key(kindContact, contactID), deliveryID, from, window)
}

// ReleaseContact gives back deliveryID's claim on the contact (the send
// failed permanently, or the delivery was suppressed after claiming). It does
// nothing if deliveryID does not hold the claim, so it is safe to repeat.
func (l *Limiter) ReleaseContact(ctx context.Context, contactID, deliveryID string) error {
	if err := nonEmpty("contact id", contactID); err != nil {
		return err
	}
	return l.release(ctx, "release contact", l.key(kindContact, contactID), deliveryID)
}

// ContactNext reports when the contact may next be surveyed: claimed is true
// and next is the end of the live claim, or claimed is false (next is zero)
// and the contact may be surveyed now.
func (l *Limiter) ContactNext(ctx context.Context, contactID string) (next time.Time, claimed bool, err error) {
	if err := nonEmpty("contact id", contactID); err != nil {
		return time.Time{}, false, err
	}
	_, until, ok, err := l.holder(ctx, "contact next", l.key(kindContact, contactID))
	return until, ok, err
}

// ClaimConversation opens the one SMS conversation a number may have: while
// deliveryID's survey is open for replies (for open from now), no other
// survey is sent to the address. ok and until mean what they mean for
// ClaimContact; a retry of the same delivery is idempotent.
func (l *Limiter) ClaimConversation(ctx context.Context, address, deliveryID string, open time.Duration) (ok bool, until time.Time, err error) {
	if err := nonEmpty("address", address); err != nil {
		return false, time.Time{}, err
	}
	return l.claim(ctx, "claim conversation", l.key(kindConv, address), deliveryID, open)
}

// SetConversationWindow re-sets when deliveryID's conversation closes to
// from+open (e.g. kept open for a follow-up question), with the rules of
// SetContactWindow.
func (l *Limiter) SetConversationWindow(ctx context.Context, address, deliveryID string, from time.Time, open time.Duration) error {
	if err := nonEmpty("address", address); err != nil {
		return err
	}
	return l.setWindow(ctx, "set conversation window", l.key(kindConv, address), deliveryID, from, open)
}

// EndConversation closes deliveryID's conversation with the address (the
// survey is complete, or the send failed). It does nothing if deliveryID
// does not hold it.
func (l *Limiter) EndConversation(ctx context.Context, address, deliveryID string) error {
	if err := nonEmpty("address", address); err != nil {
		return err
	}
	return l.release(ctx, "end conversation", l.key(kindConv, address), deliveryID)
}

// Conversation reports which delivery has the address's conversation open,
// and until when; ok is false if none has.
func (l *Limiter) Conversation(ctx context.Context, address string) (deliveryID string, until time.Time, ok bool, err error) {
	if err := nonEmpty("address", address); err != nil {
		return "", time.Time{}, false, err
	}
	return l.holder(ctx, "conversation", l.key(kindConv, address))
}

// ClaimContent guards against duplicate content: the same rendered message
// to the same address is sent at most once per window (12h in the gate). The
// key is sha256(address + "\x00" + content); neither is stored. ok is true
// for the first delivery to claim the pair and for its retries, false for any
// other delivery until the window ends. An address holding a NUL byte is
// refused (ErrInvalidArgument), which keeps the encoding unambiguous.
func (l *Limiter) ClaimContent(ctx context.Context, address, content, deliveryID string, window time.Duration) (ok bool, err error) {
	if err := nonEmpty("address", address); err != nil {
		return false, err
	}
	if hasNUL(address) {
		return false, invalid("address holds a NUL byte")
	}
	ok, _, err = l.claim(ctx, "claim content", l.key(kindContent, address+"\x00"+content), deliveryID, window)
	return ok, err
}

// ReleaseContent gives back deliveryID's claim on the content (the send
// failed before reaching the provider, so a later identical message is not a
// duplicate). It does nothing if deliveryID does not hold it.
func (l *Limiter) ReleaseContent(ctx context.Context, address, content, deliveryID string) error {
	if err := nonEmpty("address", address); err != nil {
		return err
	}
	if hasNUL(address) {
		return invalid("address holds a NUL byte")
	}
	return l.release(ctx, "release content", l.key(kindContent, address+"\x00"+content), deliveryID)
}
