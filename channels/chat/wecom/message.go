package wecom

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/npsgate/npsgate/channels"
)

const maxURL = 2048

type post struct {
	MsgType  string   `json:"msgtype"`
	Markdown markdown `json:"markdown"`
}

type markdown struct {
	Content string `json:"content"`
}

// payload builds the JSON for m (see the package documentation).
func payload(m *channels.Message) ([]byte, error) {
	content, err := contentOf(m)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(post{MsgType: "markdown", Markdown: markdown{Content: content}}); err != nil {
		return nil, invalid("encoding: %v", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// contentOf is m as WeCom markdown of at most MaxContent bytes: the text,
// cut to fit, then the question and the links, whole.
func contentOf(m *channels.Message) (string, error) {
	text := strings.TrimSpace(m.Text)
	question := strings.TrimSpace(m.Question)
	if text == "" && question == "" {
		return "", invalid("empty text")
	}
	if m.ReplyURL != "" && !linkOK(m.ReplyURL) {
		return "", invalid("reply URL is not an absolute http(s) URL of at most %d bytes", maxURL)
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
			return "", err
		}
		if row != "" && len(row) > MaxContent/2 && m.ReplyURL != "" {
			// Eleven very long links would leave no room for the text:
			// one link to the reply page, where the scale is, instead.
			row = ""
		}
		if row == "" && m.ReplyURL != "" {
			row = mdLink(channels.LinkLabel(m.Locale, kind), m.ReplyURL)
		}
		if row != "" {
			tail = append(tail, row)
		}
	} else if m.ReplyURL != "" {
		tail = append(tail, mdLink(channels.LinkLabel(m.Locale, kind), m.ReplyURL))
	}

	rest := strings.Join(tail, "\n\n")
	if len(rest) > MaxContent {
		return "", invalid("question and links of %d bytes; WeCom takes %d", len(rest), MaxContent)
	}
	if rest == "" {
		return truncate(text, MaxContent), nil
	}
	if text == "" {
		return rest, nil
	}
	room := MaxContent - len(rest) - len("\n\n")
	if text = truncate(text, room); text == "" {
		return rest, nil
	}
	return text + "\n\n" + rest, nil
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
