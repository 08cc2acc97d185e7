package chattest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/npsgate/npsgate/internal/chattest"
)

func teamsOpenURL(title string) map[string]any {
	return map[string]any{"type": "Action.OpenUrl", "title": title, "url": "https://nps.example.com/r/t?s=" + title}
}

// teamsActions returns n buttons titled from, from+1…
func teamsActions(from, n int) []any {
	var out []any
	for i := range n {
		out = append(out, teamsOpenURL(fmt.Sprint(from+i)))
	}
	return out
}

// teamsCard returns a message with one card; edit changes the card.
func teamsCard(t *testing.T, edit func(card map[string]any)) string {
	t.Helper()
	card := map[string]any{
		"$schema":      chattest.TeamsCardSchema,
		"type":         "AdaptiveCard",
		"version":      "1.4",
		"fallbackText": "How likely? https://nps.example.com/r/t",
		"body": []any{
			map[string]any{"type": "TextBlock", "text": "How likely?", "wrap": true},
			map[string]any{"type": "ActionSet", "actions": teamsActions(0, 6)},
			map[string]any{"type": "ActionSet", "actions": teamsActions(6, 5)},
		},
		"actions": []any{teamsOpenURL("View response")},
		"msteams": map[string]any{"width": "Full"},
	}
	if edit != nil {
		edit(card)
	}
	return slackJSON(t, map[string]any{
		"type":        "message",
		"attachments": []any{map[string]any{"contentType": chattest.TeamsCardContentType, "content": card}},
	})
}

func TestTeamsAccepts(t *testing.T) {
	s := chattest.StartTeams(t)
	legacy, workflow := s.LegacyURL("tok1"), s.WorkflowURL("sig1")
	if !strings.Contains(workflow, "sig=sig1") || !strings.Contains(legacy, "/IncomingWebhook/tok1/") {
		t.Fatalf("URLs %s %s", legacy, workflow)
	}
	body := teamsCard(t, nil)
	if status, _, answer := hookPost(t, legacy, "application/json", body, nil); status != 200 || answer != "1" {
		t.Errorf("legacy answer %d %q", status, answer)
	}
	if status, _, answer := hookPost(t, workflow, "application/json; charset=utf-8", body, nil); status != 202 || answer != "" {
		t.Errorf("workflow answer %d %q", status, answer)
	}
	reqs := s.Accepted()
	if len(reqs) != 2 || !reqs[0].Legacy || reqs[1].Legacy || reqs[0].URL != legacy || reqs[1].URL != workflow {
		t.Fatalf("accepted %+v", reqs)
	}
	c := reqs[0].Message.Card()
	bs := c.Buttons()
	if c.Version != "1.4" || len(bs) != 12 || bs[10].Title != "10" || bs[11].Title != "View response" {
		t.Errorf("card %+v buttons %+v", c, bs)
	}
	v := reqs[0].Visible()
	for _, want := range []string{"How likely?", "\n10\n", "View response", "https://nps.example.com/r/t"} {
		if !strings.Contains(v, want) {
			t.Errorf("Visible %q lacks %q", v, want)
		}
	}
}

func TestTeamsRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(card map[string]any)
		body string // instead of a card
	}{
		{name: "not JSON", body: `{"type":`},
		{name: "not a message", body: `{"type":"event","attachments":[]}`},
		{name: "no attachments", body: `{"type":"message","attachments":[]}`},
		{name: "schema", edit: func(c map[string]any) { c["$schema"] = "https://adaptivecards.io/schemas/adaptive-card.json" }},
		{name: "card type", edit: func(c map[string]any) { c["type"] = "HeroCard" }},
		{name: "version too new", edit: func(c map[string]any) { c["version"] = "1.6" }},
		{name: "no version", edit: func(c map[string]any) { delete(c, "version") }},
		{name: "empty body", edit: func(c map[string]any) { c["body"] = []any{} }},
		{name: "empty TextBlock", edit: func(c map[string]any) { c["body"] = []any{map[string]any{"type": "TextBlock", "text": " "}} }},
		{name: "seven in a set", edit: func(c map[string]any) {
			c["body"] = []any{map[string]any{"type": "ActionSet", "actions": teamsActions(0, 7)}}
		}},
		{name: "seven card actions", edit: func(c map[string]any) { c["actions"] = teamsActions(0, 7) }},
		{name: "relative url", edit: func(c map[string]any) {
			c["actions"] = []any{map[string]any{"type": "Action.OpenUrl", "title": "x", "url": "/r/t"}}
		}},
		{name: "untitled", edit: func(c map[string]any) {
			c["actions"] = []any{map[string]any{"type": "Action.OpenUrl", "url": "https://x.example"}}
		}},
		{name: "submit", edit: func(c map[string]any) {
			c["actions"] = []any{map[string]any{"type": "Action.Submit", "title": "x"}}
		}},
		{name: "unknown element", edit: func(c map[string]any) { c["body"] = []any{map[string]any{"type": "Carousel"}} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := chattest.StartTeams(t)
			body := tc.body
			if body == "" {
				body = teamsCard(t, tc.edit)
			}
			status, _, answer := hookPost(t, s.LegacyURL("t"), "application/json", body, nil)
			if status != 400 || answer != chattest.TeamsBadPayload.Body {
				t.Errorf("legacy answer %d %q", status, answer)
			}
			status, h, answer := hookPost(t, s.WorkflowURL("s"), "application/json", body, nil)
			if status != 400 || !strings.Contains(answer, `"code":"InvalidRequestContent"`) || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
				t.Errorf("workflow answer %d %q", status, answer)
			}
			for _, r := range s.Requests() {
				if r.Accepted() || r.Problem == "" {
					t.Errorf("recorded %+v", r)
				}
			}
		})
	}
}

func TestTeamsTooLarge(t *testing.T) {
	s := chattest.StartTeams(t)
	body := teamsCard(t, func(c map[string]any) {
		c["body"] = []any{map[string]any{"type": "TextBlock", "text": strings.Repeat("x", chattest.TeamsMaxPayload)}}
	})
	status, _, answer := hookPost(t, s.LegacyURL("t"), "application/json", body, nil)
	if status != 200 || !strings.Contains(answer, "returned HTTP error 413") {
		t.Errorf("legacy answer %d %q", status, answer)
	}
	if status, _, _ := hookPost(t, s.WorkflowURL("s"), "application/json", body, nil); status != 413 {
		t.Errorf("workflow answer %d", status)
	}
	if len(s.Accepted()) != 0 {
		t.Error("accepted")
	}
}

func TestTeamsFaults(t *testing.T) {
	s := chattest.StartTeams(t)
	body := teamsCard(t, nil)
	s.FailNext(chattest.TeamsDeliveryFailed(429), chattest.TeamsRateLimited("5"), chattest.TeamsWorkflowNotFound)
	status, _, answer := hookPost(t, s.LegacyURL("t"), "application/json", body, nil)
	if status != 200 || !strings.HasPrefix(answer, "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 ") {
		t.Errorf("first %d %q", status, answer)
	}
	status, h, _ := hookPost(t, s.LegacyURL("t"), "application/json", body, nil)
	if status != 429 || h.Get("Retry-After") != "5" {
		t.Errorf("second %d %v", status, h)
	}
	if status, _, answer := hookPost(t, s.WorkflowURL("s"), "application/json", body, nil); status != 404 || !strings.Contains(answer, "WorkflowNotFound") {
		t.Errorf("third %d %q", status, answer)
	}
	if status, _, _ := hookPost(t, s.URL()+"/elsewhere", "application/json", body, nil); status != 404 {
		t.Errorf("unknown path %d", status)
	}
	if n := len(s.Accepted()); n != 0 {
		t.Errorf("%d accepted", n)
	}
	if s.Requests()[0].Accepted() {
		t.Error("a 200 with a failure text counts as accepted")
	}
}
