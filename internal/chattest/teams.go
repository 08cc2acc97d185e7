package chattest

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// What Teams accepts in the posts the gateway makes.
const (
	// TeamsCardContentType is the attachment content type of an Adaptive
	// Card.
	TeamsCardContentType = "application/vnd.microsoft.card.adaptive"
	// TeamsCardSchema is the $schema of an Adaptive Card.
	TeamsCardSchema = "http://adaptivecards.io/schemas/adaptive-card.json"
	// TeamsMaxCardVersion is the newest Adaptive Card version Teams renders.
	TeamsMaxCardVersion = "1.5"
	// TeamsMaxActions is how many actions Teams shows in one set (the
	// card's actions or an ActionSet): desktop and web drop the rest,
	// mobile folds them away. Teams accepts more; the fake refuses them
	// so that a test sees buttons a person would not.
	TeamsMaxActions = 6
	// TeamsMaxPayload is the largest message Teams delivers (28 KB).
	TeamsMaxPayload = 28 * 1024
)

// TeamsDeliveryFailed is how a legacy (Office 365 connector) incoming
// webhook reports that Teams refused the message: HTTP 200, and the
// failure in words with Teams' own status, instead of the body "1".
func TeamsDeliveryFailed(status int) HTTPFault {
	return HTTPFault{Status: http.StatusOK, Body: fmt.Sprintf(
		"Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error %d with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=npsgate.", status)}
}

// TeamsRateLimited is the 429 of a webhook posted to too fast;
// retryAfter, when not "", is sent as the Retry-After header.
func TeamsRateLimited(retryAfter string) HTTPFault {
	return HTTPFault{Status: http.StatusTooManyRequests, RetryAfter: retryAfter, ContentType: "application/json; charset=utf-8",
		Body: `{"error":{"code":"WorkflowTriggeredTooManyTimes","message":"The workflow was triggered too many times. Please retry later."}}`}
}

// Faults as Teams webhooks send them.
var (
	// TeamsBadPayload is the legacy webhook's 400 for a body it cannot read.
	TeamsBadPayload = HTTPFault{Status: http.StatusBadRequest, Body: "Bad payload received by generic incoming webhook."}
	// TeamsWorkflowNotFound is the Workflows 404 for a deleted flow.
	TeamsWorkflowNotFound = HTTPFault{Status: http.StatusNotFound, ContentType: "application/json; charset=utf-8",
		Body: `{"error":{"code":"WorkflowNotFound","message":"The workflow was not found."}}`}
	// TeamsServerError is a 500.
	TeamsServerError = HTTPFault{Status: http.StatusInternalServerError, ContentType: "application/json; charset=utf-8",
		Body: `{"error":{"code":"InternalServerError","message":"Encountered internal server error."}}`}
	// TeamsUnavailable is a 503.
	TeamsUnavailable = HTTPFault{Status: http.StatusServiceUnavailable, Body: "Service Unavailable"}
)

// TeamsMessage is the JSON the gateway posts: a message activity with
// Adaptive Card attachments.
type TeamsMessage struct {
	Type        string            `json:"type"`
	Attachments []TeamsAttachment `json:"attachments"`
}

// TeamsAttachment is one card of a message.
type TeamsAttachment struct {
	ContentType string    `json:"contentType"`
	ContentURL  *string   `json:"contentUrl,omitempty"`
	Content     TeamsCard `json:"content"`
}

// TeamsCard is an Adaptive Card, as far as the gateway uses it.
type TeamsCard struct {
	Schema       string          `json:"$schema"`
	Type         string          `json:"type"`
	Version      string          `json:"version"`
	FallbackText string          `json:"fallbackText,omitempty"`
	Body         []TeamsElement  `json:"body"`
	Actions      []TeamsAction   `json:"actions,omitempty"`
	MSTeams      json.RawMessage `json:"msteams,omitempty"`
}

// TeamsElement is a card element: a TextBlock or an ActionSet.
type TeamsElement struct {
	Type     string        `json:"type"`
	ID       string        `json:"id,omitempty"`
	Text     string        `json:"text,omitempty"`
	Wrap     bool          `json:"wrap,omitempty"`
	Weight   string        `json:"weight,omitempty"`
	Size     string        `json:"size,omitempty"`
	IsSubtle bool          `json:"isSubtle,omitempty"`
	Actions  []TeamsAction `json:"actions,omitempty"`
}

// TeamsAction is a card action; the gateway sends Action.OpenUrl.
type TeamsAction struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url,omitempty"`
}

// Card is the first attachment's card (zero without one).
func (m TeamsMessage) Card() TeamsCard {
	if len(m.Attachments) == 0 {
		return TeamsCard{}
	}
	return m.Attachments[0].Content
}

// Buttons lists the card's actions, those of its ActionSets first, in
// order.
func (c TeamsCard) Buttons() []TeamsAction {
	var out []TeamsAction
	for _, e := range c.Body {
		out = append(out, e.Actions...)
	}
	return append(out, c.Actions...)
}

// TeamsRequest is one post to the fake, with how it was answered.
type TeamsRequest struct {
	// N is the 1-based number of the request in arrival order.
	N    int
	Time time.Time
	// URL is the webhook URL posted to, as the client had it; Legacy says
	// it is a legacy connector URL (/webhookb2/…) rather than a Workflows
	// one.
	URL       string
	Legacy    bool
	Method    string
	Header    http.Header
	UserAgent string
	// Raw is the body as sent and Message its decoding.
	Raw     []byte
	Message TeamsMessage
	// Status and Answer are the HTTP status and body answered (Status 0
	// for a request left hanging). Problem says why a request that was not
	// faulted on purpose was refused.
	Status  int
	Answer  string
	Problem string
}

// Accepted says Teams would have posted the message: 200 "1" from a
// legacy webhook, 202 from Workflows.
func (r TeamsRequest) Accepted() bool {
	return (r.Status == http.StatusOK && r.Answer == "1") || r.Status == http.StatusAccepted
}

// Visible is everything a reader of the posted card can read: its text
// blocks, its button titles, and its fallback text (what clients that
// cannot draw the card, and notifications, show).
func (r TeamsRequest) Visible() string {
	var parts []string
	for _, a := range r.Message.Attachments {
		c := a.Content
		for _, e := range c.Body {
			if e.Text != "" {
				parts = append(parts, e.Text)
			}
		}
		for _, b := range c.Buttons() {
			parts = append(parts, b.Title)
		}
		if c.FallbackText != "" {
			parts = append(parts, c.FallbackText)
		}
	}
	return strings.Join(parts, "\n")
}

// TeamsServer is a running fake of Microsoft Teams' incoming webhooks,
// both kinds: legacy Office 365 connector URLs (/webhookb2/…, answering
// 200 "1") and Power Automate Workflows URLs (/workflows/…, answering
// 202). It checks the message and its Adaptive Card as Teams renders
// them, and answers as Teams does or with the fault it was told to give.
type TeamsServer struct {
	hookServer[TeamsRequest]
}

// StartTeams runs a Teams fake on 127.0.0.1 for the length of the test.
func StartTeams(t testing.TB) *TeamsServer {
	t.Helper()
	s, err := NewTeamsServer()
	if err != nil {
		t.Fatalf("chattest: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// NewTeamsServer runs a Teams fake until Close, for code without a
// testing.TB.
func NewTeamsServer() (*TeamsServer, error) {
	s := &TeamsServer{}
	if err := s.start(http.HandlerFunc(s.serve)); err != nil {
		return nil, err
	}
	return s, nil
}

// URL is the server's base URL ("http://127.0.0.1:port").
func (s *TeamsServer) URL() string { return s.url }

// LegacyURL is a legacy incoming webhook URL on the server, shaped as
// Teams' (/webhookb2/{group}@{tenant}/IncomingWebhook/{token}/{owner}).
func (s *TeamsServer) LegacyURL(token string) string {
	return s.url + "/webhookb2/8d2f1c3a-0000-4000-8000-000000000001@72f988bf-0000-4000-8000-000000000002/IncomingWebhook/" +
		url.PathEscape(token) + "/0b6f3a8e-0000-4000-8000-000000000003"
}

// WorkflowURL is a Power Automate Workflows trigger URL on the server,
// whose signature (the secret) is sig in the query, as in Teams'.
func (s *TeamsServer) WorkflowURL(sig string) string {
	return s.url + "/workflows/5a0e9c2b7d4f4e8a9b1c3d5e7f901234/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=" +
		url.QueryEscape(sig)
}

// SetFault answers every request from now on with f; nil goes back to
// accepting (what FailNext queued comes first). Requests already hanging
// stay so.
func (s *TeamsServer) SetFault(f *HTTPFault) { s.setFault(f) }

// FailNext answers the next requests, one each, with faults, before
// SetFault's.
func (s *TeamsServer) FailNext(faults ...HTTPFault) { s.failNext(faults) }

// Requests returns every request so far, in arrival order.
func (s *TeamsServer) Requests() []TeamsRequest { return s.requests() }

// Accepted returns the requests Teams would have posted, in arrival order.
func (s *TeamsServer) Accepted() []TeamsRequest {
	var out []TeamsRequest
	for _, r := range s.requests() {
		if r.Accepted() {
			out = append(out, r)
		}
	}
	return out
}

// Count is how many requests the server received.
func (s *TeamsServer) Count() int { return s.count() }

// WaitFor waits until the server received at least n requests (answered
// or hanging).
func (s *TeamsServer) WaitFor(n int, timeout time.Duration) error {
	return s.waitFor("teams", n, timeout)
}

// Close stops the server, releasing hanging requests, and waits for its
// handlers. It is safe to call twice.
func (s *TeamsServer) Close() error { return s.close() }

func (s *TeamsServer) serve(w http.ResponseWriter, hr *http.Request) {
	n, fault := s.next()
	r := TeamsRequest{
		N:         n,
		Time:      time.Now(),
		URL:       s.url + hr.URL.RequestURI(),
		Legacy:    strings.HasPrefix(hr.URL.Path, "/webhookb2/"),
		Method:    hr.Method,
		Header:    hr.Header.Clone(),
		UserAgent: hr.UserAgent(),
	}
	body, readErr := hookReadBody(hr)
	r.Raw = body
	decodeErr := json.Unmarshal(body, &r.Message)

	answer := func(status int, contentType, text, problem string) {
		r.Status, r.Answer, r.Problem = status, text, problem
		s.record(r)
		hookWriteText(w, status, contentType, text)
	}
	// refuse answers a message Teams cannot take, in the words of the kind
	// of webhook posted to.
	refuse := func(problem string) {
		if r.Legacy {
			answer(http.StatusBadRequest, "text/plain; charset=utf-8", TeamsBadPayload.Body, problem)
			return
		}
		b, _ := json.Marshal(map[string]any{"error": map[string]string{
			"code": "InvalidRequestContent", "message": "The request content is not valid: " + problem}})
		answer(http.StatusBadRequest, "application/json; charset=utf-8", string(b), problem)
	}

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
	case !r.Legacy && !strings.HasPrefix(hr.URL.Path, "/workflows/"):
		answer(http.StatusNotFound, "text/plain; charset=utf-8", "Not Found", "not a /webhookb2/ or /workflows/ path")
		return
	case hr.Method != http.MethodPost:
		answer(http.StatusMethodNotAllowed, "text/plain; charset=utf-8", "Method Not Allowed", "method "+hr.Method)
		return
	case readErr != nil:
		refuse(readErr.Error())
		return
	}
	if ct, _, _ := mime.ParseMediaType(hr.Header.Get("Content-Type")); ct != "application/json" {
		refuse("Content-Type " + hr.Header.Get("Content-Type"))
		return
	}
	if decodeErr != nil {
		refuse(decodeErr.Error())
		return
	}
	if len(body) > TeamsMaxPayload {
		problem := fmt.Sprintf("%d bytes, at most %d", len(body), TeamsMaxPayload)
		if r.Legacy {
			f := TeamsDeliveryFailed(http.StatusRequestEntityTooLarge)
			answer(f.Status, "text/plain; charset=utf-8", f.Body, problem)
		} else {
			answer(http.StatusRequestEntityTooLarge, "text/plain; charset=utf-8", "Request Entity Too Large", problem)
		}
		return
	}
	if problem := checkTeamsMessage(r.Message); problem != "" {
		refuse(problem)
		return
	}
	if r.Legacy {
		answer(http.StatusOK, "text/plain; charset=utf-8", "1", "")
		return
	}
	answer(http.StatusAccepted, "text/plain; charset=utf-8", "", "")
}

// checkTeamsMessage says what Teams would refuse, or not draw, in m.
func checkTeamsMessage(m TeamsMessage) string {
	if m.Type != "message" {
		return fmt.Sprintf("type %q, want \"message\"", m.Type)
	}
	if len(m.Attachments) == 0 {
		return "no attachments"
	}
	for i, a := range m.Attachments {
		if p := checkTeamsAttachment(a); p != "" {
			return fmt.Sprintf("attachment %d: %s", i, p)
		}
	}
	return ""
}

func checkTeamsAttachment(a TeamsAttachment) string {
	c := a.Content
	switch {
	case a.ContentType != TeamsCardContentType:
		return fmt.Sprintf("contentType %q", a.ContentType)
	case c.Type != "AdaptiveCard":
		return fmt.Sprintf("content type %q, want AdaptiveCard", c.Type)
	case c.Schema != TeamsCardSchema:
		return fmt.Sprintf("$schema %q", c.Schema)
	case !teamsVersionOK(c.Version):
		return fmt.Sprintf("version %q, want 1.0 to %s", c.Version, TeamsMaxCardVersion)
	case len(c.Body) == 0:
		return "empty body"
	}
	for i, e := range c.Body {
		switch e.Type {
		case "TextBlock":
			if strings.TrimSpace(e.Text) == "" {
				return fmt.Sprintf("body %d: TextBlock without text", i)
			}
		case "ActionSet":
			if p := checkTeamsActions(e.Actions, true); p != "" {
				return fmt.Sprintf("body %d: ActionSet: %s", i, p)
			}
		default:
			return fmt.Sprintf("body %d: element type %q (the fake knows TextBlock and ActionSet)", i, e.Type)
		}
	}
	if p := checkTeamsActions(c.Actions, false); p != "" {
		return "actions: " + p
	}
	return ""
}

func checkTeamsActions(actions []TeamsAction, required bool) string {
	if required && len(actions) == 0 {
		return "no actions"
	}
	if len(actions) > TeamsMaxActions {
		return fmt.Sprintf("%d actions; Teams shows %d", len(actions), TeamsMaxActions)
	}
	for i, a := range actions {
		switch {
		case a.Type != "Action.OpenUrl":
			return fmt.Sprintf("action %d: type %q (the fake knows Action.OpenUrl)", i, a.Type)
		case strings.TrimSpace(a.Title) == "":
			return fmt.Sprintf("action %d: no title", i)
		}
		if u, err := url.Parse(a.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Sprintf("action %d: url %q is not absolute http(s)", i, a.URL)
		}
	}
	return ""
}

// teamsVersionOK says v is an Adaptive Card version Teams renders.
func teamsVersionOK(v string) bool {
	major, minor, ok := strings.Cut(v, ".")
	if !ok || major != "1" {
		return false
	}
	n, err := strconv.Atoi(minor)
	maxMinor, _ := strconv.Atoi(strings.TrimPrefix(TeamsMaxCardVersion, "1."))
	return err == nil && n >= 0 && n <= maxMinor
}
