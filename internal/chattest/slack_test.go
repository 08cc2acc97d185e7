package chattest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/npsgate/npsgate/internal/chattest"
)

// hookPost posts body to u with contentType and returns the answer.
func hookPost(t *testing.T, u, contentType, body string, header http.Header) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func slackButtons(n int) []map[string]any {
	var out []map[string]any
	for i := range n {
		out = append(out, map[string]any{
			"type": "button", "text": map[string]any{"type": "plain_text", "text": fmt.Sprint(i)},
			"url": fmt.Sprintf("https://nps.example.com/r/t?s=%d", i), "action_id": fmt.Sprintf("score_%d", i),
		})
	}
	return out
}

func slackJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSlackAccepts(t *testing.T) {
	s := chattest.StartSlack(t)
	u := s.WebhookURL("tok1")
	body := slackJSON(t, map[string]any{
		"text": "How likely &lt;0-10&gt;? https://nps.example.com/r/t",
		"blocks": []any{
			map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "How likely &amp; why?"}},
			map[string]any{"type": "actions", "elements": slackButtons(11)},
			map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "alert"},
				"accessory": map[string]any{"type": "button", "text": map[string]any{"type": "plain_text", "text": "View response"}, "url": "https://nps.example.com/x"}},
		},
	})
	status, h, answer := hookPost(t, u, "application/json", body, nil)
	if status != 200 || answer != "ok" || h.Get("Content-Type") != "text/html" {
		t.Fatalf("answer %d %q %q", status, answer, h.Get("Content-Type"))
	}
	reqs := s.Accepted()
	if len(reqs) != 1 {
		t.Fatalf("%d accepted", len(reqs))
	}
	r := reqs[0]
	if r.URL != u || r.N != 1 || r.Problem != "" || string(r.Raw) != body {
		t.Errorf("request %+v", r)
	}
	bs := r.Message.Buttons()
	if len(bs) != 12 || bs[9].Label() != "9" || bs[9].URL != "https://nps.example.com/r/t?s=9" || bs[9].ActionID != "score_9" || bs[11].Label() != "View response" {
		t.Errorf("buttons %+v", bs)
	}
	v := r.Visible()
	for _, want := range []string{"How likely <0-10>? https://nps.example.com/r/t", "How likely & why?", "\n10\n", "View response"} {
		if !strings.Contains(v, want) {
			t.Errorf("Visible %q lacks %q", v, want)
		}
	}
}

func TestSlackRefuses(t *testing.T) {
	section := map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "q"}}
	for _, tc := range []struct {
		name, path, contentType, body string
		status                        int
		word                          string
	}{
		{"not a webhook path", "/hooks/x", "application/json", `{"text":"x"}`, 404, "no_service"},
		{"not JSON", "", "application/json", `{"text":`, 400, "invalid_payload"},
		{"form", "", "application/x-www-form-urlencoded", `payload=%7B%7D`, 400, "invalid_payload"},
		{"nothing to show", "", "application/json", `{"text":""}`, 400, "no_text"},
		{"26 buttons", "", "application/json", slackJSON(t, map[string]any{"blocks": []any{section, map[string]any{"type": "actions", "elements": slackButtons(26)}}}), 400, "invalid_blocks"},
		{"no buttons", "", "application/json", slackJSON(t, map[string]any{"blocks": []any{map[string]any{"type": "actions", "elements": []any{}}}}), 400, "invalid_blocks"},
		{"button without url", "", "application/json", slackJSON(t, map[string]any{"blocks": []any{map[string]any{"type": "actions", "elements": []any{
			map[string]any{"type": "button", "text": map[string]any{"type": "plain_text", "text": "9"}}}}}}), 400, "invalid_blocks"},
		{"mrkdwn button text", "", "application/json", slackJSON(t, map[string]any{"blocks": []any{map[string]any{"type": "actions", "elements": []any{
			map[string]any{"type": "button", "text": map[string]any{"type": "mrkdwn", "text": "9"}, "url": "https://x.example"}}}}}), 400, "invalid_blocks"},
		{"repeated action_id", "", "application/json", slackJSON(t, map[string]any{"blocks": []any{map[string]any{"type": "actions", "elements": append(slackButtons(2), slackButtons(1)...)}}}), 400, "invalid_blocks"},
		{"long section", "", "application/json", slackJSON(t, map[string]any{"blocks": []any{map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": strings.Repeat("a", 3001)}}}}), 400, "invalid_blocks"},
		{"unknown block", "", "application/json", slackJSON(t, map[string]any{"blocks": []any{map[string]any{"type": "carousel"}}}), 400, "invalid_blocks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := chattest.StartSlack(t)
			u := s.WebhookURL("tok")
			if tc.path != "" {
				u = s.URL() + tc.path
			}
			status, _, answer := hookPost(t, u, tc.contentType, tc.body, nil)
			if status != tc.status || answer != tc.word {
				t.Errorf("answer %d %q, want %d %q", status, answer, tc.status, tc.word)
			}
			r := s.Requests()
			if len(r) != 1 || r[0].Accepted() || r[0].Problem == "" || r[0].Status != tc.status {
				t.Errorf("recorded %+v", r)
			}
			if len(s.Accepted()) != 0 {
				t.Error("refused request counted as accepted")
			}
		})
	}
}

func TestSlackFaults(t *testing.T) {
	s := chattest.StartSlack(t)
	u := s.WebhookURL("tok")
	ok := `{"text":"hi"}`
	s.FailNext(chattest.SlackNoService, chattest.SlackRateLimited("30"))
	s.SetFault(&chattest.SlackServerError)

	status, h, answer := hookPost(t, u, "application/json", ok, nil)
	if status != 404 || answer != "no_service" || h.Get("Content-Type") != "text/html" {
		t.Errorf("first: %d %q %q", status, answer, h.Get("Content-Type"))
	}
	status, h, answer = hookPost(t, u, "application/json", ok, nil)
	if status != 429 || answer != "rate_limited" || h.Get("Retry-After") != "30" {
		t.Errorf("second: %d %q %v", status, answer, h)
	}
	status, _, answer = hookPost(t, u, "application/json", ok, nil)
	if status != 500 || answer != "internal_error" {
		t.Errorf("third: %d %q", status, answer)
	}
	s.SetFault(nil)
	if status, _, _ := hookPost(t, u, "application/json", ok, nil); status != 200 {
		t.Errorf("after SetFault(nil): %d", status)
	}
	if s.Count() != 4 || len(s.Accepted()) != 1 {
		t.Errorf("count %d accepted %d", s.Count(), len(s.Accepted()))
	}
	// A fault answers even a request Slack would refuse: it stands for
	// Slack, not for the request.
	s.FailNext(chattest.SlackChannelArchived)
	if status, _, answer := hookPost(t, s.URL()+"/nowhere", "text/plain", "x", nil); status != 410 || answer != "channel_is_archived" {
		t.Errorf("fault on a bad request: %d %q", status, answer)
	}
}

func TestSlackHang(t *testing.T) {
	s := chattest.StartSlack(t)
	s.SetFault(&chattest.HangFault)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.WebhookURL("t"), strings.NewReader(`{"text":"x"}`))
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	if err := s.WaitFor(1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		t.Fatalf("hanging request answered: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	if err := <-errc; err == nil {
		t.Error("cancelled request succeeded")
	}
	if r := s.Requests(); len(r) != 1 || r[0].Status != 0 {
		t.Errorf("recorded %+v", r)
	}

	// Close releases a request still hanging, and returns.
	go func() {
		resp, err := http.Post(s.WebhookURL("t"), "application/json", strings.NewReader(`{"text":"x"}`))
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	if err := s.WaitFor(2, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return with a request hanging")
	}
	if err := <-errc; err == nil {
		t.Error("request hanging at Close got an answer")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
