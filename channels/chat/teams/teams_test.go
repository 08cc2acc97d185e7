package teams_test

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
	"github.com/npsgate/npsgate/channels/chat/teams"
	"github.com/npsgate/npsgate/internal/chattest"
)

// token is the secret part of the test webhook URLs (a legacy URL's path
// segment, a Workflows URL's sig).
const token = "Zx9SeCrEtSiGnAtUrE0Qw7"

func newTeams(t testing.TB, cfg teams.Config) *teams.Channel {
	t.Helper()
	ch, err := teams.New(cfg)
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

func message(to string, i int) *channels.Message {
	reply := fmt.Sprintf("https://nps.example.com/r/tok%d", i)
	return &channels.Message{
		DeliveryID: fmt.Sprintf("dlv-%04d", i),
		To:         to,
		Locale:     "en",
		Subject:    "ignored by Teams",
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

func only(t *testing.T, s *chattest.TeamsServer) chattest.TeamsRequest {
	t.Helper()
	reqs := s.Requests()
	if len(reqs) != 1 {
		t.Fatalf("server got %d requests, want 1", len(reqs))
	}
	return reqs[0]
}

// teamsProvider drives chattest's Teams fake for the shared suite.
type teamsProvider struct{ srv *chattest.TeamsServer }

func (p *teamsProvider) Set(m channeltest.Mode) bool {
	switch m {
	case channeltest.Accept:
		p.srv.SetFault(nil)
	case channeltest.FailTemporary:
		p.srv.SetFault(&chattest.TeamsServerError)
	case channeltest.FailPermanent:
		p.srv.SetFault(&chattest.TeamsBadPayload)
	case channeltest.Hang:
		p.srv.SetFault(&chattest.HangFault)
	default:
		return false
	}
	return true
}

func (p *teamsProvider) Received() []channeltest.Received {
	var out []channeltest.Received
	for _, r := range p.srv.Accepted() {
		out = append(out, channeltest.Received{To: r.URL, Body: r.Visible()})
	}
	return out
}

func TestSuite(t *testing.T) {
	for _, kind := range []string{"legacy", "workflows"} {
		t.Run(kind, func(t *testing.T) {
			// The suite asks for messages after New; they go to the server
			// New started last (its checks run one after another).
			var cur *chattest.TeamsServer
			channeltest.Exercise(t, channeltest.Harness{
				New: func(t *testing.T) (channels.Channel, channeltest.Provider) {
					cur = chattest.StartTeams(t)
					return newTeams(t, teams.Config{}), &teamsProvider{srv: cur}
				},
				Message: func(i int) *channels.Message {
					if kind == "legacy" {
						return message(cur.LegacyURL(fmt.Sprintf("%s%d", token, i)), i)
					}
					return message(cur.WorkflowURL(fmt.Sprintf("%s%d", token, i)), i)
				},
			})
		})
	}
}

func TestSendWire(t *testing.T) {
	s := chattest.StartTeams(t)
	ch := newTeams(t, teams.Config{})
	if ch.Name() != "teams" {
		t.Errorf("Name %q", ch.Name())
	}
	m := message(s.WorkflowURL(token), 1)
	res, err := ch.Send(context.Background(), m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if res.ProviderID != m.DeliveryID {
		t.Errorf("ProviderID %q", res.ProviderID)
	}
	r := only(t, s)
	if !r.Accepted() || r.Status != http.StatusAccepted || r.UserAgent != "npsgate" || r.URL != m.To {
		t.Errorf("request %+v", r)
	}
	row := func(from, to int) []any {
		var out []any
		for v := from; v <= to; v++ {
			out = append(out, map[string]any{"type": "Action.OpenUrl", "title": fmt.Sprint(v), "url": fmt.Sprintf("%s?score=%d", m.ReplyURL, v)})
		}
		return out
	}
	want := map[string]any{
		"type": "message",
		"attachments": []any{map[string]any{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"content": map[string]any{
				"$schema":      "http://adaptivecards.io/schemas/adaptive-card.json",
				"type":         "AdaptiveCard",
				"version":      "1.4",
				"fallbackText": m.Text,
				"body": []any{
					map[string]any{"type": "TextBlock", "text": m.Question, "wrap": true, "weight": "Bolder", "size": "Medium"},
					map[string]any{"type": "ActionSet", "actions": row(0, 5)},
					map[string]any{"type": "ActionSet", "actions": row(6, 10)},
				},
				"msteams": map[string]any{"width": "Full"},
			},
		}},
	}
	var got map[string]any
	if err := json.Unmarshal(r.Raw, &got); err != nil {
		t.Fatal(err)
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
		rows    []int // buttons per ActionSet
		actions []string
	}{
		{"NPS", func(m *channels.Message) {}, []int{6, 5}, nil},
		{"CES 1-7", func(m *channels.Message) { m.Scores = scores(m.ReplyURL, 1, 7) }, []int{4, 3}, nil},
		{"CSAT 1-5", func(m *channels.Message) { m.Scores = scores(m.ReplyURL, 1, 5) }, []int{5}, nil},
		{"13 scores", func(m *channels.Message) { m.Scores = scores(m.ReplyURL, 0, 12) }, []int{5, 4, 4}, nil},
		{"no scores", func(m *channels.Message) { m.Scores = nil }, nil, []string{"Answer"}},
		{"alert", func(m *channels.Message) {
			m.Kind, m.Text, m.Scores = "alert", "**Detractor** (2) from ann@example.com: slow delivery", nil
		}, nil, []string{"View response"}},
		{"alert without link", func(m *channels.Message) { m.Kind, m.ReplyURL = "alert", "" }, nil, nil},
		{"alert zh-TW", func(m *channels.Message) { m.Kind, m.Locale, m.Scores = "alert", "zh-TW", nil }, nil, []string{"查看回覆"}},
		{"digest", func(m *channels.Message) { m.Kind, m.Text = "digest", "NPS this week: 42" }, nil, []string{"View results"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := chattest.StartTeams(t)
			m := message(s.LegacyURL(token), 2)
			tc.edit(m)
			if _, err := newTeams(t, teams.Config{}).Send(context.Background(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			r := only(t, s)
			c := r.Message.Card()
			var rows []int
			for _, e := range c.Body[1:] {
				rows = append(rows, len(e.Actions))
			}
			if fmt.Sprint(rows) != fmt.Sprint(tc.rows) {
				t.Errorf("rows %v, want %v", rows, tc.rows)
			}
			var actions []string
			for _, a := range c.Actions {
				actions = append(actions, a.Title)
			}
			if fmt.Sprint(actions) != fmt.Sprint(tc.actions) {
				t.Errorf("card actions %v, want %v", actions, tc.actions)
			}
			first := c.Body[0].Text
			if (m.Kind == "alert" || m.Kind == "digest") && first != m.Text {
				t.Errorf("alert text %q", first)
			}
			if !strings.Contains(r.Visible(), m.Text) {
				t.Errorf("Visible %q lacks the text", r.Visible())
			}
		})
	}
}

func TestInvalidMessages(t *testing.T) {
	for _, tc := range []struct {
		name     string
		edit     func(m *channels.Message)
		sentinel error
	}{
		{"no text", func(m *channels.Message) { m.Text, m.Question = "", " " }, teams.ErrInvalidMessage},
		{"no URL", func(m *channels.Message) { m.To = " " }, teams.ErrInvalidMessage},
		{"score without URL", func(m *channels.Message) { m.Scores[0].URL = "" }, teams.ErrInvalidMessage},
		{"bad reply URL", func(m *channels.Message) { m.ReplyURL = "nps.example.com/r" }, teams.ErrInvalidMessage},
		{"card too large", func(m *channels.Message) { m.Text = strings.Repeat("long text ", 3000) }, teams.ErrInvalidMessage},
		{"http webhook", func(m *channels.Message) {
			m.To = "http://prod-00.westus.logic.azure.com/workflows/x/triggers/manual/paths/invoke?sig=" + token
		}, chathttp.ErrInvalidURL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := chattest.StartTeams(t)
			m := message(s.LegacyURL(token), 3)
			tc.edit(m)
			_, err := newTeams(t, teams.Config{}).Send(context.Background(), m)
			ce := channelError(t, err)
			if ce.Kind != channels.Permanent || !errors.Is(err, tc.sentinel) || ce.Channel != "teams" {
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
}

func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		name       string
		workflows  bool
		fault      chattest.HTTPFault
		kind       channels.ErrorKind
		code       string
		message    string
		gone       bool
		retryAfter time.Duration
	}{
		// A legacy connector's failures come as 200 with Teams' status in words.
		{"legacy 200 with 429", false, chattest.TeamsDeliveryFailed(429), channels.RateLimited, "429",
			"Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=npsgate.", false, time.Second},
		{"legacy 200 with 429 and Retry-After", false, func() chattest.HTTPFault {
			f := chattest.TeamsDeliveryFailed(429)
			f.RetryAfter = "12"
			return f
		}(), channels.RateLimited, "429", chattest.TeamsDeliveryFailed(429).Body, false, 12 * time.Second},
		{"legacy 200 with 413", false, chattest.TeamsDeliveryFailed(413), channels.Permanent, "413", chattest.TeamsDeliveryFailed(413).Body, false, 0},
		{"legacy 200 with 400", false, chattest.TeamsDeliveryFailed(400), channels.Permanent, "400", chattest.TeamsDeliveryFailed(400).Body, false, 0},
		{"legacy 200 with 502", false, chattest.TeamsDeliveryFailed(502), channels.Retryable, "502", chattest.TeamsDeliveryFailed(502).Body, false, 0},
		{"legacy 200 with other words", false, chattest.HTTPFault{Status: 200, Body: "Connector configuration not found"}, channels.Permanent, "", "Connector configuration not found", false, 0},
		{"legacy 400", false, chattest.TeamsBadPayload, channels.Permanent, "400", "Bad payload received by generic incoming webhook.", false, 0},
		{"429", false, chattest.TeamsRateLimited("7"), channels.RateLimited, "429", "WorkflowTriggeredTooManyTimes: The workflow was triggered too many times. Please retry later.", false, 7 * time.Second},
		{"429 without Retry-After", true, chattest.TeamsRateLimited(""), channels.RateLimited, "429", "WorkflowTriggeredTooManyTimes: The workflow was triggered too many times. Please retry later.", false, time.Second},
		{"workflow gone", true, chattest.TeamsWorkflowNotFound, channels.Permanent, "404", "WorkflowNotFound: The workflow was not found.", true, 0},
		{"500", true, chattest.TeamsServerError, channels.Retryable, "500", "InternalServerError: Encountered internal server error.", false, 0},
		{"503", true, chattest.TeamsUnavailable, channels.Retryable, "503", "Service Unavailable", false, 0},
		{"redirect", true, chattest.HTTPFault{Status: 302, Location: "https://login.microsoftonline.com/x?sig=" + token}, channels.Permanent, "302", "webhook redirected to https://login.microsoftonline.com", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := chattest.StartTeams(t)
			s.FailNext(tc.fault)
			ch := newTeams(t, teams.Config{})
			to := s.LegacyURL(token)
			if tc.workflows {
				to = s.WorkflowURL(token)
			}
			m := message(to, 4)
			_, err := ch.Send(context.Background(), m)
			ce := channelError(t, err)
			if ce.Kind != tc.kind || ce.Code != tc.code || ce.Message != tc.message || ce.Channel != "teams" {
				t.Errorf("got %s %q %q (channel %q)\nwant %s %q %q", ce.Kind, ce.Code, ce.Message, ce.Channel, tc.kind, tc.code, tc.message)
			}
			if got := errors.Is(err, chathttp.ErrWebhookGone); got != tc.gone {
				t.Errorf("errors.Is(ErrWebhookGone) = %v", got)
			}
			if ce.RetryAfter != tc.retryAfter {
				t.Errorf("RetryAfter %s, want %s", ce.RetryAfter, tc.retryAfter)
			}
			if strings.Contains(fmt.Sprintf("%+v", err), token) {
				t.Errorf("error shows the token: %v", err)
			}
			if _, err := ch.Send(context.Background(), m); err != nil {
				t.Errorf("next Send: %v", err)
			}
		})
	}
}

func TestEmptyOK(t *testing.T) {
	// A flow may answer 200 with nothing; that is a success.
	s := chattest.StartTeams(t)
	s.FailNext(chattest.HTTPFault{Status: 200})
	if _, err := newTeams(t, teams.Config{}).Send(context.Background(), message(s.WorkflowURL(token), 5)); err != nil {
		t.Errorf("Send: %v", err)
	}
}

func TestRedirectIsPermanent(t *testing.T) {
	s := chattest.StartTeams(t)
	s.FailNext(chattest.HTTPFault{Status: http.StatusPermanentRedirect, Location: s.LegacyURL("elsewhere")})
	_, err := newTeams(t, teams.Config{}).Send(context.Background(), message(s.LegacyURL(token), 6))
	ce := channelError(t, err)
	if ce.Kind != channels.Permanent || !errors.Is(err, chathttp.ErrRedirected) {
		t.Errorf("got %s %v", ce.Kind, err)
	}
	if s.Count() != 1 {
		t.Errorf("%d requests: the redirect was followed", s.Count())
	}
}

func TestTokenNeverShows(t *testing.T) {
	s := chattest.StartTeams(t)
	var logs bytes.Buffer
	ch := newTeams(t, teams.Config{
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
		chattest.TeamsDeliveryFailed(429), chattest.TeamsBadPayload, chattest.TeamsWorkflowNotFound,
		{Status: 401, ContentType: "application/json", Body: `{"error":{"code":"Unauthorized","message":"sig ` + token + ` is not valid"}}`},
		{Status: 200, Body: "unknown connector " + token},
		{Status: 301, Location: s.WorkflowURL(token + "x")},
		chattest.HangFault,
	}
	s.FailNext(faults...)
	var errs []error
	for i := range faults {
		to := s.WorkflowURL(token)
		if i%2 == 0 {
			to = s.LegacyURL(token)
		}
		_, err := ch.Send(context.Background(), message(to, i))
		errs = append(errs, err)
	}
	for _, to := range []string{
		closed + "/workflows/x/triggers/manual/paths/invoke?api-version=2016-06-01&sig=" + token,
		"http://example.webhook.office.com/webhookb2/x/IncomingWebhook/" + token + "/y",
	} {
		_, err := ch.Send(context.Background(), message(to, 99))
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
	}
	if strings.Contains(logs.String(), token) {
		t.Errorf("log shows the token:\n%s", logs.String())
	}
}
