package throttle_test

import (
	"context"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/npsgate/npsgate/throttle"
)

// The gate claims the contact for the unanswered window before sending, and
// sets the answered window once the survey is answered.
func ExampleLimiter_ClaimContact() {
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		panic(err)
	}
	defer m.Close()
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer rdb.Close()

	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	lim := throttle.New(rdb, throttle.WithClock(func() time.Time { return now }))
	ctx := context.Background()

	ok, until, _ := lim.ClaimContact(ctx, "contact-42", "delivery-1", 30*24*time.Hour)
	fmt.Println("delivery-1:", ok, until.Format(time.DateOnly))

	ok, until, _ = lim.ClaimContact(ctx, "contact-42", "delivery-2", 30*24*time.Hour)
	fmt.Println("delivery-2:", ok, "next survey from", until.Format(time.DateOnly))

	// Answered: 90 days from the send instead of 30.
	_ = lim.SetContactWindow(ctx, "contact-42", "delivery-1", now, 90*24*time.Hour)
	next, _, _ := lim.ContactNext(ctx, "contact-42")
	fmt.Println("answered: next survey from", next.Format(time.DateOnly))
	// Output:
	// delivery-1: true 2026-04-01
	// delivery-2: false next survey from 2026-04-01
	// answered: next survey from 2026-05-31
}

// A sender paces itself with Take: wait is how long until the tokens are
// there; nothing is taken until then.
func ExampleLimiter_Take() {
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		panic(err)
	}
	defer m.Close()
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer rdb.Close()

	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	lim := throttle.New(rdb, throttle.WithClock(func() time.Time { return now }))
	ctx := context.Background()

	// One SMS segment per second per long code; a 2-segment message needs burst >= 2.
	for _, segments := range []float64{2, 1, 1} {
		wait, err := lim.Take(ctx, "twilio:+15550100", 1, 2, segments)
		fmt.Println(segments, "segments: wait", wait, err)
		now = now.Add(wait)
	}
	_, err := lim.Take(ctx, "twilio:+15550100", 1, 2, 3)
	fmt.Println(err)
	// Output:
	// 2 segments: wait 0s <nil>
	// 1 segments: wait 1s <nil>
	// 1 segments: wait 0s <nil>
	// throttle: cost exceeds burst
}
