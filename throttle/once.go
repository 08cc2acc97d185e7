package throttle

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// A once key remembers that something was seen (the webhook-id of a signed
// trigger), with what came of it: the first caller claims the key, records
// its outcome when it is done (SettleOnce) or gives the key up when it
// failed (ReleaseOnce), and every later caller is told the outcome instead
// of acting again. Unlike Allow, whose windows are aligned to the clock and
// forget everything at each boundary, a once key lasts keep from the moment
// it was claimed, and from each moment a settled key is seen again.
//
// The value is a hash {d: owner, u: deadline ms, k: keep ms, v: outcome};
// the key is live while u > now, and settled once v is set.

// claimOnce: KEYS[1] once; ARGV now ms, keep ms, owner.
// Returns {1, deadline, ""} when owner holds the key (newly, or already),
// else {0, deadline, outcome} (outcome "" while the holder is at work). A
// settled key seen again is kept for keep from now: a sender's retry is
// signed afresh and could itself be replayed until keep after it.
var claimOnce = redis.NewScript(`
local now = tonumber(ARGV[1])
local cur = redis.call('HMGET', KEYS[1], 'd', 'u', 'k', 'v')
local exp = tonumber(cur[2])
if cur[1] and exp and exp > now then
  if cur[1] == ARGV[3] then return {1, exp, ''} end
  if cur[4] then
    local keep = tonumber(cur[3]) or 0
    if now + keep > exp then
      exp = now + keep
      redis.call('HSET', KEYS[1], 'u', string.format('%d', exp))
      redis.call('PEXPIRE', KEYS[1], string.format('%d', keep))
    end
    return {0, exp, cur[4]}
  end
  return {0, exp, ''}
end
local u = now + tonumber(ARGV[2])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'd', ARGV[3], 'u', string.format('%d', u), 'k', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, u, ''}
`)

// settleOnce: KEYS[1] once; ARGV now ms, owner, outcome. Records the
// outcome and keeps the key for keep from now, if owner holds it live.
// Returns 1 if it did, 0 if owner does not hold it.
var settleOnce = redis.NewScript(`
local now = tonumber(ARGV[1])
local cur = redis.call('HMGET', KEYS[1], 'd', 'u', 'k')
local exp = tonumber(cur[2])
local keep = tonumber(cur[3])
if cur[1] ~= ARGV[2] or not exp or exp <= now or not keep then return 0 end
if now + keep > exp then exp = now + keep end
redis.call('HSET', KEYS[1], 'v', ARGV[3], 'u', string.format('%d', exp))
redis.call('PEXPIRE', KEYS[1], string.format('%d', exp - now))
return 1
`)

// Once is what ClaimOnce found on a key another caller holds.
type Once struct {
	// Outcome is what the holder recorded with SettleOnce; it is empty
	// while the holder is still at work.
	Outcome string
	// Until is when the key is forgotten, unless it is seen again.
	Until time.Time
}

// ClaimOnce records that key was seen, for keep, by owner (a value unique
// to the caller, e.g. a random request id). ok is true when owner holds the
// key: nobody saw it in the last keep, or owner already holds it. ok is
// false when another caller saw it first; seen then says what came of it.
// Of any number of callers racing for one key, in any number of processes,
// exactly one gets ok.
//
// The holder ends its claim with SettleOnce (done: remember the outcome) or
// ReleaseOnce (failed: the next caller starts afresh). A holder that dies
// in between leaves the key held, without an outcome, until keep runs out.
func (l *Limiter) ClaimOnce(ctx context.Context, key, owner string, keep time.Duration) (ok bool, seen Once, err error) {
	if err := nonEmpty("key", key); err != nil {
		return false, Once{}, err
	}
	if err := nonEmpty("owner", owner); err != nil {
		return false, Once{}, err
	}
	ms, err := millis("keep", keep)
	if err != nil {
		return false, Once{}, err
	}
	v, err := l.run(ctx, "claim once", claimOnce, l.key(kindOnce, key), l.nowMs(), ms, owner)
	if err != nil {
		return false, Once{}, err
	}
	arr, okArr := v.([]any)
	if !okArr || len(arr) != 3 {
		return false, Once{}, unexpected(v)
	}
	got, okA := arr[0].(int64)
	exp, okB := arr[1].(int64)
	outcome, okC := arr[2].(string)
	if !okA || !okB || !okC {
		return false, Once{}, unexpected(v)
	}
	return got == 1, Once{Outcome: outcome, Until: fromMillis(exp)}, nil
}

// SettleOnce records outcome (not empty) as what came of owner's claim on
// key; callers that see the key from now on are told it. The key is then
// kept for at least keep from now. It returns ErrNotHeld, changing
// nothing, when owner does not hold a live claim (it ran out, or was
// released).
func (l *Limiter) SettleOnce(ctx context.Context, key, owner, outcome string) error {
	if err := nonEmpty("key", key); err != nil {
		return err
	}
	if err := nonEmpty("owner", owner); err != nil {
		return err
	}
	if err := nonEmpty("outcome", outcome); err != nil {
		return err
	}
	v, err := l.run(ctx, "settle once", settleOnce, l.key(kindOnce, key), l.nowMs(), owner, outcome)
	if err != nil {
		return err
	}
	if n, ok := v.(int64); !ok {
		return unexpected(v)
	} else if n != 1 {
		return ErrNotHeld
	}
	return nil
}

// ReleaseOnce gives up owner's claim on key, settled or not: the key is
// forgotten, and the next caller to see it starts afresh. It does nothing
// if owner does not hold the key, so it is safe to repeat.
func (l *Limiter) ReleaseOnce(ctx context.Context, key, owner string) error {
	if err := nonEmpty("key", key); err != nil {
		return err
	}
	if err := nonEmpty("owner", owner); err != nil {
		return err
	}
	return l.release(ctx, "release once", l.key(kindOnce, key), owner)
}
