package throttle

import (
	"context"
	"math"
	"time"

	"github.com/redis/go-redis/v9"
)

// take is GCRA, the generic cell rate algorithm, which is a token bucket
// kept as one number: the theoretical arrival time (TAT) at which the bucket
// will be full again. With T = 1/rate, taking cost tokens moves the TAT by
// cost*T, and is allowed when the new TAT is at most burst*T ahead of now.
// The state is an integer of microseconds, so it is exact in Lua's doubles
// and is the same whatever rate the next caller passes; the key expires when
// the bucket is full, which is exactly the state of a missing key.
//
// KEYS[1] bucket; ARGV now µs, increment µs (cost*T), tolerance µs (burst*T).
// Returns 0 when the tokens were taken, else the µs until they will be.
var take = redis.NewScript(`
local now = tonumber(ARGV[1])
local inc = tonumber(ARGV[2])
local tol = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new = tat + inc
local wait = new - tol - now
if wait > 0 then return wait end
redis.call('SET', KEYS[1], string.format('%d', new), 'PX', string.format('%d', math.ceil((new - now) / 1000)))
return 0
`)

// Take takes cost tokens from the bucket, which refills at rate tokens per
// second up to burst tokens (a full bucket to start with). wait is 0 when the
// tokens were taken; otherwise nothing was taken and wait is how long until
// cost tokens will be there (the caller waits or defers, then calls again:
// waiting is not a failure). Rate and burst are passed on every call, so a
// changed provider limit applies at once; the bucket keeps its state.
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
