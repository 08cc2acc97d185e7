package dispatcher_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/npsgate/npsgate/campaign"
	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/channels/chat/dingtalk"
	"github.com/npsgate/npsgate/channels/email"
	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/internal/chattest"
	"github.com/npsgate/npsgate/internal/smtptest"
	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

// TestEveryHeldBackDeliveryIsCounted: whichever check holds a delivery
// back, the gate's rules or the sender's own (opt-outs, suppressions, a
// contact or address gone, the campaign's state, a reminder's survey, the
// provider's answers), it is counted once, under its reason.
func TestEveryHeldBackDeliveryIsCounted(t *testing.T) {
	e := newEnv(t)
	e.withReminders(store.Reminder{After: time.Minute})
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	clk := testenv.NewClock(t0)
	provider := &gateChannel{name: "sms", now: clk.Now, fail: func(m *channels.Message) error {
		switch m.To {
		case "+15550100021":
			return &channels.Error{Channel: "sms", Kind: channels.OptedOut, Code: "21610", Message: "unsubscribed recipient"}
		case "+15550100022":
			return &channels.Error{Channel: "sms", Kind: channels.RateLimited, Code: "20429", RetryAfter: time.Minute}
		}
		return nil
	}}
	e.gateUse(provider)
	g := e.clockedGate(clk, nil)
	ctx := context.Background()
	later := t0.Add(-time.Hour)

	type held struct {
		decision, reason string
		d                *store.Delivery
		want             store.DeliveryStatus
	}
	var cases []held
	add := func(decision, reason string, want store.DeliveryStatus, d *store.Delivery) {
		cases = append(cases, held{decision, reason, d, want})
	}

	e.gatePerson(store.Contact{ExternalID: "out", Email: "out@example.com"})
	if err := e.st.OptOutContact(ctx, "out", "unsubscribe", later); err != nil {
		t.Fatal(err)
	}
	add("suppressed", "opted_out", store.StatusSuppressed, e.gateSurvey("out", "email", "out@example.com", nil))
	e.gatePerson(store.Contact{ExternalID: "listed", Email: "listed@example.com"})
	if err := e.st.AddSuppression(ctx, store.Suppression{Channel: "email", Address: "listed@example.com"}); err != nil {
		t.Fatal(err)
	}
	add("suppressed", "suppression_list", store.StatusSuppressed, e.gateSurvey("listed", "email", "listed@example.com", nil))
	add("suppressed", "contact_deleted", store.StatusSuppressed, e.gateSurvey("nobody", "email", "nobody@example.com", nil))
	e.gatePerson(store.Contact{ExternalID: "noaddr"})
	add("suppressed", "no_address", store.StatusSuppressed, e.gateSurvey("noaddr", "email", "", nil))

	for _, c := range []struct {
		id     string
		status store.CampaignStatus
		window campaign.Window
	}{
		{"cp-paused", store.CampaignPaused, campaign.Window{}},
		{"cp-cancelled", store.CampaignCancelled, campaign.Window{}},
		{"cp-window", "", campaign.Window{Start: "00:00", End: "00:01", Days: []int{int(t0.Add(48*time.Hour).Weekday()+6)%7 + 1}}},
	} {
		cp := e.campaign(&store.Campaign{ID: c.id, Name: c.id, SendWindow: c.window}, t0)
		if c.status != "" {
			if _, err := e.st.SetCampaignState(ctx, cp.ID, []store.CampaignStatus{store.CampaignScheduled}, c.status, nil); err != nil {
				t.Fatal(err)
			}
		}
		e.gatePerson(store.Contact{ExternalID: c.id, Email: c.id + "@example.com"})
		d := e.gateSurvey(c.id, "email", c.id+"@example.com", func(d *store.Delivery) { d.CampaignID, d.Source = cp.ID, "campaign" })
		switch c.id {
		case "cp-paused":
			add("deferred", "campaign_paused", store.StatusDeferred, d)
		case "cp-cancelled":
			add("suppressed", "campaign_cancelled", store.StatusSuppressed, d)
		default:
			add("deferred", "send_window", store.StatusDeferred, d)
		}
	}

	e.gatePerson(store.Contact{ExternalID: "twice", Email: "twice@example.com"})
	e.gateMust(e.gateSurvey("twice", "email", "twice@example.com", nil), store.StatusSent)
	add("suppressed", "fatigue", store.StatusSuppressed, e.gateSurvey("twice", "email", "twice@example.com", nil))

	// An answered survey's reminder is dropped.
	e.gatePerson(store.Contact{ExternalID: "answered", Email: "answered@example.com"})
	parent := e.gateMust(e.gateSurvey("answered", "email", "answered@example.com", nil), store.StatusSent)
	rems, err := e.st.RemindersOf(ctx, parent.ID)
	if err != nil || len(rems) != 1 {
		t.Fatalf("reminders %v %v", rems, err)
	}
	if _, _, err := e.st.AnswerDelivery(ctx, &store.Response{DeliveryID: parent.ID, Score: 9}, survey.NPS,
		[]store.DeliveryStatus{store.StatusSent}); err != nil {
		t.Fatal(err)
	}
	add("suppressed", "reminder", store.StatusSuppressed, rems[0])

	e.gatePerson(store.Contact{ExternalID: "stop", Phone: "+15550100021"})
	add("suppressed", "provider_opt_out", store.StatusSuppressed, e.gateSurvey("stop", "sms", "+15550100021", nil))
	e.gatePerson(store.Contact{ExternalID: "slow", Phone: "+15550100022"})
	add("deferred", "rate_limited", store.StatusDeferred, e.gateSurvey("slow", "sms", "+15550100022", nil))

	for _, c := range cases {
		got, _ := e.gateSend(c.d)
		if got.Status != c.want {
			t.Fatalf("%s: %s %q, want %s", c.reason, got.Status, got.Reason, c.want)
		}
		// A replayed task finds it suppressed already: not counted again.
		// (A deferred one is tried again, and a new deferral is counted.)
		if c.want == store.StatusSuppressed {
			if _, err := e.gateSend(got); err != nil {
				t.Fatalf("%s, sent again: %v", c.reason, err)
			}
		}
	}
	for _, c := range cases {
		if n := gateCounted(t, g, c.decision, c.reason); n != 1 {
			t.Errorf("%s %s counted %v times, want 1", c.decision, c.reason, n)
		}
	}
	if n := gateSeries(g); n != len(cases) {
		t.Errorf("%d series, want %d", n, len(cases))
	}
}

// TestProviderBlockHoldsEveryDelivery: DingTalk answers "send too fast"
// (130101) and blocks the robot for 10 minutes. The delivery it refused is
// deferred (rate_limited) to the end of the block, and so is every other
// one to that robot, without calling it; another robot is not held.
func TestProviderBlockHoldsEveryDelivery(t *testing.T) {
	e := newEnv(t)
	dt := chattest.StartDingTalk(t)
	blocked := dt.AddRobot("robot-a", "SECa0123456789abcdef")
	free := dt.AddRobot("robot-b", "SECb0123456789abcdef")
	ch, err := dingtalk.New(dingtalk.Config{})
	if err != nil {
		t.Fatal(err)
	}
	e.gateUse(ch)
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	clk := testenv.NewClock(t0)
	// One text to one group robot is a duplicate: not this test's point.
	g := e.clockedGate(clk, func(g *dispatcher.Gate) { g.Duplicate = 0 })
	for _, id := range []string{"dt-1", "dt-2", "dt-3"} {
		e.gatePerson(store.Contact{ExternalID: id})
	}

	dt.FailNext(chattest.DingTalkSendTooFast)
	first, err := e.gateSend(e.gateSurvey("dt-1", dingtalk.Name, blocked, nil))
	until := t0.Add(10 * time.Minute)
	if first.Status != store.StatusDeferred || !strings.HasPrefix(first.Reason, "rate_limited: 130101") || !first.SendAt.Equal(until) {
		t.Fatalf("refused delivery: %s %q until %v, want deferred rate_limited until %v", first.Status, first.Reason, first.SendAt, until)
	}
	if !errors.Is(err, dispatcher.ErrRateLimited) {
		t.Fatalf("a provider's rate limit must not count as a failure: %v", err)
	}

	clk.Advance(time.Minute)
	second := e.gateMust(e.gateSurvey("dt-2", dingtalk.Name, blocked, nil), store.StatusDeferred)
	if !strings.HasPrefix(second.Reason, "rate_limited") || !second.SendAt.Equal(until) {
		t.Fatalf("another delivery to the blocked robot: %q until %v, want rate_limited until %v", second.Reason, second.SendAt, until)
	}
	if n := dt.Count(); n != 1 {
		t.Fatalf("the blocked robot was called %d times, want once", n)
	}
	e.gateMust(e.gateSurvey("dt-3", dingtalk.Name, free, nil), store.StatusSent)
	if wait, err := g.Token(context.Background(), dingtalk.Name, blocked, 1); err != nil || wait != 9*time.Minute {
		t.Fatalf("an alert to the blocked robot would wait %v (%v), want 9m", wait, err)
	}

	clk.Set(until)
	e.gateMust(first, store.StatusSent)
	e.gateMust(second, store.StatusSent)
	if n := gateCounted(t, g, "deferred", "rate_limited"); n != 2 {
		t.Fatalf("rate_limited counted %v times, want 2", n)
	}
}

// TestHardBounceSuppressesTheAddress: an SMTP 550 5.1.1 (no such mailbox)
// fails the delivery and suppresses the address, so no survey goes there
// again; a 554 5.7.1 (refused as spam) fails it and suppresses nothing.
func TestHardBounceSuppressesTheAddress(t *testing.T) {
	e := newEnv(t)
	srv := smtptest.Start(t,
		smtptest.WithReply(smtptest.AtRcpt, func(rcpt string, _ int) *gosmtp.SMTPError {
			if strings.HasPrefix(rcpt, "gone@") {
				return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "User unknown in virtual mailbox table"}
			}
			if strings.HasPrefix(rcpt, "sender@") {
				return &gosmtp.SMTPError{Code: 553, EnhancedCode: gosmtp.EnhancedCode{5, 1, 8}, Message: "Sender address rejected: Domain not found"}
			}
			if strings.HasPrefix(rcpt, "spam@") {
				return &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "Message rejected as spam"}
			}
			return nil
		}))
	ch, err := email.New(email.Config{URL: srv.URL("", ""), From: "NPS <nps@example.com>", StartTLS: "none"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ch.Close() })
	e.gateUse(ch)
	e.clockedGate(testenv.NewClock(time.Now().UTC()), func(g *dispatcher.Gate) { g.Transactional = 0 })
	ctx := context.Background()
	for _, tc := range []struct {
		id, addr, reason string
		suppressed       bool
	}{
		{"gone", "gone@customer.example", "550 5.1.1 User unknown", true},
		{"sender", "sender@customer.example", "553 5.1.8 Sender address rejected", false},
		{"spam", "spam@customer.example", "554 5.7.1 Message rejected", false},
	} {
		e.gatePerson(store.Contact{ExternalID: tc.id, Email: tc.addr})
		got := e.gateMust(e.gateSurvey(tc.id, "email", tc.addr, nil), store.StatusFailed)
		if !strings.HasPrefix(got.Reason, tc.reason) {
			t.Fatalf("%s: reason %q", tc.addr, got.Reason)
		}
		why, suppressed, err := e.st.Suppressed(ctx, "email", tc.addr)
		if err != nil || suppressed != tc.suppressed || (suppressed && why != "bounce") {
			t.Fatalf("%s: suppressed %v %q %v, want %v", tc.addr, suppressed, why, err, tc.suppressed)
		}
	}
	calls := srv.Count()
	again := e.gateMust(e.gateSurvey("gone", "email", "gone@customer.example", nil), store.StatusSuppressed)
	if again.Reason != "suppressed: bounce" || srv.Count() != calls {
		t.Fatalf("a survey to the bounced address: %q, %d more SMTP messages", again.Reason, srv.Count()-calls)
	}
}

// TestClaimsGivenBackWhenRetriesRunOut: a delivery that fails after its
// last retry never reached its contact: the contact does not rest, the
// account's slot and the text are free again.
func TestClaimsGivenBackWhenRetriesRunOut(t *testing.T) {
	down := &channels.Error{Channel: "email", Kind: channels.Retryable, Message: "down"}
	e := newEnv(t, down, down, down)
	g := e.gate(func(g *dispatcher.Gate) { g.AccountCap, g.AccountWindow = 1, 30*gateDay })
	e.gatePerson(store.Contact{ExternalID: "r1", Email: "shared@acme.example", Account: "acme"})
	e.gatePerson(store.Contact{ExternalID: "r2", Email: "r2@acme.example", Account: "acme"})
	e.gatePerson(store.Contact{ExternalID: "r3", Email: "shared@acme.example"})
	d := e.gateSurvey("r1", "email", "shared@acme.example", nil)
	if err := e.client.ScheduleDelivery(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	e.worker()
	if got := e.wait(d.ID, store.StatusFailed); !strings.HasPrefix(got.Reason, "gave up after 3 attempts") {
		t.Fatalf("reason %q", got.Reason)
	}
	// The claims are given back right after the failed status is written,
	// so the test may look in between: poll.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		next, err := g.NextSurvey(context.Background(), "r1")
		if err == nil && next.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the contact of a survey that never went rests until %v (%v)", next, err)
		}
	}
	// The account's one slot is free: another contact of it is surveyed.
	e.gateMust(e.gateSurvey("r2", "email", "r2@acme.example", nil), store.StatusSent)
	// The same text to the same address is not a duplicate.
	e.gateMust(e.gateSurvey("r3", "email", "shared@acme.example", nil), store.StatusSent)
}
