package chattest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/npsgate/npsgate/internal/chattest"
)

// imPost posts body to u with contentType and returns the status and the
// answer.
func imPost(t *testing.T, u, contentType, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(u, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func imJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A DingTalk signature computed outside Go (openssl dgst -sha256 -hmac).
const (
	dtSecret    = "SECb6a0f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f90a1b"
	dtTimestamp = 1700000000123
	dtSign      = "AIWvBrlXm8i1jESKGSuYdqIjpJOb3VPTR79WTiL54pk="
)

var dtMarkdown = `{"msgtype":"markdown","markdown":{"title":"NPS","text":"How likely? [0](https://nps.example.com/r/t?score=0) | [10](https://nps.example.com/r/t?score=10)"}}`

// dtPost posts to the DingTalk fake and decodes its answer.
func dtPost(t *testing.T, u, contentType, payload string) (int, string) {
	t.Helper()
	status, body := imPost(t, u, contentType, payload)
	if status != http.StatusOK {
		t.Fatalf("HTTP %d %s, DingTalk answers 200", status, body)
	}
	var a struct {
		ErrCode *int   `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal([]byte(body), &a); err != nil || a.ErrCode == nil {
		t.Fatalf("answer %q is not DingTalk's", body)
	}
	return *a.ErrCode, a.ErrMsg
}

func dtSigned(s *chattest.DingTalkServer, token string, ts int64, sign string) string {
	return s.WebhookURL(token) + "&timestamp=" + strconv.FormatInt(ts, 10) + "&sign=" + url.QueryEscape(sign)
}

func TestDingTalkVerifiesSignature(t *testing.T) {
	s := chattest.StartDingTalk(t)
	if addr := s.AddRobot("tok", dtSecret); addr != s.WebhookURL("tok")+"&secret="+url.QueryEscape(dtSecret) {
		t.Errorf("Address %s", addr)
	}
	at := func(d time.Duration) func() time.Time {
		return func() time.Time { return time.UnixMilli(dtTimestamp).Add(d) }
	}
	for _, tc := range []struct {
		name    string
		clock   time.Duration
		url     string
		code    int
		message string
	}{
		{"vector", 0, dtSigned(s, "tok", dtTimestamp, dtSign), 0, "ok"},
		{"59 minutes later", 59 * time.Minute, dtSigned(s, "tok", dtTimestamp, dtSign), 0, "ok"},
		{"59 minutes earlier", -59 * time.Minute, dtSigned(s, "tok", dtTimestamp, dtSign), 0, "ok"},
		{"61 minutes later", 61 * time.Minute, dtSigned(s, "tok", dtTimestamp, dtSign), 310000, "invalid timestamp"},
		{"61 minutes earlier", -61 * time.Minute, dtSigned(s, "tok", dtTimestamp, dtSign), 310000, "invalid timestamp"},
		{"wrong sign", 0, dtSigned(s, "tok", dtTimestamp, "AAAA"+dtSign[4:]), 310000, "sign not match"},
		{"sign of another timestamp", 0, dtSigned(s, "tok", dtTimestamp+1, dtSign), 310000, "sign not match"},
		{"sign not URL-decoded", 0, s.WebhookURL("tok") + "&timestamp=" + strconv.Itoa(dtTimestamp) + "&sign=" + url.QueryEscape(url.QueryEscape(dtSign)), 310000, "sign not match"},
		{"no sign", 0, s.WebhookURL("tok"), 310000, "sign not match"},
		{"seconds, not milliseconds", 0, dtSigned(s, "tok", dtTimestamp/1000, dtSign), 310000, "invalid timestamp"},
		{"the secret in the query", 0, dtSigned(s, "tok", dtTimestamp, dtSign) + "&secret=" + url.QueryEscape(dtSecret), 310000, "sign not match"},
		{"unknown token", 0, dtSigned(s, "other", dtTimestamp, dtSign), 300001, "token is not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.SetClock(at(tc.clock))
			code, msg := dtPost(t, tc.url, "application/json", dtMarkdown)
			if code != tc.code || !strings.HasPrefix(msg, tc.message) {
				t.Errorf("errcode %d %q, want %d %q", code, msg, tc.code, tc.message)
			}
		})
	}
	reqs := s.Requests()
	if !reqs[0].Accepted() || reqs[0].Token != "tok" || reqs[0].Query.Get("sign") != dtSign {
		t.Errorf("request %+v", reqs[0])
	}
	if last := reqs[len(reqs)-2]; last.Accepted() || !strings.Contains(last.Problem, "secret") {
		t.Errorf("a secret in the query: %+v", last)
	}
}

func TestDingTalkAccepts(t *testing.T) {
	s := chattest.StartDingTalk(t)
	u := s.AddRobot("tok", "")
	for name, body := range map[string]string{
		"text":     `{"msgtype":"text","text":{"content":"hello"}}`,
		"markdown": dtMarkdown,
		"single":   `{"msgtype":"actionCard","actionCard":{"title":"T","text":"Body [1](https://x.example/1)","btnOrientation":"0","singleTitle":"Answer","singleURL":"https://x.example/r"}}`,
		"btns":     `{"msgtype":"actionCard","actionCard":{"title":"T","text":"Body","btnOrientation":"1","btns":[{"title":"0","actionURL":"https://x.example/0"},{"title":"1","actionURL":"dingtalk://dingtalkclient/page/link?url=x"}]}}`,
	} {
		if code, msg := dtPost(t, u, "application/json; charset=utf-8", body); code != 0 || msg != "ok" {
			t.Errorf("%s: errcode %d %q", name, code, msg)
		}
	}
	if got := len(s.Accepted()); got != 4 {
		t.Fatalf("accepted %d", got)
	}
	var single chattest.DingTalkRequest
	for _, r := range s.Accepted() {
		if r.Message.ActionCard != nil && r.Message.ActionCard.SingleURL != "" {
			single = r
		}
	}
	m := single.Message
	if m.Title() != "T" || m.Body() != "Body [1](https://x.example/1)" || m.Visible() != "T\nBody [1](https://x.example/1)\nAnswer" {
		t.Errorf("message %+v visible %q", m, m.Visible())
	}
	if l := m.Links(); len(l) != 1 || l[0] != (chattest.DingTalkLink{Label: "1", URL: "https://x.example/1"}) {
		t.Errorf("links %+v", l)
	}
	if b := m.Buttons(); len(b) != 1 || b[0].ActionURL != "https://x.example/r" {
		t.Errorf("buttons %+v", b)
	}
}

func TestDingTalkRefuses(t *testing.T) {
	s := chattest.StartDingTalk(t)
	u := s.AddRobot("tok", "")
	kw := s.AddRobot("kw", "", "满意度", "调查")
	for _, tc := range []struct {
		name, url, contentType, body string
		code                         int
	}{
		{"form", u, "application/x-www-form-urlencoded", dtMarkdown, 43004},
		{"not JSON", u, "application/json", `{"msgtype":`, 40035},
		{"no msgtype", u, "application/json", `{"text":{"content":"x"}}`, 40035},
		{"unknown msgtype", u, "application/json", `{"msgtype":"feedCard","feedCard":{}}`, 40035},
		{"empty text", u, "application/json", `{"msgtype":"text","text":{"content":""}}`, 400402},
		{"markdown without title", u, "application/json", `{"msgtype":"markdown","markdown":{"text":"x"}}`, 400402},
		{"relative link", u, "application/json", `{"msgtype":"markdown","markdown":{"title":"t","text":"[9](/r/t?score=9)"}}`, 400402},
		{"card without buttons", u, "application/json", `{"msgtype":"actionCard","actionCard":{"title":"t","text":"x"}}`, 400402},
		{"card button without URL", u, "application/json", `{"msgtype":"actionCard","actionCard":{"title":"t","text":"x","btns":[{"title":"0","actionURL":""}]}}`, 400402},
		{"card single without title", u, "application/json", `{"msgtype":"actionCard","actionCard":{"title":"t","text":"x","singleURL":"https://x.example"}}`, 400402},
		{"card orientation", u, "application/json", `{"msgtype":"actionCard","actionCard":{"title":"t","text":"x","btnOrientation":"2","singleTitle":"a","singleURL":"https://x.example"}}`, 400402},
		{"too long", u, "application/json", `{"msgtype":"text","text":{"content":"` + strings.Repeat("x", 20000) + `"}}`, 460101},
		{"keyword missing", kw, "application/json", dtMarkdown, 310000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := s.Count()
			code, _ := dtPost(t, tc.url, tc.contentType, tc.body)
			if code != tc.code {
				t.Errorf("errcode %d, want %d", code, tc.code)
			}
			r := s.Requests()[n]
			if r.Accepted() || r.Problem == "" || r.ErrCode != tc.code {
				t.Errorf("request %+v", r)
			}
		})
	}
	if code, _ := dtPost(t, kw, "application/json", `{"msgtype":"text","text":{"content":"我们的调查"}}`); code != 0 {
		t.Errorf("keyword present: errcode %d", code)
	}
	if status, _ := imPost(t, s.URL()+"/robot/other?access_token=tok", "application/json", dtMarkdown); status != http.StatusNotFound {
		t.Errorf("other path: HTTP %d", status)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: HTTP %d", resp.StatusCode)
	}
}

func TestDingTalkFaults(t *testing.T) {
	s := chattest.StartDingTalk(t)
	u := s.AddRobot("tok", "")
	s.FailNext(chattest.DingTalkSendTooFast, chattest.DingTalkServerError)
	if code, msg := dtPost(t, u, "application/json", dtMarkdown); code != 130101 || msg != "send too fast, exceed 20 times per minute" {
		t.Errorf("errcode %d %q", code, msg)
	}
	if status, _ := imPost(t, u, "application/json", dtMarkdown); status != http.StatusBadGateway {
		t.Errorf("HTTP %d", status)
	}
	if code, _ := dtPost(t, u, "application/json", dtMarkdown); code != 0 {
		t.Errorf("after the faults: errcode %d", code)
	}
	reqs := s.Requests()
	if r := reqs[0]; !r.Faulted || r.ErrCode != 130101 || r.Accepted() || r.Message.Title() != "NPS" {
		t.Errorf("faulted request %+v", r)
	}
	if len(s.Accepted()) != 1 {
		t.Errorf("accepted %d", len(s.Accepted()))
	}

	s.SetFault(&chattest.HangFault)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(dtMarkdown))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("a hanging server answered")
	}
	if err := s.WaitFor(4, time.Second); err != nil {
		t.Error(err)
	}
	s.SetFault(nil)
	if code, _ := dtPost(t, u, "application/json", dtMarkdown); code != 0 {
		t.Errorf("after hanging: errcode %d", code)
	}
}
