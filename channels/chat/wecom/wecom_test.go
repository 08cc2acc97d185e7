package wecom_test

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
	"unicode/utf8"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/channels/channeltest"
	"github.com/npsgate/npsgate/channels/chat/chathttp"
	"github.com/npsgate/npsgate/channels/chat/wecom"
	"github.com/npsgate/npsgate/internal/chattest"
)

// key is the secret part of the test robots' addresses; secret is what a
// contact may have put in one by mistake.
const (
	key    = "693a91f6-7a0c-4bc4-97a0-0ec2a1f5a5aa"
	secret = "SECnotforwecom0123456789"
)

func newWeCom(t testing.TB, cfg wecom.Config) *wecom.Channel {
	t.Helper()
	ch, err := wecom.New(cfg)
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
		Subject:    "not shown by WeCom",
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
// the robot's key or a secret.
func noSecret(t *testing.T, err error) {
	t.Helper()
	for e := err; e != nil; e = errors.Unwrap(e) {
		if s := e.Error(); strings.Contains(s, key) || strings.Contains(s, secret) {
			t.Errorf("error shows the robot's key: %q", s)
		}
	}
	if s := fmt.Sprintf("%v %+v %#v", err, err, err); strings.Contains(s, key) || strings.Contains(s, secret) {
		t.Errorf("formatted error shows the robot's key: %s", s)
	}
}

// weComProvider drives chattest's WeCom fake for the shared suite.
type weComProvider struct{ srv *chattest.WeComServer }

func (p *weComProvider) Set(m channeltest.Mode) bool {
	switch m {
	case channeltest.Accept:
		p.srv.SetFault(nil)
	case channeltest.FailTemporary:
		p.srv.SetFault(&chattest.WeComSystemBusy)
	case channeltest.FailPermanent:
		p.srv.SetFault(&chattest.WeComInvalidWebhookURL)
	case channeltest.Hang:
		p.srv.SetFault(&chattest.HangFault)
	default:
		return false
	}
	return true
}

func (p *weComProvider) Received() []channeltest.Received {
	var out []channeltest.Received
	for _, r := range p.srv.Accepted() {
		out = append(out, channeltest.Received{To: p.srv.WebhookURL(r.Key), Body: r.Message.Visible()})
	}
	return out
}

func TestSuite(t *testing.T) {
	var cur *chattest.WeComServer
	channeltest.Exercise(t, channeltest.Harness{
		New: func(t *testing.T) (channels.Channel, channeltest.Provider) {
			cur = chattest.StartWeCom(t)
			return newWeCom(t, wecom.Config{}), &weComProvider{srv: cur}
		},
		Message: func(i int) *channels.Message {
			return message(cur.AddRobot(fmt.Sprintf("%s-%d", key, i)), i)
		},
	})
}

// TestSuiteHTTPFailures runs the suite again with WeCom's HTTP-level
// failures in place of its errcodes.
func TestSuiteHTTPFailures(t *testing.T) {
	var cur *chattest.WeComServer
	channeltest.Exercise(t, channeltest.Harness{
		New: func(t *testing.T) (channels.Channel, channeltest.Provider) {
			cur = chattest.StartWeCom(t)
			return newWeCom(t, wecom.Config{}), &httpProvider{weComProvider{srv: cur}}
		},
		Message: func(i int) *channels.Message {
			return message(cur.AddRobot(fmt.Sprintf("%s-%d", key, i)), i)
		},
		Concurrency: 4,
	})
}

type httpProvider struct{ weComProvider }

func (p *httpProvider) Set(m channeltest.Mode) bool {
	switch m {
	case channeltest.FailTemporary:
		p.srv.SetFault(&chattest.WeComServerError)
	case channeltest.FailPermanent:
		p.srv.SetFault(&chattest.WeComInvalidMessageType)
	default:
		return p.weComProvider.Set(m)
	}
	return true
}

func only(t *testing.T, s *chattest.WeComServer) chattest.WeComRequest {
	t.Helper()
	reqs := s.Requests()
	if len(reqs) != 1 {
		t.Fatalf("server got %d requests, want 1", len(reqs))
	}
	return reqs[0]
}

func TestSurveyWire(t *testing.T) {
	s := chattest.StartWeCom(t)
	ch := newWeCom(t, wecom.Config{})
	if ch.Name() != "wecom" {
		t.Errorf("Name %q", ch.Name())
	}
	m := message(s.AddRobot(key), 1)
	res, err := ch.Send(context.Background(), m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if res.ProviderID != m.DeliveryID {
		t.Errorf("ProviderID %q", res.ProviderID)
	}
	r := only(t, s)
	if !r.Accepted() || r.UserAgent != "npsgate" || r.Header.Get("Content-Type") != "application/json" || r.URL != m.To {
		t.Fatalf("request %+v", r)
	}
	if r.Message.MsgType != "markdown" {
		t.Fatalf("msgtype %q", r.Message.MsgType)
	}
	var row []string
	for _, sc := range m.Scores {
		row = append(row, fmt.Sprintf("[%d](%s)", sc.Value, sc.URL))
	}
	want := m.Text + "\n\n**" + m.Question + "**\n\n" + strings.Join(row, " | ")
	if got := r.Message.Content(); got != want {
		t.Errorf("content\n got %q\nwant %q", got, want)
	}
	links := r.Message.Links()
	if len(links) != 11 {
		t.Fatalf("links %+v", links)
	}
	for i, l := range links {
		if l.Label != strconv.Itoa(i) || l.URL != m.Scores[i].URL {
			t.Errorf("link %d = %+v", i, l)
		}
	}
}

func TestSecretParameterIsDropped(t *testing.T) {
	s := chattest.StartWeCom(t)
	ch := newWeCom(t, wecom.Config{})
	to := s.AddRobot(key) + "&secret=" + secret
	if _, err := ch.Send(context.Background(), message(to, 1)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if r := only(t, s); r.Query.Has("secret") || strings.Contains(r.URL, secret) || r.Key != key {
		t.Errorf("URL %s", r.URL)
	}
}

func TestAlertAndPlainSurvey(t *testing.T) {
	for _, tc := range []struct {
		name string
		mut  func(*channels.Message)
		want func(m *channels.Message) string
	}{
		{"alert", func(m *channels.Message) { m.Kind, m.Scores = "alert", nil },
			func(m *channels.Message) string { return m.Text + "\n\n[View response](" + m.ReplyURL + ")" }},
		{"digest zh", func(m *channels.Message) { m.Kind, m.Locale = "digest", "zh_CN" },
			func(m *channels.Message) string { return m.Text + "\n\n[查看结果](" + m.ReplyURL + ")" }},
		{"survey without scores", func(m *channels.Message) { m.Scores, m.Question = nil, "" },
			func(m *channels.Message) string { return m.Text + "\n\n[Answer](" + m.ReplyURL + ")" }},
		{"question in the text", func(m *channels.Message) { m.Text = "Hi! " + m.Question + " Tap a score." },
			func(m *channels.Message) string { return m.Text + "\n\n[0](" + m.Scores[0].URL + ") | " },
		},
		{"question only", func(m *channels.Message) { m.Text, m.Scores = "", nil },
			func(m *channels.Message) string { return "**" + m.Question + "**\n\n[Answer](" + m.ReplyURL + ")" }},
		{"URL with parentheses", func(m *channels.Message) { m.Kind, m.ReplyURL = "alert", "https://nps.example.com/r/(x) y" },
			func(m *channels.Message) string {
				return m.Text + "\n\n[View response](https://nps.example.com/r/%28x%29%20y)"
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := chattest.StartWeCom(t)
			ch := newWeCom(t, wecom.Config{})
			m := message(s.AddRobot(key), 1)
			tc.mut(m)
			if _, err := ch.Send(context.Background(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			if got, want := only(t, s).Message.Content(), tc.want(m); !strings.HasPrefix(got, want) {
				t.Errorf("content\n got %q\nwant %q…", got, want)
			}
		})
	}
}

func TestLongTextIsCutLinksKept(t *testing.T) {
	for _, tc := range []struct{ name, text, cut string }{
		{"ascii", strings.Repeat("All about Acme. ", 600), "Acme…"},
		{"multi-byte", strings.Repeat("很长的介绍。", 700), "…"},
		// The cut falls inside the link: the text ends before it.
		{"link at the cut", strings.Repeat("x", 3100) + " see [our page](https://acme.example/about/" +
			strings.Repeat("p", 400) + ") " + strings.Repeat("y", 500), "x see…"},
	} {
		text := tc.text
		t.Run(tc.name, func(t *testing.T) {
			s := chattest.StartWeCom(t)
			ch := newWeCom(t, wecom.Config{})
			m := message(s.AddRobot(key), 1)
			m.Text = text
			if _, err := ch.Send(context.Background(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			r := only(t, s)
			c := r.Message.Content()
			if len(c) > 4096 || !utf8.ValidString(c) {
				t.Errorf("content of %d bytes (valid UTF-8: %v)", len(c), utf8.ValidString(c))
			}
			if !strings.Contains(c, "…\n\n**"+m.Question+"**\n\n[0](") {
				t.Errorf("text not cut before the question: …%q", c[len(c)-900:])
			}
			links := r.Message.Links()
			if len(links) != 11 || links[10].URL != m.Scores[10].URL {
				t.Errorf("links %+v", links)
			}
			if !strings.Contains(c, tc.cut+"\n\n**") {
				t.Errorf("the text does not end in %q", tc.cut)
			}
		})
	}
}

func TestVeryLongScoreURLsBecomeOneLink(t *testing.T) {
	s := chattest.StartWeCom(t)
	ch := newWeCom(t, wecom.Config{})
	m := message(s.AddRobot(key), 1)
	for i := range m.Scores {
		m.Scores[i].URL += "&utm=" + strings.Repeat("z", 300)
	}
	if _, err := ch.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	links := only(t, s).Message.Links()
	if len(links) != 1 || links[0].URL != m.ReplyURL {
		t.Errorf("links %+v, want one to the reply page", links)
	}
}

func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		name       string
		fault      chattest.HTTPFault
		kind       channels.ErrorKind
		code       string
		prefix     string
		retryAfter time.Duration
		sentinel   error
	}{
		{"45009", chattest.WeComFreqOutOfLimit, channels.RateLimited, "45009", "api freq out of limit, hint: [", time.Minute, nil},
		{"93000", chattest.WeComInvalidWebhookURL, channels.Permanent, "93000", "invalid webhook url, hint: [", 0, chathttp.ErrWebhookGone},
		{"40008", chattest.WeComInvalidMessageType, channels.Permanent, "40008", "invalid message type, hint: [", 0, nil},
		{"40058", chattest.WeComContentTooLong, channels.Permanent, "40058", "markdown.content exceed max length 4096. invalid Request Parameter, hint: [", 0, nil},
		{"-1", chattest.WeComSystemBusy, channels.Retryable, "-1", "system busy, hint: [", 0, nil},
		{"other errcode", chattest.WeComError(93004, "robot disabled"), channels.Permanent, "93004", "robot disabled, hint: [", 0, nil},
		{"errcode without errmsg", chattest.HTTPFault{Status: 200, Body: `{"errcode":12}`}, channels.Permanent, "12", "errcode 12", 0, nil},
		{"errmsg echoing the key", chattest.HTTPFault{Status: 200, Body: `{"errcode":93000,"errmsg":"invalid key ` + key + `"}`}, channels.Permanent, "93000", "invalid key [redacted]", 0, chathttp.ErrWebhookGone},
		{"HTTP 503", chattest.WeComServerError, channels.Retryable, "503", "HTTP 503 Service Unavailable", 0, nil},
		{"HTTP 500 JSON", chattest.HTTPFault{Status: 500, Body: `{"errcode":-1,"errmsg":"system busy"}`}, channels.Retryable, "500", "system busy", 0, nil},
		{"HTTP 429", chattest.HTTPFault{Status: 429, RetryAfter: "20"}, channels.RateLimited, "429", "HTTP 429", 20 * time.Second, nil},
		{"HTTP 301", chattest.HTTPFault{Status: 301, Location: "https://evil.example/?key=" + key}, channels.Permanent, "301", "webhook redirected to https://evil.example", 0, chathttp.ErrRedirected},
		{"HTTP 404", chattest.HTTPFault{Status: 404}, channels.Permanent, "404", "HTTP 404 Not Found", 0, chathttp.ErrWebhookGone},
		{"HTTP 200 HTML", chattest.HTTPFault{Status: 200, Body: "<html>portal</html>"}, channels.Retryable, "200", "HTTP 200 without a WeCom answer", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := chattest.StartWeCom(t)
			ch := newWeCom(t, wecom.Config{})
			s.FailNext(tc.fault)
			_, err := ch.Send(context.Background(), message(s.AddRobot(key), 1))
			ce := channelError(t, err)
			if ce.Kind != tc.kind || ce.Code != tc.code || !strings.HasPrefix(ce.Message, tc.prefix) || ce.Channel != "wecom" {
				t.Errorf("got %s %q %q, want %s %q %q…", ce.Kind, ce.Code, ce.Message, tc.kind, tc.code, tc.prefix)
			}
			if strings.Contains(ce.Message, "from ip") || len(ce.Message) > 210 {
				t.Errorf("message %q keeps WeCom's tail", ce.Message)
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

func TestRefusedByWeCom(t *testing.T) {
	s := chattest.StartWeCom(t)
	ch := newWeCom(t, wecom.Config{})
	_, err := ch.Send(context.Background(), message(s.WebhookURL(key), 1)) // never added
	ce := channelError(t, err)
	if ce.Kind != channels.Permanent || ce.Code != "93000" || !errors.Is(err, chathttp.ErrWebhookGone) {
		t.Errorf("got %v", err)
	}
	noSecret(t, err)
}

func TestInvalidAddress(t *testing.T) {
	ch := newWeCom(t, wecom.Config{})
	for _, to := range []string{
		"",
		"http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + key,
		"https://qyapi.weixin.qq.com/cgi-bin/webhook/send",
		"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?secret=" + secret,
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
	ch := newWeCom(t, wecom.Config{})
	to := "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + key
	for name, mut := range map[string]func(*channels.Message){
		"no text":         func(m *channels.Message) { m.Text, m.Question = "", "" },
		"bad score URL":   func(m *channels.Message) { m.Scores[3].URL = "mailto:x@example.com" },
		"duplicate score": func(m *channels.Message) { m.Scores[3].Value = 2 },
		"bad reply URL":   func(m *channels.Message) { m.ReplyURL = "https://" },
		"links too long": func(m *channels.Message) {
			m.ReplyURL = ""
			for i := range m.Scores {
				m.Scores[i].URL += "&utm=" + strings.Repeat("z", 400)
			}
		},
	} {
		m := message(to, 1)
		mut(m)
		_, err := ch.Send(context.Background(), m)
		ce := channelError(t, err)
		if ce.Kind != channels.Permanent || !errors.Is(err, wecom.ErrInvalidMessage) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	if _, err := ch.Send(context.Background(), nil); !errors.Is(err, wecom.ErrInvalidMessage) {
		t.Errorf("nil message: %v", err)
	}
}

func TestKeyNeverLeaks(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := chattest.StartWeCom(t)
	ch := newWeCom(t, wecom.Config{Logger: log, Timeout: 200 * time.Millisecond})
	addr := s.AddRobot(key) + "&secret=" + secret

	for _, f := range []chattest.HTTPFault{
		chattest.WeComFreqOutOfLimit, chattest.WeComInvalidWebhookURL, chattest.WeComSystemBusy,
		chattest.WeComServerError, chattest.HangFault, {Status: 302, Location: addr},
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
	_, err = ch.Send(context.Background(), message("http://"+dead+"/cgi-bin/webhook/send?key="+key, 1))
	channelError(t, err)
	noSecret(t, err)
	s.FailNext(chattest.HangFault)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = newWeCom(t, wecom.Config{Logger: log}).Send(ctx, message(addr, 1))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v, want the context's", err)
	}
	noSecret(t, err)
	if l := logs.String(); strings.Contains(l, key) || strings.Contains(l, secret) || !strings.Contains(l, "send failed") {
		t.Errorf("log shows the key, or logs nothing:\n%s", l)
	}
	for _, r := range s.Requests() {
		if strings.Contains(r.URL, secret) || r.Query.Has("secret") {
			t.Errorf("request %d carried the secret: %s", r.N, r.URL)
		}
	}
}

func TestRateLimitAndKey(t *testing.T) {
	ch := newWeCom(t, wecom.Config{})
	if n, per := ch.RateLimit(); n != 20 || per != time.Minute {
		t.Errorf("RateLimit = %d/%s, want 20/1m", n, per)
	}
	base := "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + key
	k := wecom.RateKey(base)
	if !strings.HasPrefix(k, "wecom:") || len(k) != len("wecom:")+32 || strings.Contains(k, key) {
		t.Errorf("RateKey = %q", k)
	}
	if got := ch.RateKey(base + "&debug=1"); got != k {
		t.Errorf("RateKey with another parameter = %q, want %q", got, k)
	}
	for _, other := range []string{base + "0", "not a url", ""} {
		if got := wecom.RateKey(other); got == k || !strings.HasPrefix(got, "wecom:") {
			t.Errorf("RateKey(%q) = %q", other, got)
		}
	}
}

func TestTimeoutIsRetryable(t *testing.T) {
	s := chattest.StartWeCom(t)
	s.SetFault(&chattest.HangFault)
	ch := newWeCom(t, wecom.Config{Timeout: 100 * time.Millisecond})
	_, err := ch.Send(context.Background(), message(s.AddRobot(key), 1))
	if ce := channelError(t, err); ce.Kind != channels.Retryable {
		t.Errorf("got %v", err)
	}
	noSecret(t, err)
}

func TestRedirectIsNotFollowed(t *testing.T) {
	s := chattest.StartWeCom(t)
	addr := s.AddRobot(key)
	s.FailNext(chattest.HTTPFault{Status: http.StatusFound, Location: addr})
	ch := newWeCom(t, wecom.Config{})
	_, err := ch.Send(context.Background(), message(addr, 1))
	if !errors.Is(err, chathttp.ErrRedirected) || channels.KindOf(err) != channels.Permanent {
		t.Fatalf("got %v", err)
	}
	if s.Count() != 1 {
		t.Errorf("server got %d requests: the redirect was followed", s.Count())
	}
}
