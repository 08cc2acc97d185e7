package throttle

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// claimAccount: KEYS[1] zset of delivery id -> claim time (ms); ARGV now ms,
// window ms, n, delivery id. A claim counts while its time t > now - window,
// so it leaves the window at t + window. Returns {1, when this delivery's
// claim leaves the window} or {0, when a slot frees}.
//
// num reads a score: servers print doubles with few significant digits in
// exponent form ("1e+12"), which gopher-lua's tonumber (miniredis) refuses
// unless it holds a dot.
var claimAccount = redis.NewScript(`
local function num(s)
  return tonumber(s) or tonumber((string.gsub(s, '[eE]', '.0e', 1)))
end
local now = tonumber(ARGV[1])
local win = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now - win))
local s = redis.call('ZSCORE', KEYS[1], ARGV[4])
if s then return {1, num(s) + win} end
local cnt = redis.call('ZCARD', KEYS[1])
if cnt >= n then
  local r = redis.call('ZRANGE', KEYS[1], string.format('%d', cnt - n), string.format('%d', cnt - n), 'WITHSCORES')
  return {0, num(r[2]) + win}
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
local last = redis.call('ZRANGE', KEYS[1], '-1', '-1', 'WITHSCORES')
local newest = num(last[2])
if newest < now then newest = now end
redis.call('PEXPIRE', KEYS[1], string.format('%d', newest + win - now))
return {1, now + win}
`)

// ClaimAccount caps surveys per account (B2B): at most n deliveries claim
// the account in any sliding window of the given length. Claims are kept per
// delivery, so a retry of the same delivery is idempotent (ok, not counted
// twice).
//
// ok is true when deliveryID holds one of the n slots; until is then when its
// claim leaves the window. ok is false when n other deliveries hold slots;
// until is then when the next slot frees. Racing deliveries, in any number of
// processes, get exactly as many ok as there are free slots.
//
// n may change between calls (a changed plan): claims already counted stay,
// and a lower n refuses until enough of them have left the window.
func (l *Limiter) ClaimAccount(ctx context.Context, account, deliveryID string, n int, window time.Duration) (ok bool, until time.Time, err error) {
	if err := nonEmpty("account", account); err != nil {
		return false, time.Time{}, err
	}
	if err := nonEmpty("delivery id", deliveryID); err != nil {
		return false, time.Time{}, err
	}
	if n < 1 {
		return false, time.Time{}, invalid("account cap %d < 1", n)
	}
	ms, err := millis("window", window)
	if err != nil {
		return false, time.Time{}, err
	}
	got, exp, err := reply(l.run(ctx, "claim account", claimAccount, l.key(kindAccount, account), l.nowMs(), ms, n, deliveryID))
	if err != nil {
		return false, time.Time{}, err
	}
	return got == 1, fromMillis(exp), nil
}

// ReleaseAccount gives back deliveryID's slot on the account. It does
// nothing if deliveryID holds none.
func (l *Limiter) ReleaseAccount(ctx context.Context, account, deliveryID string) error {
	if err := nonEmpty("account", account); err != nil {
		return err
	}
	if err := nonEmpty("delivery id", deliveryID); err != nil {
		return err
	}
	if err := l.rdb.ZRem(ctx, l.key(kindAccount, account), deliveryID).Err(); err != nil {
		return wrap("release account", err)
	}
	return nil
}
