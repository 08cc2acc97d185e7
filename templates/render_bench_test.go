package templates_test

import (
	"testing"

	"github.com/npsgate/npsgate/templates"
)

// BenchmarkRender renders one message per channel family with the embedded
// defaults, and an email with a cached override, as the send pipeline does
// for every delivery.
func BenchmarkRender(b *testing.B) {
	set, err := templates.New()
	if err != nil {
		b.Fatal(err)
	}
	override := templates.Overrides{"email": {"en": {"subject": "{{.ProductName}}: one quick question"}}}
	cases := []struct {
		name, channel, locale string
		ov                    templates.Overrides
	}{
		{"email_en", "email", "en", nil},
		{"email_zh-CN", "email", "zh-CN", nil},
		{"email_en_override", "email", "en", override},
		{"sms_en", "sms", "en", nil},
		{"chat_en", "chat", "en", nil},
	}
	for _, c := range cases {
		d := templates.Sample("nps", c.locale)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := set.Render(c.channel, c.locale, c.ov, d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
