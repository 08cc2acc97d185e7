package templates

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

func TestHTMLEscaping(t *testing.T) {
	s := newSet(t)
	const evil = `<script>alert("x")</script>`
	for _, loc := range []string{"en", "zh-CN", "zh-TW"} {
		d := Sample("nps", loc)
		d.ProductName = evil
		d.Question = "How likely are you to recommend " + evil + "?"
		d.ContactName = `"><img src=x onerror=alert(1)>`
		m, err := s.Render("email", loc, nil, d)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(m.HTML, "<script") || strings.Contains(m.HTML, "<img") {
			t.Errorf("%s: markup from data reached the HTML:\n%s", loc, m.HTML)
		}
		if !strings.Contains(m.HTML, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
			t.Errorf("%s: escaped product name missing:\n%s", loc, m.HTML)
		}
		// Subject and text are not HTML: escaping them would show
		// entities to the reader.
		if !strings.Contains(m.Subject, evil) || !strings.Contains(m.Text, evil) {
			t.Errorf("%s: subject or text was HTML-escaped: %q", loc, m.Subject)
		}
	}

	// A reply URL with a script scheme is neutralized by the URL context.
	d := Sample("nps", "en")
	d.ReplyURL = "javascript:alert(1)"
	d.Scores = nil
	m, err := s.Render("email", "en", nil, d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, "javascript:") {
		t.Errorf("javascript: URL reached an href")
	}
}

// TestHTMLScoreLinks parses the default HTML and checks the buttons: one row
// with one link per score, in order, each to its own URL.
func TestHTMLScoreLinks(t *testing.T) {
	s := newSet(t)
	for _, loc := range []string{"en", "zh-CN", "zh-TW"} {
		for _, kind := range []string{"nps", "csat", "ces"} {
			d := Sample(kind, loc)
			m, err := s.Render("email", loc, nil, d)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := html.Parse(strings.NewReader(m.HTML))
			if err != nil {
				t.Fatal(err)
			}
			var rows []*html.Node // <tr>s holding score links
			var links []*html.Node
			walk(doc, func(n *html.Node) {
				if n.Type != html.ElementNode || n.Data != "a" {
					return
				}
				if _, err := strconv.Atoi(text(n)); err != nil {
					return
				}
				links = append(links, n)
				tr := n.Parent.Parent
				if len(rows) == 0 || rows[len(rows)-1] != tr {
					rows = append(rows, tr)
				}
			})
			if len(links) != len(d.Scores) {
				t.Fatalf("%s/%s: %d score links, want %d", loc, kind, len(links), len(d.Scores))
			}
			if len(rows) != 1 || rows[0].Data != "tr" {
				t.Errorf("%s/%s: score links span %d rows, want one <tr>", loc, kind, len(rows))
			}
			for i, a := range links {
				sc := d.Scores[i]
				if got := text(a); got != strconv.Itoa(sc.Value) {
					t.Errorf("%s/%s: link %d shows %q, want %d", loc, kind, i, got, sc.Value)
				}
				if got := attr(a, "href"); got != sc.URL {
					t.Errorf("%s/%s: link %d goes to %q, want %q", loc, kind, i, got, sc.URL)
				}
			}
			if !strings.Contains(m.HTML, d.LowLabel) || !strings.Contains(m.HTML, d.HighLabel) {
				t.Errorf("%s/%s: labels missing", loc, kind)
			}
		}
	}
}

// TestHTMLEmailSafe keeps the default HTML to what email clients accept:
// no scripts, no external resources, styles inline.
func TestHTMLEmailSafe(t *testing.T) {
	s := newSet(t)
	for _, loc := range s.Locales("email") {
		m, err := s.Render("email", loc, nil, Sample("nps", loc))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := html.Parse(strings.NewReader(m.HTML))
		if err != nil {
			t.Fatal(err)
		}
		walk(doc, func(n *html.Node) {
			if n.Type != html.ElementNode {
				return
			}
			switch n.Data {
			case "script", "style", "link", "img", "iframe", "form", "object":
				t.Errorf("%s: <%s> in email HTML", loc, n.Data)
			}
			for _, a := range n.Attr {
				if strings.HasPrefix(a.Key, "on") || a.Key == "src" || a.Key == "class" {
					t.Errorf("%s: attribute %s on <%s>", loc, a.Key, n.Data)
				}
			}
		})
		if os.Getenv("NPSGATE_TEMPLATES_DUMP") != "" {
			// For looking at the markup in a browser.
			_ = os.WriteFile("/tmp/npsgate_email_"+loc+".html", []byte(m.HTML), 0o644)
		}
	}
}

func walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func text(n *html.Node) string {
	var b strings.Builder
	walk(n, func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
	})
	return strings.TrimSpace(b.String())
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
