package dispatcher_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/npsgate/npsgate/campaign"
	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/templates"
)

const gateDay = 24 * time.Hour

func gatePtr(n int) *int { return &n }

// TestFatigueLayering: the window a survey rests its contact is the most
// specific one: the gateway's for its source, then the survey's fatigue
// days (answered) and unanswered_days, then the trigger's throttle_days.
// Each case sends one survey on the fake clock, checks when the contact
// may next be surveyed, and that another survey is suppressed (fatigue) a
// millisecond before then and sent at that moment; then the same after an
// answer, which rests the contact the answered window from the send.
func TestFatigueLayering(t *testing.T) {
	cases := []struct {
		name         string
		unanswered   time.Duration // the gateway's Unanswered
		fatigue      store.Fatigue // the survey's
		source       string
		throttleDays *int
		// wantRest is the claim made at the send, wantAnswered the rest
		// once the survey is answered.
		wantRest, wantAnswered time.Duration
	}{
		{name: "gateway, transactional", source: "trigger", wantRest: 30 * gateDay, wantAnswered: 30 * gateDay},
		{name: "gateway, relationship", source: "campaign", wantRest: 90 * gateDay, wantAnswered: 90 * gateDay},
		{name: "gateway unanswered", unanswered: 7 * gateDay, source: "trigger", wantRest: 7 * gateDay, wantAnswered: 30 * gateDay},
		{name: "survey over gateway", unanswered: 7 * gateDay, source: "trigger",
			fatigue: store.Fatigue{Days: gatePtr(60), UnansweredDays: gatePtr(20)}, wantRest: 20 * gateDay, wantAnswered: 60 * gateDay},
		{name: "survey days, gateway unanswered", unanswered: 7 * gateDay, source: "campaign",
			fatigue: store.Fatigue{Days: gatePtr(60)}, wantRest: 7 * gateDay, wantAnswered: 60 * gateDay},
		{name: "trigger over survey", unanswered: 7 * gateDay, source: "trigger", throttleDays: gatePtr(5),
			fatigue: store.Fatigue{Days: gatePtr(60), UnansweredDays: gatePtr(20)}, wantRest: 5 * gateDay, wantAnswered: 5 * gateDay},
		{name: "trigger longer than survey", source: "trigger", throttleDays: gatePtr(120),
			fatigue: store.Fatigue{Days: gatePtr(60), UnansweredDays: gatePtr(20)}, wantRest: 120 * gateDay, wantAnswered: 120 * gateDay},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			t0 := time.Now().UTC().Truncate(time.Millisecond)
			clk := testenv.NewClock(t0)
			g := e.clockedGate(clk, func(g *dispatcher.Gate) {
				g.Unanswered = tc.unanswered
				g.Duplicate = 0 // the same text again is this test's point
			})
			ctx := context.Background()
			sv := &store.Survey{Key: "layered", Kind: "nps", ProductName: "Acme", Channels: []string{"email"}, Fatigue: tc.fatigue}
			if err := e.st.CreateSurvey(ctx, sv); err != nil {
				t.Fatal(err)
			}
			for _, phase := range []string{"unanswered", "answered"} {
				clk.Set(t0)
				id := "layer-" + phase
				e.gatePerson(store.Contact{ExternalID: id, Email: id + "@example.com"})
				first := e.gateMust(e.gateSurvey(id, "email", id+"@example.com", func(d *store.Delivery) {
					d.SurveyKey, d.Source, d.ThrottleDays = "layered", tc.source, tc.throttleDays
				}), store.StatusSent)
				rest := tc.wantRest
				slack := time.Duration(0)
				if phase == "answered" {
					if err := g.Answered(ctx, first, sv); err != nil {
						t.Fatal(err)
					}
					// Counted from the send as the store recorded it.
					rest, slack = tc.wantAnswered, first.SentAt.Sub(t0)
				}
				next, err := g.NextSurvey(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if d := next.Sub(t0.Add(rest)); d < 0 || d > slack+time.Millisecond {
					t.Fatalf("%s: next survey at t0%+v, want t0+%v", phase, next.Sub(t0), rest)
				}
				clk.Set(next.Add(-time.Millisecond))
				again := e.gateMust(e.gateSurvey(id, "email", id+"@example.com", nil), store.StatusSuppressed)
				if want := "fatigue: surveyed recently; next possible " + next.UTC().Format(time.RFC3339); again.Reason != want {
					t.Fatalf("%s: reason %q, want %q", phase, again.Reason, want)
				}
				clk.Set(next)
				e.gateMust(e.gateSurvey(id, "email", id+"@example.com", nil), store.StatusSent)
			}
		})
	}
}

// TestThrottleDaysZeroIsExempt: throttle_days 0 goes through another
// survey's rest and rests nobody: the next survey goes at once.
func TestThrottleDaysZeroIsExempt(t *testing.T) {
	e := newEnv(t)
	clk := testenv.NewClock(time.Now().UTC())
	g := e.clockedGate(clk, func(g *dispatcher.Gate) { g.Duplicate = 0 })
	e.gatePerson(store.Contact{ExternalID: "z", Email: "z@example.com"})
	e.gateMust(e.gateSurvey("z", "email", "z@example.com", nil), store.StatusSent)
	held, _ := g.NextSurvey(context.Background(), "z")
	e.gateMust(e.gateSurvey("z", "email", "z@example.com", func(d *store.Delivery) { d.ThrottleDays = gatePtr(0) }), store.StatusSent)
	if next, _ := g.NextSurvey(context.Background(), "z"); !next.Equal(held) {
		t.Fatalf("throttle_days 0 changed the rest: %v, was %v", next, held)
	}

	e.gatePerson(store.Contact{ExternalID: "z2", Email: "z2@example.com"})
	e.gateMust(e.gateSurvey("z2", "email", "z2@example.com", func(d *store.Delivery) { d.ThrottleDays = gatePtr(0) }), store.StatusSent)
	if next, _ := g.NextSurvey(context.Background(), "z2"); !next.IsZero() {
		t.Fatalf("throttle_days 0 rested the contact until %v", next)
	}
	e.gateMust(e.gateSurvey("z2", "email", "z2@example.com", nil), store.StatusSent)
}

// TestAccountCapThroughThePipeline: at most two surveys per account in 30
// days; the third contact of the account is suppressed until a slot frees,
// and its own rest is given back.
func TestAccountCapThroughThePipeline(t *testing.T) {
	e := newEnv(t)
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	clk := testenv.NewClock(t0)
	g := e.clockedGate(clk, func(g *dispatcher.Gate) { g.AccountCap, g.AccountWindow = 2, 30*gateDay })
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("acme-%d", i)
		e.gatePerson(store.Contact{ExternalID: id, Email: id + "@acme.example", Account: "acme"})
	}
	e.gatePerson(store.Contact{ExternalID: "other", Email: "other@example.com", Account: "globex"})
	e.gateMust(e.gateSurvey("acme-1", "email", "acme-1@acme.example", nil), store.StatusSent)
	clk.Advance(time.Hour)
	e.gateMust(e.gateSurvey("acme-2", "email", "acme-2@acme.example", nil), store.StatusSent)
	third := e.gateMust(e.gateSurvey("acme-3", "email", "acme-3@acme.example", nil), store.StatusSuppressed)
	want := "account cap: 2 surveys per account reached until " + t0.Add(30*gateDay).UTC().Format(time.RFC3339)
	if third.Reason != want {
		t.Fatalf("reason %q, want %q", third.Reason, want)
	}
	if next, _ := g.NextSurvey(context.Background(), "acme-3"); !next.IsZero() {
		t.Fatalf("a survey held back by the cap rests its contact until %v", next)
	}
	e.gateMust(e.gateSurvey("other", "email", "other@example.com", nil), store.StatusSent)

	clk.Set(t0.Add(30*gateDay - time.Millisecond))
	e.gateMust(e.gateSurvey("acme-3", "email", "acme-3@acme.example", nil), store.StatusSuppressed)
	clk.Set(t0.Add(30 * gateDay))
	e.gateMust(e.gateSurvey("acme-3", "email", "acme-3@acme.example", nil), store.StatusSent)
	if got := gateCounted(t, g, "suppressed", "account_cap"); got != 2 {
		t.Fatalf("account_cap counted %v times, want 2", got)
	}
}

// TestConversationDefersTheNextSMS: while an SMS survey to a number is
// open for replies, another SMS survey to it is deferred to when it
// closes, then goes.
func TestConversationDefersTheNextSMS(t *testing.T) {
	e := newEnv(t)
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	clk := testenv.NewClock(t0)
	sms := &gateChannel{name: "sms", now: clk.Now}
	e.gateUse(sms)
	g := e.clockedGate(clk, func(g *dispatcher.Gate) { g.Conversation = 7 * gateDay })
	const phone = "+15550100001"
	// Two people sharing a phone: fatigue, per contact, holds neither back.
	e.gatePerson(store.Contact{ExternalID: "ana", Phone: phone})
	e.gatePerson(store.Contact{ExternalID: "ben", Phone: phone})
	e.gateMust(e.gateSurvey("ana", "sms", phone, nil), store.StatusSent)

	clk.Advance(time.Hour)
	second := e.gateSurvey("ben", "sms", phone, nil)
	got, err := e.gateSend(second)
	if got.Status != store.StatusDeferred || got.Reason != "another SMS survey to this number is open" || !got.SendAt.Equal(t0.Add(7*gateDay)) {
		t.Fatalf("second SMS: %s %q until %v, want deferred until %v", got.Status, got.Reason, got.SendAt, t0.Add(7*gateDay))
	}
	if !errors.Is(err, dispatcher.ErrRateLimited) {
		t.Fatalf("a deferral must come back as a wait, not a failure: %v", err)
	}
	if n := len(sms.list()); n != 1 {
		t.Fatalf("%d SMS sent, want 1", n)
	}
	clk.Set(t0.Add(7*gateDay - time.Millisecond))
	e.gateMust(second, store.StatusDeferred)
	clk.Set(t0.Add(7 * gateDay))
	e.gateMust(second, store.StatusSent)
	if got := gateCounted(t, g, "deferred", "open_conversation"); got != 2 {
		t.Fatalf("open_conversation counted %v times, want 2", got)
	}
}

// TestQuietHoursAcrossZonesAndDST: a survey outside 09:00-17:00 in its
// contact's zone is deferred to the next opening in that zone, on the wall
// clock of that day whatever its offset: across the spring-forward gap
// and the fall-back hour, 09:00 is 13:00 UTC on the one and 14:00 UTC on
// the other, not the evening before's offset carried over.
func TestQuietHoursAcrossZonesAndDST(t *testing.T) {
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	nineToFive := campaign.Window{Start: "09:00", End: "17:00"}
	cases := []struct {
		name   string
		zone   string
		window campaign.Window
		now    string
		want   string // "" sends now
	}{
		{"spring forward: Saturday 22:00 EST to Sunday 09:00 EDT", "America/New_York", nineToFive,
			"2026-03-08T03:00:00Z", "2026-03-08T13:00:00Z"},
		{"spring forward: a minute before opening", "America/New_York", nineToFive,
			"2026-03-08T12:59:00Z", "2026-03-08T13:00:00Z"},
		{"spring forward: at opening", "America/New_York", nineToFive, "2026-03-08T13:00:00Z", ""},
		{"fall back: Saturday 23:00 EDT to Sunday 09:00 EST", "America/New_York", nineToFive,
			"2026-11-01T03:00:00Z", "2026-11-01T14:00:00Z"},
		{"fall back: 09:00 EDT's instant is 08:00 EST, still closed", "America/New_York", nineToFive,
			"2026-11-01T13:00:00Z", "2026-11-01T14:00:00Z"},
		{"fall back: 16:59 EST is open", "America/New_York", nineToFive, "2026-11-01T21:59:00Z", ""},
		{"fall back: 17:00 EST closes until Monday 09:00", "America/New_York", nineToFive,
			"2026-11-01T22:00:00Z", "2026-11-02T14:00:00Z"},
		{"fall back: the repeated hour is in a 01:00-02:00 window both times", "America/New_York",
			campaign.Window{Start: "01:00", End: "02:00"}, "2026-11-01T06:30:00Z", ""},
		{"Tokyo at 01:00 waits for 09:00 JST", "Asia/Tokyo", nineToFive, "2026-03-02T16:00:00Z", "2026-03-03T00:00:00Z"},
		{"Los Angeles at 08:00 waits for 09:00 PST", "America/Los_Angeles", nineToFive, "2026-03-02T16:00:00Z", "2026-03-02T17:00:00Z"},
		{"London at 16:00 is open", "Europe/London", nineToFive, "2026-03-02T16:00:00Z", ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			clk := testenv.NewClock(utc(tc.now))
			e.clockedGate(clk, func(g *dispatcher.Gate) { g.Window = tc.window })
			id := fmt.Sprintf("tz-%d", i)
			e.gatePerson(store.Contact{ExternalID: id, Email: id + "@example.com", TimeZone: tc.zone})
			d := e.gateSurvey(id, "email", id+"@example.com", nil)
			if tc.want == "" {
				e.gateMust(d, store.StatusSent)
				return
			}
			got := e.gateMust(d, store.StatusDeferred)
			if got.Reason != "quiet hours" || !got.SendAt.Equal(utc(tc.want)) {
				t.Fatalf("deferred %q until %v, want %v", got.Reason, got.SendAt.UTC(), tc.want)
			}
			clk.Set(utc(tc.want))
			e.gateMust(d, store.StatusSent)
		})
	}
}

// TestDuplicateSMSWithItsOwnShortLink: two SMS of the same survey to one
// number differ only in their short reply links; they are the same text,
// and the second is suppressed.
func TestDuplicateSMSWithItsOwnShortLink(t *testing.T) {
	e := newEnv(t)
	clk := testenv.NewClock(time.Now().UTC())
	sms := &gateChannel{name: "sms", now: clk.Now}
	e.gateUse(sms)
	// Only the content rule: no fatigue, no conversation.
	e.clockedGate(clk, func(g *dispatcher.Gate) { g.Transactional = 0 })
	const phone = "+15550100002"
	e.gatePerson(store.Contact{ExternalID: "dup-sms", Phone: phone})
	e.gateMust(e.gateSurvey("dup-sms", "sms", phone, nil), store.StatusSent)
	got := e.gateMust(e.gateSurvey("dup-sms", "sms", phone, nil), store.StatusSuppressed)
	if !strings.HasPrefix(got.Reason, "duplicate") {
		t.Fatalf("reason %q", got.Reason)
	}
	if sent := sms.list(); len(sent) != 1 || !strings.Contains(sent[0].msg.Text, "/s/") {
		t.Fatalf("sent %d SMS; the first: %+v", len(sent), sent)
	}
	// A day later the same text may go again.
	clk.Advance(24 * time.Hour)
	e.gateMust(e.gateSurvey("dup-sms", "sms", phone, nil), store.StatusSent)
}

// TestSMSSegmentsTakeTheirTokens: at one segment a second, a three-segment
// SMS takes three seconds of the sender's bucket, so the next SMS from the
// same number waits three seconds, not one; another number has its own
// bucket.
func TestSMSSegmentsTakeTheirTokens(t *testing.T) {
	e := newEnv(t)
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	clk := testenv.NewClock(t0)
	sms := &gateChannel{name: "sms", now: clk.Now}
	e.gateUse(sms)
	g := e.clockedGate(clk, func(g *dispatcher.Gate) {
		g.Rates["sms"] = dispatcher.Rate{PerSecond: 1, Burst: 1}
		g.Senders = map[string]string{"sms": "+15550000001"}
		g.MaxWait = -1 // every wait is a deferral the test can read
	})
	ctx := context.Background()
	long := &store.Survey{Key: "long", Kind: "nps", ProductName: strings.Repeat("Acme Cloud ", 30), Channels: []string{"sms"}}
	if err := e.st.CreateSurvey(ctx, long); err != nil {
		t.Fatal(err)
	}
	e.gatePerson(store.Contact{ExternalID: "seg-1", Phone: "+15550100011"})
	e.gatePerson(store.Contact{ExternalID: "seg-2", Phone: "+15550100012"})
	e.gateMust(e.gateSurvey("seg-1", "sms", "+15550100011", func(d *store.Delivery) { d.SurveyKey = "long" }), store.StatusSent)
	if _, n := templates.Segments(sms.list()[0].msg.Text); n != 3 {
		t.Fatalf("the long SMS is %d segments, want 3", n)
	}
	next := e.gateSurvey("seg-2", "sms", "+15550100012", nil)
	got := e.gateMust(next, store.StatusDeferred)
	if got.Reason != "rate limit" || !got.SendAt.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("next SMS deferred %q until t0+%v, want t0+3s", got.Reason, got.SendAt.Sub(t0))
	}
	clk.Set(t0.Add(3 * time.Second))
	e.gateMust(next, store.StatusSent)

	// Another sending number is another bucket.
	other := *g
	other.Senders = map[string]string{"sms": "+15550000002"}
	if a, b := g.Bucket("sms", "+15550100012"), other.Bucket("sms", "+15550100012"); a == b || a != "sms:+15550000001" {
		t.Fatalf("buckets %q and %q", a, b)
	}
	if wait, err := g.Token(ctx, "sms", "+15550100011", 1); err != nil || wait != time.Second {
		t.Fatalf("first number: wait %v %v, want 1s", wait, err)
	}
	if wait, err := other.Token(ctx, "sms", "+15550100011", 1); err != nil || wait != 0 {
		t.Fatalf("second number: wait %v %v, want none", wait, err)
	}
}
