package feishu_test

import (
	"bytes"
	"context"
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

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/channels/channeltest"
	"github.com/npsgate/npsgate/channels/chat/chathttp"
	"github.com/npsgate/npsgate/channels/chat/feishu"
	"github.com/npsgate/npsgate/internal/chattest"
)

// The secret parts of the test bots.
const (
	token  = "3f2a9c1e-7b4d-4e8a-9c0f-5a6b7c8d9e0f"
	secret = "qWeRtYuIoPaSdFgHjKlZx1"
)

func newFeishu(t testing.TB, cfg feishu.Config) *feishu.Channel {
	t.Helper()
	ch, err := feishu.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = ch.Close() })
	return ch
}

func scores(reply string) []channels.Score {
	var out []channels.Score
	for v := 0; v <= 10; v++ {
		out = append(out, channels.Score{Value: v, URL: fmt.Sprintf("%s?score=%d", reply, v)})
	}
	return out
}

// message is survey i to the bot at address to.
func message(to string, i int) *channels.Message {
	reply := fmt.Sprintf("https://nps.example.com/r/tok%d", i)
	return &channels.Message{
		DeliveryID: fmt.Sprintf("dlv-%04d", i),
		To:         to,
		Locale:     "en",
		Subject:    "Acme would like your opinion",
		Text:       fmt.Sprintf("Hello from Acme (%d). One question, one tap:", i),
		ReplyURL:   reply,
		Question:   "How likely are you to recommend Acme to a friend or colleague?",
		Scores:     scores(reply),
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

// noSecret fails when err, anything it wraps, or its formatted forms show
// the bot's token or secret.
func noSecret(t *testing.T, err error) {
	t.Helper()
	for e := err; e != nil; e = errors.Unwrap(e) {
		if s := e.Error(); strings.Contains(s, token) || strings.Contains(s, secret) {
			t.Errorf("error shows the bot's token or secret: %q", s)
		}
	}
	if s := fmt.Sprintf("%v %+v %#v", err, err, err); strings.Contains(s, token) || strings.Contains(s, secret) {
		t.Errorf("formatted error shows the bot's token or secret: %s", s)
	}
}

// feishuProvider drives chattest's Feishu fake for the shared suite.
type feishuProvider struct{ srv *chattest.FeishuServer }

func (p *feishuProvider) Set(m channeltest.Mode) bool {
	switch m {
	case channeltest.Accept:
		p.srv.SetFault(nil)
	case channeltest.FailTemporary:
		p.srv.SetFault(&chattest.FeishuServerError)
	case channeltest.FailPermanent:
		p.srv.SetFault(&chattest.FeishuSignMatchFail)
	case channeltest.Hang:
		p.srv.SetFault(&chattest.HangFault)
	default:
		return false
	}
	return true
}

// Received gives each accepted post with the address it was sent to, as
// the contact holds it (the secret included).
func (p *feishuProvider) Received() []channeltest.Received {
	var out []channeltest.Received
	for _, r := range p.srv.Accepted() {
		out = append(out, channeltest.Received{To: p.srv.Address(r.Token), Body: r.Message.Visible()})
	}
	return out
}

func TestSuite(t *testing.T) {
	var cur *chattest.FeishuServer
	channeltest.Exercise(t, channeltest.Harness{
		New: func(t *testing.T) (channels.Channel, channeltest.Provider) {
			cur = chattest.StartFeishu(t)
			return newFeishu(t, feishu.Config{}), &feishuProvider{srv: cur}
		},
		Message: func(i int) *channels.Message {
			// Every bot of the suite signs: the signature is checked on
			// every message.
			return message(cur.AddBot(fmt.Sprintf("%s-%d", token, i), fmt.Sprintf("%s%d", secret, i)), i)
		},
	})
}

func only(t *testing.T, s *chattest.FeishuServer) chattest.FeishuRequest {
	t.Helper()
	reqs := s.Requests()
	if len(reqs) != 1 {
		t.Fatalf("server got %d requests, want 1", len(reqs))
	}
	return reqs[0]
}

func TestSurveyWire(t *testing.T) {
	s := chattest.StartFeishu(t)
	ch := newFeishu(t, feishu.Config{})
	if ch.Name() != "feishu" {
		t.Errorf("Name %q", ch.Name())
	}
	m := message(s.AddBot(token, secret), 1)
	begin := time.Now()
	res, err := ch.Send(context.Background(), m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if res.ProviderID != m.DeliveryID {
		t.Errorf("ProviderID %q", res.ProviderID)
	}
	r := only(t, s)
	if !r.Accepted() || r.UserAgent != "npsgate" || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("request %+v", r)
	}
	if r.Token != token || r.URL != s.WebhookURL(token) || strings.Contains(string(r.Raw), secret) {
		t.Errorf("URL %s: want the webhook without the secret", r.URL)
	}
	// The timestamp is a JSON string of seconds.
	var raw map[string]any
	if err := json.Unmarshal(r.Raw, &raw); err != nil {
		t.Fatal(err)
	}
	ts, isString := raw["timestamp"].(string)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if !isString || err != nil || sec < begin.Unix()-1 || sec > time.Now().Unix()+1 {
		t.Errorf("timestamp %#v, want a string of the send's seconds", raw["timestamp"])
	}
	if raw["sign"] == "" || r.Message.MsgType != "interactive" {
		t.Errorf("body %s", r.Raw)
	}

	c := r.Message.Card
	if c == nil || c.Header == nil || c.Header.Title != (chattest.FeishuText{Tag: "plain_text", Content: m.Subject}) || c.Header.Template != "blue" {
		t.Fatalf("card %+v", c)
	}
	if len(c.Elements) != 3 {
		t.Fatalf("elements %+v, want the text, the question and the buttons", c.Elements)
	}
	if e := c.Elements[0]; e.Tag != "div" || *e.Text != (chattest.FeishuText{Tag: "lark_md", Content: m.Text}) {
		t.Errorf("element 0 %+v", e)
	}
	if e := c.Elements[1]; e.Tag != "div" || e.Text.Content != "**"+m.Question+"**" {
		t.Errorf("element 1 %+v", e)
	}
	if e := c.Elements[2]; e.Tag != "action" || e.Layout != "flow" {
		t.Errorf("element 2 %+v", e)
	}
	buttons := r.Message.Buttons()
	if len(buttons) != 11 {
		t.Fatalf("buttons %+v, want 11 scores", buttons)
	}
	for i, b := range buttons {
		want := chattest.FeishuButton{Tag: "button", Text: chattest.FeishuText{Tag: "plain_text", Content: strconv.Itoa(i)},
			URL: m.Scores[i].URL, Type: "default"}
		if b != want {
			t.Errorf("button %d = %+v, want %+v", i, b, want)
		}
	}
}

func TestUnsignedBotAndNoScores(t *testing.T) {
	s := chattest.StartFeishu(t)
	ch := newFeishu(t, feishu.Config{})
	m := message(s.AddBot(token, ""), 1)
	m.Scores, m.Subject, m.Locale = nil, "", "zh-CN"
	if _, err := ch.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := only(t, s)
	if r.Message.Timestamp != "" || r.Message.Sign != "" || bytes.Contains(r.Raw, []byte(`"timestamp"`)) {
		t.Errorf("an unsigned bot got %s", r.Raw)
	}
	if r.Message.Title() != m.Question {
		t.Errorf("title %q, want the question", r.Message.Title())
	}
	b := r.Message.Buttons()
	if len(b) != 1 || b[0].Text.Content != "回答" || b[0].URL != m.ReplyURL {
		t.Errorf("buttons %+v, want one to the reply page", b)
	}
}

func TestAlertCard(t *testing.T) {
	for _, tc := range []struct{ kind, label, template string }{
		{"alert", "View response", "orange"},
		{"digest", "View results", "turquoise"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			s := chattest.StartFeishu(t)
			ch := newFeishu(t, feishu.Config{})
			m := &channels.Message{DeliveryID: "a1", To: s.AddBot(token, secret), Kind: tc.kind,
				Subject: "Detractor: 3/10 from Globex", Text: "**Globex** answered 3: *too slow*.",
				Question: "ignored for alerts", ReplyURL: "https://nps.example.com/responses/42"}
			if _, err := ch.Send(context.Background(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			c := only(t, s).Message.Card
			if c == nil || c.Header.Title.Content != m.Subject || c.Header.Template != tc.template || len(c.Elements) != 2 {
				t.Fatalf("card %+v", c)
			}
			if c.Elements[0].Text.Content != m.Text {
				t.Errorf("text %+v", c.Elements[0])
			}
			if b := c.Elements[1].Actions; len(b) != 1 || b[0].Text.Content != tc.label || b[0].URL != m.ReplyURL {
				t.Errorf("buttons %+v", b)
			}
		})
	}
}

func TestLongTextIsCutButtonsKept(t *testing.T) {
	s := chattest.StartFeishu(t)
	ch := newFeishu(t, feishu.Config{})
	m := message(s.AddBot(token, secret), 1)
	m.Text = strings.Repeat("很长的介绍。", 3000) // 54000 bytes
	if _, err := ch.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := only(t, s)
	if len(r.Raw) > 20*1024 || len(r.Raw) < 19*1024 {
		t.Errorf("body of %d bytes, want just under 20 KB", len(r.Raw))
	}
	c := r.Message.Card
	if !strings.HasSuffix(c.Elements[0].Text.Content, "…") || len(r.Message.Buttons()) != 11 {
		t.Errorf("text not cut, or buttons lost")
	}
}

// TestRefusedByFeishu sends what the fake, checking as Feishu does,
// refuses.
func TestRefusedByFeishu(t *testing.T) {
	clock := func(d time.Duration) func() time.Time { return func() time.Time { return time.Now().Add(d) } }
	for _, tc := range []struct {
		name  string
		setup func(s *chattest.FeishuServer) string
		code  string
		gone  bool
	}{
		{"wrong secret", func(s *chattest.FeishuServer) string {
			s.AddBot(token, secret)
			return s.WebhookURL(token) + "?secret=notthesecret"
		}, "19021", false},
		{"no secret for a signing bot", func(s *chattest.FeishuServer) string {
			s.AddBot(token, secret)
			return s.WebhookURL(token)
		}, "19021", false},
		{"clock two hours ahead", func(s *chattest.FeishuServer) string {
			s.SetClock(clock(2 * time.Hour))
			return s.AddBot(token, secret)
		}, "19021", false},
		{"clock two hours behind", func(s *chattest.FeishuServer) string {
			s.SetClock(clock(-2 * time.Hour))
			return s.AddBot(token, secret)
		}, "19021", false},
		{"keyword missing", func(s *chattest.FeishuServer) string {
			return s.AddBot(token, secret, "NPSGATE")
		}, "19024", false},
		{"unknown token", func(s *chattest.FeishuServer) string {
			return s.WebhookURL(token)
		}, "19001", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := chattest.StartFeishu(t)
			ch := newFeishu(t, feishu.Config{})
			_, err := ch.Send(context.Background(), message(tc.setup(s), 1))
			ce := channelError(t, err)
			if ce.Kind != channels.Permanent || ce.Code != tc.code || ce.Message == "" || ce.Channel != "feishu" {
				t.Errorf("got %s %q %q", ce.Kind, ce.Code, ce.Message)
			}
			if errors.Is(err, chathttp.ErrWebhookGone) != tc.gone {
				t.Errorf("%v: ErrWebhookGone %v, want %v", err, !tc.gone, tc.gone)
			}
			noSecret(t, err)
		})
	}
	t.Run("keyword present", func(t *testing.T) {
		s := chattest.StartFeishu(t)
		ch := newFeishu(t, feishu.Config{})
		m := message(s.AddBot(token, secret, "NPSGATE"), 1)
		m.Subject = "NPSGATE survey"
		if _, err := ch.Send(context.Background(), m); err != nil {
			t.Fatalf("Send: %v", err)
		}
	})
}

func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		name       string
		fault      chattest.HTTPFault
		kind       channels.ErrorKind
		code       string
		message    string
		retryAfter time.Duration
		sentinel   error
	}{
		{"19021", chattest.FeishuSignMatchFail, channels.Permanent, "19021", "sign match fail or timestamp is not within one hour from current time", 0, nil},
		{"19022", chattest.FeishuIPNotAllowed, channels.Permanent, "19022", "Ip Not Allowed", 0, nil},
		{"19024", chattest.FeishuKeyWordsNotFound, channels.Permanent, "19024", "Key Words Not Found", 0, nil},
		{"19001", chattest.FeishuTokenInvalid, channels.Permanent, "19001", "param invalid: incoming webhook access token invalid", 0, chathttp.ErrWebhookGone},
		{"19002", chattest.FeishuError(200, 19002, "params error, msg_type need"), channels.Permanent, "19002", "params error, msg_type need", 0, nil},
		{"11232", chattest.FeishuFrequencyLimited, channels.RateLimited, "11232", "frequency limited psm[lark.oapi.app_platform_runtime]appID[1500]", 10 * time.Second, nil},
		{"9499 too many request", chattest.FeishuTooManyRequest, channels.RateLimited, "9499", "too many request", 10 * time.Second, nil},
		{"9499 Bad Request 400", chattest.FeishuBadRequest, channels.Permanent, "9499", "Bad Request", 0, nil},
		{"9499 Bad Request 200", chattest.FeishuError(200, 9499, "Bad Request"), channels.Permanent, "9499", "Bad Request", 0, nil},
		{"legacy failure", chattest.HTTPFault{Status: 200, Body: `{"StatusCode":19021,"StatusMessage":"sign match fail"}`}, channels.Permanent, "19021", "sign match fail", 0, nil},
		{"code without msg", chattest.FeishuError(200, 1234, ""), channels.Permanent, "1234", "code 1234", 0, nil},
		{"msg echoing the token", chattest.FeishuError(200, 19001, "token "+token+" invalid"), channels.Permanent, "19001", "token [redacted] invalid", 0, chathttp.ErrWebhookGone},
		{"HTTP 429 Retry-After", chattest.FeishuRateLimited("3"), channels.RateLimited, "9499", "too many request", 3 * time.Second, nil},
		{"HTTP 429 bare", chattest.HTTPFault{Status: 429}, channels.RateLimited, "429", "HTTP 429 Too Many Requests", 10 * time.Second, nil},
		{"HTTP 500", chattest.FeishuServerError, channels.Retryable, "500", "Internal Server Error", 0, nil},
		{"HTTP 502 HTML", chattest.HTTPFault{Status: 502, Body: "<html>bad gateway</html>"}, channels.Retryable, "502", "HTTP 502 Bad Gateway", 0, nil},
		{"HTTP 302", chattest.HTTPFault{Status: 302, Location: "https://evil.example/hook/" + token}, channels.Permanent, "302", "webhook redirected to https://evil.example", 0, chathttp.ErrRedirected},
		{"HTTP 404", chattest.HTTPFault{Status: 404, Body: "404 page not found"}, channels.Permanent, "404", "404 page not found", 0, chathttp.ErrWebhookGone},
		{"HTTP 400 no code", chattest.HTTPFault{Status: 400, Body: "bad"}, channels.Permanent, "400", "bad", 0, nil},
		{"HTTP 200 HTML", chattest.HTTPFault{Status: 200, Body: "<html>portal</html>"}, channels.Retryable, "200", "HTTP 200 without a Feishu answer; the message may have been posted", 0, nil},
		{"HTTP 200 no code", chattest.HTTPFault{Status: 200, Body: `{"data":{}}`}, channels.Retryable, "200", "HTTP 200 without a Feishu answer; the message may have been posted", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := chattest.StartFeishu(t)
			ch := newFeishu(t, feishu.Config{})
			s.FailNext(tc.fault)
			_, err := ch.Send(context.Background(), message(s.AddBot(token, secret), 1))
			ce := channelError(t, err)
			if ce.Kind != tc.kind || ce.Code != tc.code || ce.Message != tc.message || ce.Channel != "feishu" {
				t.Errorf("got %s %q %q, want %s %q %q", ce.Kind, ce.Code, ce.Message, tc.kind, tc.code, tc.message)
			}
			if ce.RetryAfter != tc.retryAfter {
				t.Errorf("RetryAfter %s, want %s", ce.RetryAfter, tc.retryAfter)
			}
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Errorf("%v does not wrap %v", err, tc.sentinel)
			}
			if s.Count() != 1 {
				t.Errorf("server got %d requests, want 1", s.Count())
			}
			noSecret(t, err)
		})
	}
}

func TestLegacySuccess(t *testing.T) {
	s := chattest.StartFeishu(t)
	ch := newFeishu(t, feishu.Config{})
	s.FailNext(chattest.HTTPFault{Status: 200, Body: `{"Extra":null,"StatusCode":0,"StatusMessage":"success"}`})
	if _, err := ch.Send(context.Background(), message(s.AddBot(token, secret), 1)); err != nil {
		t.Fatalf("Send: %v", err)
	}
}

func TestInvalidAddress(t *testing.T) {
	ch := newFeishu(t, feishu.Config{})
	for _, to := range []string{
		"",
		"http://open.feishu.cn/open-apis/bot/v2/hook/" + token + "?secret=" + secret,
		"https://open.feishu.cn/open-apis/bot/v2/hook/?secret=" + secret,
		"https://open.feishu.cn/open-apis/im/v1/messages?secret=" + secret,
		"https://open.feishu.cn/open-apis/bot/v2/hook/" + token + "/extra",
	} {
		_, err := ch.Send(context.Background(), message(to, 1))
		ce := channelError(t, err)
		if ce.Kind != channels.Permanent || !errors.Is(err, chathttp.ErrInvalidURL) {
			t.Errorf("To %.50q: got %v", to, err)
		}
		noSecret(t, err)
	}
}

func TestInvalidMessage(t *testing.T) {
	ch := newFeishu(t, feishu.Config{})
	to := "https://open.feishu.cn/open-apis/bot/v2/hook/" + token
	for name, mut := range map[string]func(*channels.Message){
		"no text":         func(m *channels.Message) { m.Text, m.Question = "", "\n" },
		"bad score URL":   func(m *channels.Message) { m.Scores[3].URL = "ftp://x/3" },
		"duplicate score": func(m *channels.Message) { m.Scores[3].Value = 2 },
		"bad reply URL":   func(m *channels.Message) { m.ReplyURL = "r/tok" },
	} {
		m := message(to, 1)
		mut(m)
		_, err := ch.Send(context.Background(), m)
		ce := channelError(t, err)
		if ce.Kind != channels.Permanent || !errors.Is(err, feishu.ErrInvalidMessage) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	if _, err := ch.Send(context.Background(), nil); !errors.Is(err, feishu.ErrInvalidMessage) {
		t.Errorf("nil message: %v", err)
	}
}

// TestSecretNeverLeaves sends through every failure path with a logger at
// debug level and checks that neither the token nor the secret shows in an
// error or the log, and that the secret never reached the server.
func TestSecretNeverLeaves(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := chattest.StartFeishu(t)
	ch := newFeishu(t, feishu.Config{Logger: log, Timeout: 200 * time.Millisecond})
	addr := s.AddBot(token, secret)

	for _, f := range []chattest.HTTPFault{
		chattest.FeishuSignMatchFail, chattest.FeishuFrequencyLimited, chattest.FeishuTokenInvalid,
		chattest.FeishuBadRequest, chattest.FeishuServerError, chattest.FeishuRateLimited("1"), chattest.HangFault,
		{Status: 302, Location: addr},
		chattest.FeishuError(200, 19001, "no hook "+token),
	} {
		s.FailNext(f)
		_, err := ch.Send(context.Background(), message(addr, 1))
		if err == nil {
			t.Fatalf("fault %+v: no error", f)
		}
		noSecret(t, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()
	_, err = ch.Send(context.Background(), message("http://"+dead+"/open-apis/bot/v2/hook/"+token+"?secret="+secret, 1))
	channelError(t, err)
	noSecret(t, err)
	s.FailNext(chattest.HangFault)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = newFeishu(t, feishu.Config{Logger: log}).Send(ctx, message(addr, 1))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v, want the context's", err)
	}
	noSecret(t, err)
	if _, err := ch.Send(context.Background(), message(addr, 2)); err != nil {
		t.Fatalf("Send: %v", err)
	}

	if l := logs.String(); strings.Contains(l, token) || strings.Contains(l, secret) || !strings.Contains(l, "send failed") {
		t.Errorf("log shows a secret, or logs nothing:\n%s", l)
	}
	for _, r := range s.Requests() {
		if strings.Contains(r.URL, secret) || bytes.Contains(r.Raw, []byte(secret)) || strings.Contains(r.URL, "secret=") {
			t.Errorf("request %d carried the secret: %s", r.N, r.URL)
		}
	}
}

func TestTimeoutIsRetryable(t *testing.T) {
	s := chattest.StartFeishu(t)
	s.SetFault(&chattest.HangFault)
	ch := newFeishu(t, feishu.Config{Timeout: 100 * time.Millisecond})
	begin := time.Now()
	_, err := ch.Send(context.Background(), message(s.AddBot(token, secret), 1))
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("took %s", took)
	}
	if ce := channelError(t, err); ce.Kind != channels.Retryable {
		t.Errorf("got %v", err)
	}
	noSecret(t, err)
}

func TestRateLimitAndKey(t *testing.T) {
	ch := newFeishu(t, feishu.Config{})
	if n, per := ch.RateLimit(); n != 100 || per != time.Minute {
		t.Errorf("RateLimit = %d/%s, want 100/1m", n, per)
	}
	if n, per := ch.BurstLimit(); n != 5 || per != time.Second {
		t.Errorf("BurstLimit = %d/%s, want 5/1s", n, per)
	}
	base := "https://open.feishu.cn/open-apis/bot/v2/hook/" + token
	key := feishu.RateKey(base)
	if !strings.HasPrefix(key, "feishu:") || len(key) != len("feishu:")+32 || strings.Contains(key, token) {
		t.Errorf("RateKey = %q", key)
	}
	for _, same := range []string{base + "?secret=" + secret, "https://open.larksuite.com/open-apis/bot/v2/hook/" + token} {
		if got := ch.RateKey(same); got != key {
			t.Errorf("RateKey(%.60q) = %q, want %q", same, got, key)
		}
	}
	for _, other := range []string{base + "0", "not a url", ""} {
		if got := feishu.RateKey(other); got == key || !strings.HasPrefix(got, "feishu:") {
			t.Errorf("RateKey(%q) = %q", other, got)
		}
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	s := chattest.StartFeishu(t)
	addr := s.AddBot(token, secret)
	s.FailNext(chattest.HTTPFault{Status: http.StatusPermanentRedirect, Location: s.WebhookURL(token)})
	ch := newFeishu(t, feishu.Config{})
	_, err := ch.Send(context.Background(), message(addr, 1))
	if !errors.Is(err, chathttp.ErrRedirected) || channels.KindOf(err) != channels.Permanent {
		t.Fatalf("got %v", err)
	}
	if s.Count() != 1 {
		t.Errorf("server got %d requests: the redirect was followed", s.Count())
	}
}
