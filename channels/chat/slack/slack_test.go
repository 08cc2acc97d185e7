package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/channels/channeltest"
	"github.com/npsgate/npsgate/channels/chat/chathttp"
	"github.com/npsgate/npsgate/channels/chat/slack"
	"github.com/npsgate/npsgate/internal/chattest"
)

// token is the secret last segment of the test webhook URLs.
const token = "AbCdEfGhIjKlMnOpQrStUvWx"

func newSlack(t testing.TB, cfg slack.Config) *slack.Channel {
	t.Helper()
	ch, err := slack.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = ch.Close() })
	return ch
}

func scores(reply string, from, to int) []channels.Score {
	var out []channels.Score
	for v := from; v <= to; v++ {
		out = append(out, channels.Score{Value: v, URL: fmt.Sprintf("%s?score=%d", reply, v)})
	}
	return out
}

// message is survey i to webhook to.
func message(to string, i int) *channels.Message {
	reply := fmt.Sprintf("https://nps.example.com/r/tok%d", i)
	return &channels.Message{
		DeliveryID: fmt.Sprintf("dlv-%04d", i),
		To:         to,
		Locale:     "en",
		Subject:    "ignored by Slack",
		Text:       fmt.Sprintf("How likely are you to recommend Acme to a friend? (%d) Answer: %s", i, reply),
		ReplyURL:   reply,
		Question:   "How likely are you to recommend Acme to a friend or colleague?",
		Scores:     scores(reply, 0, 10),
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

func only(t *testing.T, s *chattest.SlackServer) chattest.SlackRequest {
	t.Helper()
	reqs := s.Requests()
	if len(reqs) != 1 {
		t.Fatalf("server got %d requests, want 1", len(reqs))
	}
	return reqs[0]
}

// slackProvider drives chattest's Slack fake for the shared suite.
type slackProvider struct{ srv *chattest.SlackServer }

func (p *slackProvider) Set(m channeltest.Mode) bool {
	switch m {
	case channeltest.Accept:
		p.srv.SetFault(nil)
	case channeltest.FailTemporary:
		p.srv.SetFault(&chattest.SlackServerError)
	case channeltest.FailPermanent:
		p.srv.SetFault(&chattest.SlackInvalidPayload)
	case channeltest.Hang:
		p.srv.SetFault(&chattest.HangFault)
	default:
		return false
	}
	return true
}

func (p *slackProvider) Received() []channeltest.Received {
	var out []channeltest.Received
	for _, r := range p.srv.Accepted() {
		out = append(out, channeltest.Received{To: r.URL, Body: r.Visible()})
	}
	return out
}

func TestSuite(t *testing.T) {
	// The suite asks for messages after New; they go to the server New
	// started last (its checks run one after another).
	var cur *chattest.SlackServer
	channeltest.Exercise(t, channeltest.Harness{
		New: func(t *testing.T) (channels.Channel, channeltest.Provider) {
			cur = chattest.StartSlack(t)
			return newSlack(t, slack.Config{}), &slackProvider{srv: cur}
		},
		Message: func(i int) *channels.Message {
			return message(cur.WebhookURL(fmt.Sprintf("%s%d", token, i)), i)
		},
	})
}

func TestSendWire(t *testing.T) {
	s := chattest.StartSlack(t)
	ch := newSlack(t, slack.Config{})
	if ch.Name() != "slack" {
		t.Errorf("Name %q", ch.Name())
	}
	m := message(s.WebhookURL(token), 1)
	res, err := ch.Send(context.Background(), m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if res.ProviderID != m.DeliveryID {
		t.Errorf("ProviderID %q", res.ProviderID)
	}
	r := only(t, s)
	if !r.Accepted() || r.UserAgent != "npsgate" || r.Header.Get("Content-Type") != "application/json" || r.URL != m.To {
		t.Errorf("request %+v", r)
	}
	var got map[string]any
	if err := json.Unmarshal(r.Raw, &got); err != nil {
		t.Fatal(err)
	}
	var buttons []any
	for v := 0; v <= 10; v++ {
		buttons = append(buttons, map[string]any{
			"type":      "button",
			"text":      map[string]any{"type": "plain_text", "text": fmt.Sprint(v)},
			"url":       fmt.Sprintf("%s?score=%d", m.ReplyURL, v),
			"action_id": fmt.Sprintf("score_%d", v),
		})
	}
	want := map[string]any{
		"text": m.Text,
		"blocks": []any{
			map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": m.Question}},
			map[string]any{"type": "actions", "elements": buttons},
		},
	}
	if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
		t.Errorf("payload\n got %s\nwant %s", g, w)
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

func TestMessageKinds(t *testing.T) {
	for _, tc := range []struct {
		name    string
		edit    func(m *channels.Message)
		blocks  int
		buttons []string // labels
		urls    []string
	}{
		{"alert", func(m *channels.Message) {
			m.Kind, m.Text, m.Scores, m.ReplyURL = "alert", "*Detractor* (2) from ann@example.com: slow delivery", nil, "https://nps.example.com/responses/r1"
		}, 1, []string{"View response"}, []string{"https://nps.example.com/responses/r1"}},
		{"alert without link", func(m *channels.Message) {
			m.Kind, m.Text, m.ReplyURL = "alert", "Detractor (2)", ""
		}, 1, nil, nil},
		{"digest", func(m *channels.Message) {
			m.Kind, m.Text, m.ReplyURL = "digest", "NPS this week: 42", "https://nps.example.com/results"
		}, 1, []string{"View results"}, []string{"https://nps.example.com/results"}},
		{"survey without scores", func(m *channels.Message) { m.Scores = nil }, 2, []string{"Answer"}, []string{"https://nps.example.com/r/tok2"}},
		{"survey without scores, zh-TW", func(m *channels.Message) { m.Scores, m.Locale = nil, "zh-Hant-HK" }, 2, []string{"回答"}, []string{"https://nps.example.com/r/tok2"}},
		{"digest zh-CN", func(m *channels.Message) {
			m.Kind, m.Locale, m.Text, m.ReplyURL = "digest", "zh_CN", "本周 NPS：42", "https://nps.example.com/results"
		}, 1, []string{"查看结果"}, []string{"https://nps.example.com/results"}},
		{"survey without question", func(m *channels.Message) { m.Question, m.Kind = "", "" }, 2, nil, nil},
		{"CES 1-7", func(m *channels.Message) { m.Scores = scores(m.ReplyURL, 1, 7) }, 2, []string{"1", "2", "3", "4", "5", "6", "7"}, nil},
		{"30 scores", func(m *channels.Message) { m.Scores = scores(m.ReplyURL, 1, 30) }, 3, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := chattest.StartSlack(t)
			m := message(s.WebhookURL(token), 2)
			tc.edit(m)
			if _, err := newSlack(t, slack.Config{}).Send(context.Background(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			r := only(t, s)
			if len(r.Message.Blocks) != tc.blocks {
				t.Errorf("%d blocks, want %d: %s", len(r.Message.Blocks), tc.blocks, r.Raw)
			}
			if m.Kind == "alert" || m.Kind == "digest" {
				if b := r.Message.Blocks[0]; b.Type != "section" || b.Text.Text != m.Text {
					t.Errorf("block %+v", b)
				}
			}
			if m.Question == "" && r.Message.Blocks[0].Text.Text != m.Text {
				t.Errorf("section %q, want the text", r.Message.Blocks[0].Text.Text)
			}
			bs := r.Message.Buttons()
			for i, label := range tc.buttons {
				if i >= len(bs) || bs[i].Label() != label {
					t.Fatalf("buttons %+v, want %v", bs, tc.buttons)
				}
			}
			if tc.buttons != nil && len(bs) != len(tc.buttons) {
				t.Errorf("%d buttons, want %d", len(bs), len(tc.buttons))
			}
			for i, u := range tc.urls {
				if bs[i].URL != u {
					t.Errorf("button %d url %q, want %q", i, bs[i].URL, u)
				}
			}
			if tc.name == "alert without link" && len(bs) != 0 {
				t.Errorf("buttons %+v", bs)
			}
			if !strings.Contains(r.Visible(), m.Text) {
				t.Errorf("Visible %q lacks the text", r.Visible())
			}
		})
	}
}

func TestEscapingAndLimits(t *testing.T) {
	s := chattest.StartSlack(t)
	ch := newSlack(t, slack.Config{})
	m := message(s.WebhookURL(token), 3)
	m.Question = "Would you recommend <Acme & Sons> to a friend?"
	m.Text = "Rate <Acme & Sons>: " + m.ReplyURL
	if _, err := ch.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := only(t, s)
	if got := r.Message.Blocks[0].Text.Text; got != "Would you recommend &lt;Acme &amp; Sons&gt; to a friend?" {
		t.Errorf("section %q", got)
	}
	if r.Message.Text != "Rate &lt;Acme &amp; Sons&gt;: "+m.ReplyURL {
		t.Errorf("text %q", r.Message.Text)
	}
	if !strings.Contains(r.Visible(), m.Question) {
		t.Errorf("Visible %q", r.Visible())
	}

	// A question longer than a section holds is cut, escapes and all,
	// rather than refused.
	m.Question = strings.Repeat("&", 2000)
	if _, err := ch.Send(context.Background(), m); err != nil {
		t.Fatalf("Send long: %v (%s)", err, s.Requests()[1].Problem)
	}
	got := s.Requests()[1].Message.Blocks[0].Text.Text
	if !strings.HasSuffix(got, "&amp;…") || len([]rune(got)) > 3000 {
		t.Errorf("long section: %d runes ending %q", len([]rune(got)), got[len(got)-12:])
	}
}

func TestInvalidMessages(t *testing.T) {
	for _, tc := range []struct {
		name     string
		edit     func(m *channels.Message)
		sentinel error
	}{
		{"no text", func(m *channels.Message) { m.Text, m.Question = " ", "" }, slack.ErrInvalidMessage},
		{"no URL", func(m *channels.Message) { m.To = "" }, slack.ErrInvalidMessage},
		{"score without URL", func(m *channels.Message) { m.Scores[3].URL = "" }, slack.ErrInvalidMessage},
		{"relative score URL", func(m *channels.Message) { m.Scores[3].URL = "/r/tok?score=3" }, slack.ErrInvalidMessage},
		{"repeated score", func(m *channels.Message) { m.Scores[3].Value = 2 }, slack.ErrInvalidMessage},
		{"bad reply URL", func(m *channels.Message) { m.ReplyURL = "javascript:alert(1)" }, slack.ErrInvalidMessage},
		{"http webhook", func(m *channels.Message) { m.To = "http://hooks.slack.com/services/T1/B1/" + token }, chathttp.ErrInvalidURL},
		{"not a URL", func(m *channels.Message) { m.To = "hooks.slack.com/services/T1/B1/" + token }, chathttp.ErrInvalidURL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := chattest.StartSlack(t)
			m := message(s.WebhookURL(token), 4)
			tc.edit(m)
			_, err := newSlack(t, slack.Config{}).Send(context.Background(), m)
			ce := channelError(t, err)
			if ce.Kind != channels.Permanent || !errors.Is(err, tc.sentinel) || ce.Channel != "slack" {
				t.Errorf("got %v (%s), want Permanent %v", err, ce.Kind, tc.sentinel)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error shows the token: %v", err)
			}
			if s.Count() != 0 {
				t.Errorf("%d requests for an invalid message", s.Count())
			}
		})
	}
	if _, err := newSlack(t, slack.Config{}).Send(context.Background(), nil); channels.KindOf(err) != channels.Permanent {
		t.Errorf("nil message: %v", err)
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
		{"invalid_payload", chattest.SlackInvalidPayload, channels.Permanent, "400", "invalid_payload", false, 0},
		{"no_service", chattest.SlackNoService, channels.Permanent, "404", "no_service", true, 0},
		{"channel_is_archived", chattest.SlackChannelArchived, channels.Permanent, "410", "channel_is_archived", true, 0},
		{"action_prohibited", chattest.SlackActionProhibited, channels.Permanent, "403", "action_prohibited", false, 0},
		{"invalid_token", chattest.SlackInvalidToken, channels.Permanent, "403", "invalid_token", true, 0},
		{"team_disabled", chattest.HTTPFault{Status: 403, Body: "team_disabled"}, channels.Permanent, "403", "team_disabled", true, 0},
		{"channel_not_found", chattest.HTTPFault{Status: 404, Body: "channel_not_found"}, channels.Permanent, "404", "channel_not_found", true, 0},
		{"429 with Retry-After", chattest.SlackRateLimited("30"), channels.RateLimited, "429", "rate_limited", false, 30 * time.Second},
		{"429 without", chattest.SlackRateLimited(""), channels.RateLimited, "429", "rate_limited", false, time.Second},
		{"500", chattest.SlackServerError, channels.Retryable, "500", "internal_error", false, 0},
		{"503 page", chattest.HTTPFault{Status: 503, Body: "<html>down</html>", ContentType: "text/html"}, channels.Retryable, "503", "HTTP 503 Service Unavailable", false, 0},
		{"302", chattest.HTTPFault{Status: 302, Location: "https://slack.com/"}, channels.Permanent, "302", "webhook redirected to https://slack.com", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := chattest.StartSlack(t)
			s.FailNext(tc.fault)
			ch := newSlack(t, slack.Config{})
			m := message(s.WebhookURL(token), 5)
			_, err := ch.Send(context.Background(), m)
			ce := channelError(t, err)
			if ce.Kind != tc.kind || ce.Code != tc.code || ce.Message != tc.message || ce.Channel != "slack" {
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

func TestRedirectIsPermanent(t *testing.T) {
	s := chattest.StartSlack(t)
	// The webhook "moved" to another webhook on the same server: following
	// it would post there.
	s.FailNext(chattest.HTTPFault{Status: http.StatusTemporaryRedirect, Location: s.WebhookURL("elsewhere")})
	_, err := newSlack(t, slack.Config{}).Send(context.Background(), message(s.WebhookURL(token), 6))
	ce := channelError(t, err)
	if ce.Kind != channels.Permanent || !errors.Is(err, chathttp.ErrRedirected) || !strings.HasPrefix(ce.Message, "webhook redirected") {
		t.Errorf("got %s %v", ce.Kind, err)
	}
	if s.Count() != 1 {
		t.Errorf("%d requests: the redirect was followed", s.Count())
	}
}

func TestTimeoutIsRetryable(t *testing.T) {
	s := chattest.StartSlack(t)
	s.FailNext(chattest.HangFault)
	ch := newSlack(t, slack.Config{Timeout: 100 * time.Millisecond})
	_, err := ch.Send(context.Background(), message(s.WebhookURL(token), 7))
	ce := channelError(t, err)
	if ce.Kind != channels.Retryable || !strings.Contains(ce.Message, "within 100ms") {
		t.Errorf("got %s %q", ce.Kind, ce.Message)
	}
}

// TestTokenNeverShows sends to webhooks whose token is the secret, fails
// them every way there is, and looks for the token in the errors and the
// debug log.
func TestTokenNeverShows(t *testing.T) {
	s := chattest.StartSlack(t)
	var logs bytes.Buffer
	ch := newSlack(t, slack.Config{
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
		chattest.SlackInvalidPayload, chattest.SlackNoService, chattest.SlackRateLimited("1"), chattest.SlackServerError,
		{Status: 404, Body: "no webhook at /services/T0NPSGATE/B0NPSGATE/" + token},
		{Status: 400, Body: "bad token " + token},
		{Status: 301, Location: s.WebhookURL(token + "-moved")},
		chattest.HangFault,
	}
	s.FailNext(faults...)
	var errs []error
	for i := range faults {
		_, err := ch.Send(context.Background(), message(s.WebhookURL(token), i))
		errs = append(errs, err)
	}
	for _, to := range []string{
		closed + "/services/T1/B1/" + token,
		"http://hooks.slack.com/services/T1/B1/" + token,
		"https://user:" + token + "@/x",
	} {
		m := message(to, 99)
		_, err := ch.Send(context.Background(), m)
		errs = append(errs, err)
	}
	for _, err := range errs {
		if err == nil {
			t.Fatal("a failing send succeeded")
		}
		for e := err; e != nil; e = errors.Unwrap(e) {
			if strings.Contains(e.Error(), token) {
				t.Errorf("error shows the token: %q", e.Error())
			}
		}
		if strings.Contains(fmt.Sprintf("%+v", err), token) {
			t.Errorf("formatted error shows the token: %+v", err)
		}
	}
	if strings.Contains(logs.String(), token) {
		t.Errorf("log shows the token:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "webhook="+s.URL()) {
		t.Errorf("log does not name the webhook's host:\n%s", logs.String())
	}
}

func TestCancelWhileSlackHangs(t *testing.T) {
	s := chattest.StartSlack(t)
	s.FailNext(chattest.HangFault)
	ch := newSlack(t, slack.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := ch.Send(ctx, message(s.WebhookURL(token), 8))
		errc <- err
	}()
	if err := s.WaitFor(1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) || channels.KindOf(err) != channels.Retryable {
			t.Errorf("err %v", err)
		}
		if strings.Contains(err.Error(), token) {
			t.Errorf("error shows the token: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Send did not return after cancel")
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := slack.New(slack.Config{Timeout: -1}); err == nil {
		t.Error("negative timeout accepted")
	}
}
