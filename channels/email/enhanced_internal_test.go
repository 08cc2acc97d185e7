package email

import (
	"errors"
	"net/textproto"
	"testing"
)

func TestEnhancedCode(t *testing.T) {
	for _, tc := range []struct {
		reply string
		want  string
	}{
		{"5.1.1 User unknown in virtual mailbox table", "5.1.1"},
		{"5.1.10 Recipient address has null MX", "5.1.10"},
		{"4.7.1 Greylisted, come back later", "4.7.1"},
		{"5.1.1\nsecond line of a multiline reply", "5.1.1"},
		{"User unknown", ""},
		{"5.1 missing detail", ""},
		{"6.1.1 not a class", ""},
		{"5.1.1234 detail too long", ""},
		{"5.x.1 not digits", ""},
		{"", ""},
	} {
		e := &sendError{stage: stageRcpt, err: &textproto.Error{Code: 550, Msg: tc.reply}}
		if got := e.EnhancedCode(); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.reply, got, tc.want)
		}
	}
	// The dispatcher finds it through the channel error.
	var ec interface{ EnhancedCode() string }
	ce := (&sendError{stage: stageRcpt, err: &textproto.Error{Code: 550, Msg: "5.1.1 no such user"}}).channelError()
	if !errors.As(error(ce), &ec) || ec.EnhancedCode() != "5.1.1" {
		t.Fatalf("not found through %v", ce)
	}
	if (&sendError{stage: stageData, err: errors.New("connection reset")}).EnhancedCode() != "" {
		t.Fatal("an error without a reply has a code")
	}
}
