package gateway_test

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/npsgate/npsgate/internal/chattest"
	"github.com/npsgate/npsgate/internal/smtptest"
	"github.com/npsgate/npsgate/internal/twiliotest"
	"github.com/npsgate/npsgate/templates"
)

// sms posts a signed inbound SMS as Twilio would, to the public URL's path
// on the local server, and returns the text of the TwiML answer's message,
// "" when it has none.
func (r *running) sms(from, body, sid string) string {
	r.t.Helper()
	form := url.Values{"MessageSid": {sid}, "AccountSid": {twiliotest.DefaultAccountSID}, "From": {from},
		"To": {"+14155550199"}, "Body": {body}}
	req, _ := http.NewRequest("POST", r.base+"/v1/inbound/twilio/sms", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(twiliotest.SignatureHeader, twiliotest.Sign(twiliotest.DefaultAuthToken, publicURL+"/v1/inbound/twilio/sms", form))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		r.t.Fatalf("inbound sms: %d %s", resp.StatusCode, b)
	}
	var twiml struct {
		XMLName  xml.Name `xml:"Response"`
		Messages []string `xml:"Message"`
	}
	if err := xml.Unmarshal(b, &twiml); err != nil || len(twiml.Messages) > 1 {
		r.t.Fatalf("inbound sms: not TwiML with one message at most: %v %s", err, b)
	}
	if len(twiml.Messages) == 0 {
		return ""
	}
	return twiml.Messages[0]
}

// TestNPSBySMS: a trigger on the SMS channel reaches the local Twilio
// server, a signed reply records the score and then the comment, STOP
// silences the contact everywhere.
func TestNPSBySMS(t *testing.T) {
	tw := twiliotest.Start(t)
	r := start(t, map[string]string{
		"NPSGATE_TWILIO_ACCOUNT_SID": twiliotest.DefaultAccountSID,
		"NPSGATE_TWILIO_AUTH_TOKEN":  twiliotest.DefaultAuthToken,
		"NPSGATE_TWILIO_FROM":        "+14155550199",
		"NPSGATE_TWILIO_API_URL":     tw.URL(),
	})
	if code, body := r.api("POST", "/v1/surveys", map[string]any{"key": "support", "product_name": "Acme Support", "channels": []string{"sms", "email"}}); code != 201 {
		t.Fatalf("survey: %d %v", code, body)
	}
	_, tr := r.api("POST", "/v1/triggers", map[string]any{"survey": "support",
		"contact": map[string]any{"external_id": "p-1", "phone": "+1 415 555 0100", "email": "p1@customer.example"}})
	id := tr["delivery_id"].(string)
	if tr["channel"] != "sms" {
		t.Fatalf("channel %v", tr["channel"])
	}
	if err := tw.WaitFor(1, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	req := tw.Accepted()[0]
	if req.To != "+14155550100" || req.From != "+14155550199" || !strings.Contains(req.Body, "Acme Support") ||
		!strings.Contains(req.Body, publicURL+"/s/") || req.StatusCallback != publicURL+"/v1/inbound/twilio/status?d="+id {
		t.Fatalf("what went to Twilio: %+v", req)
	}
	// The default English SMS with its short link is one GSM-7 segment,
	// and the short link leads to the reply page.
	if enc, n := templates.Segments(req.Body); enc != templates.GSM7 || n != 1 {
		t.Fatalf("%d %s segments: %q", n, enc, req.Body)
	}
	short := regexp.MustCompile(`https://nps\.example\.com/s/\w+`).FindString(req.Body)
	resp, err := http.Get(r.local(short))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "Acme Support") || resp.Request.URL.Path[:3] != "/r/" {
		t.Fatalf("short link: %d %s", resp.StatusCode, resp.Request.URL)
	}
	d := r.waitStatus(id, "sent")
	if d["provider_message_id"] != req.SID {
		t.Fatalf("provider id %v, Twilio sid %s", d["provider_message_id"], req.SID)
	}

	if answer, want := r.sms("+14155550100", "nine", "SM"+strings.Repeat("1", 32)), "Thank you! What do you like most about Acme Support?"; answer != want {
		t.Fatalf("answer to the score: %q, want %q", answer, want)
	}
	if answer, want := r.sms("+14155550100", "Quick and friendly", "SM"+strings.Repeat("2", 32)), "Thank you for your feedback!"; answer != want {
		t.Fatalf("answer to the comment: %q, want %q", answer, want)
	}
	checkResponse := func(when string) {
		t.Helper()
		_, list := r.api("GET", "/v1/responses?survey=support", nil)
		rs := list["responses"].([]any)
		if len(rs) != 1 || rs[0].(map[string]any)["score"] != 9.0 || rs[0].(map[string]any)["comment"] != "Quick and friendly" {
			t.Fatalf("responses %s: %v", when, list)
		}
	}
	checkResponse("after the comment")

	if answer, want := r.sms("+14155550100", "STOP", "SM"+strings.Repeat("3", 32)),
		"You are unsubscribed and will get no more surveys from us. Reply START to subscribe again."; answer != want {
		t.Fatalf("stop: %q, want %q", answer, want)
	}
	// Opted out: a score is neither answered nor recorded, and a second
	// STOP is not confirmed again.
	for i, body := range []string{"3", "STOP"} {
		if answer := r.sms("+14155550100", body, "SM"+strings.Repeat(string(rune('4'+i)), 32)); answer != "" {
			t.Fatalf("%q after STOP: %q, want no answer", body, answer)
		}
	}
	checkResponse("after STOP")
	// Opted out everywhere: neither SMS nor email goes out.
	for _, ch := range []string{"sms", "email"} {
		_, tr := r.api("POST", "/v1/triggers", map[string]any{"survey": "support", "channel": ch, "contact": map[string]any{"external_id": "p-1"}})
		r.waitStatus(tr["delivery_id"].(string), "suppressed")
	}
	if tw.Count() != 1 || r.smtp.Count() != 0 {
		t.Fatalf("messages after STOP: %d SMS, %d email", tw.Count(), r.smtp.Count())
	}
}

// TestNPSBySlack: a survey delivered to a customer's shared Slack channel,
// with the scores as link buttons to the reply page.
func TestNPSBySlack(t *testing.T) {
	sl := chattest.StartSlack(t)
	r := start(t, nil)
	r.api("POST", "/v1/surveys", map[string]any{"key": "ka", "product_name": "Acme", "channels": []string{"slack", "email"}})
	hook := sl.WebhookURL("secrettoken")
	_, tr := r.api("POST", "/v1/triggers", map[string]any{"survey": "ka",
		"contact": map[string]any{"external_id": "team-42", "attributes": map[string]string{"slack_webhook": hook}}})
	if tr["channel"] != "slack" {
		t.Fatalf("trigger: %v", tr)
	}
	if err := sl.WaitFor(1, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	r.waitStatus(tr["delivery_id"].(string), "sent")
	req := sl.Accepted()[0]
	buttons := req.Message.Buttons()
	if len(buttons) != 11 || !strings.HasPrefix(buttons[9].URL, publicURL+"/r/") || !strings.HasSuffix(buttons[9].URL, "?score=9") {
		t.Fatalf("buttons: %+v", buttons)
	}
}

// TestSecretsNeverLogged runs email (with SMTP AUTH), SMS, a signed
// webhook, and bad requests, then scans everything the gateway logged at
// debug level for each secret it was given.
func TestSecretsNeverLogged(t *testing.T) {
	const (
		smtpPass = "smtp-pass-Zq8w3"
		whSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	)
	tw := twiliotest.Start(t)
	sink := smtptest.Start(t, smtptest.WithAuth("mailer", smtpPass))
	r := start(t, map[string]string{
		"NPSGATE_SMTP_URL":           "smtp://mailer:" + smtpPass + "@" + sink.Addr(),
		"NPSGATE_TWILIO_ACCOUNT_SID": twiliotest.DefaultAccountSID,
		"NPSGATE_TWILIO_AUTH_TOKEN":  twiliotest.DefaultAuthToken,
		"NPSGATE_TWILIO_FROM":        "+14155550199",
		"NPSGATE_TWILIO_API_URL":     tw.URL(),
	})
	r.smtp = sink
	r.api("POST", "/v1/surveys", map[string]any{"key": "s", "product_name": "Acme", "channels": []string{"email", "sms"}})
	r.api("POST", "/v1/webhooks", map[string]any{"url": "http://127.0.0.1:1/hook", "secret": whSecret, "events": []string{"*"}})
	_, a := r.api("POST", "/v1/triggers", map[string]any{"survey": "s", "contact": map[string]any{"external_id": "e1", "email": "e1@customer.example"}})
	_, b := r.api("POST", "/v1/triggers", map[string]any{"survey": "s", "channel": "sms", "contact": map[string]any{"external_id": "p1", "phone": "+14155550100"}})
	r.waitStatus(a["delivery_id"].(string), "sent")
	r.waitStatus(b["delivery_id"].(string), "sent")
	r.sms("+14155550100", "3", "SM"+strings.Repeat("7", 32))
	// Bad keys and a bad signature are logged as such, not echoed.
	req, _ := http.NewRequest("GET", r.base+"/v1/surveys", nil)
	req.Header.Set("Authorization", "Bearer wrong-key-but-long-enough")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	time.Sleep(300 * time.Millisecond)
	out := r.logs.String()
	if !strings.Contains(out, "delivery sent") {
		t.Fatalf("the logs are not being captured:\n%s", out)
	}
	for name, secret := range map[string]string{"api key": apiKey, "smtp password": smtpPass, "twilio token": twiliotest.DefaultAuthToken,
		"webhook secret": whSecret, "wrong key": "wrong-key-but-long-enough"} {
		if strings.Contains(out, secret) {
			t.Errorf("the %s appears in the logs", name)
		}
	}
	// Reply tokens are secrets too: no reply link in the logs.
	if strings.Contains(out, "/r/") {
		t.Errorf("a reply link appears in the logs")
	}
}
