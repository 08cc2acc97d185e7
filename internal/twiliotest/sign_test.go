package twiliotest_test

import (
	"io"
	"net/url"
	"testing"

	"github.com/twilio/twilio-go/client"

	"github.com/npsgate/npsgate/internal/twiliotest"
)

// firstValues is what twilio-go's validator takes.
func firstValues(v url.Values) map[string]string {
	m := make(map[string]string, len(v))
	for k, vs := range v {
		m[k] = vs[0]
	}
	return m
}

func TestSignMatchesTwilioGo(t *testing.T) {
	const token = "12345678901234567890123456789012"
	inbound := url.Values{
		"AccountSid":    {"AC00000000000000000000000000000001"},
		"MessageSid":    {"SM0123456789abcdef0123456789abcdef"},
		"From":          {"+14155550100"},
		"To":            {"+15005550006"},
		"Body":          {"9 – great service & friendly staff! ünïcödé"},
		"NumMedia":      {"0"},
		"SmsStatus":     {"received"},
		"FromCountry":   {"US"},
		"ApiVersion":    {"2010-04-01"},
		"MessagingMode": {""},
	}
	status := url.Values{"MessageSid": {"SM0123456789abcdef0123456789abcdef"}, "MessageStatus": {"delivered"}, "ErrorCode": {"30007"}}
	for _, tc := range []struct {
		name   string
		url    string
		params url.Values
	}{
		{"inbound sms", "https://nps.example.com/v1/inbound/twilio/sms", inbound},
		{"status with query", "https://nps.example.com/v1/inbound/twilio/status?d=dlv-0001&x=a%20b", status},
		{"explicit port", "https://nps.example.com:8443/v1/inbound/twilio/sms", inbound},
		{"no params", "https://nps.example.com/v1/inbound/twilio/sms?Body=hi", nil},
	} {
		sig := twiliotest.Sign(token, tc.url, tc.params)
		v := client.NewRequestValidator(token)
		if !v.Validate(tc.url, firstValues(tc.params), sig) {
			t.Errorf("%s: twilio-go rejects our signature %q", tc.name, sig)
		}
		if v.Validate(tc.url, firstValues(tc.params), twiliotest.Sign("other"+token[5:], tc.url, tc.params)) {
			t.Errorf("%s: a signature with another token validates", tc.name)
		}
		tampered := url.Values{}
		for k, vs := range tc.params {
			tampered[k] = vs
		}
		tampered.Set("Body", "0")
		if v.Validate(tc.url, firstValues(tampered), sig) {
			t.Errorf("%s: signature still validates with a changed Body", tc.name)
		}
	}
}

// The fixed vector of twilio-go's own validator tests
// (client/request_validator_test.go): a known signature, not one computed
// by the code under test.
func TestSignKnownVector(t *testing.T) {
	params := url.Values{
		"Digits":                {"1234"},
		"CallSid":               {"CA1234567890ABCDE"},
		"To":                    {"+18005551212"},
		"Caller":                {"+14158675309"},
		"From":                  {"+14158675309"},
		"ReasonConferenceEnded": {"test"},
		"Reason":                {"Participant"},
	}
	if got, want := twiliotest.Sign("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", params), "vOEb5UThFn24KEfnOFLQY2AE5FY="; got != want {
		t.Errorf("https: %q, want %q", got, want)
	}
	if got, want := twiliotest.Sign("12345", "http://mycompany.com/myapp.php?foo=1&bar=2", params), "n2xBNyzSW7rfYStDtOFiFMv7qNo="; got != want {
		t.Errorf("http: %q, want %q", got, want)
	}
}

// Repeated names (MediaUrl) sign every value, sorted, each after its name.
func TestSignRepeatedNames(t *testing.T) {
	a := twiliotest.Sign("t", "https://x.example/h", url.Values{"M": {"b", "a"}})
	b := twiliotest.Sign("t", "https://x.example/h", url.Values{"M": {"a", "b"}})
	if a != b {
		t.Error("signature depends on the order of a name's values")
	}
	if a == twiliotest.Sign("t", "https://x.example/h", url.Values{"M": {"a"}}) {
		t.Error("second value not signed")
	}
}

func TestNewWebhookRequest(t *testing.T) {
	const token = "12345678901234567890123456789012"
	params := url.Values{"From": {"+14155550100"}, "Body": {"10"}}
	u := "https://nps.example.com/v1/inbound/twilio/sms"
	r := twiliotest.NewWebhookRequest(token, u, params)
	body, _ := io.ReadAll(r.Body)
	v := client.NewRequestValidator(token)
	if !v.ValidateBody(u, body, r.Header.Get(twiliotest.SignatureHeader)) {
		t.Errorf("twilio-go rejects the webhook request's signature")
	}
	if r.Method != "POST" || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || r.Host != "nps.example.com" {
		t.Errorf("request %s %s %q", r.Method, r.Host, r.Header)
	}
}
