package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

// person is a contact whose every text is found nowhere else, so that a
// search of the whole database for them finds exactly what is theirs.
type person struct {
	id, name, email, phone, oldPhone string
	comment, sms, meta, idem, attr   string
}

func newPerson(tag string) person {
	return person{
		id:       "ext-" + tag,
		name:     "Erin Secretname-" + tag,
		email:    "erase-me-" + tag + "@example.com",
		phone:    "+1555010" + tag[:1] + "777",
		oldPhone: "+1555010" + tag[:1] + "666",
		comment:  "secret-comment-" + tag,
		sms:      "secret-sms-" + tag,
		meta:     "meta-" + tag,
		idem:     "idem-" + tag,
		attr:     "attr-" + tag,
	}
}

// texts are what a search for the person looks for. Phones are searched
// without their plus, which also finds them with it.
func (p person) texts() []string {
	return []string{p.id, strings.ToUpper(p.email[:1]) + p.email[1:], p.phone[1:], p.oldPhone[1:], p.name,
		p.comment, p.sms, p.meta, p.idem, p.attr}
}

// seeded is what seedPerson made.
type seeded struct {
	survey, reminder *store.Delivery
	response         *store.Response
	sent, pending    *store.Alert
	events           []string
	shortCode        string
}

// seedPerson stores p through every path that keeps data about a contact:
// the contact, deliveries (with metadata, an idempotency key, a provider's
// refusal quoting the number, a reminder still queued, a short link),
// a response with a comment, inbound messages from the current and a
// former number, alerts on the response (one sent, with its messages in
// the outbox: the alert, a follow-up and a summary found only by the
// provider id the outbox gave it; one pending), webhook events about p
// (one pending) with an attempt that echoed the payload, an import row
// error quoting the number, and suppressions of p's addresses.
func seedPerson(t *testing.T, s *store.Store, p person, hook string) seeded {
	t.Helper()
	ctx := t.Context()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("seed %s: %s: %v", p.id, what, err)
		}
	}
	var out seeded
	_, err := s.UpsertContact(ctx, &store.Contact{ExternalID: p.id, Name: p.name, Email: p.email, Phone: p.phone,
		Locale: "en", Account: "acme", Role: "admin", Tags: []string{"vip"}, Attributes: map[string]string{"note": p.attr}})
	must("contact", err)

	delivery := func(channel, addr string, edit func(d *store.Delivery)) *store.Delivery {
		t.Helper()
		d := newDelivery("nps")
		d.ContactID, d.Channel, d.Address = p.id, channel, addr
		if edit != nil {
			edit(d)
		}
		return mustDelivery(t, s, d)
	}
	move := func(d *store.Delivery, to store.DeliveryStatus, u store.Update) {
		t.Helper()
		ok, err := s.Transition(ctx, d.ID, []store.DeliveryStatus{d.Status}, to, u)
		if err != nil || !ok {
			t.Fatalf("seed %s: %s to %s: %v, %v", p.id, d.ID, to, ok, err)
		}
		d.Status = to
	}

	out.survey = delivery("email", p.email, func(d *store.Delivery) {
		d.Metadata = map[string]string{"order": p.meta}
		d.IdempotencyKey = p.idem
		d.RequestHash = "h-" + p.idem
	})
	m0 := &store.OutboxMessage{DeliveryID: out.survey.ID, Channel: "email", To: p.email, Subject: "How likely…",
		Text: "Hi " + p.name, ReplyURL: "https://nps.test/r/" + out.survey.Token}
	must("outbox", s.KeepOutbox(ctx, m0))
	move(out.survey, store.StatusSent, store.Update{ProviderMessageID: fmt.Sprint("outbox-", m0.ID)})
	out.shortCode, err = s.ShortCode(ctx, out.survey.Token)
	must("short code", err)
	out.reminder = delivery("email", p.email, func(d *store.Delivery) {
		d.ReminderOf, d.ReminderN, d.SendAt = out.survey.ID, 1, time.Now().Add(48*time.Hour)
	})

	sms := delivery("sms", p.phone, nil)
	move(sms, store.StatusFailed, store.Update{Reason: "21211: The 'To' number " + p.phone[1:] + " is not a valid phone number"})
	old := delivery("sms", p.oldPhone, nil)
	move(old, store.StatusSent, store.Update{ProviderMessageID: "SM" + strings.ReplaceAll(p.id, "-", "")})
	for i, m := range []*store.InboundMessage{
		{From: p.phone, Body: "2 " + p.sms, DeliveryID: sms.ID, Outcome: "score"},
		{From: p.oldPhone, Body: p.sms + " again", DeliveryID: old.ID, Outcome: "comment"},
		{From: p.phone, Body: "STOP " + p.sms, Outcome: "opt_out"},
	} {
		m.Provider, m.ProviderMessageID, m.Channel = "twilio", fmt.Sprintf("SM%s%d", strings.ReplaceAll(p.id, "-", ""), i), "sms"
		_, err := s.RecordInbound(ctx, m)
		must("inbound", err)
	}

	yes := true
	out.response = &store.Response{DeliveryID: out.survey.ID, Score: 2, Comment: p.comment, MayContact: &yes}
	_, err = s.SaveResponse(ctx, out.response)
	must("response", err)

	oncall := store.Target{Channel: "email", Address: "oncall@example.org"}
	out.sent, _, err = s.CreateAlert(ctx, &store.Alert{ID: randomID("al_"), ResponseID: out.response.ID, RuleID: "r1",
		Target: oncall, TargetKey: "email:oncall", Priority: "P1"})
	must("alert", err)
	out.pending, _, err = s.CreateAlert(ctx, &store.Alert{ID: randomID("al_"), ResponseID: out.response.ID, RuleID: "r1",
		Target: store.Target{Channel: "webhook", Address: "https://chat.test/hook"}, TargetKey: "webhook:chat", Priority: "P1"})
	must("alert", err)
	alertText := "Contact: " + p.name + " (" + p.id + ")\nComment: “" + p.comment + "”"
	var summary *store.OutboxMessage
	for _, m := range []*store.OutboxMessage{
		{DeliveryID: out.sent.ID, Text: alertText},
		{DeliveryID: out.sent.ID + "-2", Text: "Update: " + alertText},
		{DeliveryID: randomID("alerts-"), Text: "• [P1] detractor 2/10 · " + p.id + ": “" + p.comment + "”"},
	} {
		m.Channel, m.To, m.Subject = oncall.Channel, oncall.Address, "[P1] Detractor 2/10 · Acme"
		must("alert outbox", s.KeepOutbox(ctx, m))
		summary = m
	}
	comment := p.comment
	must("alert sent", s.UpdateAlert(ctx, out.sent.ID, store.AlertUpdate{Status: store.AlertSent, SentComment: &comment,
		ProviderMessageID: fmt.Sprint("outbox-", summary.ID), CountSend: true}))

	for _, ev := range []struct {
		typ  string
		data map[string]any
	}{
		{"response.created", map[string]any{"id": out.response.ID, "delivery_id": out.survey.ID, "survey": "nps",
			"contact_id": p.id, "score": 2, "comment": p.comment, "metadata": map[string]string{"order": p.meta}}},
		{"contact.opted_out", map[string]any{"contact_id": p.id, "channel": "sms", "reason": "stop"}},
	} {
		evID := randomID("ev_")
		payload, err := json.Marshal(map[string]any{"id": evID, "type": ev.typ, "timestamp": "2026-03-14T01:26:53Z", "data": ev.data})
		must("payload", err)
		e := &store.WebhookEvent{ID: randomID("msg_"), SubscriptionID: hook, EventID: evID, Type: ev.typ, Payload: payload}
		_, err = s.CreateWebhookEvent(ctx, e)
		must("webhook event", err)
		out.events = append(out.events, e.ID)
	}
	must("webhook attempt", s.RecordWebhookAttempt(ctx, out.events[0], "pending", store.WebhookAttempt{At: time.Now(),
		StatusCode: 500, Response: `{"error":"bad comment ` + p.comment + `"}`, Error: "answered 500"}))

	imp := &store.Import{Filename: "contacts.csv"}
	must("import", s.CreateImport(ctx, imp))
	must("import errors", s.UpdateImportProgress(ctx, imp.ID, 2, 1, 0, 1, []store.ImportError{
		{Row: 2, Field: "phone", Reason: "invalid phone number: \"" + p.phone + "\": not a valid number for its country"},
	}))

	must("suppression", s.AddSuppression(ctx, store.Suppression{Channel: "email", Address: p.email, Reason: "unsubscribe", ContactID: p.id}))
	must("suppression", s.AddSuppression(ctx, store.Suppression{Channel: "sms", Address: p.phone, Reason: "stop", ContactID: p.id}))
	return out
}

// locate searches the database for texts and keys each find
// "table.column" → the texts found there.
func locate(t *testing.T, s *store.Store, texts []string) map[string][]string {
	t.Helper()
	found, err := s.LocateText(t.Context(), texts)
	if err != nil {
		t.Fatalf("LocateText: %v", err)
	}
	out := map[string][]string{}
	for _, f := range found {
		k := f.Table + "." + f.Column
		out[k] = append(out[k], fmt.Sprintf("%s×%d", f.Text, f.Rows))
	}
	return out
}

// keptBySuppressions is where an erased person's texts stay by design: a
// suppression keeps the address it suppresses, so an opt-out outlives the
// erasure (and a re-imported contact is not surveyed again).
var keptBySuppressions = []string{"suppressions.address", "suppressions.address_lower"}

func testEraseContactEverywhere(t *testing.T, s *store.Store) {
	ctx := t.Context()
	mustSurvey(t, s, "nps", survey.NPS)
	hook := &store.WebhookSubscription{ID: "w1", URL: "https://crm.test/hook", Secret: "whsec_abc", Events: []string{"*"}, Enabled: true}
	if err := s.CreateWebhook(ctx, hook); err != nil {
		t.Fatal(err)
	}
	gone, kept := newPerson("7f3"), newPerson("9b2")
	g := seedPerson(t, s, gone, hook.ID)
	k := seedPerson(t, s, kept, hook.ID)

	// The search finds the seeded texts wherever they were written: a
	// search that found nothing would pass any erasure.
	before := locate(t, s, gone.texts())
	for _, col := range []string{"contacts.external_id", "contacts.name", "contacts.email", "contacts.phone", "contacts.attributes",
		"deliveries.contact_id", "deliveries.address", "deliveries.metadata", "deliveries.idempotency_key", "deliveries.reason",
		"delivery_events.reason", "responses.contact_id", "responses.comment", "alerts.sent_comment",
		"webhook_events.payload", "webhook_attempts.response", "outbox_messages.to_address", "outbox_messages.body_text",
		"inbound_messages.from_address", "inbound_messages.body", "import_errors.reason", "suppressions.contact_id",
		"suppressions.address", "suppressions.address_lower"} {
		if before[col] == nil {
			t.Errorf("before the erasure, nothing of the contact found in %s (found: %v)", col, before)
		}
	}
	keptBefore := locate(t, s, kept.texts())
	tallyBefore, err := s.ScoreTally(ctx, "nps", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	alertsBefore, err := s.ListAlerts(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}

	// The export holds everything the erasure takes.
	ex, err := s.ExportContact(ctx, gone.id)
	if err != nil {
		t.Fatalf("ExportContact: %v", err)
	}
	for _, c := range []struct {
		what      string
		got, want int
	}{
		{"deliveries", len(ex.Deliveries), 4}, {"responses", len(ex.Responses), 1}, {"suppressions", len(ex.Suppressions), 2},
		{"inbound messages (the former number's too)", len(ex.Inbound), 3}, {"alerts", len(ex.Alerts), 2},
		{"webhook events", len(ex.WebhookEvents), 2}, {"outbox messages (survey, alert, follow-up, summary)", len(ex.Outbox), 4},
	} {
		if c.got != c.want {
			t.Errorf("export: %d %s, want %d", c.got, c.what, c.want)
		}
	}
	if exported, _ := json.Marshal(ex); strings.Contains(string(exported), kept.id) || strings.Contains(string(exported), kept.comment) {
		t.Errorf("the export of %s holds data of %s", gone.id, kept.id)
	}

	if err := s.EraseContact(ctx, gone.id); err != nil {
		t.Fatalf("EraseContact: %v", err)
	}

	// Nothing of the person is left in any column of any table, but the
	// addresses their suppressions keep.
	after := locate(t, s, gone.texts())
	var cols []string
	for col := range after {
		cols = append(cols, col)
	}
	slices.Sort(cols)
	for _, col := range cols {
		if !slices.Contains(keptBySuppressions, col) {
			t.Errorf("after the erasure %s still holds %v", col, after[col])
		}
	}
	for _, a := range []struct{ ch, addr string }{{"email", gone.email}, {"sms", gone.phone}} {
		if _, ok, err := s.Suppressed(ctx, a.ch, a.addr); err != nil || !ok {
			t.Errorf("the %s suppression did not outlive the erasure: %v, %v", a.ch, ok, err)
		}
	}
	// The other contact is untouched, to the column and the row count.
	wantEqual(t, "the other contact's data after the erasure", locate(t, s, kept.texts()), keptBefore)
	if _, err := s.GetContact(ctx, kept.id); err != nil {
		t.Errorf("the other contact: %v", err)
	}
	for _, id := range k.events {
		if _, err := s.GetWebhookEvent(ctx, id); err != nil {
			t.Errorf("the other contact's webhook event %s: %v", id, err)
		}
	}

	// What is anonymous stays and still counts.
	_, err = s.GetContact(ctx, gone.id)
	wantErr(t, "GetContact after erasure", err, store.ErrNotFound)
	tally, err := s.ScoreTally(ctx, "nps", time.Time{}, time.Time{})
	if err != nil || tally != tallyBefore {
		t.Errorf("scores after erasure: %v, %v; want %v", tally, err, tallyBefore)
	}
	r, err := s.GetResponse(ctx, g.response.ID)
	if err != nil || r.Score != 2 || r.Comment != "" || r.MayContact != nil || !strings.HasPrefix(r.ContactID, "erased-") {
		t.Errorf("response after erasure: %+v, %v", r, err)
	}
	if alerts, err := s.ListAlerts(ctx, 100); err != nil || len(alerts) != len(alertsBefore) {
		t.Errorf("alerts after erasure: %d, %v; want all %d kept", len(alerts), err, len(alertsBefore))
	}
	// An alert not sent yet is never sent; the one sent keeps its record
	// and has no comment left that a follow-up would send.
	if a, err := s.GetAlert(ctx, g.pending.ID); err != nil || a.Status != store.AlertFailed || a.Reason != store.ErasedReason {
		t.Errorf("pending alert after erasure: %+v, %v", a, err)
	}
	if a, err := s.GetAlert(ctx, g.sent.ID); err != nil || a.Status != store.AlertSent || a.Sends != 1 || a.SentComment != "" {
		t.Errorf("sent alert after erasure: %+v, %v", a, err)
	}
	// A webhook event still pending is gone, so it is never sent.
	for _, id := range g.events {
		_, err := s.GetWebhookEvent(ctx, id)
		wantErr(t, "webhook event about the erased contact", err, store.ErrNotFound)
	}
	// A reminder waiting to go out does not.
	if d, err := s.GetDelivery(ctx, g.reminder.ID); err != nil || d.Status != store.StatusSuppressed || d.Reason != store.ErasedReason {
		t.Errorf("queued reminder after erasure: %+v, %v", d, err)
	}
	// The old reply link and its short link lead nowhere.
	_, err = s.GetDeliveryByToken(ctx, g.survey.Token)
	wantErr(t, "the erased delivery's old token", err, store.ErrNotFound)
	_, _, err = s.ResolveShort(ctx, g.shortCode)
	wantErr(t, "the erased delivery's short link", err, store.ErrNotFound)
	if d, err := s.GetDelivery(ctx, g.survey.ID); err != nil || d.Status != store.StatusSent || d.SentAt == nil {
		t.Errorf("answered delivery after erasure: %+v, %v", d, err)
	}
	if _, _, err := s.ResolveShort(ctx, k.shortCode); err != nil {
		t.Errorf("the other contact's short link: %v", err)
	}

	wantErr(t, "EraseContact again", s.EraseContact(ctx, gone.id), store.ErrNotFound)
}
