package twiliotest

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // Twilio's signature scheme is HMAC-SHA1
	"encoding/base64"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
)

// SignatureHeader is the header Twilio signs webhooks in.
const SignatureHeader = "X-Twilio-Signature"

// Sign computes the X-Twilio-Signature Twilio sends with a webhook to
// fullURL (the URL exactly as configured in Twilio, query string included)
// carrying the form params: base64 of HMAC-SHA1, keyed by the auth token,
// over the URL followed by every parameter name and value, sorted by name,
// with no separators. A name with several values contributes name+value
// once per value, values sorted, as Twilio's own libraries compute it. For
// a GET webhook params is nil (the query is part of fullURL).
func Sign(authToken, fullURL string, params url.Values) string {
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range slices.Sorted(maps.Keys(params)) {
		for _, v := range slices.Sorted(slices.Values(params[k])) {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// NewWebhookRequest is an inbound webhook as Twilio posts it to fullURL:
// the form-encoded params, signed with authToken. It is a server-side
// request (httptest.NewRequest) for calling a handler's ServeHTTP directly.
func NewWebhookRequest(authToken, fullURL string, params url.Values) *http.Request {
	r := httptest.NewRequest(http.MethodPost, fullURL, strings.NewReader(params.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("User-Agent", "TwilioProxy/1.1")
	r.Header.Set(SignatureHeader, Sign(authToken, fullURL, params))
	return r
}
