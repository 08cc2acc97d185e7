package throttle_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/npsgate/npsgate/throttle"
)

// TestKeysDoNotCollide claims ids that an unescaped key layout would confuse
// (separators, glob characters, an id that is another's prefix): each is its
// own contact.
func TestKeysDoNotCollide(t *testing.T) {
	ids := []string{"a", "a:b", "a:b*", "a*", "*", "a:", ":a", "a:b:c", "a\x00b", "contact:a", "[a]", "a b", "A"}
	for _, kind := range []string{"contact", "conversation", "account", "bucket", "allow", "once"} {
		t.Run(kind, func(t *testing.T) {
			e := setup(t)
			ctx := context.Background()
			for i, id := range ids {
				var ok bool
				var err error
				d := fmt.Sprintf("d%d", i)
				switch kind {
				case "contact":
					ok, _, err = e.lim.ClaimContact(ctx, id, d, day)
				case "conversation":
					ok, _, err = e.lim.ClaimConversation(ctx, id, d, day)
				case "account":
					ok, _, err = e.lim.ClaimAccount(ctx, id, d, 1, day)
				case "bucket":
					var wait time.Duration
					wait, err = e.lim.Take(ctx, id, 1, 1, 1)
					ok = wait == 0
				case "allow":
					ok, _, err = e.lim.Allow(ctx, id, 1, time.Hour)
				case "once":
					ok, _, err = e.lim.ClaimOnce(ctx, id, d, time.Hour)
				}
				if err != nil || !ok {
					t.Fatalf("%q: ok=%v err=%v: collides with an earlier id", id, ok, err)
				}
			}
			ks := keys(t, e.rdb)
			if len(ks) != len(ids) {
				t.Fatalf("%d keys for %d ids: %q", len(ks), len(ids), ks)
			}
			for _, k := range ks {
				rest, ok := strings.CutPrefix(k, throttle.DefaultPrefix)
				if !ok || strings.ContainsAny(rest, "*[]\x00 ") || strings.Count(rest, ":") != 1 {
					t.Errorf("key %q is not prefix, kind and a hash", k)
				}
			}
		})
	}
}

// TestAllKeysHaveTTL uses every primitive, then checks that every key has a
// TTL: nothing the gate writes outlives its use.
func TestAllKeysHaveTTL(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	for i := range 20 {
		d := fmt.Sprintf("d%d", i)
		c := fmt.Sprintf("c%d", i%7)
		must(t)(e.lim.ClaimContact(ctx, c, d, 30*day))
		if err := e.lim.SetContactWindow(ctx, c, d, e.clock.Now(), 90*day); err != nil && !errors.Is(err, throttle.ErrNotHeld) {
			t.Fatal(err)
		}
		must(t)(e.lim.ClaimAccount(ctx, "acme", d, 5, 30*day))
		must(t)(e.lim.ClaimConversation(ctx, c, d, day))
		if _, err := e.lim.ClaimContent(ctx, c, "hello", d, 12*time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := e.lim.Take(ctx, "b", 10, 5, 1); err != nil {
			t.Fatal(err)
		}
		must(t)(e.lim.Allow(ctx, c, 3, time.Minute))
		if err := e.lim.Block(ctx, "b"+c, e.clock.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		must(t)(e.lim.ClaimOnce(ctx, c, d, 10*time.Minute))
		if err := e.lim.SettleOnce(ctx, c, d, "done"); err != nil && !errors.Is(err, throttle.ErrNotHeld) {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if err := e.lim.ReleaseAccount(ctx, "acme", d); err != nil {
				t.Fatal(err)
			}
			if err := e.lim.ReleaseContact(ctx, c, d); err != nil {
				t.Fatal(err)
			}
		}
		e.clock.Advance(17 * time.Second)
	}
	if len(keys(t, e.rdb)) == 0 {
		t.Fatal("no keys written")
	}
	checkTTLs(t, e.rdb) // setup checks again at the end
}

func TestWithPrefix(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	lim := throttle.New(e.rdb, throttle.WithPrefix("tenant1:"), throttle.WithClock(e.clock.Now))
	if ok, _, err := lim.ClaimContact(ctx, "c", "d1", day); err != nil || !ok {
		t.Fatal(ok, err)
	}
	// Another prefix is another namespace.
	if ok, _, err := e.lim.ClaimContact(ctx, "c", "d2", day); err != nil || !ok {
		t.Fatal(ok, err)
	}
	var tenant int
	for _, k := range keys(t, e.rdb) {
		if strings.HasPrefix(k, "tenant1:contact:") {
			tenant++
		}
	}
	if tenant != 1 {
		t.Fatalf("%d keys under the tenant prefix, want 1", tenant)
	}
}

// must fails the test on the error of a (value, value, error) call.
func must(t *testing.T) func(any, any, error) {
	return func(_, _ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}
