package dispatcher_test

import (
	"testing"

	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/templates"
)

// BenchmarkRenderDelivery is the render step of the send pipeline for one
// email: the survey's texts and links for the delivery (MessageData), then
// the default templates.
func BenchmarkRenderDelivery(b *testing.B) {
	set, err := templates.New()
	if err != nil {
		b.Fatal(err)
	}
	sv := &store.Survey{Key: "rel", Kind: "nps", ProductName: "Acme Cloud"}
	d := &store.Delivery{ID: "0190d3c0-0000-7000-8000-000000000001", Channel: "email", Locale: "en",
		Token: dispatcher.NewToken()}
	links := dispatcher.Links{Base: "https://nps.example.com", UnsubscribeMailto: "unsubscribe@acme.example"}
	b.ReportAllocs()
	for b.Loop() {
		data := dispatcher.MessageData(sv, d, links)
		if _, err := set.Render(dispatcher.TemplateFamily(d.Channel), d.Locale, templates.Overrides(sv.Templates), data); err != nil {
			b.Fatal(err)
		}
	}
}
