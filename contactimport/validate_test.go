package contactimport

import (
	"reflect"
	"strings"
	"testing"

	"github.com/npsgate/npsgate/store"
)

func TestValidateContact(t *testing.T) {
	long := strings.Repeat("é", 100)
	for _, tc := range []struct {
		name   string
		in     store.Contact
		region string
		want   store.Contact // when ok
		field  string        // when refused
		reason string        // a part of the reason
	}{
		{name: "minimal", in: store.Contact{ExternalID: "a"}, want: store.Contact{ExternalID: "a"}},
		{
			name: "normalised",
			in: store.Contact{ExternalID: "u-1:x@y+z_.", Email: "ana@example.com", Phone: "(415) 555-0100",
				Locale: "zh-hant-tw", TimeZone: "Europe/Berlin", Tags: []string{"vip"}, Attributes: map[string]string{"k": "v"}},
			region: "us",
			want: store.Contact{ExternalID: "u-1:x@y+z_.", Email: "ana@example.com", Phone: "+14155550100",
				Locale: "zh-Hant-TW", TimeZone: "Europe/Berlin", Tags: []string{"vip"}, Attributes: map[string]string{"k": "v"}},
		},
		{name: "international phone without region", in: store.Contact{ExternalID: "a", Phone: "+49 30 901820"},
			want: store.Contact{ExternalID: "a", Phone: "+4930901820"}},
		{name: "no id", in: store.Contact{Email: "a@example.com"}, field: "external_id", reason: "required"},
		{name: "id with space", in: store.Contact{ExternalID: "a b"}, field: "external_id", reason: "1-128 letters"},
		{name: "id too long", in: store.Contact{ExternalID: strings.Repeat("a", 129)}, field: "external_id", reason: "1-128"},
		{name: "id starting with a dot", in: store.Contact{ExternalID: ".a"}, field: "external_id", reason: "1-128"},
		{name: "email with a name", in: store.Contact{ExternalID: "a", Email: "Ana <ana@example.com>"}, field: "email", reason: "not a valid email"},
		{name: "email without dot", in: store.Contact{ExternalID: "a", Email: "ana@localhost"}, field: "email", reason: "not a valid email"},
		{name: "long bad email is clipped", in: store.Contact{ExternalID: "a", Email: long}, field: "email", reason: strings.Repeat("é", 64) + `…"`},
		{name: "national phone without region", in: store.Contact{ExternalID: "a", Phone: "(415) 555-0100"}, field: "phone", reason: "international form"},
		{name: "phone extension", in: store.Contact{ExternalID: "a", Phone: "+14155550100 ext. 12"}, field: "phone", reason: "extension"},
		{name: "locale", in: store.Contact{ExternalID: "a", Locale: "english!"}, field: "locale", reason: "BCP 47"},
		{name: "time zone", in: store.Contact{ExternalID: "a", TimeZone: "Europe/Atlantis"}, field: "time_zone", reason: "IANA"},
		{name: "Local", in: store.Contact{ExternalID: "a", TimeZone: "Local"}, field: "time_zone", reason: "IANA"},
		{name: "NUL in role", in: store.Contact{ExternalID: "a", Role: "a\x00"}, field: "role", reason: "NUL"},
		{name: "bad UTF-8 tag", in: store.Contact{ExternalID: "a", Tags: []string{"ok", "\xc3"}}, field: "tags", reason: "UTF-8"},
		{name: "bad attribute name", in: store.Contact{ExternalID: "a", Attributes: map[string]string{"\xff": "v"}}, field: "attributes", reason: "attribute name"},
		{name: "bad attribute value", in: store.Contact{ExternalID: "a", Attributes: map[string]string{"plan": "\x00"}}, field: "attributes.plan", reason: "NUL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range []*validator{{phoneRegion: tc.region}, {phoneRegion: tc.region, zones: map[string]bool{}}} {
				for range 2 { // the second time from the memory of zones
					c := tc.in
					field, reason, ok := v.validate(&c)
					if tc.reason == "" {
						if !ok {
							t.Fatalf("refused: %s: %s", field, reason)
						}
						if !reflect.DeepEqual(c, tc.want) {
							t.Errorf("normalised to %+v\nwant %+v", c, tc.want)
						}
						continue
					}
					if ok || field != tc.field || !strings.Contains(reason, tc.reason) {
						t.Errorf("= %q, %q, %v; want %q with %q", field, reason, ok, tc.field, tc.reason)
					}
				}
			}
			// The exported function is the same check.
			c := tc.in
			field, reason, ok := ValidateContact(&c, tc.region)
			if ok != (tc.reason == "") || field != tc.field || !strings.Contains(reason, tc.reason) {
				t.Errorf("ValidateContact = %q, %q, %v", field, reason, ok)
			}
		})
	}
}

func TestZoneMemoryBounded(t *testing.T) {
	v := validator{zones: map[string]bool{}}
	for i := range maxZones + 100 {
		v.validZone("Nowhere/" + strings.Repeat("x", i%50) + string(rune('a'+i%26)) + strings.Repeat("y", i/50))
	}
	if len(v.zones) > maxZones {
		t.Errorf("%d zones remembered, want at most %d", len(v.zones), maxZones)
	}
}
