package contactimport

import (
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/language"

	"github.com/npsgate/npsgate/internal/phone"
	"github.com/npsgate/npsgate/store"
)

// externalIDRE is the API's rule for a contact's id.
var externalIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$`)

// ValidateContact checks c as the contacts API does and normalises it in
// place: the phone becomes E.164 (national numbers are read in phoneRegion,
// an ISO 3166-1 code such as "US"; "" accepts only international ones) and
// the locale its canonical BCP 47 form. Empty optional fields are fine.
// When c is refused, field names the field at fault ("email",
// "attributes.plan") and reason says why in words for the person who sent
// it; the value is quoted, clipped to 64 characters.
//
// Beyond the API's checks of the id, email, phone, locale and time zone,
// every text (tags, attribute names and values included) must be valid
// UTF-8 without NUL characters, which PostgreSQL cannot store.
func ValidateContact(c *store.Contact, phoneRegion string) (field, reason string, ok bool) {
	v := validator{phoneRegion: phoneRegion}
	return v.validate(c)
}

// validator is ValidateContact with a memory of the time zones it has
// looked up: time.LoadLocation reads the zone database on every call, and
// an import asks about the same few zones a million times.
type validator struct {
	phoneRegion string
	zones       map[string]bool // nil: no memory
}

// maxZones bounds the memory of zones; there are about 600 real ones.
const maxZones = 1024

func (v *validator) validate(c *store.Contact) (field, reason string, ok bool) {
	if c.ExternalID == "" {
		return "external_id", "external_id is required", false
	}
	if !externalIDRE.MatchString(c.ExternalID) {
		return "external_id", "external_id must be 1-128 letters, digits or . _ : @ + -", false
	}
	if c.Email != "" && !validEmail(c.Email) {
		return "email", fmt.Sprintf("%q is not a valid email address", clip(c.Email)), false
	}
	if c.Phone != "" {
		p, err := phone.Normalize(c.Phone, v.phoneRegion)
		if err != nil {
			return "phone", fmt.Sprintf("%v; write it in international form, like +14155550100", err), false
		}
		c.Phone = p
	}
	if c.Locale != "" {
		tag, err := language.Parse(c.Locale)
		if err != nil {
			return "locale", fmt.Sprintf("%q is not a BCP 47 locale (like en, zh-CN)", clip(c.Locale)), false
		}
		c.Locale = tag.String()
	}
	if c.TimeZone != "" && !v.validZone(c.TimeZone) {
		return "time_zone", fmt.Sprintf("%q is not an IANA time zone (like Europe/Berlin)", clip(c.TimeZone)), false
	}
	for _, f := range [...]struct{ name, value string }{
		{"name", c.Name}, {"account", c.Account}, {"role", c.Role},
	} {
		if r := badText(f.value); r != "" {
			return f.name, r, false
		}
	}
	for _, t := range c.Tags {
		if r := badText(t); r != "" {
			return "tags", r, false
		}
	}
	for k, val := range c.Attributes {
		if r := badText(k); r != "" {
			return "attributes", "an attribute name " + r, false
		}
		if r := badText(val); r != "" {
			return "attributes." + k, r, false
		}
	}
	return "", "", true
}

func (v *validator) validZone(name string) bool {
	if ok, seen := v.zones[name]; seen {
		return ok
	}
	_, err := time.LoadLocation(name)
	ok := err == nil && name != "Local"
	if v.zones != nil && len(v.zones) < maxZones {
		v.zones[name] = ok
	}
	return ok
}

// validEmail is the API's rule: one bare address with a dot in its domain.
func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && strings.Contains(s[at+1:], ".") && !strings.ContainsAny(s, "\r\n")
}

// badText says what is wrong with a text that cannot be stored, or "".
func badText(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "is not valid UTF-8 text"
	case strings.IndexByte(s, 0) >= 0:
		return "contains a NUL character"
	}
	return ""
}

// clip shortens a value quoted in a reason, so that a row error never
// carries a whole oversized cell.
func clip(s string) string {
	const n = 64
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
