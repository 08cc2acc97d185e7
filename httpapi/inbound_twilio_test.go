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

	"github.com/npsgate/npsgate/internal/twiliotest"
	"github.com/npsgate/npsgate/store"
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

// sentSMS makes a delivery that went out by SMS to the number.
func (h *harness) sentSMS(contact, phone, locale string) *store.Delivery {
	h.t.Helper()
	a := h.do("POST", "/v1/triggers", map[string]any{"survey": "onboarding", "channel": "sms",
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
	if status != 200 || !strings.Contains(answer, "What do you like most about Acme Cloud") {
		t.Fatalf("after a score: %d %q", status, answer)
	}
	if r := h.response(d.ID); r == nil || r.Score != 9 || r.Category != "promoter" || r.Channel != "sms" {
		t.Fatalf("response %+v", r)
	}
	if got, _ := h.store.GetDelivery(context.Background(), d.ID); got.Status != store.StatusResponded {
		t.Fatalf("delivery %s", got.Status)
	}
	_, answer = h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, "The reports are great"))
	if r := h.response(d.ID); r.Comment != "The reports are great" || r.Score != 9 || !strings.Contains(answer, "Thank you") {
		t.Fatalf("comment: %+v %q", r, answer)
	}
	// A bare score later changes the answer, keeping the comment.
	h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, "8"))
	if r := h.response(d.ID); r.Score != 8 || r.Category != "passive" || r.Comment != "The reports are great" {
		t.Fatalf("update: %+v", r)
	}

	// STOP opts the contact out everywhere and confirms once.
	status, answer = h.twilio("/v1/inbound/twilio/sms", smsFrom(phone, "Stop"))
	if status != 200 || !strings.Contains(answer, "unsubscribed") {
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
	if r := h.response(d.ID); r == nil || r.Score != 3 || r.Comment == "" {
		t.Fatalf("score with comment: %+v", r)
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
	// Another delivery fails with Twilio's code.
	d = h.sentSMS("c-st2", "+14155550106", "en")
	cb("undelivered", "30003")
	if got := get(); got.Status != store.StatusFailed || !strings.Contains(got.Reason, "30003") {
		t.Fatalf("undelivered: %s %q", got.Status, got.Reason)
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
