// Package phone turns the phone numbers people type into E.164, the only
// form the SMS channel and the store keep, using Google's libphonenumber
// metadata (github.com/nyaruka/phonenumbers).
package phone

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// ErrInvalid is wrapped by every error of Normalize: the input is not a
// phone number that can receive a message.
var ErrInvalid = errors.New("invalid phone number")

// maxInput bounds what is handed to the parser; libphonenumber itself
// refuses more than 250 characters, and no number written by a person
// comes near that.
const maxInput = 250

// maxDigits is E.164's limit, country code included.
const maxDigits = 15

// Normalize returns raw in E.164 ("+14155550100").
//
// raw may be written the way people write numbers: with spaces, dots,
// dashes and parentheses, with a leading "+" and country code, with the
// international prefix 00 instead of "+" ("004930123456"), or in national
// form ("(415) 555-0100"), which needs defaultRegion, an ISO 3166-1 alpha-2
// code such as "US" or "de". With defaultRegion "" only international forms
// are accepted.
//
// The number must be valid for its country according to libphonenumber's
// metadata (right length, an allocated range); numbers with an extension
// are refused, since a message cannot reach an extension. Every error
// wraps ErrInvalid.
func Normalize(raw, defaultRegion string) (string, error) {
	in := strings.TrimSpace(raw)
	if in == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalid)
	}
	if len(in) > maxInput {
		return "", fmt.Errorf("%w: longer than %d characters", ErrInvalid, maxInput)
	}
	region := strings.ToUpper(strings.TrimSpace(defaultRegion))
	if region != "" && phonenumbers.GetCountryCodeForRegion(region) == 0 {
		return "", fmt.Errorf("%w: unknown default region %q", ErrInvalid, defaultRegion)
	}

	num, err := parse(in, region)
	if err != nil || !phonenumbers.IsValidNumber(num) {
		// "00" is the international prefix of most of the world (ITU-T
		// E.164 recommends it) but not of every region: the US dials 011, so
		// "0049…" with region "US", or with no region at all, would not be
		// read as international. Try it as "+49…" before giving up.
		if alt, ok := strings.CutPrefix(in, "00"); ok {
			if n2, err2 := parse("+"+alt, ""); err2 == nil && phonenumbers.IsValidNumber(n2) {
				num, err = n2, nil
			}
		}
	}
	if err != nil {
		return "", fmt.Errorf("%w: %q: %s", ErrInvalid, quoteable(raw), reason(err, in, region))
	}
	if !phonenumbers.IsValidNumber(num) {
		return "", fmt.Errorf("%w: %q: not a valid number for its country", ErrInvalid, quoteable(raw))
	}
	if num.GetExtension() != "" {
		return "", fmt.Errorf("%w: %q: has an extension", ErrInvalid, quoteable(raw))
	}
	e164 := phonenumbers.Format(num, phonenumbers.E164)
	if len(e164)-1 > maxDigits {
		// libphonenumber's metadata allows some national numbers (German
		// ones among them) that make the whole longer than E.164 permits.
		return "", fmt.Errorf("%w: %q: more than %d digits", ErrInvalid, quoteable(raw), maxDigits)
	}
	return e164, nil
}

// parse is phonenumbers.Parse, made safe to call on anything: the library
// is a port of a large Java code base and an unexpected input must cost one
// rejected number, never the process.
func parse(s, region string) (num *phonenumbers.PhoneNumber, err error) {
	defer func() {
		if r := recover(); r != nil {
			num, err = nil, fmt.Errorf("parser failed: %v", r)
		}
	}()
	return phonenumbers.Parse(s, region)
}

// reason turns the parser's error into words for the person who typed the
// number.
func reason(err error, in, region string) string {
	switch {
	case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
		if region == "" && !strings.HasPrefix(in, "+") {
			return "no country code (write it as +<country code> <number>, or give a default region)"
		}
		return "invalid country code"
	case errors.Is(err, phonenumbers.ErrNotANumber):
		return "not a phone number"
	case errors.Is(err, phonenumbers.ErrTooShortNSN), errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
		return "too short"
	case errors.Is(err, phonenumbers.ErrNumTooLong):
		return "too long"
	}
	return err.Error()
}

// quoteable shortens what is echoed back in an error, so that a client
// that posts a paragraph does not get it back in every log line.
func quoteable(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	// Cut on a rune boundary so %q does not show a broken character.
	cut := max
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// IsMobile reports whether an E.164 number is in a mobile range, or in a
// range that libphonenumber cannot tell apart from one (the whole of the
// North American Numbering Plan is "fixed line or mobile"). It is false for
// anything that is not a valid E.164 number. Use it to warn before a send,
// not to refuse one: numbers get ported and ranges reallocated, and Twilio
// (error 21614) has the last word.
func IsMobile(e164 string) bool {
	if !strings.HasPrefix(e164, "+") || len(e164) > maxInput {
		return false
	}
	num, err := parse(e164, "")
	if err != nil || !phonenumbers.IsValidNumber(num) {
		return false
	}
	switch phonenumbers.GetNumberType(num) {
	case phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE:
		return true
	}
	return false
}
