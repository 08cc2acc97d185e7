package webhook_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/channels/channeltest"
	"github.com/npsgate/npsgate/channels/chat/chathttp"
	"github.com/npsgate/npsgate/channels/chat/webhook"
	"github.com/npsgate/npsgate/internal/chattest"
)

// token is the secret part of the test endpoint URLs.
const token = "Qm9vU2VjcmV0UGF0aFRva2Vu"

func newWebhook(t testing.TB, cfg webhook.Config) *webhook.Channel {
	t.Helper()
	ch, err := webhook.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = ch.Close() })
	return ch
}

func message(to string, i int) *channels.Message {
	reply := fmt.Sprintf("https://nps.example.com/r/tok%d", i)
	var scores []channels.Score
	for v := 0; v <= 10; v++ {
		scores = append(scores, channels.Score{Value: v, URL: fmt.Sprintf("%s?score=%d", reply, v)})
	}
	return &channels.Message{
		DeliveryID: fmt.Sprintf("dlv-%04d", i),
		To:         to,
		Locale:     "fr",
		Subject:    "not sent",
		Text:       fmt.Sprintf("Recommanderiez-vous Acme ? (%d) %s", i, reply),
		ReplyURL:   reply,
		Question:   "Recommanderiez-vous Acme à un ami ?",
		Scores:     scores,
		Kind:       "survey",
	}
}

func channelError(t *testing.T, err error) *channels.Error {
	t.Helper()
	var ce *channels.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *channels.Error", err, err)
	}
	return ce
}

func only(t *testing.T, s *chattest.WebhookServer) chattest.WebhookRequest {
	t.Helper()
	reqs := s.Requests()
	if len(reqs) != 1 {
		t.Fatalf("server got %d requests, want 1", len(reqs))
	}
	return reqs[0]
}

// webhookProvider drives chattest's webhook receiver for the shared suite.
type webhookProvider struct{ srv *chattest.WebhookServer }

func (p *webhookProvider) Set(m channeltest.Mode) bool {
	switch m {
	case channeltest.Accept:
		p.srv.SetFault(nil)
	case channeltest.FailTemporary:
		p.srv.SetFault(&chattest.WebhookUnavailable)
	case channeltest.FailPermanent:
		p.srv.SetFault(&chattest.WebhookBadRequest)
	case channeltest.Hang:
		p.srv.SetFault(&chattest.HangFault)
	default:
		return false
	}
	return true
}

func (p *webhookProvider) Received() []channeltest.Received {
	var out []channeltest.Received
	for _, r := range p.srv.Accepted() {
		d, err := r.Event.Survey()
		if err != nil || !r.Verified {
			continue // not what the channel sends
		}
		out = append(out, channeltest.Received{To: r.URL, Body: d.Text})
	}
	return out
}

func TestSuite(t *testing.T) {
	// The suite asks for messages after New; they go to the server New
	// started last (its checks run one after another).
	var cur *chattest.WebhookServer
	channeltest.Exercise(t, channeltest.Harness{
		New: func(t *testing.T) (channels.Channel, channeltest.Provider) {
			cur = chattest.StartWebhook(t, "")
			return newWebhook(t, webhook.Config{Secret: cur.Secret()}), &webhookProvider{srv: cur}
		},
		Message: func(i int) *channels.Message {
			return message(cur.EndpointURL(fmt.Sprintf("%s%d", token, i)), i)
		},
	})
}

func TestSendWire(t *testing.T) {
	s := chattest.StartWebhook(t, "")
	ch := newWebhook(t, webhook.Config{Secret: s.Secret()})
	if ch.Name() != "webhook" {
		t.Errorf("Name %q", ch.Name())
	}
	m := message(s.EndpointURL(token), 1)
	before := time.Now()
	res, err := ch.Send(context.Background(), m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := only(t, s)
	if !r.Verified || !r.Accepted() {
		t.Fatalf("request not verified/accepted: %+v", r)
	}
	if r.ID != m.DeliveryID || res.ProviderID != m.DeliveryID {
		t.Errorf("webhook-id %q, ProviderID %q, want the delivery id %q", r.ID, res.ProviderID, m.DeliveryID)
	}
	if ts, err := strconv.ParseInt(r.Timestamp, 10, 64); err != nil || ts < before.Unix() || ts > time.Now().Unix() {
		t.Errorf("webhook-timestamp %q", r.Timestamp)
	}
	if !strings.HasPrefix(r.Signature, "v1,") || r.UserAgent != "npsgate" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", r.Header)
	}
	if r.Event.Type != "survey.message" {
		t.Errorf("type %q", r.Event.Type)
	}
	if ts, err := time.Parse(time.RFC3339Nano, r.Event.Timestamp); err != nil || ts.Before(before.Add(-time.Second)) || ts.Location() != time.UTC {
		t.Errorf("timestamp %q (%v)", r.Event.Timestamp, err)
	}
	var scores []any
	for _, sc := range m.Scores {
		scores = append(scores, map[string]any{"value": sc.Value, "url": sc.URL})
	}
	want := map[string]any{
		"delivery_id": m.DeliveryID,
		"locale":      "fr",
		"question":    m.Question,
		"text":        m.Text,
		"reply_url":   m.ReplyURL,
		"scores":      scores,
		"kind":        "survey",
	}
	var got map[string]any
	if err := json.Unmarshal(r.Event.Data, &got); err != nil {
		t.Fatal(err)
	}
	if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
		t.Errorf("data\n got %s\nwant %s", g, w)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAlertEvent(t *testing.T) {
	s := chattest.StartWebhook(t, "")
	m := message(s.EndpointURL(token), 2)
	m.Kind, m.Scores, m.Question = "", nil, ""
	if _, err := newWebhook(t, webhook.Config{Secret: s.Secret()}).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(only(t, s).Event.Data, &d); err != nil {
		t.Fatal(err)
	}
	if d["kind"] != "survey" || fmt.Sprint(d["scores"]) != "[]" {
		t.Errorf("data %v: want kind survey and scores [] (not null)", d)
	}
}

func TestRetryKeepsTheID(t *testing.T) {
	s := chattest.StartWebhook(t, "")
	s.FailNext(chattest.WebhookServerError)
	ch := newWebhook(t, webhook.Config{Secret: s.Secret()})
	m := message(s.EndpointURL(token), 3)
	if _, err := ch.Send(context.Background(), m); channels.KindOf(err) != channels.Retryable {
		t.Fatalf("first: %v", err)
	}
	if _, err := ch.Send(context.Background(), m); err != nil {
		t.Fatalf("retry: %v", err)
	}
	reqs := s.Requests()
	if len(reqs) != 2 || reqs[0].ID != m.DeliveryID || reqs[1].ID != m.DeliveryID || !reqs[0].Verified || !reqs[1].Verified {
		t.Errorf("requests %+v", reqs)
	}
}

func TestNoDeliveryID(t *testing.T) {
	s := chattest.StartWebhook(t, "")
	ch := newWebhook(t, webhook.Config{Secret: s.Secret()})
	m := message(s.EndpointURL(token), 4)
	m.DeliveryID = ""
	res, err := ch.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	r := only(t, s)
	if !strings.HasPrefix(res.ProviderID, "msg_") || r.ID != res.ProviderID || !r.Verified {
		t.Errorf("ProviderID %q, webhook-id %q", res.ProviderID, r.ID)
	}
}

func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		name       string
		fault      chattest.HTTPFault
		kind       channels.ErrorKind
		code       string
		message    string
		gone       bool
		retryAfter time.Duration
	}{
		{"500", chattest.WebhookServerError, channels.Retryable, "500", "internal error", false, 0},
		{"503", chattest.WebhookUnavailable, channels.Retryable, "503", "Service Unavailable", false, 0},
		{"502 empty", chattest.HTTPFault{Status: 502}, channels.Retryable, "502", "HTTP 502 Bad Gateway", false, 0},
		{"408", chattest.WebhookRequestTimeout, channels.Retryable, "408", "request timeout", false, 0},
		{"429 with Retry-After", chattest.WebhookRateLimited("3"), channels.RateLimited, "429", "slow down", false, 3 * time.Second},
		{"429 without", chattest.WebhookRateLimited(""), channels.RateLimited, "429", "slow down", false, time.Second},
		{"410", chattest.WebhookGone, channels.Permanent, "410", "endpoint disabled", true, 0},
		{"404", chattest.HTTPFault{Status: 404}, channels.Permanent, "404", "HTTP 404 Not Found", true, 0},
		{"400", chattest.WebhookBadRequest, channels.Permanent, "400", "unexpected event", false, 0},
		{"422", chattest.HTTPFault{Status: 422, Body: "unprocessable"}, channels.Permanent, "422", "unprocessable", false, 0},
		{"301", chattest.HTTPFault{Status: 301, Location: "https://new.example.com/hooks/" + token}, channels.Permanent, "301", "webhook redirected to https://new.example.com", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := chattest.StartWebhook(t, "")
			s.FailNext(tc.fault)
			ch := newWebhook(t, webhook.Config{Secret: s.Secret()})
			m := message(s.EndpointURL(token), 5)
			_, err := ch.Send(context.Background(), m)
			ce := channelError(t, err)
			if ce.Kind != tc.kind || ce.Code != tc.code || ce.Message != tc.message || ce.Channel != "webhook" {
				t.Errorf("got %s %q %q (channel %q)\nwant %s %q %q", ce.Kind, ce.Code, ce.Message, ce.Channel, tc.kind, tc.code, tc.message)
			}
			if got := errors.Is(err, chathttp.ErrWebhookGone); got != tc.gone {
				t.Errorf("errors.Is(ErrWebhookGone) = %v", got)
			}
			if ce.RetryAfter != tc.retryAfter {
				t.Errorf("RetryAfter %s, want %s", ce.RetryAfter, tc.retryAfter)
			}
			if _, err := ch.Send(context.Background(), m); err != nil {
				t.Errorf("next Send: %v", err)
			}
		})
	}
}

func TestWrongSecretIsRefused(t *testing.T) {
	s := chattest.StartWebhook(t, "")
	ch := newWebhook(t, webhook.Config{Secret: chattest.NewWebhookSecret()})
	_, err := ch.Send(context.Background(), message(s.EndpointURL(token), 6))
	ce := channelError(t, err)
	if ce.Kind != channels.Permanent || ce.Code != "401" || ce.Message != "invalid signature" {
		t.Errorf("got %s %q %q", ce.Kind, ce.Code, ce.Message)
	}
	if r := only(t, s); r.Verified {
		t.Error("receiver verified a signature made with another secret")
	}
}

func TestHangTimesOut(t *testing.T) {
	s := chattest.StartWebhook(t, "")
	s.FailNext(chattest.HangFault)
	ch := newWebhook(t, webhook.Config{Secret: s.Secret(), Timeout: 100 * time.Millisecond})
	_, err := ch.Send(context.Background(), message(s.EndpointURL(token), 7))
	if ce := channelError(t, err); ce.Kind != channels.Retryable || !strings.Contains(ce.Message, "within 100ms") {
		t.Errorf("got %s %q", ce.Kind, ce.Message)
	}
}

func TestRedirectIsPermanent(t *testing.T) {
	s := chattest.StartWebhook(t, "")
	s.FailNext(chattest.HTTPFault{Status: http.StatusTemporaryRedirect, Location: s.EndpointURL("elsewhere")})
	_, err := newWebhook(t, webhook.Config{Secret: s.Secret()}).Send(context.Background(), message(s.EndpointURL(token), 8))
	ce := channelError(t, err)
	if ce.Kind != channels.Permanent || !errors.Is(err, chathttp.ErrRedirected) {
		t.Errorf("got %s %v", ce.Kind, err)
	}
	if s.Count() != 1 {
		t.Errorf("%d requests: the redirect was followed, with a valid signature", s.Count())
	}
}

func TestInvalidMessages(t *testing.T) {
	s := chattest.StartWebhook(t, "")
	ch := newWebhook(t, webhook.Config{Secret: s.Secret()})
	for _, tc := range []struct {
		name     string
		edit     func(m *channels.Message)
		sentinel error
	}{
		{"no text", func(m *channels.Message) { m.Text, m.Question = "", "" }, webhook.ErrInvalidMessage},
		{"no URL", func(m *channels.Message) { m.To = "" }, webhook.ErrInvalidMessage},
		{"http", func(m *channels.Message) { m.To = "http://hooks.example.com/" + token }, chathttp.ErrInvalidURL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := message(s.EndpointURL(token), 9)
			tc.edit(m)
			_, err := ch.Send(context.Background(), m)
			if ce := channelError(t, err); ce.Kind != channels.Permanent || !errors.Is(err, tc.sentinel) {
				t.Errorf("got %v", err)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error shows the token: %v", err)
			}
		})
	}
	if s.Count() != 0 {
		t.Errorf("%d requests for invalid messages", s.Count())
	}
}

func TestNewValidatesSecret(t *testing.T) {
	short := "whsec_" + base64.StdEncoding.EncodeToString([]byte("sixteen bytes!!!"))
	for _, secret := range []string{"", "whsec_", "whsec_!!notbase64!!" + token, short} {
		_, err := webhook.New(webhook.Config{Secret: secret})
		if !errors.Is(err, webhook.ErrInvalidSecret) {
			t.Errorf("New(%q): %v", secret, err)
			continue
		}
		if len(secret) > 6 && strings.Contains(err.Error(), strings.TrimPrefix(secret, "whsec_")) {
			t.Errorf("error shows the secret: %v", err)
		}
	}
	// Without the prefix is fine too, as the library takes it.
	s := chattest.NewWebhookSecret()
	if _, err := webhook.New(webhook.Config{Secret: strings.TrimPrefix(s, "whsec_")}); err != nil {
		t.Errorf("secret without prefix: %v", err)
	}
	if _, err := webhook.New(webhook.Config{Secret: s, Timeout: -1}); err == nil {
		t.Error("negative timeout accepted")
	}
}

// TestSignerMatchesLibrary signs with Signer and verifies with the
// reference library, and compares with the library's own signature.
func TestSignerMatchesLibrary(t *testing.T) {
	secret := chattest.NewWebhookSecret()
	sg, err := webhook.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	lib, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"type":"response.created","timestamp":"2025-01-02T03:04:05Z","data":{"score":9}}`)
	ts := time.Now()
	h, err := sg.Header("msg_1", ts, payload)
	if err != nil {
		t.Fatal(err)
	}
	if err := lib.Verify(payload, h); err != nil {
		t.Errorf("library refuses Signer's headers %v: %v", h, err)
	}
	want, _ := lib.Sign("msg_1", ts, payload)
	if got, _ := sg.Sign("msg_1", ts, payload); got != want {
		t.Errorf("Sign %q, library %q", got, want)
	}
	if h.Get("webhook-id") != "msg_1" || h.Get("webhook-timestamp") != strconv.FormatInt(ts.Unix(), 10) {
		t.Errorf("headers %v", h)
	}
}

// TestDeliver is Deliver on its own, as the gateway's event webhooks use
// it.
func TestDeliver(t *testing.T) {
	s := chattest.StartWebhook(t, "")
	c, err := chathttp.New("events", chathttp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	sg, err := webhook.NewSigner(s.Secret())
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"type":"response.created","timestamp":"2025-01-02T03:04:05Z","data":{"score":9}}`)
	resp, err := webhook.Deliver(context.Background(), c, s.EndpointURL(token), sg, "evt_1", payload)
	if err != nil || resp.Status != 200 {
		t.Fatalf("Deliver: %v %v", resp, err)
	}
	r := only(t, s)
	if !r.Verified || r.ID != "evt_1" || string(r.Raw) != string(payload) || r.Event.Type != "response.created" {
		t.Errorf("request %+v", r)
	}

	s.FailNext(chattest.WebhookGone)
	resp, err = webhook.Deliver(context.Background(), c, s.EndpointURL(token), sg, "evt_2", payload)
	ce := channelError(t, err)
	if resp == nil || resp.Status != 410 || ce.Channel != "events" || ce.Kind != channels.Permanent {
		t.Errorf("resp %v err %v", resp, err)
	}

	if _, err := webhook.Deliver(context.Background(), c, s.EndpointURL(token), sg, "", payload); channels.KindOf(err) != channels.Permanent {
		t.Errorf("no id: %v", err)
	}
}

func TestTokenNeverShows(t *testing.T) {
	s := chattest.StartWebhook(t, "")
	var logs bytes.Buffer
	ch := newWebhook(t, webhook.Config{
		Secret:  s.Secret(),
		Timeout: 200 * time.Millisecond,
		Logger:  slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	_ = ln.Close()

	faults := []chattest.HTTPFault{
		chattest.WebhookServerError, chattest.WebhookGone, chattest.WebhookRateLimited("1"),
		{Status: 404, Body: "no endpoint /hooks/npsgate/" + token},
		{Status: 403, Body: "token " + token + " revoked"},
		{Status: 302, Location: s.EndpointURL(token + "2")},
		chattest.HangFault,
	}
	s.FailNext(faults...)
	var errs []error
	for i := range faults {
		_, err := ch.Send(context.Background(), message(s.EndpointURL(token), i))
		errs = append(errs, err)
	}
	for _, to := range []string{closed + "/hooks/" + token, "http://hooks.example.com/" + token} {
		_, err := ch.Send(context.Background(), message(to, 99))
		errs = append(errs, err)
	}
	for _, err := range errs {
		if err == nil {
			t.Fatal("a failing send succeeded")
		}
		for e := err; e != nil; e = errors.Unwrap(e) {
			if strings.Contains(e.Error(), token) || strings.Contains(e.Error(), s.Secret()) {
				t.Errorf("error shows a secret: %q", e.Error())
			}
		}
	}
	if strings.Contains(logs.String(), token) || strings.Contains(logs.String(), strings.TrimPrefix(s.Secret(), "whsec_")) {
		t.Errorf("log shows a secret:\n%s", logs.String())
	}
}
