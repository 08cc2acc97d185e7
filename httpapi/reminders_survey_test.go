package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestReminderSettingsCheckedOnSave: a reminder's own templates are
// validated like the survey's (the error names the field and the line),
// a reminder due after the reply link expires is refused, and every
// reminder's SMS is measured against sms.max_segments.
func TestReminderSettingsCheckedOnSave(t *testing.T) {
	h := newHarness(t)
	long := strings.Repeat("Please tell us how we did. ", 20) + "{{.ReplyURL}}"
	tests := []struct {
		name      string
		body      map[string]any
		field     string
		inMessage string
	}{
		{"broken reminder template", map[string]any{"reminders": []map[string]any{{"after": "3d",
			"templates": map[string]any{"email": map[string]any{"en": map[string]any{"text": "Hi\n{{.Nope}}"}}}}}},
			"reminders[0].templates.email.en.text", "line 2"},
		{"unknown channel in a reminder's templates", map[string]any{"reminders": []map[string]any{{"after": "3d",
			"templates": map[string]any{"email_reminder": map[string]any{"en": map[string]any{"text": "Hi"}}}}}},
			"reminders[0].templates.email_reminder", "unknown channel"},
		{"reminder after the reply window", map[string]any{"reply_window": "7d",
			"reminders": []map[string]any{{"after": "3d"}, {"after": "7d"}}}, "reminders[1].after", "reply_window"},
		{"reminder after the default reply window", map[string]any{
			"reminders": []map[string]any{{"after": "31d"}}}, "reminders[0].after", "31d after the survey, when its reply link (reply_window 30d)"},
		{"reminder SMS too long", map[string]any{"reminders": []map[string]any{{"after": "3d",
			"templates": map[string]any{"sms": map[string]any{"en": map[string]any{"text": long}}}}}},
			"reminders[0].templates.sms.en.text", "segments"},
		{"shared reminder SMS too long", map[string]any{"templates": map[string]any{"sms_reminder": map[string]any{"en": map[string]any{"text": long}}},
			"reminders": []map[string]any{{"after": "3d"}}}, "templates.sms_reminder.en.text", "reminder 1"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := map[string]any{"key": "r" + string(rune('a'+i)), "product_name": "Acme", "channels": []string{"sms"}}
			for k, v := range tt.body {
				body[k] = v
			}
			a := h.do("POST", "/v1/surveys", body)
			msg, _ := a.body["error"].(map[string]any)["message"].(string)
			if a.status != http.StatusBadRequest || a.errField() != tt.field || !strings.Contains(msg, tt.inMessage) {
				t.Fatalf("%d field %q message %q; want 400 %q with %q", a.status, a.errField(), msg, tt.field, tt.inMessage)
			}
		})
	}
}

// TestReminderSMSReport: a survey's answer reports each reminder's SMS,
// and the default English reminder with its short link is one GSM-7
// segment even with a long product name; a reminder's own templates come
// back as saved.
func TestReminderSMSReport(t *testing.T) {
	h := newHarness(t)
	a := h.do("POST", "/v1/surveys", map[string]any{"key": "rem", "product_name": "Acme Cloud Platform Pro", "channels": []string{"sms"},
		"reminders": []map[string]any{{"after": "3d"}, {"after": "7d",
			"templates": map[string]any{"sms": map[string]any{"en": map[string]any{"text": "Last call: {{.ReplyURL}}"}}}}}})
	if a.status != http.StatusCreated {
		t.Fatalf("create: %d %s", a.status, a.raw)
	}
	rems, _ := a.body["reminders"].([]any)
	if len(rems) != 2 {
		t.Fatalf("reminders %v", a.body["reminders"])
	}
	for i, want := range []float64{1, 1} {
		sms, _ := rems[i].(map[string]any)["sms"].(map[string]any)
		en, _ := sms["en"].(map[string]any)
		if en["encoding"] != "GSM-7" || en["segments"] != want || sms["zh-CN"] == nil {
			t.Fatalf("reminder %d SMS report %v", i+1, sms)
		}
	}
	if en := rems[0].(map[string]any)["sms"].(map[string]any)["en"].(map[string]any); en["characters"].(float64) < 140 {
		t.Fatalf("the default reminder measured %v characters: was the short link counted?", en["characters"])
	}
	got := h.do("GET", "/v1/surveys/rem", nil)
	saved, _ := got.body["reminders"].([]any)
	if len(saved) != 2 || !strings.Contains(got.raw, "Last call: {{.ReplyURL}}") {
		t.Fatalf("saved reminders %s", got.raw)
	}

	// A survey whose reply window is shorter than the default reminder's
	// delay gets no reminder rather than one that would be dropped.
	a = h.do("POST", "/v1/surveys", map[string]any{"key": "short", "product_name": "Acme", "reply_window": "48h"})
	if a.status != http.StatusCreated || len(a.body["reminders"].([]any)) != 0 {
		t.Fatalf("short window: %d %v", a.status, a.body["reminders"])
	}
}
