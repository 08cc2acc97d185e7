package chattest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/npsgate/npsgate/internal/chattest"
)

// A Feishu signature computed outside Go (openssl, and Python as in
// Feishu's documentation): key timestamp+"\n"+secret, empty message.
const (
	fsSecret    = "fEiShUsEcReT42xyz"
	fsTimestamp = 1700000000
	fsSign      = "s3OUSO0iERoTWOrxCs9Y0iOmRtorqJrd04AWLR8HGZ8="
)

// fsCard is an interactive message, signed with sign at timestamp ts
// (omitted when "").
func fsCard(t *testing.T, ts any, sign string, edit func(card map[string]any)) string {
	t.Helper()
	card := map[string]any{
		"config": map[string]any{"wide_screen_mode": true},
		"header": map[string]any{"title": map[string]any{"tag": "plain_text", "content": "NPS"}, "template": "blue"},
		"elements": []any{
			map[string]any{"tag": "div", "text": map[string]any{"tag": "lark_md", "content": "**How likely?**"}},
			map[string]any{"tag": "action", "layout": "flow", "actions": []any{
				map[string]any{"tag": "button", "text": map[string]any{"tag": "plain_text", "content": "0"}, "url": "https://nps.example.com/r/t?score=0", "type": "default"},
				map[string]any{"tag": "button", "text": map[string]any{"tag": "plain_text", "content": "10"}, "url": "https://nps.example.com/r/t?score=10", "type": "primary"},
			}},
		},
	}
	if edit != nil {
		edit(card)
	}
	body := map[string]any{"msg_type": "interactive", "card": card}
	if ts != nil {
		body["timestamp"], body["sign"] = ts, sign
	}
	return imJSON(t, body)
}

// fsPost posts to the Feishu fake and decodes its answer.
func fsPost(t *testing.T, u, payload string) (status, code int, msg string) {
	t.Helper()
	status, body := imPost(t, u, "application/json; charset=utf-8", payload)
	var a struct {
		Code *int   `json:"code"`
		Msg  string `json:"msg"`
	}
	if err := json.Unmarshal([]byte(body), &a); err != nil || a.Code == nil {
		t.Fatalf("HTTP %d %q is not Feishu's answer", status, body)
	}
	return status, *a.Code, a.Msg
}

func TestFeishuVerifiesSignature(t *testing.T) {
	s := chattest.StartFeishu(t)
	if addr := s.AddBot("tok", fsSecret); addr != s.WebhookURL("tok")+"?secret="+fsSecret {
		t.Errorf("Address %s", addr)
	}
	u := s.WebhookURL("tok")
	at := func(d time.Duration) func() time.Time {
		return func() time.Time { return time.Unix(fsTimestamp, 0).Add(d) }
	}
	for _, tc := range []struct {
		name  string
		clock time.Duration
		url   string
		body  string
		code  int
	}{
		{"vector", 0, u, fsCard(t, "1700000000", fsSign, nil), 0},
		{"timestamp as a number", 0, u, fsCard(t, fsTimestamp, fsSign, nil), 0},
		{"59 minutes later", 59 * time.Minute, u, fsCard(t, "1700000000", fsSign, nil), 0},
		{"61 minutes later", 61 * time.Minute, u, fsCard(t, "1700000000", fsSign, nil), 19021},
		{"61 minutes earlier", -61 * time.Minute, u, fsCard(t, "1700000000", fsSign, nil), 19021},
		{"wrong sign", 0, u, fsCard(t, "1700000000", "AAAA"+fsSign[4:], nil), 19021},
		{"another timestamp", 0, u, fsCard(t, "1700000001", fsSign, nil), 19021},
		{"unsigned", 0, u, fsCard(t, nil, "", nil), 19021},
		{"the secret in the query", 0, u + "?secret=" + url.QueryEscape(fsSecret), fsCard(t, "1700000000", fsSign, nil), 19021},
		{"unknown token", 0, s.WebhookURL("other"), fsCard(t, "1700000000", fsSign, nil), 19001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.SetClock(at(tc.clock))
			status, code, msg := fsPost(t, tc.url, tc.body)
			if status != http.StatusOK || code != tc.code || msg == "" {
				t.Errorf("HTTP %d code %d %q, want 200 %d", status, code, msg, tc.code)
			}
		})
	}
	r := s.Requests()[0]
	if !r.Accepted() || r.Token != "tok" || r.Message.Timestamp != "1700000000" || r.Message.Sign != fsSign {
		t.Errorf("request %+v", r)
	}
	if r := s.Requests()[1]; r.Message.Timestamp != "1700000000" {
		t.Errorf("numeric timestamp read as %q", r.Message.Timestamp)
	}
}

func TestFeishuAccepts(t *testing.T) {
	s := chattest.StartFeishu(t)
	u := s.AddBot("tok", "")
	status, body := imPost(t, u, "application/json", fsCard(t, nil, "", nil))
	var a map[string]any
	if err := json.Unmarshal([]byte(body), &a); err != nil || status != 200 || a["code"] != 0.0 || a["StatusCode"] != 0.0 || a["msg"] != "success" {
		t.Errorf("HTTP %d %s", status, body)
	}
	if _, code, _ := fsPost(t, u, `{"msg_type":"text","content":{"text":"hello"}}`); code != 0 {
		t.Errorf("text: code %d", code)
	}
	reqs := s.Accepted()
	if len(reqs) != 2 {
		t.Fatalf("accepted %d", len(reqs))
	}
	m := reqs[0].Message
	if m.Title() != "NPS" || len(m.Buttons()) != 2 || m.Buttons()[1].URL != "https://nps.example.com/r/t?score=10" {
		t.Errorf("message %+v", m)
	}
	if v := m.Visible(); v != "NPS\n**How likely?**\n0\n10" {
		t.Errorf("Visible %q", v)
	}
	if v := reqs[1].Message.Visible(); v != "hello" {
		t.Errorf("text Visible %q", v)
	}
}

func TestFeishuRefuses(t *testing.T) {
	s := chattest.StartFeishu(t)
	u := s.AddBot("tok", "")
	kw := s.AddBot("kw", "", "满意度")
	elements := func(els ...any) func(map[string]any) {
		return func(c map[string]any) { c["elements"] = els }
	}
	button := func(edit func(b map[string]any)) any {
		b := map[string]any{"tag": "button", "text": map[string]any{"tag": "plain_text", "content": "9"}, "url": "https://x.example/9", "type": "default"}
		edit(b)
		return map[string]any{"tag": "action", "actions": []any{b}}
	}
	for _, tc := range []struct {
		name, url, body string
		status, code    int
	}{
		{"not JSON", u, `{"msg_type":`, 400, 9499},
		{"too large", u, `{"msg_type":"text","content":{"text":"` + strings.Repeat("x", 21*1024) + `"}}`, 400, 9499},
		{"no msg_type", u, `{"content":{"text":"x"}}`, 200, 19002},
		{"no card", u, `{"msg_type":"interactive"}`, 200, 19002},
		{"no elements", u, fsCard(t, nil, "", elements()), 200, 19002},
		{"div without text", u, fsCard(t, nil, "", elements(map[string]any{"tag": "div"})), 200, 19002},
		{"text tag", u, fsCard(t, nil, "", elements(map[string]any{"tag": "div", "text": map[string]any{"tag": "html", "content": "x"}})), 200, 19002},
		{"unknown element", u, fsCard(t, nil, "", elements(map[string]any{"tag": "table"})), 200, 19002},
		{"button without url", u, fsCard(t, nil, "", elements(button(func(b map[string]any) { delete(b, "url") }))), 200, 19002},
		{"relative button url", u, fsCard(t, nil, "", elements(button(func(b map[string]any) { b["url"] = "/r/9" }))), 200, 19002},
		{"button type", u, fsCard(t, nil, "", elements(button(func(b map[string]any) { b["type"] = "link" }))), 200, 19002},
		{"button label", u, fsCard(t, nil, "", elements(button(func(b map[string]any) { b["text"] = map[string]any{"tag": "plain_text"} }))), 200, 19002},
		{"layout", u, fsCard(t, nil, "", elements(map[string]any{"tag": "action", "layout": "grid", "actions": []any{}})), 200, 19002},
		{"header template", u, fsCard(t, nil, "", func(c map[string]any) { c["header"].(map[string]any)["template"] = "pink" }), 200, 19002},
		{"keyword missing", kw, fsCard(t, nil, "", nil), 200, 19024},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := s.Count()
			status, code, _ := fsPost(t, tc.url, tc.body)
			if status != tc.status || code != tc.code {
				t.Errorf("HTTP %d code %d, want %d %d", status, code, tc.status, tc.code)
			}
			if r := s.Requests()[n]; r.Accepted() || r.Problem == "" || r.Code != tc.code {
				t.Errorf("request %+v", r)
			}
		})
	}
	if _, code, _ := fsPost(t, kw, `{"msg_type":"text","content":{"text":"满意度调查"}}`); code != 0 {
		t.Errorf("keyword present: code %d", code)
	}
	if status, _ := imPost(t, s.URL()+"/open-apis/bot/v2/hook/", "application/json", "{}"); status != http.StatusNotFound {
		t.Errorf("no token: HTTP %d", status)
	}
}

func TestFeishuFaults(t *testing.T) {
	s := chattest.StartFeishu(t)
	u := s.AddBot("tok", "")
	s.FailNext(chattest.FeishuFrequencyLimited, chattest.FeishuRateLimited("2"))
	if status, code, _ := fsPost(t, u, fsCard(t, nil, "", nil)); status != 200 || code != 11232 {
		t.Errorf("HTTP %d code %d", status, code)
	}
	resp, err := http.Post(u, "application/json", strings.NewReader(fsCard(t, nil, "", nil)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("HTTP %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if _, code, _ := fsPost(t, u, fsCard(t, nil, "", nil)); code != 0 {
		t.Errorf("after the faults: code %d", code)
	}
	if r := s.Requests()[0]; !r.Faulted || r.Code != 11232 || r.Accepted() {
		t.Errorf("faulted request %+v", r)
	}

	s.SetFault(&chattest.HangFault)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader("{}"))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("a hanging server answered")
	}
	if err := s.WaitFor(4, time.Second); err != nil {
		t.Error(err)
	}
}
