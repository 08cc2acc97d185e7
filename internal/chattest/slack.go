package chattest

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Slack's answers to an incoming webhook post: 200 "ok" when the message
// was posted, else a status with one word naming the problem. Slack sends
// both as text/html.
const slackContentType = "text/html"

// Faults as Slack's incoming webhooks send them.
var (
	// SlackInvalidPayload: the body is not a message Slack can read (400).
	SlackInvalidPayload = HTTPFault{Status: http.StatusBadRequest, Body: "invalid_payload", ContentType: slackContentType}
	// SlackNoService: the webhook was removed or never existed (404).
	SlackNoService = HTTPFault{Status: http.StatusNotFound, Body: "no_service", ContentType: slackContentType}
	// SlackChannelArchived: the webhook's channel is archived (410).
	SlackChannelArchived = HTTPFault{Status: http.StatusGone, Body: "channel_is_archived", ContentType: slackContentType}
	// SlackActionProhibited: an admin restricted posting there (403).
	SlackActionProhibited = HTTPFault{Status: http.StatusForbidden, Body: "action_prohibited", ContentType: slackContentType}
	// SlackInvalidToken: the webhook's token was revoked (403).
	SlackInvalidToken = HTTPFault{Status: http.StatusForbidden, Body: "invalid_token", ContentType: slackContentType}
	// SlackServerError: Slack failed (500).
	SlackServerError = HTTPFault{Status: http.StatusInternalServerError, Body: "internal_error", ContentType: slackContentType}
)

// SlackRateLimited is Slack's 429; retryAfter, when not "", is sent as the
// Retry-After header (Slack sends seconds).
func SlackRateLimited(retryAfter string) HTTPFault {
	return HTTPFault{Status: http.StatusTooManyRequests, Body: "rate_limited", ContentType: slackContentType, RetryAfter: retryAfter}
}

// SlackMessage is the JSON of an incoming webhook post, as far as the
// gateway uses it.
type SlackMessage struct {
	Text   string       `json:"text"`
	Blocks []SlackBlock `json:"blocks,omitempty"`
}

// SlackBlock is a Block Kit layout block: section, actions, context,
// header or divider.
type SlackBlock struct {
	Type      string         `json:"type"`
	BlockID   string         `json:"block_id,omitempty"`
	Text      *SlackText     `json:"text,omitempty"`
	Fields    []SlackText    `json:"fields,omitempty"`
	Accessory *SlackElement  `json:"accessory,omitempty"`
	Elements  []SlackElement `json:"elements,omitempty"`
}

// SlackText is a Block Kit text object (type "mrkdwn" or "plain_text").
type SlackText struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji *bool  `json:"emoji,omitempty"`
}

// SlackElement is a Block Kit element: the gateway sends link buttons
// (type "button" with a url); context blocks hold text elements.
type SlackElement struct {
	Type string `json:"type"`
	// Text is a text object for a button, a string for a context block's
	// "mrkdwn" or "plain_text" element.
	Text     json.RawMessage `json:"text,omitempty"`
	URL      string          `json:"url,omitempty"`
	ActionID string          `json:"action_id,omitempty"`
	Value    string          `json:"value,omitempty"`
	Style    string          `json:"style,omitempty"`
}

// TextObject decodes Text as a text object (a button's).
func (e SlackElement) TextObject() (SlackText, bool) {
	var t SlackText
	if err := json.Unmarshal(e.Text, &t); err != nil {
		return SlackText{}, false
	}
	return t, true
}

// Label is what the element shows: a button's text, a context element's
// text.
func (e SlackElement) Label() string {
	if t, ok := e.TextObject(); ok {
		return t.Text
	}
	var s string
	if err := json.Unmarshal(e.Text, &s); err == nil {
		return s
	}
	return ""
}

// Buttons lists the message's buttons (in actions blocks and section
// accessories), in order.
func (m SlackMessage) Buttons() []SlackElement {
	var out []SlackElement
	for _, b := range m.Blocks {
		if b.Accessory != nil && b.Accessory.Type == "button" {
			out = append(out, *b.Accessory)
		}
		for _, e := range b.Elements {
			if e.Type == "button" {
				out = append(out, e)
			}
		}
	}
	return out
}

// SlackRequest is one post to the fake, with how it was answered.
type SlackRequest struct {
	// N is the 1-based number of the request in arrival order.
	N    int
	Time time.Time
	// URL is the webhook URL posted to (the server's URL and the request
	// URI), as the client had it.
	URL       string
	Method    string
	Header    http.Header
	UserAgent string
	// Raw is the body as sent and Message its decoding (zero when the body
	// is not a message).
	Raw     []byte
	Message SlackMessage
	// Status and Answer are the HTTP status and body answered (Status 0
	// for a request left hanging). Problem says why a request that was not
	// faulted on purpose was refused.
	Status  int
	Answer  string
	Problem string
}

// Accepted says Slack would have posted the message.
func (r SlackRequest) Accepted() bool { return r.Status == http.StatusOK }

// Visible is everything a reader of the posted message sees, Slack's
// escapes undone: the blocks' texts and button labels, and the
// notification text.
func (r SlackRequest) Visible() string {
	var parts []string
	add := func(s string) {
		if s != "" {
			parts = append(parts, slackUnescape(s))
		}
	}
	add(r.Message.Text)
	for _, b := range r.Message.Blocks {
		if b.Text != nil {
			add(b.Text.Text)
		}
		for _, f := range b.Fields {
			add(f.Text)
		}
		if b.Accessory != nil {
			add(b.Accessory.Label())
		}
		for _, e := range b.Elements {
			add(e.Label())
		}
	}
	return strings.Join(parts, "\n")
}

func slackUnescape(s string) string {
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

// SlackServer is a running fake of Slack's incoming webhooks. It answers
// posts to /services/T…/B…/token as Slack does: it checks the JSON and the
// Block Kit limits Slack enforces, and answers "ok", Slack's error words,
// or the fault it was told to give.
type SlackServer struct {
	hookServer[SlackRequest]
}

// StartSlack runs a Slack fake on 127.0.0.1 for the length of the test.
func StartSlack(t testing.TB) *SlackServer {
	t.Helper()
	s, err := NewSlackServer()
	if err != nil {
		t.Fatalf("chattest: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// NewSlackServer runs a Slack fake until Close, for code without a
// testing.TB.
func NewSlackServer() (*SlackServer, error) {
	s := &SlackServer{}
	if err := s.start(http.HandlerFunc(s.serve)); err != nil {
		return nil, err
	}
	return s, nil
}

// URL is the server's base URL ("http://127.0.0.1:port").
func (s *SlackServer) URL() string { return s.url }

// WebhookURL is an incoming webhook URL on the server, shaped as Slack's
// (/services/T…/B…/token), with token the last segment.
func (s *SlackServer) WebhookURL(token string) string {
	return s.url + "/services/T0NPSGATE/B0NPSGATE/" + url.PathEscape(token)
}

// SetFault answers every request from now on with f; nil goes back to
// accepting (what FailNext queued comes first). Requests already hanging
// stay so.
func (s *SlackServer) SetFault(f *HTTPFault) { s.setFault(f) }

// FailNext answers the next requests, one each, with faults, before
// SetFault's.
func (s *SlackServer) FailNext(faults ...HTTPFault) { s.failNext(faults) }

// Requests returns every request so far, in arrival order.
func (s *SlackServer) Requests() []SlackRequest { return s.requests() }

// Accepted returns the requests Slack would have posted, in arrival order.
func (s *SlackServer) Accepted() []SlackRequest {
	var out []SlackRequest
	for _, r := range s.requests() {
		if r.Accepted() {
			out = append(out, r)
		}
	}
	return out
}

// Count is how many requests the server received.
func (s *SlackServer) Count() int { return s.count() }

// WaitFor waits until the server received at least n requests (answered
// or hanging).
func (s *SlackServer) WaitFor(n int, timeout time.Duration) error {
	return s.waitFor("slack", n, timeout)
}

// Close stops the server, releasing hanging requests, and waits for its
// handlers. It is safe to call twice.
func (s *SlackServer) Close() error { return s.close() }

func (s *SlackServer) serve(w http.ResponseWriter, hr *http.Request) {
	n, fault := s.next()
	r := SlackRequest{
		N:         n,
		Time:      time.Now(),
		URL:       s.url + hr.URL.RequestURI(),
		Method:    hr.Method,
		Header:    hr.Header.Clone(),
		UserAgent: hr.UserAgent(),
	}
	body, err := hookReadBody(hr)
	r.Raw = body
	answer := func(status int, word, problem string) {
		r.Status, r.Answer, r.Problem = status, word, problem
		s.record(r)
		hookWriteText(w, status, slackContentType, word)
	}
	if err != nil {
		answer(http.StatusBadRequest, "invalid_payload", err.Error())
		return
	}
	msg, decodeErr := decodeSlack(body)
	r.Message = msg

	if fault != nil {
		if fault.Hang {
			s.record(r)
			s.hang(hr)
		}
		r.Status, r.Answer = fault.Status, fault.Body
		s.record(r)
		hookWriteFault(w, fault)
		return
	}

	switch {
	case !slackPath(hr.URL.Path):
		answer(http.StatusNotFound, "no_service", "not a /services/T…/B…/token path")
		return
	case hr.Method != http.MethodPost:
		answer(http.StatusMethodNotAllowed, "invalid_method", "method "+hr.Method)
		return
	}
	if ct, _, _ := mime.ParseMediaType(hr.Header.Get("Content-Type")); ct != "application/json" {
		// Slack reads a form's "payload" field otherwise; the gateway
		// always sends JSON.
		answer(http.StatusBadRequest, "invalid_payload", "Content-Type "+hr.Header.Get("Content-Type"))
		return
	}
	if decodeErr != nil {
		answer(http.StatusBadRequest, "invalid_payload", decodeErr.Error())
		return
	}
	if msg.Text == "" && len(msg.Blocks) == 0 {
		answer(http.StatusBadRequest, "no_text", "neither text nor blocks")
		return
	}
	if problem := checkSlackBlocks(msg.Blocks); problem != "" {
		answer(http.StatusBadRequest, "invalid_blocks", problem)
		return
	}
	answer(http.StatusOK, "ok", "")
}

func slackPath(p string) bool {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	return len(parts) == 4 && parts[0] == "services" &&
		strings.HasPrefix(parts[1], "T") && strings.HasPrefix(parts[2], "B") && parts[3] != ""
}

func decodeSlack(body []byte) (SlackMessage, error) {
	var m SlackMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return SlackMessage{}, err
	}
	return m, nil
}

// Block Kit limits Slack enforces (answering invalid_blocks).
const (
	slackMaxBlocks         = 50
	slackMaxSectionText    = 3000
	slackMaxHeaderText     = 150
	slackMaxActionElements = 25
	slackMaxButtonText     = 75
	slackMaxButtonURL      = 3000
	slackMaxActionID       = 255
	slackMaxContextElems   = 10
)

// checkSlackBlocks says what Slack would refuse in blocks, or "".
func checkSlackBlocks(blocks []SlackBlock) string {
	if len(blocks) > slackMaxBlocks {
		return fmt.Sprintf("%d blocks, at most %d", len(blocks), slackMaxBlocks)
	}
	for i, b := range blocks {
		if p := checkSlackBlock(b); p != "" {
			return fmt.Sprintf("block %d (%s): %s", i, b.Type, p)
		}
	}
	return ""
}

func checkSlackBlock(b SlackBlock) string {
	switch b.Type {
	case "section":
		if b.Text == nil && len(b.Fields) == 0 {
			return "no text or fields"
		}
		if b.Text != nil {
			if p := checkSlackText(*b.Text, slackMaxSectionText, true); p != "" {
				return p
			}
		}
		if b.Accessory != nil {
			return checkSlackButton(*b.Accessory)
		}
	case "actions":
		if n := len(b.Elements); n == 0 || n > slackMaxActionElements {
			return fmt.Sprintf("%d elements, want 1 to %d", n, slackMaxActionElements)
		}
		ids := map[string]bool{}
		for i, e := range b.Elements {
			if p := checkSlackButton(e); p != "" {
				return fmt.Sprintf("element %d: %s", i, p)
			}
			if e.ActionID != "" && ids[e.ActionID] {
				return fmt.Sprintf("element %d: action_id %q repeated", i, e.ActionID)
			}
			ids[e.ActionID] = true
		}
	case "header":
		if b.Text == nil {
			return "no text"
		}
		return checkSlackText(*b.Text, slackMaxHeaderText, false)
	case "context":
		if n := len(b.Elements); n == 0 || n > slackMaxContextElems {
			return fmt.Sprintf("%d elements, want 1 to %d", n, slackMaxContextElems)
		}
	case "divider":
	default:
		return "unknown block type"
	}
	return ""
}

func checkSlackText(t SlackText, max int, mrkdwn bool) string {
	switch {
	case t.Type != "plain_text" && !(mrkdwn && t.Type == "mrkdwn"):
		return fmt.Sprintf("text type %q", t.Type)
	case t.Text == "":
		return "empty text"
	case len([]rune(t.Text)) > max:
		return fmt.Sprintf("text of %d characters, at most %d", len([]rune(t.Text)), max)
	}
	return ""
}

func checkSlackButton(e SlackElement) string {
	if e.Type != "button" {
		return fmt.Sprintf("element type %q, the gateway sends buttons", e.Type)
	}
	t, ok := e.TextObject()
	if !ok {
		return "button text is not a text object"
	}
	if p := checkSlackText(t, slackMaxButtonText, false); p != "" {
		return "button " + p
	}
	if len(e.ActionID) > slackMaxActionID {
		return "action_id too long"
	}
	switch e.Style {
	case "", "primary", "danger":
	default:
		return fmt.Sprintf("style %q", e.Style)
	}
	if e.URL == "" {
		// A button without a url posts to the app's interactivity URL,
		// which an incoming webhook does not have.
		return "button without url"
	}
	if len(e.URL) > slackMaxButtonURL {
		return "url too long"
	}
	if u, err := url.Parse(e.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Sprintf("url %q is not absolute http(s)", e.URL)
	}
	return ""
}
