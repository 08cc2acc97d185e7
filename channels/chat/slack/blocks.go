package slack

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/npsgate/npsgate/channels"
)

// Block Kit limits the payload stays within.
const (
	maxSectionText = 3000
	maxButtons     = 25 // per actions block
	maxButtonURL   = 3000
)

// payload is the body of an incoming webhook post.
type payload struct {
	// Text is the notification and fallback text.
	Text   string  `json:"text"`
	Blocks []block `json:"blocks"`
}

type block struct {
	Type      string    `json:"type"`
	Text      *text     `json:"text,omitempty"`
	Accessory *button   `json:"accessory,omitempty"`
	Elements  []*button `json:"elements,omitempty"`
}

type text struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type button struct {
	Type     string `json:"type"`
	Text     text   `json:"text"`
	URL      string `json:"url"`
	ActionID string `json:"action_id"`
}

func linkButton(label, u, actionID string) *button {
	return &button{Type: "button", Text: text{Type: "plain_text", Text: label}, URL: u, ActionID: actionID}
}

// payload builds the JSON for m:
//
//   - a survey (Kind "survey" or ""): a section with the question (m.Text
//     without one), then the scores as link buttons, 25 to an actions
//     block (Slack's limit; NPS needs 11); without scores, one "Answer"
//     button to m.ReplyURL;
//   - an alert or digest: a section with m.Text and, when m.ReplyURL is
//     set, a link button to it beside the text.
//
// The top-level text, m.Text, is what notifications and clients that
// cannot draw blocks show.
func (c *Channel) payload(m *channels.Message) ([]byte, error) {
	if m == nil {
		return nil, invalid("no message")
	}
	if strings.TrimSpace(m.To) == "" {
		return nil, invalid("no webhook URL")
	}
	if strings.TrimSpace(m.Text) == "" && strings.TrimSpace(m.Question) == "" {
		return nil, invalid("empty text")
	}
	if m.ReplyURL != "" && !linkOK(m.ReplyURL) {
		return nil, invalid("reply URL is not an absolute http(s) URL of at most %d bytes", maxButtonURL)
	}
	p := payload{Text: escape(m.Text)}
	if p.Text == "" {
		p.Text = escape(m.Question)
	}

	kind := m.Kind
	if kind != "alert" && kind != "digest" {
		kind = "survey"
	}
	if kind != "survey" {
		s := block{Type: "section", Text: mrkdwn(m.Text)}
		if m.ReplyURL != "" {
			s.Accessory = linkButton(channels.LinkLabel(m.Locale, kind), m.ReplyURL, "view_response")
		}
		p.Blocks = []block{s}
		return json.Marshal(p)
	}

	question := m.Question
	if strings.TrimSpace(question) == "" {
		question = m.Text
	}
	p.Blocks = []block{{Type: "section", Text: mrkdwn(question)}}
	var buttons []*button
	seen := map[int]bool{}
	for _, s := range m.Scores {
		if !linkOK(s.URL) {
			return nil, invalid("score %d: URL is not an absolute http(s) URL of at most %d bytes", s.Value, maxButtonURL)
		}
		if seen[s.Value] {
			return nil, invalid("score %d appears twice", s.Value)
		}
		seen[s.Value] = true
		v := strconv.Itoa(s.Value)
		buttons = append(buttons, linkButton(v, s.URL, "score_"+v))
	}
	if len(buttons) == 0 && m.ReplyURL != "" {
		buttons = append(buttons, linkButton(channels.LinkLabel(m.Locale, "survey"), m.ReplyURL, "answer"))
	}
	for len(buttons) > 0 {
		n := min(len(buttons), maxButtons)
		p.Blocks = append(p.Blocks, block{Type: "actions", Elements: buttons[:n]})
		buttons = buttons[n:]
	}
	return json.Marshal(p)
}

// mrkdwn is a section's text object: s escaped, cut to Slack's limit
// (counted after escaping) without splitting an escape.
func mrkdwn(s string) *text {
	e := escape(s)
	if utf8.RuneCountInString(e) <= maxSectionText {
		return &text{Type: "mrkdwn", Text: e}
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		er := escape(string(r))
		if n+utf8.RuneCountInString(er) > maxSectionText-1 {
			break
		}
		b.WriteString(er)
		n += utf8.RuneCountInString(er)
	}
	b.WriteString("…")
	return &text{Type: "mrkdwn", Text: b.String()}
}

// escape escapes the three characters Slack's mrkdwn reserves for its
// links and mentions, so that text shows as written.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func linkOK(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && len(s) <= maxButtonURL
}
