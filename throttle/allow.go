package throttle

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// allow is a sliding window counter: counts are kept for the current fixed
// window [ws, ws+per) and the one before it, and a request at elapsed time e
// into the window is allowed while
//
//	prev*(per-e)/per + cur < n
//
// (the previous window's count weighted by how much of it the sliding window
// still covers). It needs O(1) memory per key, never lets more than n through
// in one fixed window, and approximates a true sliding window assuming the
// previous window's requests were spread evenly. The arithmetic is kept in
// integers (multiplied by per) so that it is exact in Lua's doubles.
//
// KEYS[1] hash {w: window start ms, c: count in w, p: count in w-per};
// ARGV now ms, per ms, n. Returns {1, 0} or {0, retry after ms}.
//
// A window start ahead of ours was written by a worker whose clock runs
// ahead: it is counted as the current window, which errs on refusing.
var allow = redis.NewScript(`
local now = tonumber(ARGV[1])
local per = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local ws = now - (now % per)
local v = redis.call('HMGET', KEYS[1], 'w', 'c', 'p')
local w = tonumber(v[1])
local c, p = 0, 0
if w then
  if w >= ws then
    ws = w
    c = tonumber(v[2]) or 0
    p = tonumber(v[3]) or 0
  elseif w == ws - per then
    p = tonumber(v[2]) or 0
  end
end
local e = now - ws
if e < 0 then e = 0 end
if p * (per - e) + c * per < n * per then
  redis.call('HSET', KEYS[1], 'w', string.format('%d', ws), 'c', string.format('%d', c + 1), 'p', string.format('%d', p))
  redis.call('PEXPIRE', KEYS[1], string.format('%d', ws + 2 * per - now))
  return {1, 0}
end
local at
if c < n then
  at = ws + per - math.ceil((n - c) * per / p) + 1
else
  at = ws + 2 * per - math.ceil(n * per / c) + 1
end
return {0, at - now}
`)

// Allow counts one request against key (an inbound abuse limit: per IP on
// the reply page, per number on inbound SMS) and reports whether it is within
// n per period per. When it is not, nothing is counted and retryAfter is how
// long until a request would be allowed.
//
// Windows are aligned to multiples of per since the epoch and smoothed as a
// sliding window counter: at most n requests in each aligned window, and
// fewer early in a window that follows a busy one. Keep n and per the same
// for a key; changing per starts the key afresh.
func (l *Limiter) Allow(ctx context.Context, key string, n int, per time.Duration) (ok bool, retryAfter time.Duration, err error) {
	if err := nonEmpty("key", key); err != nil {
		return false, 0, err
	}
	if n < 1 {
		return false, 0, invalid("limit %d < 1", n)
	}
	ms, err := millis("period", per)
	if err != nil {
		return false, 0, err
	}
	if int64(n) > maxExact/4/ms {
		return false, 0, invalid("limit %d per %v is too large", n, per)
	}
	got, after, err := reply(l.run(ctx, "allow", allow, l.key(kindAllow, key), l.nowMs(), ms, n))
	if err != nil {
		return false, 0, err
	}
	return got == 1, time.Duration(after) * time.Millisecond, nil
}
