package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Redis database numbers, one per test package: asynq has no key prefix and
// `go test ./...` runs packages in parallel, so two packages sharing a
// database would steal each other's tasks. Add a constant for a new package.
const (
	RedisDBDispatcher = 1
	RedisDBGateway    = 2
	RedisDBHTTPAPI    = 3
	RedisDBThrottle   = 4
	RedisDBCmd        = 5
	// RedisDBDashboard holds the dashboard's sessions and secret.
	RedisDBDashboard = 12
	// RedisDBReliability is the fault suite (reliability/); 14 and 15 are
	// left to the benchmarks.
	RedisDBReliability = 13
)

// RedisURL hands a test an empty Redis and returns its URL. With
// NPSGATE_TEST_REDIS set (redis://host:port) it is database db of that
// server, flushed before and after the test; otherwise a fresh miniredis.
// Tests of one package that use it must not run in parallel with each other.
func RedisURL(t testing.TB, db int) string {
	t.Helper()
	base := os.Getenv("NPSGATE_TEST_REDIS")
	if base == "" {
		m := miniredis.RunT(t)
		return "redis://" + m.Addr() + "/0"
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("NPSGATE_TEST_REDIS: %v", err)
	}
	u.Path = fmt.Sprintf("/%d", db)
	raw := u.String()
	opt, err := redis.ParseURL(raw)
	if err != nil {
		t.Fatalf("NPSGATE_TEST_REDIS: %v", err)
	}
	flush := func() {
		c := redis.NewClient(opt)
		defer c.Close()
		if err := c.FlushDB(context.Background()).Err(); err != nil {
			t.Fatalf("flush redis db %d: %v", db, err)
		}
	}
	flush()
	t.Cleanup(flush)
	return raw
}
