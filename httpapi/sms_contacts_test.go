package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestPutContactInvalidPhone: a number that is not a phone number is a 400
// naming the field, and nothing is saved; a valid one is stored in E.164.
func TestPutContactInvalidPhone(t *testing.T) {
	h := newHarness(t)
	for _, phone := range []string{"call me", "+1 415 555", "+999 123 4567", "12345678901234567890"} {
		t.Run(phone, func(t *testing.T) {
			a := h.do("PUT", "/v1/contacts/p-bad", map[string]any{"phone": phone, "email": "p@example.com"})
			if a.status != http.StatusBadRequest || a.errField() != "phone" || a.errCode() != "invalid_field" {
				t.Fatalf("%d %s, want 400 naming phone", a.status, a.raw)
			}
			if msg, _ := a.body["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "+14155550100") {
				t.Fatalf("the message does not show the form wanted: %q", msg)
			}
			if g := h.do("GET", "/v1/contacts/p-bad", nil); g.status != http.StatusNotFound {
				t.Fatalf("a refused contact was saved: %d %s", g.status, g.raw)
			}
		})
	}
	if a := h.do("PUT", "/v1/contacts/p-good", map[string]any{"phone": "+44 20 7946 0958"}); a.status != http.StatusCreated || a.body["phone"] != "+442079460958" {
		t.Fatalf("valid phone: %d %s", a.status, a.raw)
	}
}
