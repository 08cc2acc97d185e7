package feishu

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/npsgate/npsgate/channels"
)

const (
	// maxPayload is the largest body Feishu takes from a custom bot
	// (20 KB); the text is cut to fit.
	maxPayload = 20 * 1024
	// maxTitle bounds the card's header.
	maxTitle = 100
	maxURL   = 2048
)

// Header colours (card templates) by kind.
var headerTemplate = map[string]string{"survey": "blue", "alert": "orange", "digest": "turquoise"}

type post struct {
	Timestamp string `json:"timestamp,omitempty"`
	Sign      string `json:"sign,omitempty"`
	MsgType   string `json:"msg_type"`
	Card      card   `json:"card"`
}

type card struct {
	Config   cardConfig `json:"config"`
	Header   *header    `json:"header,omitempty"`
	Elements []element  `json:"elements"`
}

type cardConfig struct {
	WideScreenMode bool `json:"wide_screen_mode"`
}

type header struct {
	Title    text   `json:"title"`
	Template string `json:"template,omitempty"`
}

type text struct {
	Tag     string `json:"tag"`
	Content string `json:"content"`
}

// element is a div (Text) or an action (Actions).
type element struct {
	Tag     string   `json:"tag"`
	Text    *text    `json:"text,omitempty"`
	Actions []button `json:"actions,omitempty"`
	Layout  string   `json:"layout,omitempty"`
}

type button struct {
	Tag  string `json:"tag"`
	Text text   `json:"text"`
	URL  string `json:"url"`
	Type string `json:"type"`
}

func linkButton(label, u string) button {
	return button{Tag: "button", Text: text{Tag: "plain_text", Content: label}, URL: u, Type: "default"}
}

func div(s string) element { return element{Tag: "div", Text: &text{Tag: "lark_md", Content: s}} }

// payload builds the signed JSON for m (see the package documentation);
// timestamp and sign are empty for a bot that does not sign.
func payload(m *channels.Message, timestamp, sign string) ([]byte, error) {
	body := strings.TrimSpace(m.Text)
	question := strings.TrimSpace(m.Question)
	if body == "" && question == "" {
		return nil, invalid("empty text")
	}
	if m.ReplyURL != "" && !linkOK(m.ReplyURL) {
		return nil, invalid("reply URL is not an absolute http(s) URL of at most %d bytes", maxURL)
	}
	kind := m.Kind
	if kind != "alert" && kind != "digest" {
		kind = "survey"
	}

	var tail []element
	var buttons []button
	if kind == "survey" {
		if question != "" && !strings.Contains(body, question) {
			tail = append(tail, div("**"+question+"**"))
		}
		seen := map[int]bool{}
		for _, s := range m.Scores {
			if !linkOK(s.URL) {
				return nil, invalid("score %d: URL is not an absolute http(s) URL of at most %d bytes", s.Value, maxURL)
			}
			if seen[s.Value] {
				return nil, invalid("score %d appears twice", s.Value)
			}
			seen[s.Value] = true
			buttons = append(buttons, linkButton(strconv.Itoa(s.Value), s.URL))
		}
	}
	if len(buttons) == 0 && m.ReplyURL != "" {
		buttons = append(buttons, linkButton(channels.LinkLabel(m.Locale, kind), m.ReplyURL))
	}
	if len(buttons) > 0 {
		// flow: as many buttons to a row as fit, so 0–10 takes one or two
		// rows instead of eleven.
		tail = append(tail, element{Tag: "action", Actions: buttons, Layout: "flow"})
	}

	p := post{Timestamp: timestamp, Sign: sign, MsgType: "interactive", Card: card{
		Config: cardConfig{WideScreenMode: true},
		Header: &header{Title: text{Tag: "plain_text", Content: titleOf(m)}, Template: headerTemplate[kind]},
	}}
	for {
		p.Card.Elements = p.Card.Elements[:0]
		if body != "" {
			p.Card.Elements = append(p.Card.Elements, div(body))
		}
		p.Card.Elements = append(p.Card.Elements, tail...)
		b, err := marshal(p)
		if err != nil {
			return nil, invalid("encoding: %v", err)
		}
		if len(b) <= maxPayload {
			return b, nil
		}
		if body == "" {
			return nil, invalid("message of %d bytes even without its text; Feishu takes %d", len(b), maxPayload)
		}
		body = truncate(body, len(body)-(len(b)-maxPayload))
	}
}

// marshal is json.Marshal without HTML escaping, which keeps lark_md as
// written and the size honest.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func linkOK(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && len(s) <= maxURL
}

// titleOf is m's title: its subject, else its question, else the first
// line of its text, at most maxTitle characters.
func titleOf(m *channels.Message) string {
	t := strings.TrimSpace(m.Subject)
	if t == "" {
		t = strings.TrimSpace(m.Question)
	}
	if t == "" {
		t, _, _ = strings.Cut(strings.TrimSpace(m.Text), "\n")
	}
	t = strings.Join(strings.Fields(t), " ")
	if utf8.RuneCountInString(t) > maxTitle {
		r := []rune(t)
		t = string(r[:maxTitle-1]) + "…"
	}
	return t
}

// truncate cuts s to at most n bytes, "…" included: at a rune boundary,
// before a markdown link the cut would break, without trailing space.
func truncate(s string, n int) string {
	const ellipsis = "…"
	if len(s) <= n {
		return s
	}
	n -= len(ellipsis)
	if n <= 0 {
		return ""
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	s = s[:n]
	// A "[" with no "](…)" closed after it starts a link the cut broke.
	if i := strings.LastIndex(s, "["); i >= 0 && !strings.Contains(s[i:], ")") {
		s = s[:i]
	}
	s = strings.TrimRightFunc(s, func(r rune) bool { return r == ' ' || r == '\n' || r == '\t' || r == '\r' })
	if s == "" {
		return ""
	}
	return s + ellipsis
}
