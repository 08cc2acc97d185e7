package throttle_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/throttle"
)

// start is the fake clock's first reading. Its millisecond count has many
// significant digits; TestClaimAccountRoundClock covers one that has few.
var start = time.Date(2026, 3, 2, 9, 13, 27, 123_000_000, time.UTC)

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set moves the clock to start+since.
func (c *fakeClock) Set(since time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = start.Add(since)
}

type env struct {
	url   string
	rdb   *redis.Client
	clock *fakeClock
	lim   *throttle.Limiter
}

// setup hands a test a clean Redis, a fake clock at start and a Limiter on
// both. When the test ends it checks that every key the test left has a TTL.
func setup(t testing.TB) *env {
	t.Helper()
	url := testenv.RedisURL(t, testenv.RedisDBThrottle)
	e := &env{url: url, rdb: newClient(t, url), clock: newFakeClock(start)}
	e.lim = throttle.New(e.rdb, throttle.WithClock(e.clock.Now))
	t.Cleanup(func() { checkTTLs(t, e.rdb) })
	return e
}

// newClient is a separate connection pool, as another process would have.
func newClient(t testing.TB, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// keys lists every key in the test's database.
func keys(t testing.TB, rdb *redis.Client) []string {
	t.Helper()
	var all []string
	iter := rdb.Scan(context.Background(), 0, "*", 100).Iterator()
	for iter.Next(context.Background()) {
		all = append(all, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return all
}

// checkTTLs fails the test if a key has no TTL.
func checkTTLs(t testing.TB, rdb *redis.Client) {
	t.Helper()
	for _, k := range keys(t, rdb) {
		ttl, err := rdb.PTTL(context.Background(), k).Result()
		if err != nil {
			t.Fatal(err)
		}
		// -2 is a key that expired between the scan and this look: fine.
		// -1 is a key without a TTL: growth without bound.
		if ttl == -1 || (ttl <= 0 && ttl != -2*time.Nanosecond) {
			t.Errorf("key %q has PTTL %v, want > 0", k, ttl)
		}
	}
}

func at(d time.Duration) time.Time { return start.Add(d) }

const day = 24 * time.Hour
