package channels_test

import (
	"testing"

	"github.com/npsgate/npsgate/channels"
)

func TestLinkLabel(t *testing.T) {
	for _, tc := range []struct{ locale, kind, want string }{
		{"en", "survey", "Answer"},
		{"en-GB", "alert", "View response"},
		{"", "digest", "View results"},
		{"fr", "alert", "View response"}, // no French table: English, not blank
		{"zh-CN", "survey", "回答"},
		{"zh_cn", "digest", "查看结果"},
		{"zh-Hans", "alert", "查看回复"},
		{"zh-TW", "alert", "查看回覆"},
		{"zh-HK", "digest", "查看結果"},
		{"zh-Hant", "digest", "查看結果"},
		{"en", "", "Answer"}, // a survey sent with no Kind
		{"zh-TW", "unknown", "回答"},
	} {
		if got := channels.LinkLabel(tc.locale, tc.kind); got != tc.want {
			t.Errorf("LinkLabel(%q, %q) = %q, want %q", tc.locale, tc.kind, got, tc.want)
		}
	}
}
