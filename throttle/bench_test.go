package throttle_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/npsgate/npsgate/throttle"
)

func BenchmarkTake(b *testing.B) {
	e := setup(b)
	lim := throttle.New(e.rdb)
	ctx := context.Background()
	for b.Loop() {
		if _, err := lim.Take(ctx, "sms:+15550100", 1e6, 1e6, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClaimContact(b *testing.B) {
	e := setup(b)
	lim := throttle.New(e.rdb)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		// A new contact half the time, a refusal the other half.
		if _, _, err := lim.ClaimContact(ctx, fmt.Sprintf("contact-%d", i/2), fmt.Sprintf("d%d", i), 30*24*time.Hour); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
