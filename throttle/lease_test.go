package throttle_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/npsgate/npsgate/throttle"
)

// leaseOps is one kind of lease (contact fatigue, SMS conversation) seen
// through the same four operations, so one table covers both.
type leaseOps struct {
	claim   func(l *throttle.Limiter, ctx context.Context, name, delivery string, window time.Duration) (bool, time.Time, error)
	set     func(l *throttle.Limiter, ctx context.Context, name, delivery string, from time.Time, window time.Duration) error
	release func(l *throttle.Limiter, ctx context.Context, name, delivery string) error
	next    func(l *throttle.Limiter, ctx context.Context, name string) (time.Time, bool, error)
}

var leaseKinds = map[string]leaseOps{
	"contact": {
		claim:   (*throttle.Limiter).ClaimContact,
		set:     (*throttle.Limiter).SetContactWindow,
		release: (*throttle.Limiter).ReleaseContact,
		next:    (*throttle.Limiter).ContactNext,
	},
	"conversation": {
		claim:   (*throttle.Limiter).ClaimConversation,
		set:     (*throttle.Limiter).SetConversationWindow,
		release: (*throttle.Limiter).EndConversation,
		next: func(l *throttle.Limiter, ctx context.Context, address string) (time.Time, bool, error) {
			_, until, ok, err := l.Conversation(ctx, address)
			return until, ok, err
		},
	},
}

// leaseStep runs at start+at on the fake clock.
type leaseStep struct {
	at       time.Duration
	op       string // claim, set, release, next
	delivery string
	from     time.Duration // set: the window starts at start+from
	window   time.Duration // claim, set
	wantOK   bool          // claim: ok; next: claimed
	wantAt   time.Duration // claim, next: until/next is start+wantAt (when wantOK or refused)
	wantErr  error
}

func claim(atT time.Duration, d string, window time.Duration, ok bool, until time.Duration) leaseStep {
	return leaseStep{at: atT, op: "claim", delivery: d, window: window, wantOK: ok, wantAt: until}
}

func next(atT time.Duration, claimed bool, until time.Duration) leaseStep {
	return leaseStep{at: atT, op: "next", wantOK: claimed, wantAt: until}
}

func set(atT time.Duration, d string, from, window time.Duration, err error) leaseStep {
	return leaseStep{at: atT, op: "set", delivery: d, from: from, window: window, wantErr: err}
}

func release(atT time.Duration, d string) leaseStep {
	return leaseStep{at: atT, op: "release", delivery: d}
}

func TestLeases(t *testing.T) {
	const w = 30 * day
	cases := []struct {
		name  string
		steps []leaseStep
	}{
		{"free contact may be surveyed", []leaseStep{
			next(0, false, 0),
			claim(0, "d1", w, true, w),
			next(time.Hour, true, w),
		}},
		{"window expires exactly", []leaseStep{
			claim(0, "d1", w, true, w),
			claim(w-time.Millisecond, "d2", w, false, w),
			next(w-time.Millisecond, true, w),
			next(w, false, 0),
			claim(w, "d2", w, true, 2*w),
		}},
		{"retry by the same delivery is idempotent and keeps the deadline", []leaseStep{
			claim(0, "d1", w, true, w),
			claim(time.Hour, "d1", w, true, w),
			claim(29*day, "d1", 90*day, true, w),
			claim(29*day, "d2", w, false, w),
		}},
		{"another delivery is refused with the deadline", []leaseStep{
			claim(0, "d1", w, true, w),
			claim(10*day, "d2", 7*day, false, w),
			claim(10*day, "d3", w, false, w),
		}},
		{"set window extends", []leaseStep{
			claim(0, "d1", w, true, w),
			set(5*day, "d1", 0, 90*day, nil),
			next(5*day, true, 90*day),
			claim(31*day, "d2", w, false, 90*day),
			claim(90*day-time.Millisecond, "d2", w, false, 90*day),
			claim(90*day, "d2", w, true, 120*day),
		}},
		{"set window shortens", []leaseStep{
			claim(0, "d1", w, true, w),
			set(day, "d1", 0, 7*day, nil),
			claim(7*day-time.Millisecond, "d2", w, false, 7*day),
			claim(7*day, "d2", w, true, 37*day),
		}},
		{"set window ending in the past frees at once", []leaseStep{
			claim(0, "d1", w, true, w),
			set(10*day, "d1", 0, 7*day, nil),
			next(10*day, false, 0),
			claim(10*day, "d2", w, true, 40*day),
		}},
		{"set window by another delivery changes nothing", []leaseStep{
			claim(0, "d1", w, true, w),
			set(day, "d2", 0, 90*day, throttle.ErrNotHeld),
			set(day, "d2", 0, time.Hour, throttle.ErrNotHeld),
			next(day, true, w),
		}},
		{"set window after the claim lapsed puts it back", []leaseStep{
			claim(0, "d1", w, true, w),
			set(31*day, "d1", 0, 90*day, nil),
			claim(31*day, "d2", w, false, 90*day),
		}},
		{"release gives back", []leaseStep{
			claim(0, "d1", w, true, w),
			release(day, "d1"),
			next(day, false, 0),
			claim(day, "d2", w, true, day+w),
		}},
		{"release by another delivery does nothing", []leaseStep{
			claim(0, "d1", w, true, w),
			release(day, "d2"),
			release(day, "d2"),
			claim(day, "d2", w, false, w),
			release(day, "d1"),
			release(day, "d1"),
			claim(day, "d2", w, true, day+w),
		}},
		{"sub-millisecond windows round up", []leaseStep{
			claim(0, "d1", 1500*time.Microsecond, true, 2*time.Millisecond),
			claim(time.Millisecond, "d2", time.Hour, false, 2*time.Millisecond),
			claim(2*time.Millisecond, "d2", time.Hour, true, 2*time.Millisecond+time.Hour),
		}},
	}
	for kind, ops := range leaseKinds {
		for _, tc := range cases {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				e := setup(t)
				ctx := context.Background()
				const name = "contact-42"
				for i, s := range tc.steps {
					e.clock.Set(s.at)
					switch s.op {
					case "claim":
						ok, until, err := ops.claim(e.lim, ctx, name, s.delivery, s.window)
						if err != nil {
							t.Fatalf("step %d: %v", i, err)
						}
						if ok != s.wantOK || !until.Equal(at(s.wantAt)) {
							t.Fatalf("step %d: claim %s at %v = %v, until +%v; want %v, +%v",
								i, s.delivery, s.at, ok, until.Sub(start), s.wantOK, s.wantAt)
						}
					case "set":
						err := ops.set(e.lim, ctx, name, s.delivery, at(s.from), s.window)
						if !errors.Is(err, s.wantErr) {
							t.Fatalf("step %d: set %s: err %v, want %v", i, s.delivery, err, s.wantErr)
						}
					case "release":
						if err := ops.release(e.lim, ctx, name, s.delivery); err != nil {
							t.Fatalf("step %d: %v", i, err)
						}
					case "next":
						next, claimed, err := ops.next(e.lim, ctx, name)
						if err != nil {
							t.Fatalf("step %d: %v", i, err)
						}
						want := time.Time{}
						if s.wantOK {
							want = at(s.wantAt)
						}
						if claimed != s.wantOK || !next.Equal(want) {
							t.Fatalf("step %d: next at %v = %v, %v; want %v, %v", i, s.at, next, claimed, want, s.wantOK)
						}
					}
				}
			})
		}
	}
}

func TestConversationHolder(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	if _, _, err := e.lim.ClaimContact(ctx, "+15550001", "d1", 30*day); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, err := e.lim.Conversation(ctx, "+15550001"); err != nil || ok {
		t.Fatalf("conversation before any: ok=%v err=%v; a contact claim is not a conversation", ok, err)
	}
	if _, _, err := e.lim.ClaimConversation(ctx, "+15550001", "d1", 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	d, until, ok, err := e.lim.Conversation(ctx, "+15550001")
	if err != nil || !ok || d != "d1" || !until.Equal(at(24*time.Hour)) {
		t.Fatalf("Conversation = %q, %v, %v, %v", d, until, ok, err)
	}
	if err := e.lim.EndConversation(ctx, "+15550001", "d1"); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, _ := e.lim.Conversation(ctx, "+15550001"); ok {
		t.Fatal("conversation open after EndConversation")
	}
}

func TestClaimContent(t *testing.T) {
	const (
		addr = "+15550100"
		msg  = "How likely are you to recommend Acme? Reply 0-10."
		w    = 12 * time.Hour
	)
	type step struct {
		at       time.Duration
		address  string
		content  string
		delivery string
		release  bool
		wantOK   bool
		wantErr  error
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"same message to the same address is refused until the window ends", []step{
			{at: 0, address: addr, content: msg, delivery: "d1", wantOK: true},
			{at: time.Hour, address: addr, content: msg, delivery: "d2", wantOK: false},
			{at: w - time.Millisecond, address: addr, content: msg, delivery: "d2", wantOK: false},
			{at: w, address: addr, content: msg, delivery: "d2", wantOK: true},
		}},
		{"retry of the same delivery is allowed", []step{
			{at: 0, address: addr, content: msg, delivery: "d1", wantOK: true},
			{at: time.Minute, address: addr, content: msg, delivery: "d1", wantOK: true},
		}},
		{"other content or other address is not a duplicate", []step{
			{at: 0, address: addr, content: msg, delivery: "d1", wantOK: true},
			{at: 0, address: addr, content: msg + " ", delivery: "d2", wantOK: true},
			{at: 0, address: "+15550101", content: msg, delivery: "d3", wantOK: true},
			{at: 0, address: addr + "\x00" + "x", content: msg, delivery: "d4", wantErr: throttle.ErrInvalidArgument},
		}},
		{"splitting address and content differently is not a duplicate", []step{
			{at: 0, address: "+15550100", content: "yes", delivery: "d1", wantOK: true},
			{at: 0, address: "+1555010", content: "0yes", delivery: "d2", wantOK: true},
			{at: 0, address: "+1555010", content: "0\x00yes", delivery: "d3", wantOK: true},
		}},
		{"release gives back", []step{
			{at: 0, address: addr, content: msg, delivery: "d1", wantOK: true},
			{at: time.Minute, address: addr, content: msg, delivery: "d1", release: true},
			{at: time.Minute, address: addr, content: msg, delivery: "d2", wantOK: true},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t)
			ctx := context.Background()
			for i, s := range tc.steps {
				e.clock.Set(s.at)
				if s.release {
					if err := e.lim.ReleaseContent(ctx, s.address, s.content, s.delivery); err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
					continue
				}
				ok, err := e.lim.ClaimContent(ctx, s.address, s.content, s.delivery, w)
				if !errors.Is(err, s.wantErr) || ok != s.wantOK {
					t.Fatalf("step %d: ClaimContent = %v, %v; want %v, %v", i, ok, err, s.wantOK, s.wantErr)
				}
			}
			for _, k := range keys(t, e.rdb) {
				for _, s := range tc.steps {
					if containsAny(k, s.address, s.content) {
						t.Errorf("key %q holds the address or the content in clear", k)
					}
				}
			}
		})
	}
}

func TestInvalidArguments(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	calls := map[string]func() error{
		"empty contact":  func() error { _, _, err := e.lim.ClaimContact(ctx, "", "d", day); return err },
		"empty delivery": func() error { _, _, err := e.lim.ClaimContact(ctx, "c", "", day); return err },
		"zero window":    func() error { _, _, err := e.lim.ClaimContact(ctx, "c", "d", 0); return err },
		"sub-ms window":  func() error { _, _, err := e.lim.ClaimConversation(ctx, "a", "d", time.Microsecond); return err },
		"negative set":   func() error { return e.lim.SetContactWindow(ctx, "c", "d", start, -time.Hour) },
		"zero cap":       func() error { _, _, err := e.lim.ClaimAccount(ctx, "acme", "d", 0, day); return err },
		"empty account":  func() error { _, _, err := e.lim.ClaimAccount(ctx, "", "d", 1, day); return err },
		"zero rate":      func() error { _, err := e.lim.Take(ctx, "b", 0, 1, 1); return err },
		"negative cost":  func() error { _, err := e.lim.Take(ctx, "b", 1, 1, -1); return err },
		"zero allow":     func() error { _, _, err := e.lim.Allow(ctx, "ip", 0, time.Minute); return err },
		"empty key":      func() error { _, _, err := e.lim.Allow(ctx, "", 1, time.Minute); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, throttle.ErrInvalidArgument) {
			t.Errorf("%s: err %v, want ErrInvalidArgument", name, err)
		}
	}
	if n := len(keys(t, e.rdb)); n != 0 {
		t.Errorf("refused calls wrote %d keys", n)
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if sub != "" && strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
