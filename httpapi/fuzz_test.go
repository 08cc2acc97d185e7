package httpapi_test

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// FuzzTriggerBody: whatever a caller posts, the answer is a 2xx or a 4xx
// with a JSON error naming what is wrong, never a 5xx.
func FuzzTriggerBody(f *testing.F) {
	h := newHarness(f)
	h.createSurvey()
	for _, seed := range []string{
		`{"survey":"onboarding","contact":{"external_id":"a","email":"a@example.com"}}`,
		`{"survey":"onboarding","contact":{"external_id":"a"},"delay":"-1h"}`,
		`{"survey":1}`, `[]`, `{"contact":{"external_id":"` + strings.Repeat("x", 200) + `"}}`,
		`{"survey":"onboarding","contact":{"external_id":"b","phone":"+1"},"send_at":"2026-13-01T00:00:00Z"}`,
		`{"metadata":{"k":"v"},"throttle_days":-5}`, "\x00\xff", `{"survey":"onboarding"}{}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		h := *h // the harness reports to this input's t
		h.t = t
		a := h.do("POST", "/v1/triggers", body)
		if a.status >= 500 || (a.status >= 400 && a.errCode() == "") {
			t.Fatalf("%q: %d %s", body, a.status, a.raw)
		}
	})
}

// FuzzInboundSMS: any text from any number gets a TwiML answer; nothing
// a customer sends can break the handler.
func FuzzInboundSMS(f *testing.F) {
	h := newHarness(f)
	h.createSurvey()
	h.sentSMS("fz", "+14155550120", "zh-CN")
	for _, seed := range []string{"9", "nine", "STOP", "start", "8 - slow", "七分", "between 7 and 8", "", "\xff\xfe", strings.Repeat("9", 2000)} {
		f.Add("+14155550120", seed)
	}
	f.Fuzz(func(t *testing.T, from, body string) {
		h := *h
		h.t = t
		form := url.Values{"MessageSid": {"SM" + randomHex()}, "From": {from}, "To": {"+14155550199"}, "Body": {body}}
		status, _ := h.twilio("/v1/inbound/twilio/sms", form)
		if status >= 500 {
			t.Fatalf("from %q body %q: %d", from, body, status)
		}
	})
}

var fuzzSeq int

func randomHex() string {
	fuzzSeq++
	return strings.Repeat("0", 32-len(itoa(fuzzSeq))) + itoa(fuzzSeq)
}

func itoa(n int) string { return strconv.Itoa(n) }
