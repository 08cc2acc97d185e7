package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/npsgate/npsgate/httpapi"
	"github.com/npsgate/npsgate/internal/twiliotest"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

// twilio posts a webhook as Twilio does: form-encoded, signed over the
// public URL. It returns the status and the TwiML message text.
func (h *harness) twilio(path string, form url.Values, tamper ...func(url.Values)) (int, string) {
	h.t.Helper()
	sig := twiliotest.Sign(twilioToken, "http://gateway.test"+path, form)
	for _, f := range tamper {
		f(form)
	}
	req, _ := http.NewRequest("POST", h.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(twiliotest.SignatureHeader, sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	if i := strings.Index(body, "<Message>"); i >= 0 {
		body = body[i+len("<Message>") : strings.Index(body, "</Message>")]
	} else if resp.StatusCode == 200 {
		body = ""
	}
	return resp.StatusCode, body
}

var sidSeq int

func smsFrom(from, body string) url.Values {
	sidSeq++
	return url.Values{"MessageSid": {fmt.Sprintf("SM%032d", sidSeq)}, "AccountSid": {"AC" + strings.Repeat("0", 32)},
		"From": {from}, "To": {"+14155550199"}, "Body": {body}, "NumSegments": {"1"}}
}

// sentSMS makes a delivery of the onboarding survey that went out by SMS
// to the number.
func (h *harness) sentSMS(contact, phone, locale string) *store.Delivery {
	h.t.Helper()
	return h.sentSMSOf("onboarding", contact, phone, locale)
}

// sentSMSOf makes a delivery of a survey that went out by SMS to the
// number.
func (h *harness) sentSMSOf(surveyKey, contact, phone, locale string) *store.Delivery {
	h.t.Helper()
	a := h.do("POST", "/v1/triggers", map[string]any{"survey": surveyKey, "channel": "sms",
		"contact": map[string]any{"external_id": contact, "phone": phone, "locale": locale}})
	if a.status != 202 {
		h.t.Fatalf("trigger: %d %s", a.status, a.raw)
	}
	id := a.body["delivery_id"].(string)
	ctx := context.Background()
	for _, st := range []store.DeliveryStatus{store.StatusSending, store.StatusSent} {
		if _, err := h.store.Transition(ctx, id, []store.DeliveryStatus{store.StatusQueued, store.StatusSending}, st,
			store.Update{ProviderMessageID: "SMout" + id[:8]}); err != nil {
			h.t.Fatal(err)
		}
	}
	d, _ := h.store.GetDelivery(ctx, id)
	return d
}

func (h *harness) response(deliveryID string) *store.Response {
	r, err := h.store.GetResponseByDelivery(context.Background(), deliveryID)
	if err != nil {
		return nil
	}
	return r
}

func TestSMSConversation(t *testing.T) {
	h := newHarness(t)
	h.createSurvey()
	const phone = "+14155550100"
	d := h.sentSMS("c-sms", phone, "en")

	status, answer := h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, "nine"))
	if want := "Thank you! What do you like most about Acme Cloud?"; status != 200 || answer != want {
		t.Fatalf("after a score: %d %q, want %q", status, answer, want)
	}
	if r := h.response(d.ID); r == nil || r.Score != 9 || r.Category != "promoter" || r.Channel != "sms" {
		t.Fatalf("response %+v", r)
	}
	if got, _ := h.store.GetDelivery(context.Background(), d.ID); got.Status != store.StatusResponded {
		t.Fatalf("delivery %s", got.Status)
	}
	_, answer = h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, "The reports are great"))
	if r := h.response(d.ID); r.Comment != "The reports are great" || r.Score != 9 || answer != "Thank you for your feedback!" {
		t.Fatalf("comment: %+v %q", r, answer)
	}
	// A bare score later changes the answer; the comment answered the
	// promoter's question, not the passive's, and goes with its band.
	h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, "8"))
	if r := h.response(d.ID); r.Score != 8 || r.Category != "passive" || r.Comment != "" {
		t.Fatalf("update: %+v", r)
	}

	// STOP opts the contact out everywhere and confirms once.
	status, answer = h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, "Stop"))
	if want := "You are unsubscribed and will get no more surveys from us. Reply START to subscribe again."; status != 200 || answer != want {
		t.Fatalf("stop: %d %q", status, answer)
	}
	c, _ := h.store.GetContact(context.Background(), "c-sms")
	if c.OptedOutAt == nil {
		t.Fatal("STOP did not opt the contact out")
	}
	if _, ok, _ := h.store.Suppressed(context.Background(), "sms", phone); !ok {
		t.Fatal("STOP did not suppress the number")
	}
	// START opts back in.
	if _, answer = h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, "START")); !strings.Contains(answer, "subscribed again") {
		t.Fatalf("start: %q", answer)
	}
	c, _ = h.store.GetContact(context.Background(), "c-sms")
	if c.OptedOutAt != nil {
		t.Fatal("START did not opt back in")
	}
	if _, answer = h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, "help")); answer != "Acme surveys. Reply STOP to opt out." {
		t.Fatalf("help: %q", answer)
	}
}

func TestSMSClarifiesAndScoresWithComment(t *testing.T) {
	h := newHarness(t)
	h.createSurvey()
	const phone = "+14155550101"
	d := h.sentSMS("c-zh", phone, "zh-CN")
	for _, body := range []string{"between 7 and 8", "11", "hello?"} {
		_, answer := h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, body))
		if !strings.Contains(answer, "0 到 10") {
			t.Fatalf("%q: answer %q", body, answer)
		}
	}
	if h.response(d.ID) != nil {
		t.Fatal("an unclear reply was scored")
	}
	h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, "3分，太慢了"))
	if r := h.response(d.ID); r == nil || r.Score != 3 || r.Comment != "太慢了" {
		t.Fatalf("score with comment: %+v", r)
	}
}

// TestSMSScoreAnswerWording: the answer to a score thanks once and asks
// the follow-up of the score's category, in the survey's language, with
// the punctuation of that language.
func TestSMSScoreAnswerWording(t *testing.T) {
	h := newHarness(t)
	h.createSurvey()
	if a := h.do("POST", "/v1/surveys", map[string]any{"key": "own-words", "product_name": "Acme Cloud", "channels": []string{"sms"},
		"texts": map[string]any{
			"en":    map[string]string{"follow_up_promoter": "What should we build next?", "follow_up_detractor": "Thanks, and sorry. What went wrong?"},
			"zh-CN": map[string]string{"follow_up_promoter": "我们下一步该做什么？"},
		}}); a.status != 201 {
		t.Fatalf("survey: %d %s", a.status, a.raw)
	}
	tests := []struct {
		survey, locale, body, want string
	}{
		{"onboarding", "en", "9", "Thank you! What do you like most about Acme Cloud?"},
		{"onboarding", "en", "7", "Thank you. What is holding you back from rating Acme Cloud higher?"},
		{"onboarding", "en", "3", "Thank you! We are sorry to hear that. What went wrong?"},
		{"onboarding", "zh-CN", "九分", "谢谢！您最喜欢Acme Cloud的哪一点？"},
		{"onboarding", "zh-CN", "八吧", "谢谢。是什么让您没有给Acme Cloud更高的分数？"},
		{"onboarding", "zh-CN", "2", "谢谢！很抱歉给您带来不好的体验。请告诉我们哪里出了问题？"},
		{"onboarding", "zh-TW", "10", "謝謝！您最喜歡Acme Cloud的哪一點？"},
		{"onboarding", "zh-TW", "7分", "謝謝。是什麼讓您沒有給Acme Cloud更高的分數？"},
		{"onboarding", "zh-HK", "0", "謝謝！很抱歉帶給您不好的體驗。請告訴我們哪裡出了問題？"},
		// A survey's own follow-up gets the thanks it lacks, and none
		// when it thanks already.
		{"own-words", "en", "10", "Thank you! What should we build next?"},
		{"own-words", "en", "1", "Thanks, and sorry. What went wrong?"},
		{"own-words", "zh-CN", "9", "谢谢！我们下一步该做什么？"},
	}
	for i, tt := range tests {
		t.Run(tt.survey+"/"+tt.locale+"/"+tt.body, func(t *testing.T) {
			phone := fmt.Sprintf("+141555506%02d", 10+i)
			h.sentSMSOf(tt.survey, fmt.Sprintf("c-words-%d", i), phone, tt.locale)
			if status, answer := h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, tt.body)); status != 200 || answer != tt.want {
				t.Fatalf("%d %q, want %q", status, answer, tt.want)
			}
		})
	}
}

// TestSMSOptedOutNumberIsNotAnswered: after STOP, nothing the number sends
// but a keyword is answered or scored; each message is kept for audit.
// START opens the conversation again.
func TestSMSOptedOutNumberIsNotAnswered(t *testing.T) {
	h := newHarness(t)
	h.createSurvey()
	ctx := context.Background()
	const phone = "+14155550620"
	d := h.sentSMS("c-out", phone, "en")
	if _, answer := h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, "STOP")); !strings.Contains(answer, "unsubscribed") {
		t.Fatalf("stop: %q", answer)
	}
	for _, body := range []string{"9", "hello", "6 - slow"} {
		if status, answer := h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, body)); status != 200 || answer != "" {
			t.Fatalf("%q after STOP: %d %q, want an empty answer", body, status, answer)
		}
	}
	if r := h.response(d.ID); r != nil {
		t.Fatalf("a score after STOP was recorded: %+v", r)
	}
	list, err := h.store.ListInbound(ctx, phone, 10)
	if err != nil || len(list) != 4 {
		t.Fatalf("inbound kept: %d %v", len(list), err)
	}
	for _, m := range list[:3] {
		if m.Outcome != "opted_out" {
			t.Fatalf("%q kept as %q, want opted_out", m.Body, m.Outcome)
		}
	}
	// HELP is answered even so: carriers require it.
	if _, answer := h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, "HELP")); answer != "Acme surveys. Reply STOP to opt out." {
		t.Fatalf("help: %q", answer)
	}
	if _, answer := h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, "START")); !strings.Contains(answer, "subscribed again") {
		t.Fatalf("start: %q", answer)
	}
	if _, answer := h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, "9")); !strings.Contains(answer, "What do you like most") {
		t.Fatalf("a score after START: %q", answer)
	}
	if r := h.response(d.ID); r == nil || r.Score != 9 {
		t.Fatalf("a score after START was not recorded: %+v", r)
	}

	// A contact opted out some other way, whose number is not suppressed
	// on the channel the reply came by, is not answered either.
	const phone2 = "+14155550621"
	d2 := h.sentSMS("c-out2", phone2, "en")
	if err := h.store.OptOutContact(ctx, "c-out2", "unsubscribe", h.now); err != nil {
		t.Fatal(err)
	}
	if err := h.store.RemoveSuppression(ctx, "sms", phone2); err != nil {
		t.Fatal(err)
	}
	if _, answer := h.twilio("/v1/inbound/twilio/sms", smsFrom(phone2, "9")); answer != "" {
		t.Fatalf("an opted-out contact was answered: %q", answer)
	}
	if r := h.response(d2.ID); r != nil {
		t.Fatalf("an opted-out contact's score was recorded: %+v", r)
	}
	if list, _ := h.store.ListInbound(ctx, phone2, 1); len(list) != 1 || list[0].Outcome != "opted_out" || list[0].DeliveryID != d2.ID {
		t.Fatalf("kept for audit: %+v", list)
	}
}

// TestSMSRepeatedStop: STOP is confirmed once; a STOP from a number whose
// contacts are all opted out already is answered with nothing, and kept.
func TestSMSRepeatedStop(t *testing.T) {
	h := newHarness(t)
	h.createSurvey()
	ctx := context.Background()
	const phone, stranger = "+14155550630", "+14155550631"
	h.sentSMS("c-stop", phone, "en")
	for _, from := range []string{phone, stranger} {
		if _, answer := h.twilio("/v1/inbound/twilio/sms", smsFrom(from, "STOP")); !strings.Contains(answer, "unsubscribed") {
			t.Fatalf("%s first STOP: %q", from, answer)
		}
		for _, body := range []string{"stop", "退订"} {
			if status, answer := h.twilio("/v1/inbound/twilio/sms", smsFrom(from, body)); status != 200 || answer != "" {
				t.Fatalf("%s repeated %s: %d %q", from, body, status, answer)
			}
		}
		list, _ := h.store.ListInbound(ctx, from, 10)
		if len(list) != 3 || list[0].Outcome != "opt_out" {
			t.Fatalf("%s: inbound %+v", from, list)
		}
	}
	// A second contact on the number, not opted out yet, is confirmed.
	if a := h.do("PUT", "/v1/contacts/c-stop-2", map[string]any{"phone": phone}); a.status != 201 {
		t.Fatalf("contact: %d %s", a.status, a.raw)
	}
	if _, answer := h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, "STOP")); !strings.Contains(answer, "unsubscribed") {
		t.Fatalf("STOP for a new contact: %q", answer)
	}
	if c, _ := h.store.GetContact(ctx, "c-stop-2"); c.OptedOutAt == nil {
		t.Fatal("the second contact was not opted out")
	}
}

// TestSMSLaterScoreUpdates: within the edit window a new score, with or
// without words, changes the answer and its category, the words becoming
// the comment; after it, the answer is locked and the message is a
// comment.
func TestSMSLaterScoreUpdates(t *testing.T) {
	h := newHarness(t, func(cfg *httpapi.Config) { cfg.EditWindow = time.Hour })
	h.createSurvey()
	const phone = "+14155550640"
	d := h.sentSMS("c-upd", phone, "en")
	steps := []struct {
		body, answer string
		score        int
		category     survey.Category
		comment      string
	}{
		{"9", "Thank you! What do you like most about Acme Cloud?", 9, survey.Promoter, ""},
		{"6 - actually support was slow", "Thank you for your feedback!", 6, survey.Detractor, "actually support was slow"},
		{"The invoices too", "Thank you for your feedback!", 6, survey.Detractor, "actually support was slow\nThe invoices too"},
		// Into another band, the comment of the old one is dropped and
		// the new band's question asked.
		{"8", "Thank you. What is holding you back from rating Acme Cloud higher?", 8, survey.Passive, ""},
		{"Seven, it got better", "Thank you for your feedback!", 7, survey.Passive, "it got better"},
	}
	for _, st := range steps {
		if status, answer := h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, st.body)); status != 200 || answer != st.answer {
			t.Fatalf("%q: %d %q, want %q", st.body, status, answer, st.answer)
		}
		r := h.response(d.ID)
		if r == nil || r.Score != st.score || r.Category != st.category || r.Comment != st.comment {
			t.Fatalf("after %q: %+v, want %d %s %q", st.body, r, st.score, st.category, st.comment)
		}
	}
	// Past the edit window the score stands; the words are kept.
	h.now = h.now.Add(2 * time.Hour)
	if _, answer := h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, "2 - never again")); answer != "Thank you for your feedback!" {
		t.Fatalf("locked: %q", answer)
	}
	if r := h.response(d.ID); r.Score != 7 || r.Comment != "it got better\n2 - never again" {
		t.Fatalf("locked answer changed: %+v", r)
	}
}

// TestSMSReplyWindowPerSurvey: each survey's reply window decides whether
// a text answers it: a reply after the shorter window but within the
// longer goes to the survey still open, or is unmatched when none is.
// A window longer than any fixed look-back still holds.
func TestSMSReplyWindowPerSurvey(t *testing.T) {
	h := newHarness(t)
	for key, window := range map[string]string{"short": "2h", "long": "48h", "season": "120d"} {
		if a := h.do("POST", "/v1/surveys", map[string]any{"key": key, "product_name": "Acme " + key, "channels": []string{"sms"},
			"reply_window": window}); a.status != 201 {
			t.Fatalf("survey %s: %d %s", key, a.status, a.raw)
		}
	}
	const both, shortOnly, season = "+14155550650", "+14155550651", "+14155550652"
	long := h.sentSMSOf("long", "c-win-1", both, "en")
	h.now = h.now.Add(time.Minute)
	short := h.sentSMSOf("short", "c-win-1", both, "en") // newer: it would win if open
	shortAlone := h.sentSMSOf("short", "c-win-2", shortOnly, "en")
	seasonal := h.sentSMSOf("season", "c-win-3", season, "en")

	h.now = h.now.Add(3 * time.Hour)
	if _, answer := h.twilio("/v1/inbound/twilio/sms", smsFrom(both, "9")); !strings.Contains(answer, "Acme long") {
		t.Fatalf("the reply did not answer the long survey: %q", answer)
	}
	if r := h.response(long.ID); r == nil || r.Score != 9 {
		t.Fatalf("long survey: %+v", r)
	}
	if r := h.response(short.ID); r != nil {
		t.Fatalf("the closed short survey was answered: %+v", r)
	}
	if _, answer := h.twilio("/v1/inbound/twilio/sms", smsFrom(shortOnly, "9")); !strings.Contains(answer, "no open survey") {
		t.Fatalf("a reply after the only survey's window: %q", answer)
	}
	if r := h.response(shortAlone.ID); r != nil {
		t.Fatalf("the closed survey was answered: %+v", r)
	}

	// 100 days on, the 120-day survey is open still, and closes after.
	h.now = h.now.Add(100 * 24 * time.Hour)
	if _, answer := h.twilio("/v1/inbound/twilio/sms", smsFrom(season, "8")); !strings.Contains(answer, "Acme season") {
		t.Fatalf("a reply within a 120-day window: %q", answer)
	}
	if r := h.response(seasonal.ID); r == nil || r.Score != 8 {
		t.Fatalf("120-day survey: %+v", r)
	}
	h.now = h.now.Add(21 * 24 * time.Hour)
	if _, answer := h.twilio("/v1/inbound/twilio/sms", smsFrom(season, "3")); !strings.Contains(answer, "no open survey") {
		t.Fatalf("a reply after a 120-day window: %q", answer)
	}
	if r := h.response(seasonal.ID); r.Score != 8 {
		t.Fatalf("answered after its window: %+v", r)
	}
}

func TestSMSWithoutOpenSurvey(t *testing.T) {
	h := newHarness(t)
	h.createSurvey()
	status, answer := h.twilio("/v1/inbound/twilio/sms", smsFrom("+14155550102", "9"))
	if status != 200 || !strings.Contains(answer, "no open survey") {
		t.Fatalf("%d %q", status, answer)
	}
	list, err := h.store.ListInbound(context.Background(), "+14155550102", 10)
	if err != nil || len(list) != 1 || list[0].Outcome != "unmatched" {
		t.Fatalf("kept for audit: %v %v", list, err)
	}
	// Outside the reply window the delivery is closed too.
	d := h.sentSMS("c-late", "+14155550103", "en")
	h.now = h.now.Add(8 * 24 * time.Hour)
	if _, answer := h.twilio("/v1/inbound/twilio/sms", smsFrom("+14155550103", "9")); !strings.Contains(answer, "no open survey") {
		t.Fatalf("late reply: %q", answer)
	}
	if h.response(d.ID) != nil {
		t.Fatal("a reply after the window was scored")
	}
}

func TestTwilioSignatures(t *testing.T) {
	h := newHarness(t)
	h.createSurvey()
	const phone = "+14155550104"
	d := h.sentSMS("c-sig", phone, "en")
	tests := []struct {
		name   string
		tamper func(url.Values)
	}{
		{"body changed", func(v url.Values) { v.Set("Body", "0") }},
		{"sender changed", func(v url.Values) { v.Set("From", "+14155550999") }},
		{"parameter added", func(v url.Values) { v.Set("Extra", "1") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status, _ := h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, "9"), tt.tamper); status != 403 {
				t.Fatalf("status %d, want 403", status)
			}
		})
	}
	// No signature at all.
	resp, err := http.PostForm(h.srv.URL+"/v1/inbound/twilio/sms", smsFrom(phone, "9"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("unsigned: %d", resp.StatusCode)
	}
	if h.response(d.ID) != nil {
		t.Fatal("a refused webhook was recorded")
	}
	if list, _ := h.store.ListInbound(context.Background(), "", 10); len(list) != 0 {
		t.Fatalf("a refused webhook was kept: %d", len(list))
	}
	// A correctly signed retry of one MessageSid is processed once.
	form := smsFrom(phone, "9")
	h.twilio("/v1/inbound/twilio/sms", form)
	h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, "great product"))
	status, answer := h.twilio("/v1/inbound/twilio/sms", form) // Twilio retries the first
	if status != 200 || answer != "" {
		t.Fatalf("retry: %d %q", status, answer)
	}
	if r := h.response(d.ID); r.Score != 9 || r.Comment != "great product" {
		t.Fatalf("the retry changed the response: %+v", r)
	}
}

func TestTwilioStatusCallbacks(t *testing.T) {
	h := newHarness(t)
	h.createSurvey()
	d := h.sentSMS("c-st", "+14155550105", "en")
	cb := func(status, code string) int {
		v := url.Values{"MessageSid": {d.ProviderMessageID}, "MessageStatus": {status}, "To": {"+14155550105"}}
		if code != "" {
			v.Set("ErrorCode", code)
		}
		s, _ := h.twilio("/v1/inbound/twilio/status?d="+d.ID, v)
		return s
	}
	get := func() *store.Delivery { x, _ := h.store.GetDelivery(context.Background(), d.ID); return x }
	if cb("delivered", "") != 204 || get().Status != store.StatusDelivered {
		t.Fatalf("delivered: %s", get().Status)
	}
	// Late and repeated callbacks never move it back.
	cb("sent", "")
	cb("delivered", "")
	if got := get(); got.Status != store.StatusDelivered || got.DeliveredAt == nil {
		t.Fatalf("went backwards: %s", got.Status)
	}
	// Other deliveries fail with Twilio's code and what it means;
	// undelivered is failed, by the name Twilio gave it.
	for i, tc := range []struct{ status, code, reason string }{
		{"undelivered", "30003", "undelivered: 30003 Unreachable destination handset"},
		{"failed", "30008", "failed: 30008 Unknown error"},
		{"undelivered", "39999", "undelivered: 39999"},
		{"failed", "", "failed"},
	} {
		d = h.sentSMS(fmt.Sprintf("c-st2-%d", i), fmt.Sprintf("+1415555016%d", i), "en")
		cb(tc.status, tc.code)
		if got := get(); got.Status != store.StatusFailed || got.Reason != tc.reason {
			t.Fatalf("%s %s: %s %q, want failed %q", tc.status, tc.code, got.Status, got.Reason, tc.reason)
		}
	}
	// 21610 (the recipient replied STOP to the carrier) suppresses.
	d = h.sentSMS("c-st3", "+14155550107", "en")
	cb("failed", "21610")
	if got := get(); got.Status != store.StatusSuppressed {
		t.Fatalf("21610: %s", got.Status)
	}
	if c, _ := h.store.GetContact(context.Background(), "c-st3"); c.OptedOutAt == nil {
		t.Fatal("21610 did not opt the contact out")
	}
	// A callback for a message we do not know is acknowledged and ignored.
	v := url.Values{"MessageSid": {"SMunknown"}, "MessageStatus": {"delivered"}, "To": {"+14155550000"}}
	if s, _ := h.twilio("/v1/inbound/twilio/status", v); s != 204 {
		t.Fatalf("unknown: %d", s)
	}
}

// TestTwilioStatusSignatures: a status callback that Twilio did not sign
// is refused and changes nothing.
func TestTwilioStatusSignatures(t *testing.T) {
	h := newHarness(t)
	h.createSurvey()
	ctx := context.Background()
	d := h.sentSMS("c-stsig", "+14155550108", "en")
	path := "/v1/inbound/twilio/status?d=" + d.ID
	form := func() url.Values {
		return url.Values{"MessageSid": {d.ProviderMessageID}, "MessageStatus": {"undelivered"}, "ErrorCode": {"30003"},
			"To": {"+14155550108"}}
	}
	tests := []struct {
		name string
		post func() int
	}{
		{"unsigned", func() int {
			resp, err := http.PostForm(h.srv.URL+path, form())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}},
		{"status changed", func() int {
			s, _ := h.twilio(path, form(), func(v url.Values) { v.Set("MessageStatus", "failed") })
			return s
		}},
		{"delivery changed", func() int {
			// The signature covers the URL, query included.
			sig := twiliotest.Sign(twilioToken, "http://gateway.test/v1/inbound/twilio/status?d=other", form())
			req, _ := http.NewRequest("POST", h.srv.URL+path, strings.NewReader(form().Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set(twiliotest.SignatureHeader, sig)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}},
		{"signed with another token", func() int {
			sig := twiliotest.Sign("not-our-token-0123456789abcdef", "http://gateway.test"+path, form())
			req, _ := http.NewRequest("POST", h.srv.URL+path, strings.NewReader(form().Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set(twiliotest.SignatureHeader, sig)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status := tt.post(); status != 403 {
				t.Fatalf("status %d, want 403", status)
			}
			got, err := h.store.GetDelivery(ctx, d.ID)
			if err != nil || got.Status != store.StatusSent || got.Reason != "" {
				t.Fatalf("the delivery changed: %s %q %v", got.Status, got.Reason, err)
			}
		})
	}
	events, _ := h.store.DeliveryEvents(ctx, d.ID)
	for _, e := range events {
		if e.Status == store.StatusFailed {
			t.Fatalf("a refused callback left an event: %+v", e)
		}
	}
	// The same callback, signed, is taken.
	if s, _ := h.twilio(path, form()); s != 204 {
		t.Fatalf("signed: %d", s)
	}
	if got, _ := h.store.GetDelivery(ctx, d.ID); got.Status != store.StatusFailed {
		t.Fatalf("signed callback: %s", got.Status)
	}
}

// A number over the inbound limit is ignored, but its STOP is not: an
// opt-out is honoured at once, whatever came before it.
func TestSMSStopGetsPastTheFloodLimit(t *testing.T) {
	h := newHarness(t, func(c *httpapi.Config) { c.InboundSMSPerHour = 3 })
	h.createSurvey()
	const phone = "+14155550640"
	h.sentSMS("c-flood", phone, "en")
	for i := 0; i < 5; i++ {
		h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, "hello"))
	}
	if status, answer := h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, "why")); status != 200 || answer != "" {
		t.Fatalf("over the limit: %d %q, want an empty answer", status, answer)
	}
	if _, answer := h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, "STOP")); !strings.Contains(answer, "unsubscribed") {
		t.Fatalf("STOP over the limit: %q", answer)
	}
	if c, _ := h.store.GetContact(context.Background(), "c-flood"); c == nil || c.OptedOutAt == nil {
		t.Fatal("STOP over the limit did not opt the contact out")
	}
}
