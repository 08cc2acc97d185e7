package chattest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// WeCom answers every post to a group robot with HTTP 200 and
// {"errcode":…,"errmsg":…}: 0 "ok" when the message was posted, another
// errcode when it was refused.
const weComContentType = "application/json; charset=UTF-8"

const (
	// weComMaxMarkdown and weComMaxText are the largest contents WeCom
	// takes, in bytes.
	weComMaxMarkdown = 4096
	weComMaxText     = 2048
)

// weComHint numbers the hints of the fake's errmsgs.
var weComHint atomic.Int64

// weComErrMsg is msg as WeCom words it: with a hint (a request id), the
// caller's IP and where to read about code.
func weComErrMsg(code int, msg string) string {
	return fmt.Sprintf("%s, hint: [%d%06d], from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e=%d",
		msg, time.Now().Unix(), weComHint.Add(1), code)
}

type weComAnswer struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// WeComError is WeCom's refusal with errcode code and errmsg msg (to which
// WeCom's hint is added), sent as WeCom sends them: HTTP 200 and JSON.
func WeComError(code int, msg string) HTTPFault {
	b, _ := json.Marshal(weComAnswer{ErrCode: code, ErrMsg: weComErrMsg(code, msg)})
	return HTTPFault{Status: http.StatusOK, Body: string(b), ContentType: weComContentType}
}

// Refusals as WeCom's group robots send them.
var (
	// WeComFreqOutOfLimit: over 20 messages a minute.
	WeComFreqOutOfLimit = WeComError(45009, "api freq out of limit")
	// WeComInvalidWebhookURL: no robot has that key (removed).
	WeComInvalidWebhookURL = WeComError(93000, "invalid webhook url")
	// WeComInvalidMessageType: a msgtype WeCom does not know.
	WeComInvalidMessageType = WeComError(40008, "invalid message type")
	// WeComContentTooLong: markdown content over 4096 bytes.
	WeComContentTooLong = WeComError(40058, "markdown.content exceed max length 4096. invalid Request Parameter")
	// WeComSystemBusy: WeCom's transient failure.
	WeComSystemBusy = WeComError(-1, "system busy")
	// WeComServerError: WeCom's gateway failed (HTTP 503).
	WeComServerError = HTTPFault{Status: http.StatusServiceUnavailable, Body: "<html><body>503 Service Unavailable</body></html>", ContentType: "text/html"}
)

// WeComMessage is the JSON of a robot post, for the message types the
// fake knows (markdown, text).
type WeComMessage struct {
	MsgType  string         `json:"msgtype"`
	Markdown *WeComMarkdown `json:"markdown,omitempty"`
	Text     *WeComText     `json:"text,omitempty"`
}

// WeComMarkdown is a markdown message's content.
type WeComMarkdown struct {
	Content string `json:"content"`
}

// WeComText is a text message's content.
type WeComText struct {
	Content string `json:"content"`
}

// WeComLink is a markdown link in a message.
type WeComLink struct {
	Label, URL string
}

// Content is the message's content, markdown or text.
func (m WeComMessage) Content() string {
	switch {
	case m.Markdown != nil:
		return m.Markdown.Content
	case m.Text != nil:
		return m.Text.Content
	}
	return ""
}

// Links lists the markdown links of a markdown message, in order.
func (m WeComMessage) Links() []WeComLink {
	if m.Markdown == nil {
		return nil
	}
	var out []WeComLink
	for _, l := range imMarkdownLinks(m.Markdown.Content) {
		out = append(out, WeComLink{Label: l[0], URL: l[1]})
	}
	return out
}

// WeComRequest is one post to the fake, with how it was answered.
type WeComRequest struct {
	// N is the 1-based number of the request in arrival order.
	N    int
	Time time.Time
	// URL is the URL posted to (the server's URL and the request URI);
	// Query its decoded query and Key the robot's key in it.
	URL       string
	Query     url.Values
	Key       string
	Method    string
	Header    http.Header
	UserAgent string
	// Raw is the body as sent and Message its decoding (zero when the body
	// is not JSON).
	Raw     []byte
	Message WeComMessage
	// Status is the HTTP status answered (0 for a request left hanging),
	// ErrCode and ErrMsg WeCom's answer in it. Faulted says the answer was
	// a fault the test set; Problem says why a request that was not
	// faulted on purpose was refused.
	Status  int
	ErrCode int
	ErrMsg  string
	Faulted bool
	Problem string
}

// Accepted says WeCom would have posted the message.
func (r WeComRequest) Accepted() bool {
	return !r.Faulted && r.Status == http.StatusOK && r.ErrCode == 0
}

// WeComServer is a running fake of WeCom's group robot webhooks. It
// answers POST /cgi-bin/webhook/send?key=… as WeCom does: it knows the
// robots AddRobot registered, checks the JSON and WeCom's size limits
// (4096 bytes of markdown, counted in bytes), and answers errcode 0,
// WeCom's refusals (with WeCom's hint), or the fault it was told to give.
//
// It is stricter than WeCom in two ways, to catch gateway bugs: a
// "secret" query parameter (WeCom robots have none; it must never leave
// the gateway) is refused with 93000, and so is a markdown link whose URL
// is not absolute http(s) (40058).
type WeComServer struct {
	hookServer[WeComRequest]

	robotsMu sync.Mutex
	robots   map[string]bool
}

// StartWeCom runs a WeCom fake on 127.0.0.1 for the length of the test.
func StartWeCom(t testing.TB) *WeComServer {
	t.Helper()
	s, err := NewWeComServer()
	if err != nil {
		t.Fatalf("chattest: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// NewWeComServer runs a WeCom fake until Close, for code without a
// testing.TB.
func NewWeComServer() (*WeComServer, error) {
	s := &WeComServer{robots: map[string]bool{}}
	if err := s.start(http.HandlerFunc(s.serve)); err != nil {
		return nil, err
	}
	return s, nil
}

// URL is the server's base URL ("http://127.0.0.1:port").
func (s *WeComServer) URL() string { return s.url }

// WebhookURL is the robot's webhook URL on the server, as WeCom shows it:
// /cgi-bin/webhook/send?key=key.
func (s *WeComServer) WebhookURL(key string) string {
	return s.url + "/cgi-bin/webhook/send?key=" + url.QueryEscape(key)
}

// AddRobot registers a robot with its key and returns its WebhookURL, the
// address a contact holds.
func (s *WeComServer) AddRobot(key string) string {
	s.robotsMu.Lock()
	s.robots[key] = true
	s.robotsMu.Unlock()
	return s.WebhookURL(key)
}

// SetFault answers every request from now on with f; nil goes back to
// answering as WeCom (what FailNext queued comes first). Requests already
// hanging stay so.
func (s *WeComServer) SetFault(f *HTTPFault) { s.setFault(f) }

// FailNext answers the next requests, one each, with faults, before
// SetFault's.
func (s *WeComServer) FailNext(faults ...HTTPFault) { s.failNext(faults) }

// Requests returns every request so far, in arrival order.
func (s *WeComServer) Requests() []WeComRequest { return s.requests() }

// Accepted returns the requests WeCom would have posted, in arrival order.
func (s *WeComServer) Accepted() []WeComRequest {
	var out []WeComRequest
	for _, r := range s.requests() {
		if r.Accepted() {
			out = append(out, r)
		}
	}
	return out
}

// Count is how many requests the server received.
func (s *WeComServer) Count() int { return s.count() }

// WaitFor waits until the server received at least n requests (answered
// or hanging).
func (s *WeComServer) WaitFor(n int, timeout time.Duration) error {
	return s.waitFor("wecom", n, timeout)
}

// Close stops the server, releasing hanging requests, and waits for its
// handlers. It is safe to call twice.
func (s *WeComServer) Close() error { return s.close() }

func (s *WeComServer) serve(w http.ResponseWriter, hr *http.Request) {
	n, fault := s.next()
	q := hr.URL.Query()
	r := WeComRequest{
		N:         n,
		Time:      time.Now(),
		URL:       s.url + hr.URL.RequestURI(),
		Query:     q,
		Key:       q.Get("key"),
		Method:    hr.Method,
		Header:    hr.Header.Clone(),
		UserAgent: hr.UserAgent(),
	}
	body, readErr := hookReadBody(hr)
	r.Raw = body
	decodeErr := json.Unmarshal(body, &r.Message)

	if fault != nil {
		r.Faulted = true
		if fault.Hang {
			s.record(r)
			s.hang(hr)
		}
		r.Status = fault.Status
		var a weComAnswer
		if json.Unmarshal([]byte(fault.Body), &a) == nil {
			r.ErrCode, r.ErrMsg = a.ErrCode, a.ErrMsg
		}
		s.record(r)
		hookWriteFault(w, fault)
		return
	}
	refuse := func(code int, msg, problem string) {
		r.Status, r.ErrCode, r.ErrMsg, r.Problem = http.StatusOK, code, weComErrMsg(code, msg), problem
		s.record(r)
		b, _ := json.Marshal(weComAnswer{ErrCode: code, ErrMsg: r.ErrMsg})
		hookWriteText(w, http.StatusOK, weComContentType, string(b))
	}

	if hr.URL.Path != "/cgi-bin/webhook/send" {
		r.Status, r.Problem = http.StatusNotFound, "not /cgi-bin/webhook/send"
		s.record(r)
		hookWriteText(w, http.StatusNotFound, "text/plain; charset=utf-8", "404 Not Found")
		return
	}
	if hr.Method != http.MethodPost {
		r.Status, r.Problem = http.StatusMethodNotAllowed, "method "+hr.Method
		s.record(r)
		hookWriteText(w, http.StatusMethodNotAllowed, "text/plain; charset=utf-8", "Method Not Allowed")
		return
	}
	s.robotsMu.Lock()
	known := s.robots[r.Key]
	s.robotsMu.Unlock()
	switch {
	case !known:
		refuse(93000, "invalid webhook url", "unknown key")
		return
	case q.Has("secret"):
		refuse(93000, "invalid webhook url", "a secret travelled in the query")
		return
	case readErr != nil:
		refuse(40058, "invalid Request Parameter", readErr.Error())
		return
	case decodeErr != nil:
		refuse(40058, "Warning: wrong json format. invalid Request Parameter", decodeErr.Error())
		return
	}
	m := r.Message
	switch m.MsgType {
	case "markdown":
		switch c := m.Content(); {
		case m.Markdown == nil || c == "":
			refuse(40058, "markdown.content is empty. invalid Request Parameter", "no markdown.content")
			return
		case len(c) > weComMaxMarkdown:
			refuse(40058, fmt.Sprintf("markdown.content exceed max length %d. invalid Request Parameter", weComMaxMarkdown),
				fmt.Sprintf("markdown.content of %d bytes", len(c)))
			return
		}
		for _, l := range m.Links() {
			if !imLinkOK(l.URL) {
				refuse(40058, "invalid Request Parameter", fmt.Sprintf("link [%s](%s) is not absolute http(s)", l.Label, l.URL))
				return
			}
		}
	case "text":
		switch c := m.Content(); {
		case m.Text == nil || c == "":
			refuse(40058, "text.content is empty. invalid Request Parameter", "no text.content")
			return
		case len(c) > weComMaxText:
			refuse(40058, fmt.Sprintf("text.content exceed max length %d. invalid Request Parameter", weComMaxText),
				fmt.Sprintf("text.content of %d bytes", len(c)))
			return
		}
	default:
		refuse(40008, "invalid message type", fmt.Sprintf("msgtype %q is not one the fake knows", m.MsgType))
		return
	}
	r.Status = http.StatusOK
	s.record(r)
	hookWriteText(w, http.StatusOK, weComContentType, `{"errcode":0,"errmsg":"ok"}`)
}

// Visible is what a reader sees of the message: its content.
func (m WeComMessage) Visible() string { return strings.TrimSpace(m.Content()) }
