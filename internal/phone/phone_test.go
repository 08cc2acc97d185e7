package phone_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/npsgate/npsgate/internal/phone"
)

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		raw, region, want string
	}{
		{"+1 (415) 555-0100", "", "+14155550100"},
		{"+1 (415) 555-0100", "DE", "+14155550100"}, // an explicit country code wins over the region
		{"+14155550100", "", "+14155550100"},
		{"  +1.415.555.0100  ", "", "+14155550100"},
		{"(415) 555-0100", "US", "+14155550100"},
		{"(415) 555-0100", "us", "+14155550100"},
		{"415-555-0100", " US ", "+14155550100"},
		{"1 415 555 0100", "US", "+14155550100"},
		{"011 49 30 123456", "US", "+4930123456"},
		{"004930123456", "", "+4930123456"},
		{"004930123456", "DE", "+4930123456"},
		{"004930123456", "US", "+4930123456"}, // US dials 011, but 00 is unambiguous here
		{"00 49 170 1234567", "", "+491701234567"},
		{"030 123456", "DE", "+4930123456"},
		{"0170 1234567", "DE", "+491701234567"},
		{"+86 138 0013 8000", "", "+8613800138000"},
		{"+44 7400 123456", "", "+447400123456"},
		{"07400 123456", "GB", "+447400123456"},
		{"tel:+14155550100", "", "+14155550100"},
		{"+33 6 12 34 56 78", "", "+33612345678"},
	} {
		got, err := phone.Normalize(tc.raw, tc.region)
		if err != nil {
			t.Errorf("Normalize(%q, %q): %v", tc.raw, tc.region, err)
			continue
		}
		if got != tc.want {
			t.Errorf("Normalize(%q, %q) = %q, want %q", tc.raw, tc.region, got, tc.want)
		}
	}
}

func TestNormalizeRejects(t *testing.T) {
	for _, tc := range []struct {
		raw, region, why string
	}{
		{"", "US", "empty"},
		{"   ", "US", "empty"},
		{"(415) 555-0100", "", "no country code"},
		{"4155550100", "", "no country code"},
		{"hello", "US", "not a phone number"},
		{"+1 415 555", "", "not a valid number"},
		{"+1 415 555 0100 ext. 5", "", "extension"},
		{"+999 123456789", "", "invalid country code"},
		{"+1 (415) 555-01000000", "", "not a valid number"},
		{"415 555 0100", "XX", "unknown default region"},
		{"+49 1", "", "too short"},
		{strings.Repeat("1", 300), "US", "longer than"},
		{"21000000000000", "DE", "more than 15 digits"},
		{"+14155550100; DROP TABLE contacts", "", "not a phone number"},
	} {
		got, err := phone.Normalize(tc.raw, tc.region)
		if err == nil {
			t.Errorf("Normalize(%q, %q) = %q, want an error", tc.raw, tc.region, got)
			continue
		}
		if !errors.Is(err, phone.ErrInvalid) {
			t.Errorf("Normalize(%q, %q): %v does not wrap ErrInvalid", tc.raw, tc.region, err)
		}
		if !strings.Contains(err.Error(), tc.why) {
			t.Errorf("Normalize(%q, %q): error %q does not say %q", tc.raw, tc.region, err, tc.why)
		}
		if got != "" {
			t.Errorf("Normalize(%q, %q) returned %q with its error", tc.raw, tc.region, got)
		}
	}
}

func TestNormalizeErrorIsShort(t *testing.T) {
	_, err := phone.Normalize(strings.Repeat("é", 100), "US")
	if err == nil {
		t.Fatal("no error")
	}
	if len(err.Error()) > 160 {
		t.Errorf("error echoes too much of the input: %q", err)
	}
	if !utf8.ValidString(err.Error()) {
		t.Errorf("error is not valid UTF-8: %q", err)
	}
}

func TestIsMobile(t *testing.T) {
	for _, tc := range []struct {
		e164 string
		want bool
	}{
		{"+491701234567", true},  // German mobile range
		{"+4930123456", false},   // Berlin landline
		{"+8613800138000", true}, // China Mobile
		{"+447400123456", true},
		{"+14155550100", true}, // NANP: fixed line or mobile
		{"004930123456", false},
		{"+1", false},
		{"", false},
		{"not a number", false},
	} {
		if got := phone.IsMobile(tc.e164); got != tc.want {
			t.Errorf("IsMobile(%q) = %v, want %v", tc.e164, got, tc.want)
		}
	}
}

// FuzzNormalize checks that no input panics and that whatever Normalize
// accepts comes out as canonical E.164 that normalizes to itself.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"+1 (415) 555-0100", "004930123456", "(415) 555-0100", "+86 138 0013 8000",
		"tel:+14155550100", "+1 415 555 0100 ext. 5", "", "+", "00", "++1", "0",
		"+44 7400 123456;ext=1", "\x00+1\u00a0415", "１２３", "+٤٩٣٠١٢٣٤٥٦",
	} {
		f.Add(s, "US")
		f.Add(s, "")
		f.Add(s, "DE")
	}
	f.Fuzz(func(t *testing.T, raw, region string) {
		got, err := phone.Normalize(raw, region)
		if err != nil {
			if !errors.Is(err, phone.ErrInvalid) {
				t.Fatalf("Normalize(%q, %q): %v does not wrap ErrInvalid", raw, region, err)
			}
			if got != "" {
				t.Fatalf("Normalize(%q, %q) = %q with error %v", raw, region, got, err)
			}
			return
		}
		if len(got) < 3 || len(got) > 16 || got[0] != '+' || strings.Trim(got[1:], "0123456789") != "" {
			t.Fatalf("Normalize(%q, %q) = %q, not E.164", raw, region, got)
		}
		again, err := phone.Normalize(got, "")
		if err != nil || again != got {
			t.Fatalf("Normalize(%q) = %q, %v; want it unchanged", got, again, err)
		}
		_ = phone.IsMobile(got)
	})
}
