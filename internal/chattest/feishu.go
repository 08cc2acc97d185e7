package chattest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Feishu answers a custom bot post with JSON: code 0 when the message was
// posted, another code when it was refused, mostly with HTTP 200.
const feishuContentType = "application/json; charset=utf-8"

const (
	// feishuMaxBody is the largest body Feishu takes from a custom bot.
	feishuMaxBody = 20 * 1024
	// feishuMaxSkew is how far a signed body's timestamp may be from the
	// server's clock.
	feishuMaxSkew = time.Hour
	// feishuSuccess is Feishu's answer to a posted message, with the
	// older StatusCode and StatusMessage beside code and msg.
	feishuSuccess = `{"StatusCode":0,"StatusMessage":"success","code":0,"data":{},"msg":"success"}`
)

type feishuAnswer struct {
	Code int      `json:"code"`
	Data struct{} `json:"data"`
	Msg  string   `json:"msg"`
}

// FeishuError is Feishu's refusal with code and msg, sent with HTTP status
// (Feishu sends most with 200).
func FeishuError(status, code int, msg string) HTTPFault {
	b, _ := json.Marshal(feishuAnswer{Code: code, Msg: msg})
	return HTTPFault{Status: status, Body: string(b), ContentType: feishuContentType}
}

// Refusals as Feishu's custom bots send them.
var (
	// FeishuSignMatchFail: the signature is wrong or its timestamp more
	// than an hour off.
	FeishuSignMatchFail = FeishuError(http.StatusOK, 19021, "sign match fail or timestamp is not within one hour from current time")
	// FeishuIPNotAllowed: the bot takes messages from listed IPs only.
	FeishuIPNotAllowed = FeishuError(http.StatusOK, 19022, "Ip Not Allowed")
	// FeishuKeyWordsNotFound: the bot's keyword is not in the message.
	FeishuKeyWordsNotFound = FeishuError(http.StatusOK, 19024, "Key Words Not Found")
	// FeishuTokenInvalid: no bot has that hook token (removed).
	FeishuTokenInvalid = FeishuError(http.StatusOK, 19001, "param invalid: incoming webhook access token invalid")
	// FeishuFrequencyLimited: over 100 messages a minute or 5 a second.
	FeishuFrequencyLimited = FeishuError(http.StatusOK, 11232, "frequency limited psm[lark.oapi.app_platform_runtime]appID[1500]")
	// FeishuTooManyRequest: the gateway's frequency limit.
	FeishuTooManyRequest = FeishuError(http.StatusOK, 9499, "too many request")
	// FeishuBadRequest: the body is not JSON Feishu can read.
	FeishuBadRequest = FeishuError(http.StatusBadRequest, 9499, "Bad Request")
	// FeishuServerError: Feishu failed (HTTP 500).
	FeishuServerError = HTTPFault{Status: http.StatusInternalServerError, Body: "Internal Server Error", ContentType: "text/plain; charset=utf-8"}
)

// FeishuRateLimited is an HTTP 429 from Feishu's gateway; retryAfter, when
// not "", is sent as the Retry-After header.
func FeishuRateLimited(retryAfter string) HTTPFault {
	f := FeishuError(http.StatusTooManyRequests, 9499, "too many request")
	f.RetryAfter = retryAfter
	return f
}

// FeishuMessage is the JSON of a custom bot post.
type FeishuMessage struct {
	// Timestamp is the body's timestamp (Feishu takes a string or a
	// number; both are kept as text here) and Sign its signature.
	Timestamp string `json:"-"`
	Sign      string `json:"sign,omitempty"`
	MsgType   string `json:"msg_type"`
	// Content is a text or post message's content.
	Content json.RawMessage `json:"content,omitempty"`
	// Card is an interactive message's card.
	Card *FeishuCard `json:"card,omitempty"`
}

// FeishuCard is a message card (JSON 1.0).
type FeishuCard struct {
	Config   map[string]any  `json:"config,omitempty"`
	Header   *FeishuHeader   `json:"header,omitempty"`
	Elements []FeishuElement `json:"elements"`
}

// FeishuHeader is a card's header: its title and colour (Template).
type FeishuHeader struct {
	Title    FeishuText `json:"title"`
	Template string     `json:"template,omitempty"`
}

// FeishuText is a text object: Tag "plain_text" or "lark_md".
type FeishuText struct {
	Tag     string `json:"tag"`
	Content string `json:"content"`
}

// FeishuElement is a card element: a div (Text), an action (Actions), a
// markdown (Content), a note (Elements) or an hr.
type FeishuElement struct {
	Tag      string         `json:"tag"`
	Text     *FeishuText    `json:"text,omitempty"`
	Content  string         `json:"content,omitempty"`
	Actions  []FeishuButton `json:"actions,omitempty"`
	Layout   string         `json:"layout,omitempty"`
	Elements []FeishuText   `json:"elements,omitempty"`
}

// FeishuButton is an action's button; the gateway sends link buttons
// (URL).
type FeishuButton struct {
	Tag  string     `json:"tag"`
	Text FeishuText `json:"text"`
	URL  string     `json:"url,omitempty"`
	Type string     `json:"type,omitempty"`
}

// Buttons lists the card's buttons, in order.
func (m FeishuMessage) Buttons() []FeishuButton {
	if m.Card == nil {
		return nil
	}
	var out []FeishuButton
	for _, e := range m.Card.Elements {
		out = append(out, e.Actions...)
	}
	return out
}

// Title is the card header's title, or "".
func (m FeishuMessage) Title() string {
	if m.Card == nil || m.Card.Header == nil {
		return ""
	}
	return m.Card.Header.Title.Content
}

// Visible is everything a reader sees: a text message's text, or the
// card's title, texts and button labels.
func (m FeishuMessage) Visible() string {
	var parts []string
	if len(m.Content) > 0 {
		var c struct {
			Text string `json:"text"`
		}
		if json.Unmarshal(m.Content, &c) == nil {
			parts = append(parts, c.Text)
		}
	}
	if m.Card != nil {
		parts = append(parts, m.Title())
		for _, e := range m.Card.Elements {
			if e.Text != nil {
				parts = append(parts, e.Text.Content)
			}
			parts = append(parts, e.Content)
			for _, t := range e.Elements {
				parts = append(parts, t.Content)
			}
			for _, b := range e.Actions {
				parts = append(parts, b.Text.Content)
			}
		}
	}
	return strings.Join(imNonEmpty(parts), "\n")
}

// FeishuRequest is one post to the fake, with how it was answered.
type FeishuRequest struct {
	// N is the 1-based number of the request in arrival order.
	N    int
	Time time.Time
	// URL is the URL posted to (the server's URL and the request URI);
	// Token the hook token in its path.
	URL       string
	Token     string
	Method    string
	Header    http.Header
	UserAgent string
	// Raw is the body as sent and Message its decoding (zero when the body
	// is not JSON).
	Raw     []byte
	Message FeishuMessage
	// Status is the HTTP status answered (0 for a request left hanging),
	// Code and Msg Feishu's answer in it. Faulted says the answer was a
	// fault the test set; Problem says why a request that was not faulted
	// on purpose was refused.
	Status  int
	Code    int
	Msg     string
	Faulted bool
	Problem string
}

// Accepted says Feishu would have posted the message.
func (r FeishuRequest) Accepted() bool {
	return !r.Faulted && r.Status == http.StatusOK && r.Code == 0
}

type feishuBot struct {
	secret   string
	keywords []string
}

// FeishuServer is a running fake of Feishu's custom bot webhooks. It
// answers POST /open-apis/bot/v2/hook/<token> as Feishu does: it knows
// the bots AddBot registered, checks a signing bot's timestamp and sign
// from the body exactly as Feishu does (HMAC-SHA256 keyed with
// timestamp+"\n"+secret over nothing; a timestamp more than an hour from
// its clock fails too), checks keywords and the card, and answers code 0,
// Feishu's refusals, or the fault it was told to give.
//
// It is stricter than Feishu in one way, to catch gateway bugs: a
// "secret" query parameter (which must never leave the gateway) is
// refused with 19021.
type FeishuServer struct {
	hookServer[FeishuRequest]

	botsMu sync.Mutex
	bots   map[string]feishuBot
	clock  func() time.Time
}

// StartFeishu runs a Feishu fake on 127.0.0.1 for the length of the test.
func StartFeishu(t testing.TB) *FeishuServer {
	t.Helper()
	s, err := NewFeishuServer()
	if err != nil {
		t.Fatalf("chattest: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// NewFeishuServer runs a Feishu fake until Close, for code without a
// testing.TB.
func NewFeishuServer() (*FeishuServer, error) {
	s := &FeishuServer{bots: map[string]feishuBot{}, clock: time.Now}
	if err := s.start(http.HandlerFunc(s.serve)); err != nil {
		return nil, err
	}
	return s, nil
}

// URL is the server's base URL ("http://127.0.0.1:port").
func (s *FeishuServer) URL() string { return s.url }

// WebhookURL is the bot's webhook URL on the server, as Feishu shows it:
// /open-apis/bot/v2/hook/token, without a secret.
func (s *FeishuServer) WebhookURL(token string) string {
	return s.url + "/open-apis/bot/v2/hook/" + url.PathEscape(token)
}

// AddBot registers a bot with its hook token, its secret ("" for a bot
// that does not sign) and its keywords (none: no keyword check),
// replacing one of the same token, and returns its Address.
func (s *FeishuServer) AddBot(token, secret string, keywords ...string) string {
	s.botsMu.Lock()
	s.bots[token] = feishuBot{secret: secret, keywords: append([]string(nil), keywords...)}
	s.botsMu.Unlock()
	return s.Address(token)
}

// Address is the bot's address as a contact holds it: the WebhookURL with
// "?secret=…" when the bot signs.
func (s *FeishuServer) Address(token string) string {
	s.botsMu.Lock()
	b := s.bots[token]
	s.botsMu.Unlock()
	if b.secret == "" {
		return s.WebhookURL(token)
	}
	return s.WebhookURL(token) + "?secret=" + url.QueryEscape(b.secret)
}

// SetClock makes the server check timestamps against now instead of
// time.Now; nil goes back to time.Now.
func (s *FeishuServer) SetClock(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	s.botsMu.Lock()
	s.clock = now
	s.botsMu.Unlock()
}

// SetFault answers every request from now on with f; nil goes back to
// answering as Feishu (what FailNext queued comes first). Requests
// already hanging stay so.
func (s *FeishuServer) SetFault(f *HTTPFault) { s.setFault(f) }

// FailNext answers the next requests, one each, with faults, before
// SetFault's.
func (s *FeishuServer) FailNext(faults ...HTTPFault) { s.failNext(faults) }

// Requests returns every request so far, in arrival order.
func (s *FeishuServer) Requests() []FeishuRequest { return s.requests() }

// Accepted returns the requests Feishu would have posted, in arrival
// order.
func (s *FeishuServer) Accepted() []FeishuRequest {
	var out []FeishuRequest
	for _, r := range s.requests() {
		if r.Accepted() {
			out = append(out, r)
		}
	}
	return out
}

// Count is how many requests the server received.
func (s *FeishuServer) Count() int { return s.count() }

// WaitFor waits until the server received at least n requests (answered
// or hanging).
func (s *FeishuServer) WaitFor(n int, timeout time.Duration) error {
	return s.waitFor("feishu", n, timeout)
}

// Close stops the server, releasing hanging requests, and waits for its
// handlers. It is safe to call twice.
func (s *FeishuServer) Close() error { return s.close() }

const feishuHookPrefix = "/open-apis/bot/v2/hook/"

func (s *FeishuServer) serve(w http.ResponseWriter, hr *http.Request) {
	n, fault := s.next()
	r := FeishuRequest{
		N:         n,
		Time:      time.Now(),
		URL:       s.url + hr.URL.RequestURI(),
		Method:    hr.Method,
		Header:    hr.Header.Clone(),
		UserAgent: hr.UserAgent(),
	}
	if tok, ok := strings.CutPrefix(hr.URL.Path, feishuHookPrefix); ok {
		r.Token = tok
	}
	body, readErr := hookReadBody(hr)
	r.Raw = body
	msg, decodeErr := decodeFeishu(body)
	r.Message = msg

	if fault != nil {
		r.Faulted = true
		if fault.Hang {
			s.record(r)
			s.hang(hr)
		}
		r.Status = fault.Status
		var a feishuAnswer
		if json.Unmarshal([]byte(fault.Body), &a) == nil {
			r.Code, r.Msg = a.Code, a.Msg
		}
		s.record(r)
		hookWriteFault(w, fault)
		return
	}
	refuse := func(status, code int, msg, problem string) {
		r.Status, r.Code, r.Msg, r.Problem = status, code, msg, problem
		s.record(r)
		b, _ := json.Marshal(feishuAnswer{Code: code, Msg: msg})
		hookWriteText(w, status, feishuContentType, string(b))
	}

	if r.Token == "" || strings.Contains(r.Token, "/") {
		r.Status, r.Problem = http.StatusNotFound, "not "+feishuHookPrefix+"<token>"
		s.record(r)
		hookWriteText(w, http.StatusNotFound, "text/plain; charset=utf-8", "404 page not found")
		return
	}
	if hr.Method != http.MethodPost {
		r.Status, r.Problem = http.StatusMethodNotAllowed, "method "+hr.Method
		s.record(r)
		hookWriteText(w, http.StatusMethodNotAllowed, "text/plain; charset=utf-8", "405 method not allowed")
		return
	}
	switch {
	case readErr != nil || len(body) > feishuMaxBody:
		refuse(http.StatusBadRequest, 9499, "Bad Request", fmt.Sprintf("body of %d bytes, Feishu takes %d", len(body), feishuMaxBody))
		return
	case decodeErr != nil:
		refuse(http.StatusBadRequest, 9499, "Bad Request", decodeErr.Error())
		return
	}
	s.botsMu.Lock()
	b, known := s.bots[r.Token]
	now := s.clock()
	s.botsMu.Unlock()
	if !known {
		refuse(http.StatusOK, 19001, "param invalid: incoming webhook access token invalid", "unknown hook token")
		return
	}
	if hr.URL.Query().Has("secret") {
		refuse(http.StatusOK, 19021, "sign match fail or timestamp is not within one hour from current time",
			"the bot's secret travelled in the query")
		return
	}
	if b.secret != "" {
		if problem := feishuCheckSign(msg, b.secret, now); problem != "" {
			refuse(http.StatusOK, 19021, "sign match fail or timestamp is not within one hour from current time", problem)
			return
		}
	}
	if problem := feishuCheckMessage(msg); problem != "" {
		refuse(http.StatusOK, 19002, "params error, "+problem, problem)
		return
	}
	if len(b.keywords) > 0 {
		visible, found := msg.Visible(), false
		for _, k := range b.keywords {
			found = found || strings.Contains(visible, k)
		}
		if !found {
			refuse(http.StatusOK, 19024, "Key Words Not Found", "none of the bot's keywords in the message")
			return
		}
	}
	r.Status = http.StatusOK
	s.record(r)
	hookWriteText(w, http.StatusOK, feishuContentType, feishuSuccess)
}

// decodeFeishu decodes a post, taking its timestamp as a string or a
// number.
func decodeFeishu(body []byte) (FeishuMessage, error) {
	var m FeishuMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return FeishuMessage{}, err
	}
	var ts struct {
		Timestamp json.RawMessage `json:"timestamp"`
	}
	_ = json.Unmarshal(body, &ts)
	if raw := bytes.TrimSpace(ts.Timestamp); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			s = string(raw) // a number
		}
		m.Timestamp = s
	}
	return m, nil
}

// feishuCheckSign checks a signing bot's body as Feishu does: timestamp
// in seconds within an hour of now, sign the base64 HMAC-SHA256 keyed
// with timestamp+"\n"+secret over an empty message. It returns why the
// check failed, or "".
func feishuCheckSign(m FeishuMessage, secret string, now time.Time) string {
	if m.Timestamp == "" || m.Sign == "" {
		return "no timestamp or sign in the body"
	}
	sec, err := strconv.ParseInt(m.Timestamp, 10, 64)
	if err != nil {
		return "timestamp " + m.Timestamp + " is not seconds"
	}
	if skew := now.Sub(time.Unix(sec, 0)); skew > feishuMaxSkew || skew < -feishuMaxSkew {
		return fmt.Sprintf("timestamp %s off by %s", m.Timestamp, skew.Round(time.Second))
	}
	mac := hmac.New(sha256.New, []byte(m.Timestamp+"\n"+secret))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(m.Sign), []byte(want)) {
		return "sign does not match the secret"
	}
	return ""
}

// Card vocabulary the fake accepts.
var (
	feishuTemplates = map[string]bool{"": true, "blue": true, "wathet": true, "turquoise": true, "green": true,
		"yellow": true, "orange": true, "red": true, "carmine": true, "violet": true, "purple": true,
		"indigo": true, "grey": true, "default": true}
	feishuButtonTypes = map[string]bool{"": true, "default": true, "primary": true, "danger": true}
	feishuLayouts     = map[string]bool{"": true, "bisected": true, "trisected": true, "flow": true}
)

// feishuCheckMessage says what Feishu would refuse in m (as code 19002),
// or "".
func feishuCheckMessage(m FeishuMessage) string {
	switch m.MsgType {
	case "":
		return "msg_type need"
	case "text":
		var c struct {
			Text string `json:"text"`
		}
		if json.Unmarshal(m.Content, &c) != nil || c.Text == "" {
			return "content.text need"
		}
		return ""
	case "interactive":
	default:
		return "msg_type " + m.MsgType + " is not one the fake knows"
	}
	c := m.Card
	if c == nil {
		return "card need"
	}
	if h := c.Header; h != nil {
		if p := feishuCheckText(h.Title, "header.title"); p != "" {
			return p
		}
		if !feishuTemplates[h.Template] {
			return fmt.Sprintf("header.template %q", h.Template)
		}
	}
	if len(c.Elements) == 0 {
		return "card.elements need"
	}
	for i, e := range c.Elements {
		at := fmt.Sprintf("card.elements[%d]", i)
		switch e.Tag {
		case "div":
			if e.Text == nil {
				return at + ".text need"
			}
			if p := feishuCheckText(*e.Text, at+".text"); p != "" {
				return p
			}
		case "markdown":
			if e.Content == "" {
				return at + ".content need"
			}
		case "note":
			if len(e.Elements) == 0 {
				return at + ".elements need"
			}
		case "hr":
		case "action":
			if len(e.Actions) == 0 {
				return at + ".actions need"
			}
			if !feishuLayouts[e.Layout] {
				return fmt.Sprintf("%s.layout %q", at, e.Layout)
			}
			for j, b := range e.Actions {
				bat := fmt.Sprintf("%s.actions[%d]", at, j)
				switch {
				case b.Tag != "button":
					return fmt.Sprintf("%s.tag %q, the gateway sends buttons", bat, b.Tag)
				case !feishuButtonTypes[b.Type]:
					return fmt.Sprintf("%s.type %q", bat, b.Type)
				case b.URL == "":
					return bat + ".url need: a button without one calls back to an app the bot does not have"
				case !imLinkOK(b.URL):
					return fmt.Sprintf("%s.url %q is not absolute http(s)", bat, b.URL)
				}
				if p := feishuCheckText(b.Text, bat+".text"); p != "" {
					return p
				}
			}
		default:
			return fmt.Sprintf("%s.tag %q", at, e.Tag)
		}
	}
	return ""
}

func feishuCheckText(t FeishuText, at string) string {
	switch {
	case t.Tag != "plain_text" && t.Tag != "lark_md":
		return fmt.Sprintf("%s.tag %q", at, t.Tag)
	case t.Content == "":
		return at + ".content need"
	}
	return ""
}
