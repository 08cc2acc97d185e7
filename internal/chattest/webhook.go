package chattest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Faults as a webhook receiver may answer.
var (
	// WebhookServerError is a receiver's 500.
	WebhookServerError = HTTPFault{Status: http.StatusInternalServerError, Body: "internal error"}
	// WebhookUnavailable is a 503, as a receiver being deployed answers.
	WebhookUnavailable = HTTPFault{Status: http.StatusServiceUnavailable, Body: "Service Unavailable"}
	// WebhookGone is a 410: the receiver says the endpoint is gone for good.
	WebhookGone = HTTPFault{Status: http.StatusGone, Body: "endpoint disabled"}
	// WebhookBadRequest is a 400: the receiver refuses this event.
	WebhookBadRequest = HTTPFault{Status: http.StatusBadRequest, Body: "unexpected event"}
	// WebhookRequestTimeout is a 408: the receiver gave up reading.
	WebhookRequestTimeout = HTTPFault{Status: http.StatusRequestTimeout, Body: "request timeout"}
)

// WebhookRateLimited is a receiver's 429; retryAfter, when not "", is sent
// as the Retry-After header.
func WebhookRateLimited(retryAfter string) HTTPFault {
	return HTTPFault{Status: http.StatusTooManyRequests, Body: "slow down", RetryAfter: retryAfter}
}

// NewWebhookSecret returns a fresh Standard Webhooks signing secret:
// "whsec_" and 32 random bytes in base64.
func NewWebhookSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return "whsec_" + base64.StdEncoding.EncodeToString(b[:])
}

// WebhookEvent is the JSON of a Standard Webhooks event.
type WebhookEvent struct {
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// WebhookSurvey is the data of a "survey.message" event.
type WebhookSurvey struct {
	DeliveryID string         `json:"delivery_id"`
	Locale     string         `json:"locale"`
	Question   string         `json:"question"`
	Text       string         `json:"text"`
	ReplyURL   string         `json:"reply_url"`
	Scores     []WebhookScore `json:"scores"`
	Kind       string         `json:"kind"`
}

// WebhookScore is one answer link of a survey message.
type WebhookScore struct {
	Value int    `json:"value"`
	URL   string `json:"url"`
}

// Survey decodes the data of a "survey.message" event.
func (e WebhookEvent) Survey() (WebhookSurvey, error) {
	if e.Type != "survey.message" {
		return WebhookSurvey{}, fmt.Errorf("event type %q, not survey.message", e.Type)
	}
	var d WebhookSurvey
	err := json.Unmarshal(e.Data, &d)
	return d, err
}

// WebhookRequest is one post to the fake, with how it was answered.
type WebhookRequest struct {
	// N is the 1-based number of the request in arrival order.
	N    int
	Time time.Time
	// URL is the endpoint URL posted to, as the client had it.
	URL       string
	Method    string
	Header    http.Header
	UserAgent string
	// ID, Timestamp and Signature are the webhook-id, webhook-timestamp
	// and webhook-signature headers. Verified says the signature is the
	// server's secret's over this body, id and a timestamp within the
	// library's tolerance (5 minutes); VerifyError says why not.
	ID, Timestamp, Signature string
	Verified                 bool
	VerifyError              string
	// Raw is the body as sent and Event its decoding.
	Raw   []byte
	Event WebhookEvent
	// Status and Answer are the HTTP status and body answered (Status 0
	// for a request left hanging). Problem says why a request that was not
	// faulted on purpose was refused.
	Status  int
	Answer  string
	Problem string
}

// Accepted says the receiver took the event (2xx).
func (r WebhookRequest) Accepted() bool { return r.Status >= 200 && r.Status <= 299 }

// WebhookServer is a running fake of a customer's webhook endpoint that
// follows the Standard Webhooks spec: it verifies every request's
// signature with the reference library and its secret (401 otherwise),
// checks the event envelope, and answers 200 or the fault it was told to
// give.
type WebhookServer struct {
	hookServer[WebhookRequest]
	secret string
	wh     *standardwebhooks.Webhook
}

// StartWebhook runs a webhook receiver on 127.0.0.1 for the length of the
// test, verifying with secret ("whsec_…"); "" makes a fresh one (see
// Secret).
func StartWebhook(t testing.TB, secret string) *WebhookServer {
	t.Helper()
	s, err := NewWebhookServer(secret)
	if err != nil {
		t.Fatalf("chattest: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// NewWebhookServer runs a webhook receiver until Close, for code without
// a testing.TB.
func NewWebhookServer(secret string) (*WebhookServer, error) {
	if secret == "" {
		secret = NewWebhookSecret()
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, fmt.Errorf("webhook secret: %w", err)
	}
	s := &WebhookServer{secret: secret, wh: wh}
	if err := s.start(http.HandlerFunc(s.serve)); err != nil {
		return nil, err
	}
	return s, nil
}

// Secret is the signing secret the receiver verifies with.
func (s *WebhookServer) Secret() string { return s.secret }

// URL is the server's base URL ("http://127.0.0.1:port").
func (s *WebhookServer) URL() string { return s.url }

// EndpointURL is an endpoint URL on the server with token in its path, as
// receivers that put a secret in the URL have. Every path is an endpoint.
func (s *WebhookServer) EndpointURL(token string) string {
	return s.url + "/hooks/npsgate/" + url.PathEscape(token)
}

// SetFault answers every request from now on with f; nil goes back to
// accepting (what FailNext queued comes first). Requests already hanging
// stay so.
func (s *WebhookServer) SetFault(f *HTTPFault) { s.setFault(f) }

// FailNext answers the next requests, one each, with faults, before
// SetFault's.
func (s *WebhookServer) FailNext(faults ...HTTPFault) { s.failNext(faults) }

// Requests returns every request so far, in arrival order.
func (s *WebhookServer) Requests() []WebhookRequest { return s.requests() }

// Accepted returns the requests the receiver took, in arrival order.
func (s *WebhookServer) Accepted() []WebhookRequest {
	var out []WebhookRequest
	for _, r := range s.requests() {
		if r.Accepted() {
			out = append(out, r)
		}
	}
	return out
}

// Count is how many requests the server received.
func (s *WebhookServer) Count() int { return s.count() }

// WaitFor waits until the server received at least n requests (answered
// or hanging).
func (s *WebhookServer) WaitFor(n int, timeout time.Duration) error {
	return s.waitFor("webhook", n, timeout)
}

// Close stops the server, releasing hanging requests, and waits for its
// handlers. It is safe to call twice.
func (s *WebhookServer) Close() error { return s.close() }

func (s *WebhookServer) serve(w http.ResponseWriter, hr *http.Request) {
	n, fault := s.next()
	r := WebhookRequest{
		N:         n,
		Time:      time.Now(),
		URL:       s.url + hr.URL.RequestURI(),
		Method:    hr.Method,
		Header:    hr.Header.Clone(),
		UserAgent: hr.UserAgent(),
		ID:        hr.Header.Get(standardwebhooks.HeaderWebhookID),
		Timestamp: hr.Header.Get(standardwebhooks.HeaderWebhookTimestamp),
		Signature: hr.Header.Get(standardwebhooks.HeaderWebhookSignature),
	}
	body, readErr := hookReadBody(hr)
	r.Raw = body
	if readErr == nil {
		if err := s.wh.Verify(body, hr.Header); err != nil {
			r.VerifyError = err.Error()
		} else {
			r.Verified = true
		}
	}
	decodeErr := json.Unmarshal(body, &r.Event)

	answer := func(status int, text, problem string) {
		r.Status, r.Answer, r.Problem = status, text, problem
		s.record(r)
		hookWriteText(w, status, "text/plain; charset=utf-8", text)
	}

	if fault != nil {
		if fault.Hang {
			s.record(r)
			s.hang(hr)
		}
		r.Status, r.Answer = fault.Status, fault.Body
		s.record(r)
		hookWriteFault(w, fault)
		return
	}

	switch {
	case hr.Method != http.MethodPost:
		answer(http.StatusMethodNotAllowed, "method not allowed", "method "+hr.Method)
		return
	case readErr != nil:
		answer(http.StatusRequestEntityTooLarge, "too large", readErr.Error())
		return
	case !r.Verified:
		answer(http.StatusUnauthorized, "invalid signature", r.VerifyError)
		return
	}
	if ct, _, _ := mime.ParseMediaType(hr.Header.Get("Content-Type")); ct != "application/json" {
		answer(http.StatusUnsupportedMediaType, "want application/json", "Content-Type "+hr.Header.Get("Content-Type"))
		return
	}
	if decodeErr != nil {
		answer(http.StatusBadRequest, "invalid JSON", decodeErr.Error())
		return
	}
	if p := checkWebhookEvent(r.Event); p != nil {
		answer(http.StatusBadRequest, "invalid event", p.Error())
		return
	}
	answer(http.StatusOK, "", "")
}

// checkWebhookEvent checks the envelope every Standard Webhooks event has.
func checkWebhookEvent(e WebhookEvent) error {
	switch {
	case e.Type == "":
		return errors.New("no type")
	case len(e.Data) == 0 || e.Data[0] != '{':
		return errors.New("data is not an object")
	}
	if _, err := time.Parse(time.RFC3339, e.Timestamp); err != nil {
		return fmt.Errorf("timestamp %q is not RFC 3339", e.Timestamp)
	}
	return nil
}
