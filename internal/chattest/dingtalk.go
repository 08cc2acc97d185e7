package chattest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// DingTalk answers every post to a custom robot with HTTP 200 and
// {"errcode":…,"errmsg":…}: 0 "ok" when the message was posted, another
// errcode when it was refused.
const dingTalkContentType = "application/json;charset=utf-8"

// DingTalk's limits the fake enforces.
const (
	// dingTalkMaxBody is the largest body DingTalk takes (460101).
	dingTalkMaxBody = 20000
	// dingTalkMaxSkew is how far a signed request's timestamp may be from
	// the server's clock.
	dingTalkMaxSkew = time.Hour
)

const dingTalkDoc = ", more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"

// DingTalkError is DingTalk's refusal with errcode code and errmsg msg,
// sent as DingTalk sends them: HTTP 200 and JSON.
func DingTalkError(code int, msg string) HTTPFault {
	b, _ := json.Marshal(dingTalkAnswer{ErrCode: code, ErrMsg: msg})
	return HTTPFault{Status: http.StatusOK, Body: string(b), ContentType: dingTalkContentType}
}

// Refusals as DingTalk's custom robots send them.
var (
	// DingTalkSendTooFast: more than 20 messages in a minute; DingTalk
	// then blocks the robot for 10 minutes.
	DingTalkSendTooFast = DingTalkError(130101, "send too fast, exceed 20 times per minute")
	// DingTalkSendTooFastBlocked: the robot is blocked for sending too
	// fast.
	DingTalkSendTooFastBlocked = DingTalkError(410100, "send too fast")
	// DingTalkSignNotMatch: the signature is wrong.
	DingTalkSignNotMatch = DingTalkError(310000, "sign not match"+dingTalkDoc)
	// DingTalkKeywordsNotInContent: the robot's keyword is not in the
	// message.
	DingTalkKeywordsNotInContent = DingTalkError(310000, "keywords not in content"+dingTalkDoc)
	// DingTalkIPNotInWhitelist: the robot takes messages from listed IPs
	// only.
	DingTalkIPNotInWhitelist = DingTalkError(310000, "ip 127.0.0.1 not in whitelist"+dingTalkDoc)
	// DingTalkTokenNotExist: no robot has that access token (removed).
	DingTalkTokenNotExist = DingTalkError(300001, "token is not exist")
	// DingTalkSystemBusy: DingTalk's generic transient failure.
	DingTalkSystemBusy = DingTalkError(-1, "系统繁忙")
	// DingTalkServerError: DingTalk's gateway failed (HTTP 502).
	DingTalkServerError = HTTPFault{Status: http.StatusBadGateway, Body: "<html><body><h1>502 Bad Gateway</h1></body></html>", ContentType: "text/html"}
)

type dingTalkAnswer struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// DingTalkMessage is the JSON of a robot post, for the message types the
// gateway sends (text, markdown, actionCard).
type DingTalkMessage struct {
	MsgType    string              `json:"msgtype"`
	Text       *DingTalkText       `json:"text,omitempty"`
	Markdown   *DingTalkMarkdown   `json:"markdown,omitempty"`
	ActionCard *DingTalkActionCard `json:"actionCard,omitempty"`
}

// DingTalkText is a text message's content.
type DingTalkText struct {
	Content string `json:"content"`
}

// DingTalkMarkdown is a markdown message: Title shows in notifications,
// Text in the chat.
type DingTalkMarkdown struct {
	Title string `json:"title"`
	Text  string `json:"text"`
}

// DingTalkActionCard is an action card: markdown Text with either one
// button for the whole card (SingleTitle, SingleURL) or buttons of their
// own (Btns), side by side (BtnOrientation "1") or stacked ("0").
type DingTalkActionCard struct {
	Title          string           `json:"title"`
	Text           string           `json:"text"`
	BtnOrientation string           `json:"btnOrientation,omitempty"`
	SingleTitle    string           `json:"singleTitle,omitempty"`
	SingleURL      string           `json:"singleURL,omitempty"`
	Btns           []DingTalkButton `json:"btns,omitempty"`
}

// DingTalkButton is an action card's button.
type DingTalkButton struct {
	Title     string `json:"title"`
	ActionURL string `json:"actionURL"`
}

// DingTalkLink is a markdown link in a message's text.
type DingTalkLink struct {
	Label, URL string
}

// Title is the message's title (markdown, actionCard), "" for text.
func (m DingTalkMessage) Title() string {
	switch {
	case m.Markdown != nil:
		return m.Markdown.Title
	case m.ActionCard != nil:
		return m.ActionCard.Title
	}
	return ""
}

// Body is the message's text: the text content, the markdown or the
// action card's text.
func (m DingTalkMessage) Body() string {
	switch {
	case m.Text != nil:
		return m.Text.Content
	case m.Markdown != nil:
		return m.Markdown.Text
	case m.ActionCard != nil:
		return m.ActionCard.Text
	}
	return ""
}

// Buttons lists the action card's buttons, the whole-card one first.
func (m DingTalkMessage) Buttons() []DingTalkButton {
	if m.ActionCard == nil {
		return nil
	}
	var out []DingTalkButton
	if m.ActionCard.SingleTitle != "" || m.ActionCard.SingleURL != "" {
		out = append(out, DingTalkButton{Title: m.ActionCard.SingleTitle, ActionURL: m.ActionCard.SingleURL})
	}
	return append(out, m.ActionCard.Btns...)
}

// Links lists the markdown links of the message's text, in order.
func (m DingTalkMessage) Links() []DingTalkLink {
	if m.Text != nil {
		return nil // a text message is not markdown
	}
	var out []DingTalkLink
	for _, l := range imMarkdownLinks(m.Body()) {
		out = append(out, DingTalkLink{Label: l[0], URL: l[1]})
	}
	return out
}

// Visible is everything a reader sees: the title (in the notification),
// the text and the button titles.
func (m DingTalkMessage) Visible() string {
	parts := []string{m.Title(), m.Body()}
	for _, b := range m.Buttons() {
		parts = append(parts, b.Title)
	}
	return strings.Join(imNonEmpty(parts), "\n")
}

// DingTalkRequest is one post to the fake, with how it was answered.
type DingTalkRequest struct {
	// N is the 1-based number of the request in arrival order.
	N    int
	Time time.Time
	// URL is the URL posted to (the server's URL and the request URI),
	// with its access_token, timestamp and sign.
	URL       string
	Method    string
	Header    http.Header
	UserAgent string
	// Query is the request's query, decoded; Token its access_token.
	Query url.Values
	Token string
	// Raw is the body as sent and Message its decoding (zero when the body
	// is not JSON).
	Raw     []byte
	Message DingTalkMessage
	// Status is the HTTP status answered (0 for a request left hanging),
	// ErrCode and ErrMsg DingTalk's answer in it. Faulted says the answer
	// was a fault the test set; Problem says why a request that was not
	// faulted on purpose was refused.
	Status  int
	ErrCode int
	ErrMsg  string
	Faulted bool
	Problem string
}

// Accepted says DingTalk would have posted the message.
func (r DingTalkRequest) Accepted() bool {
	return !r.Faulted && r.Status == http.StatusOK && r.ErrCode == 0
}

// dingTalkRobot is a robot the fake knows.
type dingTalkRobot struct {
	secret   string
	keywords []string
}

// DingTalkServer is a running fake of DingTalk's custom robot API. It
// answers POST /robot/send?access_token=… as DingTalk does: it knows the
// robots AddRobot registered, checks a signing robot's timestamp and sign
// exactly as DingTalk does (refusing a timestamp more than an hour from
// its clock), checks keywords, the Content-Type and the JSON of the
// message types the gateway sends, and answers errcode 0, DingTalk's
// refusals, or the fault it was told to give.
//
// It is stricter than DingTalk in two ways, both to catch gateway bugs: a
// "secret" query parameter (which must never leave the gateway) is
// refused with errcode 310000, and so is a markdown link or button whose
// URL is not absolute http(s).
type DingTalkServer struct {
	hookServer[DingTalkRequest]

	robotsMu sync.Mutex
	robots   map[string]dingTalkRobot
	clock    func() time.Time
}

// StartDingTalk runs a DingTalk fake on 127.0.0.1 for the length of the
// test.
func StartDingTalk(t testing.TB) *DingTalkServer {
	t.Helper()
	s, err := NewDingTalkServer()
	if err != nil {
		t.Fatalf("chattest: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// NewDingTalkServer runs a DingTalk fake until Close, for code without a
// testing.TB.
func NewDingTalkServer() (*DingTalkServer, error) {
	s := &DingTalkServer{robots: map[string]dingTalkRobot{}, clock: time.Now}
	if err := s.start(http.HandlerFunc(s.serve)); err != nil {
		return nil, err
	}
	return s, nil
}

// URL is the server's base URL ("http://127.0.0.1:port").
func (s *DingTalkServer) URL() string { return s.url }

// WebhookURL is the robot's webhook URL on the server, as DingTalk shows
// it: /robot/send?access_token=token, without a secret.
func (s *DingTalkServer) WebhookURL(token string) string {
	return s.url + "/robot/send?access_token=" + url.QueryEscape(token)
}

// AddRobot registers a robot with its access token, its secret ("" for a
// robot that does not sign) and its keywords (none: no keyword check),
// replacing one of the same token, and returns its Address.
func (s *DingTalkServer) AddRobot(token, secret string, keywords ...string) string {
	s.robotsMu.Lock()
	s.robots[token] = dingTalkRobot{secret: secret, keywords: append([]string(nil), keywords...)}
	s.robotsMu.Unlock()
	return s.Address(token)
}

// Address is the robot's address as a contact holds it: the WebhookURL
// with "&secret=…" when the robot signs.
func (s *DingTalkServer) Address(token string) string {
	s.robotsMu.Lock()
	rb := s.robots[token]
	s.robotsMu.Unlock()
	if rb.secret == "" {
		return s.WebhookURL(token)
	}
	return s.WebhookURL(token) + "&secret=" + url.QueryEscape(rb.secret)
}

// SetClock makes the server check timestamps against now instead of
// time.Now; nil goes back to time.Now.
func (s *DingTalkServer) SetClock(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	s.robotsMu.Lock()
	s.clock = now
	s.robotsMu.Unlock()
}

// SetFault answers every request from now on with f; nil goes back to
// answering as DingTalk (what FailNext queued comes first). Requests
// already hanging stay so.
func (s *DingTalkServer) SetFault(f *HTTPFault) { s.setFault(f) }

// FailNext answers the next requests, one each, with faults, before
// SetFault's.
func (s *DingTalkServer) FailNext(faults ...HTTPFault) { s.failNext(faults) }

// Requests returns every request so far, in arrival order.
func (s *DingTalkServer) Requests() []DingTalkRequest { return s.requests() }

// Accepted returns the requests DingTalk would have posted, in arrival
// order.
func (s *DingTalkServer) Accepted() []DingTalkRequest {
	var out []DingTalkRequest
	for _, r := range s.requests() {
		if r.Accepted() {
			out = append(out, r)
		}
	}
	return out
}

// Count is how many requests the server received.
func (s *DingTalkServer) Count() int { return s.count() }

// WaitFor waits until the server received at least n requests (answered
// or hanging).
func (s *DingTalkServer) WaitFor(n int, timeout time.Duration) error {
	return s.waitFor("dingtalk", n, timeout)
}

// Close stops the server, releasing hanging requests, and waits for its
// handlers. It is safe to call twice.
func (s *DingTalkServer) Close() error { return s.close() }

func (s *DingTalkServer) serve(w http.ResponseWriter, hr *http.Request) {
	n, fault := s.next()
	q := hr.URL.Query()
	r := DingTalkRequest{
		N:         n,
		Time:      time.Now(),
		URL:       s.url + hr.URL.RequestURI(),
		Method:    hr.Method,
		Header:    hr.Header.Clone(),
		UserAgent: hr.UserAgent(),
		Query:     q,
		Token:     q.Get("access_token"),
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
		var a dingTalkAnswer
		if json.Unmarshal([]byte(fault.Body), &a) == nil {
			r.ErrCode, r.ErrMsg = a.ErrCode, a.ErrMsg
		}
		s.record(r)
		hookWriteFault(w, fault)
		return
	}
	refuse := func(code int, msg, problem string) {
		r.Status, r.ErrCode, r.ErrMsg, r.Problem = http.StatusOK, code, msg, problem
		s.record(r)
		b, _ := json.Marshal(dingTalkAnswer{ErrCode: code, ErrMsg: msg})
		hookWriteText(w, http.StatusOK, dingTalkContentType, string(b))
	}

	if hr.URL.Path != "/robot/send" {
		r.Status, r.Problem = http.StatusNotFound, "not /robot/send"
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
	rb, known := s.robots[r.Token]
	now := s.clock()
	s.robotsMu.Unlock()
	if !known {
		refuse(300001, "token is not exist", "unknown access_token")
		return
	}
	if q.Has("secret") {
		refuse(310000, "sign not match"+dingTalkDoc, "the robot's secret travelled in the query")
		return
	}
	if rb.secret != "" {
		if code, msg, problem := dingTalkCheckSign(q, rb.secret, now); code != 0 {
			refuse(code, msg, problem)
			return
		}
	}
	if ct, _, _ := mime.ParseMediaType(hr.Header.Get("Content-Type")); ct != "application/json" {
		refuse(43004, "无效的HTTP HEADER Content-Type", "Content-Type "+hr.Header.Get("Content-Type"))
		return
	}
	switch {
	case readErr != nil || len(body) > dingTalkMaxBody:
		refuse(460101, fmt.Sprintf("message too long, exceed %d bytes", dingTalkMaxBody), fmt.Sprintf("body of %d bytes", len(body)))
		return
	case decodeErr != nil:
		refuse(40035, "缺少参数 json", decodeErr.Error())
		return
	}
	if code, msg, problem := dingTalkCheckMessage(r.Message); code != 0 {
		refuse(code, msg, problem)
		return
	}
	if len(rb.keywords) > 0 {
		visible, found := r.Message.Visible(), false
		for _, k := range rb.keywords {
			found = found || strings.Contains(visible, k)
		}
		if !found {
			refuse(310000, "keywords not in content"+dingTalkDoc, "none of the robot's keywords in the message")
			return
		}
	}
	r.Status = http.StatusOK
	s.record(r)
	hookWriteText(w, http.StatusOK, dingTalkContentType, `{"errcode":0,"errmsg":"ok"}`)
}

// dingTalkCheckSign checks a signing robot's timestamp and sign as
// DingTalk does: timestamp in milliseconds within an hour of now, sign
// the base64 HMAC-SHA256 of timestamp+"\n"+secret keyed with the secret
// (the query decoding undoes its URL encoding).
func dingTalkCheckSign(q url.Values, secret string, now time.Time) (code int, msg, problem string) {
	ts, sig := q.Get("timestamp"), q.Get("sign")
	if ts == "" || sig == "" {
		return 310000, "sign not match" + dingTalkDoc, "no timestamp or sign"
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return 310000, "invalid timestamp" + dingTalkDoc, "timestamp " + ts
	}
	if skew := now.Sub(time.UnixMilli(ms)); skew > dingTalkMaxSkew || skew < -dingTalkMaxSkew {
		return 310000, "invalid timestamp" + dingTalkDoc, fmt.Sprintf("timestamp %s off by %s", ts, skew.Round(time.Second))
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "\n" + secret))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return 310000, "sign not match" + dingTalkDoc, "sign does not match the secret"
	}
	return 0, "", ""
}

// dingTalkMissing is DingTalk's errmsg for a missing or malformed field.
func dingTalkMissing(msgtype, field string) (int, string, string) {
	return 400402, fmt.Sprintf("错误描述:参数 %s --》 %s 缺失，或者参数格式不正确; 解决方案:请填充上对应参数;", msgtype, field),
		fmt.Sprintf("%s.%s missing or malformed", msgtype, field)
}

// dingTalkCheckMessage says what DingTalk (or the fake, for links) would
// refuse in m: code 0 when nothing.
func dingTalkCheckMessage(m DingTalkMessage) (code int, msg, problem string) {
	switch m.MsgType {
	case "":
		return 40035, "缺少参数 msgtype", "no msgtype"
	case "text":
		if m.Text == nil || m.Text.Content == "" {
			return dingTalkMissing("text", "content")
		}
		return 0, "", ""
	case "markdown":
		switch {
		case m.Markdown == nil || m.Markdown.Title == "":
			return dingTalkMissing("markdown", "title")
		case m.Markdown.Text == "":
			return dingTalkMissing("markdown", "text")
		}
	case "actionCard":
		c := m.ActionCard
		switch {
		case c == nil || c.Title == "":
			return dingTalkMissing("actionCard", "title")
		case c.Text == "":
			return dingTalkMissing("actionCard", "text")
		case c.BtnOrientation != "" && c.BtnOrientation != "0" && c.BtnOrientation != "1":
			return dingTalkMissing("actionCard", "btnOrientation")
		}
		if c.SingleTitle != "" || c.SingleURL != "" {
			if c.SingleTitle == "" {
				return dingTalkMissing("actionCard", "singleTitle")
			}
			if !imLinkOK(c.SingleURL, "dingtalk") {
				code, msg, _ := dingTalkMissing("actionCard", "singleURL")
				return code, msg, fmt.Sprintf("singleURL %q is not absolute http(s)", c.SingleURL)
			}
		} else if len(c.Btns) == 0 {
			return dingTalkMissing("actionCard", "btns")
		}
		for i, b := range c.Btns {
			if b.Title == "" {
				return dingTalkMissing("actionCard", "btns.title")
			}
			if !imLinkOK(b.ActionURL, "dingtalk") {
				code, msg, _ := dingTalkMissing("actionCard", "btns.actionURL")
				return code, msg, fmt.Sprintf("button %d: actionURL %q is not absolute http(s)", i, b.ActionURL)
			}
		}
	default:
		return 40035, "不支持的消息类型 " + m.MsgType, "msgtype " + m.MsgType + " is not one the fake knows"
	}
	for _, l := range m.Links() {
		if !imLinkOK(l.URL, "dingtalk") {
			return 400402, "错误描述:参数 " + m.MsgType + " --》 text 缺失，或者参数格式不正确;",
				fmt.Sprintf("link [%s](%s) is not absolute http(s)", l.Label, l.URL)
		}
	}
	return 0, "", ""
}

// The helpers below are shared by the DingTalk, Feishu and WeCom fakes;
// their names start with "im" (instant messaging) so that other fakes in
// this package do not collide with them.

// imLink matches a markdown link: [label](url).
var imLink = regexp.MustCompile(`\[([^\[\]]*)\]\(([^()\s]*)\)`)

// imMarkdownLinks lists the markdown links in s as label, URL pairs.
func imMarkdownLinks(s string) [][2]string {
	var out [][2]string
	for _, m := range imLink.FindAllStringSubmatch(s, -1) {
		out = append(out, [2]string{m[1], m[2]})
	}
	return out
}

// imLinkOK says s is an absolute http(s) URL, or one of the extra schemes
// (a provider's in-app links).
func imLinkOK(s string, schemes ...string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	if (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		return true
	}
	for _, sc := range schemes {
		if u.Scheme == sc {
			return true
		}
	}
	return false
}

func imNonEmpty(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
