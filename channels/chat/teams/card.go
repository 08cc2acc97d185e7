package teams

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"

	"github.com/npsgate/npsgate/channels"
)

const (
	cardContentType = "application/vnd.microsoft.card.adaptive"
	cardSchema      = "http://adaptivecards.io/schemas/adaptive-card.json"
	// cardVersion is rendered by every Teams client, webhooks included.
	cardVersion = "1.4"
	// maxRow is how many actions Teams draws in one set.
	maxRow = 6
	// maxPayload is the largest message Teams delivers (28 KB).
	maxPayload = 28 * 1024
)

type message struct {
	Type        string       `json:"type"`
	Attachments []attachment `json:"attachments"`
}

type attachment struct {
	ContentType string `json:"contentType"`
	Content     card   `json:"content"`
}

type card struct {
	Schema  string `json:"$schema"`
	Type    string `json:"type"`
	Version string `json:"version"`
	// FallbackText is m.Text: what clients that cannot draw the card show.
	FallbackText string    `json:"fallbackText,omitempty"`
	Body         []element `json:"body"`
	Actions      []action  `json:"actions,omitempty"`
	MSTeams      msteams   `json:"msteams"`
}

// msteams holds Teams' own card options: full width leaves room for a row
// of six buttons.
type msteams struct {
	Width string `json:"width"`
}

type element struct {
	Type    string   `json:"type"`
	Text    string   `json:"text,omitempty"`
	Wrap    bool     `json:"wrap,omitempty"`
	Weight  string   `json:"weight,omitempty"`
	Size    string   `json:"size,omitempty"`
	Actions []action `json:"actions,omitempty"`
}

type action struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

func openURL(title, u string) action { return action{Type: "Action.OpenUrl", Title: title, URL: u} }

// payload builds the JSON for m, a message with one Adaptive Card:
//
//   - a survey (Kind "survey" or ""): the question (m.Text without one) in
//     a TextBlock, then the scores as Action.OpenUrl buttons in ActionSets
//     of at most six, rows as even as can be (0–10: 0–5 and 6–10); without
//     scores, one "Answer" action to m.ReplyURL;
//   - an alert or digest: m.Text, and an action to m.ReplyURL when set.
//
// m.Text is also the card's fallbackText.
func payload(m *channels.Message) ([]byte, error) {
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
		return nil, invalid("reply URL is not an absolute http(s) URL")
	}
	c := card{
		Schema:       cardSchema,
		Type:         "AdaptiveCard",
		Version:      cardVersion,
		FallbackText: m.Text,
		MSTeams:      msteams{Width: "Full"},
	}

	kind := m.Kind
	if kind != "alert" && kind != "digest" {
		kind = "survey"
	}
	if kind != "survey" {
		c.Body = []element{{Type: "TextBlock", Text: m.Text, Wrap: true}}
		if m.ReplyURL != "" {
			c.Actions = []action{openURL(channels.LinkLabel(m.Locale, kind), m.ReplyURL)}
		}
		return marshal(c)
	}

	question := m.Question
	if strings.TrimSpace(question) == "" {
		question = m.Text
	}
	c.Body = []element{{Type: "TextBlock", Text: question, Wrap: true, Weight: "Bolder", Size: "Medium"}}
	var scores []action
	for _, s := range m.Scores {
		if !linkOK(s.URL) {
			return nil, invalid("score %d: URL is not an absolute http(s) URL", s.Value)
		}
		scores = append(scores, openURL(strconv.Itoa(s.Value), s.URL))
	}
	for _, row := range rows(scores, maxRow) {
		c.Body = append(c.Body, element{Type: "ActionSet", Actions: row})
	}
	if len(scores) == 0 && m.ReplyURL != "" {
		c.Actions = []action{openURL(channels.LinkLabel(m.Locale, "survey"), m.ReplyURL)}
	}
	return marshal(c)
}

// rows splits actions into the fewest rows of at most max, as even as
// they can be, longer rows first.
func rows(actions []action, max int) [][]action {
	if len(actions) == 0 {
		return nil
	}
	n := (len(actions) + max - 1) / max
	out := make([][]action, 0, n)
	for i := range n {
		size := len(actions) / (n - i)
		if len(actions)%(n-i) != 0 {
			size++
		}
		out = append(out, actions[:size])
		actions = actions[size:]
	}
	return out
}

func marshal(c card) ([]byte, error) {
	b, err := json.Marshal(message{
		Type:        "message",
		Attachments: []attachment{{ContentType: cardContentType, Content: c}},
	})
	if err != nil {
		return nil, invalid("encoding the card: %v", err)
	}
	if len(b) > maxPayload {
		return nil, invalid("card of %d bytes; Teams delivers at most %d", len(b), maxPayload)
	}
	return b, nil
}

func linkOK(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}
