package dispatcher_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/npsgate/npsgate/campaign"
	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/templates"
	"github.com/npsgate/npsgate/throttle"
)

// recorder is a channel of any name that keeps what it is given.
type recorder struct {
	name string
	mu   sync.Mutex
	sent []*channels.Message
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Send(_ context.Context, m *channels.Message) (channels.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, m)
	return channels.Result{ProviderID: r.name + "-" + m.DeliveryID}, nil
}

func (r *recorder) messages() []*channels.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*channels.Message(nil), r.sent...)
}

// withSMS registers an SMS channel beside the test email channel.
func (e *env) withSMS() *recorder {
	e.t.Helper()
	sms := &recorder{name: "sms"}
	if err := e.sender.Channels.Register(sms); err != nil {
		e.t.Fatal(err)
	}
	return sms
}

// surveyTo writes a survey delivery to a contact, open for 30 days.
func (e *env) surveyTo(contact, channel, address, locale string, at time.Time) *store.Delivery {
	e.t.Helper()
	spreadSeq++
	d := &store.Delivery{ID: "sv-" + contact + "-" + time.Now().Format("150405.000000000"), SurveyKey: "s", ContactID: contact,
		Channel: channel, Address: address, Locale: locale, Token: dispatcher.NewToken(), Source: "trigger",
		CreatedAt: at, SendAt: at, ExpiresAt: at.Add(30 * 24 * time.Hour)}
	if _, _, err := e.st.CreateDelivery(context.Background(), d); err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *env) send(id string) error {
	e.t.Helper()
	return e.sender.Send(context.Background(), dispatcher.SendDelivery{ID: id})
}

func (e *env) status(id string) *store.Delivery {
	e.t.Helper()
	d, err := e.st.GetDelivery(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// TestRemindersPassTheGatesButFatigue: a reminder waits out quiet hours
// like a survey and is dropped for an opted-out contact, but is exempt
// from the fatigue window its own survey opened (which stops another
// survey to the same contact).
func TestRemindersPassTheGatesButFatigue(t *testing.T) {
	e := newEnv(t)
	ropt, err := redis.ParseURL(e.redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(ropt)
	t.Cleanup(func() { rdb.Close() })
	clk := testenv.NewClock(day(0).Add(time.Hour)) // 10:00 UTC
	e.sender.Now = clk.Now
	e.sender.Gate = &dispatcher.Gate{Limiter: throttle.New(rdb, throttle.WithClock(clk.Now)), Transactional: 30 * 24 * time.Hour,
		Window: campaign.Window{Start: "09:00", End: "20:00"}}
	e.withReminders(store.Reminder{After: 12 * time.Hour})
	ctx := context.Background()
	if _, err := e.st.UpsertContact(ctx, &store.Contact{ExternalID: "c2", Email: "c2@example.com", Locale: "en"}); err != nil {
		t.Fatal(err)
	}

	d1 := e.surveyTo("c1", "email", "c1@example.com", "en", clk.Now())
	d2 := e.surveyTo("c2", "email", "c2@example.com", "en", clk.Now())
	for _, d := range []*store.Delivery{d1, d2} {
		if err := e.send(d.ID); err != nil {
			t.Fatal(err)
		}
	}
	// Fatigue holds: another survey to c1 is refused.
	again := e.surveyTo("c1", "email", "c1@example.com", "en", clk.Now())
	if err := e.send(again.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.status(again.ID); got.Status != store.StatusSuppressed || !strings.HasPrefix(got.Reason, "fatigue") {
		t.Fatalf("second survey: %s %q", got.Status, got.Reason)
	}
	r1, _ := e.st.RemindersOf(ctx, d1.ID)
	r2, _ := e.st.RemindersOf(ctx, d2.ID)
	if len(r1) != 1 || len(r2) != 1 || !r1[0].SendAt.Equal(day(0).Add(13*time.Hour)) {
		t.Fatalf("reminders %v %v", r1, r2)
	}

	// 22:00: quiet hours. The reminder waits for 09:00.
	clk.Set(r1[0].SendAt)
	if err := e.send(r1[0].ID); !errors.Is(err, dispatcher.ErrRateLimited) {
		t.Fatalf("reminder in quiet hours: %v", err)
	}
	if got := e.status(r1[0].ID); got.Status != store.StatusDeferred || got.Reason != "quiet hours" || !got.SendAt.Equal(day(1)) {
		t.Fatalf("reminder in quiet hours: %s %q until %v", got.Status, got.Reason, got.SendAt)
	}
	// c2 opts out meanwhile.
	if err := e.st.OptOutContact(ctx, "c2", "unsubscribe", clk.Now()); err != nil {
		t.Fatal(err)
	}
	clk.Set(day(1))
	for _, r := range []*store.Delivery{r1[0], r2[0]} {
		if err := e.send(r.ID); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.status(r1[0].ID); got.Status != store.StatusSent {
		t.Fatalf("reminder after quiet hours, inside c1's fatigue window: %s %q", got.Status, got.Reason)
	}
	if got := e.status(r2[0].ID); got.Status != store.StatusSuppressed || got.Reason != "opted_out" {
		t.Fatalf("reminder to an opted-out contact: %s %q", got.Status, got.Reason)
	}
	msgs := e.waitSent(3)
	if len(msgs) != 3 || msgs[2].To != "c1@example.com" || !strings.HasPrefix(msgs[2].Subject, "Reminder: ") {
		t.Fatalf("%d sent; last %+v", len(msgs), msgs[len(msgs)-1])
	}
}

// TestReminderOnTheNextChannel: an unanswered SMS survey is reminded by
// email, with the survey's reply link.
func TestReminderOnTheNextChannel(t *testing.T) {
	e := newEnv(t)
	sms := e.withSMS()
	ctx := context.Background()
	sv, _ := e.st.GetSurvey(ctx, "s")
	sv.Channels = []string{"sms", "email"}
	sv.Reminders = []store.Reminder{{After: time.Hour, NextChannel: true}}
	if err := e.st.UpdateSurvey(ctx, sv); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.UpsertContact(ctx, &store.Contact{ExternalID: "c1", Email: "c1@example.com", Phone: "+14155550100", Locale: "en"}); err != nil {
		t.Fatal(err)
	}
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Second))
	e.sender.Now = clk.Now
	d := e.surveyTo("c1", "sms", "+14155550100", "en", clk.Now())
	if err := e.send(d.ID); err != nil {
		t.Fatal(err)
	}
	rems, _ := e.st.RemindersOf(ctx, d.ID)
	if len(rems) != 1 || rems[0].Channel != "email" || rems[0].Address != "c1@example.com" {
		t.Fatalf("reminder %+v", rems)
	}
	clk.Set(rems[0].SendAt)
	if err := e.send(rems[0].ID); err != nil {
		t.Fatal(err)
	}
	if len(sms.messages()) != 1 {
		t.Fatalf("%d SMS", len(sms.messages()))
	}
	m := e.waitSent(1)[0]
	if m.To != "c1@example.com" || m.Subject != "Reminder: Quick question about Acme" ||
		!strings.Contains(m.Text, "/r/"+d.Token+"?score=10&m=1") {
		t.Fatalf("email reminder: %s\n%s", m.Subject, m.Text)
	}
}

// TestReminderTemplatesFallBackPartByPart: the survey overrides its
// zh-CN email text, every reminder's English subject ("email_reminder"),
// and the second reminder has a subject of its own. A zh-CN contact's
// reminder is the survey's zh-CN message marked 提醒：, not the built-in
// survey text with nothing to say it is a reminder; English contacts get
// the reminders' subjects.
func TestReminderTemplatesFallBackPartByPart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sv, _ := e.st.GetSurvey(ctx, "s")
	sv.Templates = map[string]map[string]map[string]string{
		"email":          {"zh-CN": {"text": "自定义：{{.Question}} {{.ReplyURL}}"}},
		"email_reminder": {"en": {"subject": "We would still love to hear from you"}},
	}
	sv.Reminders = []store.Reminder{{After: time.Hour}, {After: 2 * time.Hour,
		Templates: map[string]map[string]map[string]string{"email": {"en": {"subject": "Last chance to rate {{.ProductName}}"}}}}}
	if err := e.st.UpdateSurvey(ctx, sv); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.UpsertContact(ctx, &store.Contact{ExternalID: "zh", Email: "zh@example.com", Locale: "zh-CN"}); err != nil {
		t.Fatal(err)
	}
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Second))
	e.sender.Now = clk.Now
	zh := e.surveyTo("zh", "email", "zh@example.com", "zh-CN", clk.Now())
	en := e.surveyTo("c1", "email", "c1@example.com", "en", clk.Now())
	for _, d := range []*store.Delivery{zh, en} {
		if err := e.send(d.ID); err != nil {
			t.Fatal(err)
		}
	}
	clk.Set(clk.Now().Add(2 * time.Hour))
	for _, d := range []*store.Delivery{zh, en} {
		rems, _ := e.st.RemindersOf(ctx, d.ID)
		for _, r := range rems {
			if err := e.send(r.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	msgs := e.waitSent(6)
	tpl, _ := templates.New()
	builtin, _ := tpl.Render("email", "zh-CN", nil, templates.Data{Kind: "nps", ProductName: "Acme"})
	want := []struct{ to, subject, text string }{
		{"zh@example.com", "提醒：" + builtin.Subject, "提醒：自定义：您有多大可能向朋友或同事推荐Acme？ https://nps.test/r/" + zh.Token + "?m=1"},
		{"zh@example.com", "提醒：" + builtin.Subject, "提醒：自定义：您有多大可能向朋友或同事推荐Acme？ https://nps.test/r/" + zh.Token + "?m=2"},
		{"c1@example.com", "We would still love to hear from you", ""},
		{"c1@example.com", "Last chance to rate Acme", ""},
	}
	for i, w := range want {
		m := msgs[2+i]
		if m.To != w.to || m.Subject != w.subject || (w.text != "" && m.Text != w.text) {
			t.Errorf("reminder %d: to %s\nsubject %q, want %q\ntext %q, want %q", i, m.To, m.Subject, w.subject, m.Text, w.text)
		}
	}
}

// TestReminderSMSCarriesItsOwnShortCode: a reminder's SMS has a short
// link of its own, without "?m=", that leads to the survey's reply page
// as that reminder; the default English reminder stays one segment.
func TestReminderSMSCarriesItsOwnShortCode(t *testing.T) {
	e := newEnv(t)
	sms := e.withSMS()
	ctx := context.Background()
	sv, _ := e.st.GetSurvey(ctx, "s")
	sv.ProductName = "Acme Cloud Platform Pro"
	sv.Channels = []string{"sms"}
	sv.Reminders = []store.Reminder{{After: time.Hour}, {After: 2 * time.Hour}}
	if err := e.st.UpdateSurvey(ctx, sv); err != nil {
		t.Fatal(err)
	}
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Second))
	e.sender.Now = clk.Now
	e.sender.Links.Base = "https://nps.example.com"
	d := e.surveyTo("c1", "sms", "+14155550100", "en", clk.Now())
	if err := e.send(d.ID); err != nil {
		t.Fatal(err)
	}
	clk.Set(clk.Now().Add(2 * time.Hour))
	rems, _ := e.st.RemindersOf(ctx, d.ID)
	for _, r := range rems {
		if err := e.send(r.ID); err != nil {
			t.Fatal(err)
		}
	}
	msgs := sms.messages()
	if len(msgs) != 3 {
		t.Fatalf("%d SMS", len(msgs))
	}
	codes := map[string]bool{}
	for i, m := range msgs {
		code, ok := strings.CutPrefix(m.ReplyURL, "https://nps.example.com/s/")
		if !ok || len(code) != store.ShortCodeLen || strings.Contains(m.Text, "?m=") || !strings.HasSuffix(m.Text, m.ReplyURL) {
			t.Fatalf("SMS %d: %q (link %q)", i, m.Text, m.ReplyURL)
		}
		codes[code] = true
		token, via, err := e.st.ResolveShort(ctx, code)
		if err != nil || token != d.Token || via != i {
			t.Fatalf("SMS %d: code %s resolves to %q via %d (%v)", i, code, token, via, err)
		}
		if i > 0 {
			if enc, n := templates.Segments(m.Text); enc != templates.GSM7 || n != 1 {
				t.Fatalf("reminder %d SMS: %d characters in %d %s segments: %q", i, len(m.Text), n, enc, m.Text)
			}
		}
	}
	if len(codes) != 3 {
		t.Fatalf("codes %v", codes)
	}
}
