package chattest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/npsgate/npsgate/internal/chattest"
)

func wcMarkdown(t *testing.T, content string) string {
	t.Helper()
	return imJSON(t, map[string]any{"msgtype": "markdown", "markdown": map[string]any{"content": content}})
}

// wcPost posts to the WeCom fake and decodes its answer.
func wcPost(t *testing.T, u, payload string) (code int, msg string) {
	t.Helper()
	status, body := imPost(t, u, "application/json", payload)
	var a struct {
		ErrCode *int   `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal([]byte(body), &a); err != nil || a.ErrCode == nil || status != http.StatusOK {
		t.Fatalf("HTTP %d %q is not WeCom's answer", status, body)
	}
	return *a.ErrCode, a.ErrMsg
}

func TestWeComAccepts(t *testing.T) {
	s := chattest.StartWeCom(t)
	u := s.AddRobot("k-1")
	if u != s.WebhookURL("k-1") {
		t.Errorf("address %s", u)
	}
	content := "Hello\n\n[0](https://nps.example.com/r/t?score=0) | [10](https://nps.example.com/r/t?score=10)"
	if code, msg := wcPost(t, u, wcMarkdown(t, content)); code != 0 || msg != "ok" {
		t.Errorf("errcode %d %q", code, msg)
	}
	// 4096 bytes exactly, counted in bytes.
	if code, _ := wcPost(t, u, wcMarkdown(t, strings.Repeat("很", 1365)+"x")); code != 0 {
		t.Errorf("4096 bytes: errcode %d", code)
	}
	if code, _ := wcPost(t, u, `{"msgtype":"text","text":{"content":"hi"}}`); code != 0 {
		t.Errorf("text: errcode %d", code)
	}
	r := s.Accepted()[0]
	if r.Key != "k-1" || r.Message.Content() != content || r.Message.Visible() != content {
		t.Errorf("request %+v", r)
	}
	if l := r.Message.Links(); len(l) != 2 || l[1] != (chattest.WeComLink{Label: "10", URL: "https://nps.example.com/r/t?score=10"}) {
		t.Errorf("links %+v", l)
	}
}

func TestWeComRefuses(t *testing.T) {
	s := chattest.StartWeCom(t)
	u := s.AddRobot("k-1")
	for _, tc := range []struct {
		name, url, body string
		code            int
		msg             string
	}{
		{"unknown key", s.WebhookURL("k-2"), wcMarkdown(t, "x"), 93000, "invalid webhook url, hint: ["},
		{"secret in the query", u + "&secret=SEC1", wcMarkdown(t, "x"), 93000, "invalid webhook url"},
		{"not JSON", u, `{"msgtype"`, 40058, "Warning: wrong json format"},
		{"unknown msgtype", u, `{"msgtype":"news","news":{}}`, 40008, "invalid message type"},
		{"no content", u, `{"msgtype":"markdown","markdown":{}}`, 40058, "markdown.content is empty"},
		{"4097 bytes", u, wcMarkdown(t, strings.Repeat("很", 1365)+"xy"), 40058, "markdown.content exceed max length 4096"},
		{"relative link", u, wcMarkdown(t, "[9](/r/t?score=9)"), 40058, "invalid Request Parameter"},
		{"long text", u, `{"msgtype":"text","text":{"content":"` + strings.Repeat("x", 2049) + `"}}`, 40058, "text.content exceed max length 2048"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := s.Count()
			code, msg := wcPost(t, tc.url, tc.body)
			if code != tc.code || !strings.HasPrefix(msg, tc.msg) || !strings.Contains(msg, "more info at https://open.work.weixin.qq.com/devtool/query?e=") {
				t.Errorf("errcode %d %q, want %d %q…", code, msg, tc.code, tc.msg)
			}
			if r := s.Requests()[n]; r.Accepted() || r.Problem == "" {
				t.Errorf("request %+v", r)
			}
		})
	}
	if status, _ := imPost(t, s.URL()+"/cgi-bin/webhook/upload_media?key=k-1", "application/json", "{}"); status != http.StatusNotFound {
		t.Errorf("other path: HTTP %d", status)
	}
}

func TestWeComFaults(t *testing.T) {
	s := chattest.StartWeCom(t)
	u := s.AddRobot("k-1")
	body := wcMarkdown(t, "hello")
	s.FailNext(chattest.WeComFreqOutOfLimit, chattest.WeComSystemBusy)
	if code, msg := wcPost(t, u, body); code != 45009 || !strings.HasPrefix(msg, "api freq out of limit, hint: [") {
		t.Errorf("errcode %d %q", code, msg)
	}
	if code, _ := wcPost(t, u, body); code != -1 {
		t.Errorf("errcode %d", code)
	}
	if code, _ := wcPost(t, u, body); code != 0 {
		t.Errorf("after the faults: errcode %d", code)
	}
	if r := s.Requests()[0]; !r.Faulted || r.ErrCode != 45009 || r.Accepted() || r.Message.Content() != "hello" {
		t.Errorf("faulted request %+v", r)
	}
	s.SetFault(&chattest.WeComServerError)
	if status, _ := imPost(t, u, "application/json", body); status != http.StatusServiceUnavailable {
		t.Errorf("HTTP %d", status)
	}
	s.SetFault(&chattest.HangFault)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("a hanging server answered")
	}
	if err := s.WaitFor(5, time.Second); err != nil {
		t.Error(err)
	}
	if len(s.Accepted()) != 1 {
		t.Errorf("accepted %d", len(s.Accepted()))
	}
}
