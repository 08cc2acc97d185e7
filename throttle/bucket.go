package throttle

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// take is GCRA, the generic cell rate algorithm, which is a token bucket
// kept as one number: the theoretical arrival time (TAT) at which the bucket
// will be full again. With T = 1/rate, taking cost tokens moves the TAT by
// cost*T, and is allowed when the new TAT is at most burst*T ahead of now.
// The state is an integer of microseconds, so it is exact in Lua's doubles
// and is the same whatever rate the next caller passes; the key expires a
// second after the bucket is full, when it is exactly the state of a missing
// key. The second is for callers whose clock runs apart from Redis's (a
// skewed host, a test's fake clock): with the key expiring at the very
// moment, a caller a few milliseconds behind found it gone and took a full
// burst again. A TAT in the past reads as full, so the slack changes no
// decision.
//
// A bucket the provider blocked (Block) also holds the end of the block:
// the value is then "<tat>:<block end µs>", and nothing is taken before the
// block ends. Both live in the one key, so a take is still one atomic step
// on one key, and a take that finds the block over drops it.
//
// KEYS[1] bucket; ARGV now µs, increment µs (cost*T), tolerance µs (burst*T).
// Returns 0 when the tokens were taken, else the µs until they will be.
var take = redis.NewScript(`
local now = tonumber(ARGV[1])
local inc = tonumber(ARGV[2])
local tol = tonumber(ARGV[3])
local v = redis.call('GET', KEYS[1])
local tat, blk
if v then
  local i = string.find(v, ':', 1, true)
  if i then
    tat = tonumber(string.sub(v, 1, i - 1))
    blk = tonumber(string.sub(v, i + 1))
  else
    tat = tonumber(v)
  end
end
if blk and blk > now then return blk - now end
tat = tat or now
if tat < now then tat = now end
local new = tat + inc
local wait = new - tol - now
if wait > 0 then return wait end
redis.call('SET', KEYS[1], string.format('%d', new), 'PX', string.format('%d', math.ceil((new - now) / 1000) + 1000))
return 0
`)

// block: KEYS[1] bucket; ARGV now µs, block end µs. Keeps the bucket's TAT
// and sets its block end to the later of the one it has and the new one.
// Returns the block end.
var block = redis.NewScript(`
local now = tonumber(ARGV[1])
local u = tonumber(ARGV[2])
local v = redis.call('GET', KEYS[1])
local tat = 0
if v then
  local i = string.find(v, ':', 1, true)
  if i then
    tat = tonumber(string.sub(v, 1, i - 1)) or 0
    local blk = tonumber(string.sub(v, i + 1))
    if blk and blk > u then u = blk end
  else
    tat = tonumber(v) or 0
  end
end
if u <= now then return u end
local last = u
if tat > last then last = tat end
redis.call('SET', KEYS[1], string.format('%d', tat) .. ':' .. string.format('%d', u), 'PX', string.format('%d', math.ceil((last - now) / 1000) + 1000))
return u
`)

// Take takes cost tokens from the bucket, which refills at rate tokens per
// second up to burst tokens (a full bucket to start with). wait is 0 when the
// tokens were taken; otherwise nothing was taken and wait is how long until
// cost tokens will be there (the caller waits or defers, then calls again:
// waiting is not a failure). Rate and burst are passed on every call, so a
// changed provider limit applies at once; the bucket keeps its state.
//
// While the bucket is blocked (Block), nothing is taken and wait is the
// time left of the block.
//
// Times are kept in whole microseconds. cost > burst returns
// ErrCostExceedsBurst: those tokens would never be there.
func (l *Limiter) Take(ctx context.Context, bucket string, rate, burst, cost float64) (wait time.Duration, err error) {
	if err := nonEmpty("bucket", bucket); err != nil {
		return 0, err
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"rate", rate}, {"burst", burst}, {"cost", cost}} {
		if !(f.v > 0) || math.IsInf(f.v, 0) {
			return 0, invalid("%s %v must be positive and finite", f.name, f.v)
		}
	}
	if cost > burst {
		return 0, ErrCostExceedsBurst
	}
	tol := math.Round(burst * 1e6 / rate)
	inc := math.Max(1, math.Round(cost*1e6/rate))
	if tol < inc {
		return 0, invalid("burst/rate %v/%v is under a microsecond", burst, rate)
	}
	if tol > maxExact/4 {
		return 0, invalid("burst/rate %v/%v is too long", burst, rate)
	}
	v, err := l.run(ctx, "take", take, l.key(kindBucket, bucket), l.now().UnixMicro(), int64(inc), int64(tol))
	if err != nil {
		return 0, err
	}
	us, ok := v.(int64)
	if !ok {
		return 0, unexpected(v)
	}
	return time.Duration(us) * time.Microsecond, nil
}

// Block stops every take from the bucket until until, whatever the rate:
// the provider said to stop (DingTalk's "send too fast" blocks a robot for
// 10 minutes), and every worker, in every process, must wait for the end
// of it rather than each finding out by being refused. Take then returns
// the time left of the block. A block never shortens one already set; an
// until not after now does nothing. The bucket's tokens are kept: when the
// block ends, the bucket goes on as it was.
func (l *Limiter) Block(ctx context.Context, bucket string, until time.Time) error {
	if err := nonEmpty("bucket", bucket); err != nil {
		return err
	}
	u := until.UnixMicro()
	if until.After(time.UnixMicro(u)) {
		u++ // never shorter than asked
	}
	if u > maxExact {
		return invalid("block end %v out of range", until)
	}
	_, err := l.run(ctx, "block", block, l.key(kindBucket, bucket), l.now().UnixMicro(), u)
	return err
}

// Blocked reports how long the bucket stays blocked (see Block), 0 when it
// is not. It takes nothing: a channel without a rate checks it before each
// send, and a caller whose Take said to wait can tell a block from a
// bucket that is only empty.
func (l *Limiter) Blocked(ctx context.Context, bucket string) (time.Duration, error) {
	if err := nonEmpty("bucket", bucket); err != nil {
		return 0, err
	}
	v, err := l.rdb.Get(ctx, l.key(kindBucket, bucket)).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, wrap("blocked", err)
	}
	_, end, ok := strings.Cut(v, ":")
	if !ok {
		return 0, nil
	}
	us, err := strconv.ParseInt(end, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("throttle: blocked: bad block end %q", end)
	}
	if left := us - l.now().UnixMicro(); left > 0 {
		return time.Duration(left) * time.Microsecond, nil
	}
	return 0, nil
}
