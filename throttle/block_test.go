package throttle_test

import (
	"context"
	"testing"
	"time"

	"github.com/npsgate/npsgate/throttle"
)

// TestBlock: a robot blocked for 10 minutes gives no token to anyone until
// the block ends, then goes on with the tokens it had.
func TestBlock(t *testing.T) {
	type step struct {
		at       time.Duration // since start
		op       string        // take, block, blocked
		bucket   string
		until    time.Duration // block: since start
		wantWait time.Duration
	}
	const robot, other = "dingtalk:robot-1", "dingtalk:robot-2"
	cases := []struct {
		name  string
		steps []step
	}{
		{"nothing is taken until the block ends", []step{
			{0, "take", robot, 0, 0},
			{3 * time.Second, "block", robot, 3*time.Second + 10*time.Minute, 0},
			{3 * time.Second, "take", robot, 0, 10 * time.Minute},
			{3 * time.Second, "blocked", robot, 0, 10 * time.Minute},
			{3 * time.Second, "take", other, 0, 0},
			{9 * time.Minute, "take", robot, 0, time.Minute + 3*time.Second},
			{10*time.Minute + 3*time.Second, "blocked", robot, 0, 0},
			{10*time.Minute + 3*time.Second, "take", robot, 0, 0},
			{10*time.Minute + 3*time.Second, "take", robot, 0, 3 * time.Second},
		}},
		{"a block never shortens one already set", []step{
			{0, "block", robot, 10 * time.Minute, 0},
			{0, "block", robot, time.Minute, 0},
			{0, "blocked", robot, 0, 10 * time.Minute},
			{0, "block", robot, 20 * time.Minute, 0},
			{0, "take", robot, 0, 20 * time.Minute},
		}},
		{"a block in the past does nothing", []step{
			{time.Minute, "block", robot, 0, 0},
			{time.Minute, "blocked", robot, 0, 0},
			{time.Minute, "take", robot, 0, 0},
		}},
		{"the tokens are kept across a short block", []step{
			{0, "take", robot, 0, 0}, // 20/min, burst 1: the next token is 3s later
			{0, "block", robot, time.Second, 0},
			{time.Second, "take", robot, 0, 2 * time.Second},
			{3 * time.Second, "take", robot, 0, 0},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t)
			ctx := context.Background()
			for i, s := range tc.steps {
				e.clock.Set(s.at)
				var wait time.Duration
				var err error
				switch s.op {
				case "take":
					wait, err = e.lim.Take(ctx, s.bucket, 20.0/60, 1, 1)
				case "block":
					err = e.lim.Block(ctx, s.bucket, at(s.until))
				case "blocked":
					wait, err = e.lim.Blocked(ctx, s.bucket)
				}
				if err != nil {
					t.Fatalf("step %d (%s): %v", i, s.op, err)
				}
				if wait != s.wantWait {
					t.Fatalf("step %d (%s %s at %v): wait %v, want %v", i, s.op, s.bucket, s.at, wait, s.wantWait)
				}
			}
		})
	}
}

// TestBlockSharedByProcesses: a block set through one client stops takes
// through another, as one worker process's block stops the others.
func TestBlockSharedByProcesses(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	other := throttle.New(newClient(t, e.url), throttle.WithClock(e.clock.Now))
	if err := e.lim.Block(ctx, "wecom:robot", e.clock.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if wait, err := other.Take(ctx, "wecom:robot", 1, 1, 1); err != nil || wait != time.Minute {
		t.Fatalf("take in the other process: wait %v, err %v", wait, err)
	}
}
