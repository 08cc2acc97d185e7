package templates

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestReminderGolden pins every built-in reminder (the reminder templates
// that ship, else the survey's defaults with the prefix), rendered from
// the fixed sample.
func TestReminderGolden(t *testing.T) {
	s := newSet(t)
	checkGolden(t, filepath.Join("testdata", "reminder_golden"), "reminder", func(ch, loc string) (Message, error) {
		return s.RenderReminder(ch, loc, nil, nil, Sample("nps", loc))
	})
}

// TestReminderFallsBackPartByPart: a reminder overridden only in English
// and a survey overridden only in zh-CN. A zh-CN contact's reminder takes
// the survey's zh-CN text marked 提醒： and the built-in zh-CN subject
// marked the same, never the bare built-in (a fresh survey); an English
// contact's takes the reminder's subject as written and the built-in
// English text marked "Reminder: ".
func TestReminderFallsBackPartByPart(t *testing.T) {
	s := newSet(t)
	own := []Overrides{{"email": {"en": {PartSubject: "Still time to tell us about {{.ProductName}}"}}}}
	survey := Overrides{"email": {"zh-CN": {PartText: "{{.Question}} {{.ReplyURL}}"}}}

	zh := Sample("nps", "zh-CN")
	m, err := s.RenderReminder("email", "zh-CN", own, survey, zh)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := s.Render("email", "zh-CN", nil, zh)
	if err != nil {
		t.Fatal(err)
	}
	if want := "提醒：" + plain.Subject; m.Subject != want {
		t.Errorf("zh-CN subject %q, want %q", m.Subject, want)
	}
	if want := "提醒：" + zh.Question + " " + zh.ReplyURL; m.Text != want {
		t.Errorf("zh-CN text %q, want %q", m.Text, want)
	}
	if m.HTML != plain.HTML {
		t.Error("zh-CN html is not the built-in one")
	}

	en := Sample("nps", "en")
	m, err = s.RenderReminder("email", "en", own, survey, en)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ = s.Render("email", "en", nil, en)
	if m.Subject != "Still time to tell us about Acme" {
		t.Errorf("en subject %q", m.Subject)
	}
	if want := "Reminder: " + plain.Text; m.Text != want {
		t.Errorf("en text %q, want %q", m.Text, want)
	}
	// A locale we have no words for reads English, prefix included.
	m, err = s.RenderReminder("sms", "fr", nil, nil, Sample("nps", "fr"))
	if err != nil || !strings.HasPrefix(m.Text, "Reminder: ") {
		t.Errorf("fr reminder %q %v", m.Text, err)
	}
}

// TestReminderLayersInOrder: the reminder's own templates win over the
// ones shared by every reminder, which win over the survey's, each part
// on its own; ReminderOrigin names the layer a part came from.
func TestReminderLayersInOrder(t *testing.T) {
	s := newSet(t)
	mine := Overrides{"sms": {"en": {PartText: "Mine: {{.ReplyURL}}"}}}
	shared := Overrides{"sms": {"en": {PartText: "Shared: {{.ReplyURL}}"}}, "email": {"en": {PartSubject: "Shared subject"}}}
	survey := Overrides{"email": {"en": {PartSubject: "Survey subject", PartText: "Survey text"}}}
	d := Sample("nps", "en")
	tests := []struct {
		channel, part string
		own           []Overrides
		want          string
		origin        Origin
	}{
		{"sms", PartText, []Overrides{mine, shared}, "Mine: " + d.ReplyURL, Origin{Own: 0, Locale: "en"}},
		{"sms", PartText, []Overrides{shared}, "Shared: " + d.ReplyURL, Origin{Own: 0, Locale: "en"}},
		{"email", PartSubject, []Overrides{mine, shared}, "Shared subject", Origin{Own: 1, Locale: "en"}},
		{"email", PartText, []Overrides{mine, shared}, "Reminder: Survey text", Origin{Own: -1, Survey: true, Locale: "en"}},
		{"sms", PartText, nil, "Reminder: " + d.Question + " Reply 0-10 or answer here: " + d.ReplyURL, Origin{Own: -1, Locale: "en"}},
	}
	for _, tt := range tests {
		m, err := s.RenderReminder(tt.channel, "en", tt.own, survey, d)
		if err != nil {
			t.Fatal(err)
		}
		if got := part(m, tt.part); got != tt.want {
			t.Errorf("%s %s = %q, want %q", tt.channel, tt.part, got, tt.want)
		}
		if got := s.ReminderOrigin(tt.channel, "en", tt.part, tt.own, survey); got != tt.origin {
			t.Errorf("%s %s origin %+v, want %+v", tt.channel, tt.part, got, tt.origin)
		}
	}
}

// TestDefaultReminderSMSFitsOneSegment: the built-in English reminder SMS
// with its short link is one GSM-7 segment even for a long product name,
// where the survey's SMS with the prefix and "?m=1" took two.
func TestDefaultReminderSMSFitsOneSegment(t *testing.T) {
	s := newSet(t)
	const product = "Acme Cloud Platform Pro" // 23 characters
	d := Sample("nps", "en")
	d.ProductName = product
	d.Question = strings.ReplaceAll(sampleQuestions["nps"]["en"], "{product}", product)
	d.ReplyURL = "https://nps.example.com/s/AbC2dE3"
	d.Scores = nil
	m, err := s.RenderReminder("sms", "en", nil, nil, d)
	if err != nil {
		t.Fatal(err)
	}
	if enc, n := Segments(m.Text); enc != GSM7 || n != 1 {
		t.Fatalf("%d characters, %s in %d segments: %q", len(m.Text), enc, n, m.Text)
	}
	old := d
	old.ReplyURL += "?m=1"
	survey, _ := s.Render("sms", "en", nil, old)
	if _, n := Segments("Reminder: " + survey.Text); n != 2 {
		t.Fatalf("the old reminder took %d segments", n)
	}
}
