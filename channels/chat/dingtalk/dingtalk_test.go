package dingtalk_test

import (
	"bytes"
	"context"
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
	"github.com/npsgate/npsgate/channels/chat/dingtalk"
	"github.com/npsgate/npsgate/internal/chattest"
)

// The secret parts of the test robots.
const (
	token  = "d7a3c0ffee5eed0fbadc0de1234567890abcdef1234567890abcdef12345678"
	secret = "SEC0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
)

func newDingTalk(t testing.TB, cfg dingtalk.Config) *dingtalk.Channel {
	t.Helper()
	ch, err := dingtalk.New(cfg)
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

// message is survey i to the robot at address to.
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
// the robot's token or secret.
func noSecret(t *testing.T, err error) {
	t.Helper()
	for e := err; e != nil; e = errors.Unwrap(e) {
		if s := e.Error(); strings.Contains(s, token) || strings.Contains(s, secret) {
			t.Errorf("error shows the robot's token or secret: %q", s)
		}
	}
	if s := fmt.Sprintf("%v %+v %#v", err, err, err); strings.Contains(s, token) || strings.Contains(s, secret) {
		t.Errorf("formatted error shows the robot's token or secret: %s", s)
	}
}

// dingTalkProvider drives chattest's DingTalk fake for the shared suite.
type dingTalkProvider struct{ srv *chattest.DingTalkServer }

func (p *dingTalkProvider) Set(m channeltest.Mode) bool {
	switch m {
	case channeltest.Accept:
		p.srv.SetFault(nil)
	case channeltest.FailTemporary:
		p.srv.SetFault(&chattest.DingTalkServerError)
	case channeltest.FailPermanent:
		p.srv.SetFault(&chattest.DingTalkSignNotMatch)
	case channeltest.Hang:
		p.srv.SetFault(&chattest.HangFault)
	default:
		return false
	}
	return true
}

// Received gives each accepted post with the address it was sent to, as
// the contact holds it (the secret included).
func (p *dingTalkProvider) Received() []channeltest.Received {
	var out []channeltest.Received
	for _, r := range p.srv.Accepted() {
		out = append(out, channeltest.Received{To: p.srv.Address(r.Token), Body: r.Message.Visible()})
	}
	return out
}

func TestSuite(t *testing.T) {
	var cur *chattest.DingTalkServer
	channeltest.Exercise(t, channeltest.Harness{
		New: func(t *testing.T) (channels.Channel, channeltest.Provider) {
			cur = chattest.StartDingTalk(t)
			return newDingTalk(t, dingtalk.Config{}), &dingTalkProvider{srv: cur}
		},
		Message: func(i int) *channels.Message {
			// Every robot of the suite signs: the signature is checked on
			// every message.
			return message(cur.AddRobot(fmt.Sprintf("%s%d", token, i), fmt.Sprintf("%s%d", secret, i)), i)
		},
	})
}

func only(t *testing.T, s *chattest.DingTalkServer) chattest.DingTalkRequest {
	t.Helper()
	reqs := s.Requests()
	if len(reqs) != 1 {
		t.Fatalf("server got %d requests, want 1", len(reqs))
	}
	return reqs[0]
}

func TestSurveyWire(t *testing.T) {
	s := chattest.StartDingTalk(t)
	ch := newDingTalk(t, dingtalk.Config{})
	if ch.Name() != "dingtalk" {
		t.Errorf("Name %q", ch.Name())
	}
	m := message(s.AddRobot(token, secret), 1)
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
	if r.Token != token || r.Query.Has("secret") || strings.Contains(r.URL, secret) || strings.Contains(string(r.Raw), secret) {
		t.Errorf("URL %s: want the token, no secret", r.URL)
	}
	ms, err := strconv.ParseInt(r.Query.Get("timestamp"), 10, 64)
	if ts := time.UnixMilli(ms); err != nil || ts.Before(begin.Add(-time.Second)) || ts.After(time.Now().Add(time.Second)) {
		t.Errorf("timestamp %q: want milliseconds of the send", r.Query.Get("timestamp"))
	}

	c := r.Message.ActionCard
	if r.Message.MsgType != "actionCard" || c == nil {
		t.Fatalf("message %+v, want an actionCard", r.Message)
	}
	if c.Title != m.Subject || c.SingleTitle != "Answer" || c.SingleURL != m.ReplyURL || c.BtnOrientation != "0" || len(c.Btns) != 0 {
		t.Errorf("card %+v", c)
	}
	if !strings.HasPrefix(c.Text, m.Text+"\n\n**"+m.Question+"**\n\n") {
		t.Errorf("text %q: want the text, then the question in bold", c.Text)
	}
	links := r.Message.Links()
	if len(links) != 11 {
		t.Fatalf("links %+v, want 11 scores", links)
	}
	for i, l := range links {
		if l.Label != strconv.Itoa(i) || l.URL != m.Scores[i].URL {
			t.Errorf("link %d = %+v, want [%d](%s)", i, l, i, m.Scores[i].URL)
		}
	}
	if !strings.Contains(c.Text, "[0]("+m.Scores[0].URL+") | [1]("+m.Scores[1].URL+")") {
		t.Errorf("the scores are not one row: %q", c.Text)
	}
}

func TestSurveyWithoutReplyURLIsMarkdown(t *testing.T) {
	s := chattest.StartDingTalk(t)
	ch := newDingTalk(t, dingtalk.Config{})
	m := message(s.AddRobot(token, ""), 1)
	m.ReplyURL, m.Subject, m.Text = "", "", "How likely are you to recommend Acme to a friend or colleague? Tap a score."
	if _, err := ch.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := only(t, s)
	md := r.Message.Markdown
	if r.Message.MsgType != "markdown" || md == nil || md.Title != m.Question || !strings.HasPrefix(md.Text, m.Text+"\n\n[0](") {
		t.Fatalf("message %+v", r.Message)
	}
	if strings.Contains(md.Text, "**") {
		t.Errorf("the question is repeated though the text says it: %q", md.Text)
	}
	// A robot that does not sign gets no timestamp or sign.
	if r.Query.Has("timestamp") || r.Query.Has("sign") {
		t.Errorf("query %v", r.Query)
	}
}

func TestAlertIsMarkdown(t *testing.T) {
	for _, tc := range []struct{ kind, locale, label string }{
		{"alert", "en", "View response"},
		{"alert", "zh-CN", "查看回复"},
		{"digest", "en-GB", "View results"},
	} {
		t.Run(tc.kind+tc.locale, func(t *testing.T) {
			s := chattest.StartDingTalk(t)
			ch := newDingTalk(t, dingtalk.Config{})
			m := &channels.Message{DeliveryID: "a1", To: s.AddRobot(token, secret), Kind: tc.kind, Locale: tc.locale,
				Subject: "Detractor: 3/10 from Globex", Text: "**Globex** answered 3: _too slow_.",
				ReplyURL: "https://nps.example.com/responses/42"}
			if _, err := ch.Send(context.Background(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			r := only(t, s)
			md := r.Message.Markdown
			if r.Message.MsgType != "markdown" || md == nil || md.Title != m.Subject {
				t.Fatalf("message %+v", r.Message)
			}
			if want := m.Text + "\n\n[" + tc.label + "](" + m.ReplyURL + ")"; md.Text != want {
				t.Errorf("text %q, want %q", md.Text, want)
			}
		})
	}
}

func TestLongTextIsCutLinksKept(t *testing.T) {
	s := chattest.StartDingTalk(t)
	ch := newDingTalk(t, dingtalk.Config{})
	m := message(s.AddRobot(token, secret), 1)
	m.Text = strings.Repeat("很长的介绍。", 2000) // 36000 bytes
	if _, err := ch.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := only(t, s)
	if len(r.Raw) > 20000 {
		t.Errorf("body of %d bytes", len(r.Raw))
	}
	text := r.Message.Body()
	if !strings.Contains(text, "…\n\n**"+message("", 1).Question) || len(r.Message.Links()) != 11 {
		t.Errorf("text not cut before the question, or links lost: …%q", text[len(text)-900:])
	}
}

// fakeClock is a fixed time for the fake to check timestamps against.
func fakeClock(d time.Duration) func() time.Time {
	return func() time.Time { return time.Now().Add(d) }
}

// TestRefusedByDingTalk sends what the fake, checking as DingTalk does,
// refuses.
func TestRefusedByDingTalk(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(s *chattest.DingTalkServer) string // the address
		code  string
		gone  bool
	}{
		{"wrong secret", func(s *chattest.DingTalkServer) string {
			s.AddRobot(token, secret)
			return s.WebhookURL(token) + "&secret=SECnotthesecretatall"
		}, "310000", false},
		{"no secret for a signing robot", func(s *chattest.DingTalkServer) string {
			s.AddRobot(token, secret)
			return s.WebhookURL(token)
		}, "310000", false},
		{"clock two hours ahead", func(s *chattest.DingTalkServer) string {
			s.SetClock(fakeClock(2 * time.Hour))
			return s.AddRobot(token, secret)
		}, "310000", false},
		{"clock two hours behind", func(s *chattest.DingTalkServer) string {
			s.SetClock(fakeClock(-2 * time.Hour))
			return s.AddRobot(token, secret)
		}, "310000", false},
		{"keyword missing", func(s *chattest.DingTalkServer) string {
			return s.AddRobot(token, secret, "NPSGATE")
		}, "310000", false},
		{"unknown token", func(s *chattest.DingTalkServer) string {
			return s.WebhookURL(token)
		}, "300001", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := chattest.StartDingTalk(t)
			ch := newDingTalk(t, dingtalk.Config{})
			_, err := ch.Send(context.Background(), message(tc.setup(s), 1))
			ce := channelError(t, err)
			if ce.Kind != channels.Permanent || ce.Code != tc.code || ce.Message == "" || ce.Channel != "dingtalk" {
				t.Errorf("got %s %q %q", ce.Kind, ce.Code, ce.Message)
			}
			if errors.Is(err, chathttp.ErrWebhookGone) != tc.gone {
				t.Errorf("%v: ErrWebhookGone %v, want %v", err, !tc.gone, tc.gone)
			}
			noSecret(t, err)
		})
	}

	t.Run("keyword present", func(t *testing.T) {
		s := chattest.StartDingTalk(t)
		ch := newDingTalk(t, dingtalk.Config{})
		m := message(s.AddRobot(token, secret, "NPSGATE"), 1)
		m.Text += " (NPSGATE)"
		if _, err := ch.Send(context.Background(), m); err != nil {
			t.Fatalf("Send: %v", err)
		}
	})
	t.Run("clock 50 minutes off", func(t *testing.T) {
		s := chattest.StartDingTalk(t)
		s.SetClock(fakeClock(50 * time.Minute))
		ch := newDingTalk(t, dingtalk.Config{})
		if _, err := ch.Send(context.Background(), message(s.AddRobot(token, secret), 1)); err != nil {
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
		{"130101", chattest.DingTalkSendTooFast, channels.RateLimited, "130101", "send too fast, exceed 20 times per minute", 10 * time.Minute, nil},
		{"410100", chattest.DingTalkSendTooFastBlocked, channels.RateLimited, "410100", "send too fast", 10 * time.Minute, nil},
		{"310000 sign", chattest.DingTalkSignNotMatch, channels.Permanent, "310000", "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]", 0, nil},
		{"310000 keywords", chattest.DingTalkKeywordsNotInContent, channels.Permanent, "310000", "keywords not in content, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]", 0, nil},
		{"310000 ip", chattest.DingTalkIPNotInWhitelist, channels.Permanent, "310000", "ip 127.0.0.1 not in whitelist, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]", 0, nil},
		{"300001", chattest.DingTalkTokenNotExist, channels.Permanent, "300001", "token is not exist", 0, chathttp.ErrWebhookGone},
		{"400013", chattest.DingTalkError(400013, "群已被解散"), channels.Permanent, "400013", "群已被解散", 0, chathttp.ErrWebhookGone},
		{"other errcode", chattest.DingTalkError(400402, "错误描述:参数 markdown --》 title 缺失"), channels.Permanent, "400402", "错误描述:参数 markdown --》 title 缺失", 0, nil},
		{"errcode without errmsg", chattest.DingTalkError(88, ""), channels.Permanent, "88", "errcode 88", 0, nil},
		{"errmsg echoing the token", chattest.DingTalkError(40014, "invalid access_token "+token), channels.Permanent, "40014", "invalid access_token [redacted]", 0, nil},
		{"-1 system busy", chattest.DingTalkSystemBusy, channels.Retryable, "-1", "系统繁忙", 0, nil},
		{"HTTP 502", chattest.DingTalkServerError, channels.Retryable, "502", "HTTP 502 Bad Gateway", 0, nil},
		{"HTTP 500 with JSON", chattest.HTTPFault{Status: 500, Body: `{"errcode":-1,"errmsg":"系统繁忙"}`}, channels.Retryable, "500", "系统繁忙", 0, nil},
		{"HTTP 429", chattest.HTTPFault{Status: 429, RetryAfter: "30"}, channels.RateLimited, "429", "HTTP 429 Too Many Requests", 30 * time.Second, nil},
		{"HTTP 302", chattest.HTTPFault{Status: 302, Location: "https://evil.example/steal?access_token=" + token}, channels.Permanent, "302", "webhook redirected to https://evil.example", 0, chathttp.ErrRedirected},
		{"HTTP 404", chattest.HTTPFault{Status: 404, Body: "not found"}, channels.Permanent, "404", "not found", 0, chathttp.ErrWebhookGone},
		{"HTTP 200 HTML", chattest.HTTPFault{Status: 200, Body: "<html>portal</html>", ContentType: "text/html"}, channels.Retryable, "200", "HTTP 200 without a DingTalk answer; the message may have been posted", 0, nil},
		{"HTTP 200 without errcode", chattest.HTTPFault{Status: 200, Body: `{"ok":true}`}, channels.Retryable, "200", "HTTP 200 without a DingTalk answer; the message may have been posted", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := chattest.StartDingTalk(t)
			ch := newDingTalk(t, dingtalk.Config{})
			s.FailNext(tc.fault)
			_, err := ch.Send(context.Background(), message(s.AddRobot(token, secret), 1))
			ce := channelError(t, err)
			if ce.Kind != tc.kind || ce.Code != tc.code || ce.Message != tc.message || ce.Channel != "dingtalk" {
				t.Errorf("got %s %q %q, want %s %q %q", ce.Kind, ce.Code, ce.Message, tc.kind, tc.code, tc.message)
			}
			if ce.RetryAfter != tc.retryAfter {
				t.Errorf("RetryAfter %s, want %s", ce.RetryAfter, tc.retryAfter)
			}
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Errorf("%v does not wrap %v", err, tc.sentinel)
			}
			if s.Count() != 1 {
				t.Errorf("server got %d requests, want 1 (no redirect followed, no retry)", s.Count())
			}
			noSecret(t, err)
		})
	}
}

func TestInvalidAddress(t *testing.T) {
	ch := newDingTalk(t, dingtalk.Config{})
	for _, to := range []string{
		"",
		"http://oapi.dingtalk.com/robot/send?access_token=" + token + "&secret=" + secret,
		"https://oapi.dingtalk.com/robot/send?secret=" + secret,
		"oapi.dingtalk.com/robot/send?access_token=" + token,
	} {
		_, err := ch.Send(context.Background(), message(to, 1))
		ce := channelError(t, err)
		if ce.Kind != channels.Permanent || !errors.Is(err, chathttp.ErrInvalidURL) {
			t.Errorf("To %.40q: got %v", to, err)
		}
		noSecret(t, err)
	}
}

func TestInvalidMessage(t *testing.T) {
	ch := newDingTalk(t, dingtalk.Config{})
	to := "https://oapi.dingtalk.com/robot/send?access_token=" + token
	for name, mut := range map[string]func(*channels.Message){
		"no text":         func(m *channels.Message) { m.Text, m.Question = " ", "" },
		"bad score URL":   func(m *channels.Message) { m.Scores[3].URL = "/r/tok?score=3" },
		"duplicate score": func(m *channels.Message) { m.Scores[3].Value = 2 },
		"bad reply URL":   func(m *channels.Message) { m.ReplyURL = "javascript:alert(1)" },
	} {
		m := message(to, 1)
		mut(m)
		_, err := ch.Send(context.Background(), m)
		ce := channelError(t, err)
		if ce.Kind != channels.Permanent || !errors.Is(err, dingtalk.ErrInvalidMessage) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	_, err := ch.Send(context.Background(), nil)
	if !errors.Is(err, dingtalk.ErrInvalidMessage) {
		t.Errorf("nil message: %v", err)
	}
}

// TestSecretNeverLeaves sends through every failure path with a logger at
// debug level and checks that neither the token nor the secret shows in an
// error or the log, and that the secret never reached the server.
func TestSecretNeverLeaves(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := chattest.StartDingTalk(t)
	ch := newDingTalk(t, dingtalk.Config{Logger: log, Timeout: 200 * time.Millisecond})
	addr := s.AddRobot(token, secret)

	faults := []chattest.HTTPFault{
		chattest.DingTalkSendTooFast, chattest.DingTalkSignNotMatch, chattest.DingTalkTokenNotExist,
		chattest.DingTalkSystemBusy, chattest.DingTalkServerError, chattest.HangFault,
		{Status: 302, Location: s.WebhookURL(token) + "&secret=" + secret},
		chattest.DingTalkError(40014, "bad token "+token),
	}
	for _, f := range faults {
		s.FailNext(f)
		_, err := ch.Send(context.Background(), message(addr, 1))
		if err == nil {
			t.Fatalf("fault %+v: no error", f)
		}
		noSecret(t, err)
	}
	// Nothing listening.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()
	_, err = ch.Send(context.Background(), message("http://"+dead+"/robot/send?access_token="+token+"&secret="+secret, 1))
	channelError(t, err)
	noSecret(t, err)
	// Cancelled while hanging.
	s.FailNext(chattest.HangFault)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = newDingTalk(t, dingtalk.Config{Logger: log}).Send(ctx, message(addr, 1))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v, want the context's", err)
	}
	noSecret(t, err)
	// And one that works.
	if _, err := ch.Send(context.Background(), message(addr, 2)); err != nil {
		t.Fatalf("Send: %v", err)
	}

	if l := logs.String(); strings.Contains(l, token) || strings.Contains(l, secret) || !strings.Contains(l, "send failed") {
		t.Errorf("log shows a secret, or logs nothing:\n%s", l)
	}
	for _, r := range s.Requests() {
		if strings.Contains(r.URL, secret) || bytes.Contains(r.Raw, []byte(secret)) || r.Query.Has("secret") {
			t.Errorf("request %d carried the secret: %s", r.N, r.URL)
		}
		for k, vs := range r.Header {
			if strings.Contains(strings.Join(vs, " "), secret) {
				t.Errorf("request %d header %s carried the secret", r.N, k)
			}
		}
	}
}

func TestTimeoutIsRetryable(t *testing.T) {
	s := chattest.StartDingTalk(t)
	s.SetFault(&chattest.HangFault)
	ch := newDingTalk(t, dingtalk.Config{Timeout: 100 * time.Millisecond})
	begin := time.Now()
	_, err := ch.Send(context.Background(), message(s.AddRobot(token, secret), 1))
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("took %s", took)
	}
	if ce := channelError(t, err); ce.Kind != channels.Retryable {
		t.Errorf("got %v", err)
	}
	noSecret(t, err)
}

func TestDefaultTimeout(t *testing.T) {
	if _, err := dingtalk.New(dingtalk.Config{Timeout: -1}); err == nil {
		t.Error("New with a negative timeout succeeded")
	}
}

func TestRateLimitAndKey(t *testing.T) {
	ch := newDingTalk(t, dingtalk.Config{})
	if n, per := ch.RateLimit(); n != 20 || per != time.Minute {
		t.Errorf("RateLimit = %d/%s, want 20/1m", n, per)
	}
	base := "https://oapi.dingtalk.com/robot/send?access_token=" + token
	key := dingtalk.RateKey(base)
	if !strings.HasPrefix(key, "dingtalk:") || len(key) != len("dingtalk:")+32 || strings.Contains(key, token) {
		t.Errorf("RateKey = %q", key)
	}
	for _, same := range []string{
		base + "&secret=" + secret,
		"https://oapi.dingtalk.com/robot/send?secret=" + secret + "&access_token=" + token,
		" " + base + " ",
		"http://127.0.0.1:8080/robot/send?access_token=" + token,
	} {
		if got := ch.RateKey(same); got != key {
			t.Errorf("RateKey(%.60q) = %q, want %q", same, got, key)
		}
	}
	for _, other := range []string{
		"https://oapi.dingtalk.com/robot/send?access_token=other" + token,
		"not a url",
		"",
	} {
		if got := dingtalk.RateKey(other); got == key || !strings.HasPrefix(got, "dingtalk:") {
			t.Errorf("RateKey(%q) = %q", other, got)
		}
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	s := chattest.StartDingTalk(t)
	addr := s.AddRobot(token, secret)
	s.FailNext(chattest.HTTPFault{Status: http.StatusTemporaryRedirect, Location: s.WebhookURL(token)})
	ch := newDingTalk(t, dingtalk.Config{})
	_, err := ch.Send(context.Background(), message(addr, 1))
	if !errors.Is(err, chathttp.ErrRedirected) || channels.KindOf(err) != channels.Permanent {
		t.Fatalf("got %v", err)
	}
	if s.Count() != 1 {
		t.Errorf("server got %d requests: the redirect was followed", s.Count())
	}
}

func TestSurveyWithoutScores(t *testing.T) {
	s := chattest.StartDingTalk(t)
	ch := newDingTalk(t, dingtalk.Config{})
	m := message(s.AddRobot(token, secret), 1)
	m.Scores, m.Locale = nil, "zh-Hans"
	if _, err := ch.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msg := only(t, s).Message
	if b := msg.Buttons(); len(b) != 1 || b[0].Title != "回答" || b[0].ActionURL != m.ReplyURL || len(msg.Links()) != 0 {
		t.Errorf("buttons %+v links %+v, want the card's button alone", b, msg.Links())
	}
}
