package dingtalk

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
	// maxPayload is the largest body DingTalk takes (errcode 460101,
	// "message too long, exceed 20000 bytes"); the text is cut to fit.
	maxPayload = 20000
	// maxTitle bounds the title, which DingTalk shows in notifications
	// and the chat list, not in the message.
	maxTitle = 64
	maxURL   = 2048
)

type post struct {
	MsgType    string      `json:"msgtype"`
	Markdown   *markdown   `json:"markdown,omitempty"`
	ActionCard *actionCard `json:"actionCard,omitempty"`
}

type markdown struct {
	Title string `json:"title"`
	Text  string `json:"text"`
}

// actionCard is DingTalk's "whole card jump" action card: one button
// (singleTitle) to singleURL under the markdown text.
type actionCard struct {
	Title          string `json:"title"`
	Text           string `json:"text"`
	BtnOrientation string `json:"btnOrientation"`
	SingleTitle    string `json:"singleTitle"`
	SingleURL      string `json:"singleURL"`
}

// payload builds the JSON for m:
//
//   - a survey (Kind "survey" or ""): m.Text, then m.Question in bold
//     unless m.Text already says it, then the scores as one row of links.
//     As an actionCard whose one button opens m.ReplyURL, or as markdown
//     when there is no m.ReplyURL;
//   - an alert or digest: markdown with m.Text and a link to m.ReplyURL
//     when set.
//
// The title, which notifications show, is m.Subject, else m.Question, else
// the first line of m.Text. The text is cut, with "…", so that the body
// stays within DingTalk's 20000 bytes; the links after it are kept.
func payload(m *channels.Message) ([]byte, error) {
	text := strings.TrimSpace(m.Text)
	question := strings.TrimSpace(m.Question)
	if text == "" && question == "" {
		return nil, invalid("empty text")
	}
	if m.ReplyURL != "" && !linkOK(m.ReplyURL) {
		return nil, invalid("reply URL is not an absolute http(s) URL of at most %d bytes", maxURL)
	}
	kind := m.Kind
	if kind != "alert" && kind != "digest" {
		kind = "survey"
	}

	var tail []string
	if kind == "survey" {
		if question != "" && !strings.Contains(text, question) {
			tail = append(tail, "**"+question+"**")
		}
		row, err := scoreRow(m.Scores)
		if err != nil {
			return nil, err
		}
		// Without scores, the card's button is the way to answer.
		if row != "" {
			tail = append(tail, row)
		}
	} else if m.ReplyURL != "" {
		tail = append(tail, mdLink(channels.LinkLabel(m.Locale, kind), m.ReplyURL))
	}
	title := titleOf(m)

	build := func(head string) ([]byte, error) {
		body := strings.Join(nonEmpty(append([]string{head}, tail...)), "\n\n")
		p := post{MsgType: "markdown", Markdown: &markdown{Title: title, Text: body}}
		if kind == "survey" && m.ReplyURL != "" {
			p = post{MsgType: "actionCard", ActionCard: &actionCard{
				Title: title, Text: body, BtnOrientation: "0",
				SingleTitle: channels.LinkLabel(m.Locale, kind), SingleURL: m.ReplyURL,
			}}
		}
		return marshal(p)
	}
	return fit(text, build, maxPayload)
}

// fit builds the body with head, cutting head until the body is at most
// max bytes.
func fit(head string, build func(string) ([]byte, error), max int) ([]byte, error) {
	for {
		b, err := build(head)
		if err != nil {
			return nil, invalid("encoding: %v", err)
		}
		if len(b) <= max {
			return b, nil
		}
		if head == "" {
			return nil, invalid("message of %d bytes even without its text; DingTalk takes %d", len(b), max)
		}
		head = truncate(head, len(head)-(len(b)-max))
	}
}

// marshal is json.Marshal without HTML escaping: "<", ">" and "&" stay as
// they are, which DingTalk's markdown wants and which keeps the size
// honest.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// scoreRow is the scores as markdown links on one line, or "".
func scoreRow(scores []channels.Score) (string, error) {
	links := make([]string, 0, len(scores))
	seen := map[int]bool{}
	for _, s := range scores {
		if !linkOK(s.URL) {
			return "", invalid("score %d: URL is not an absolute http(s) URL of at most %d bytes", s.Value, maxURL)
		}
		if seen[s.Value] {
			return "", invalid("score %d appears twice", s.Value)
		}
		seen[s.Value] = true
		links = append(links, mdLink(strconv.Itoa(s.Value), s.URL))
	}
	return strings.Join(links, " | "), nil
}

// mdLink is a markdown link; the characters that would end the URL early
// are percent-encoded.
func mdLink(label, u string) string {
	u = strings.NewReplacer(" ", "%20", "(", "%28", ")", "%29").Replace(u)
	return "[" + label + "](" + u + ")"
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

func nonEmpty(ss []string) []string {
	out := ss[:0:0]
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
