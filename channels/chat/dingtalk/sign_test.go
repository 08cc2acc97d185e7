package dingtalk

import (
	"strings"
	"testing"
	"time"
)

// A vector computed outside Go (openssl dgst -sha256 -hmac), as DingTalk's
// documentation describes the signature.
const (
	vectorSecret    = "SECb6a0f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f90a1b"
	vectorTimestamp = 1700000000123
	vectorSign      = "AIWvBrlXm8i1jESKGSuYdqIjpJOb3VPTR79WTiL54pk="
)

func TestSignVector(t *testing.T) {
	if got := sign(vectorSecret, vectorTimestamp); got != vectorSign {
		t.Errorf("sign = %q, want %q", got, vectorSign)
	}
}

func TestTargetSignsAndDropsSecret(t *testing.T) {
	rb, err := parseAddress("https://oapi.dingtalk.com/robot/send?access_token=tok&secret=" + vectorSecret +
		"&timestamp=1&sign=stale#frag")
	if err != nil {
		t.Fatal(err)
	}
	got := rb.target(time.UnixMilli(vectorTimestamp))
	// The sign is URL-encoded once: "+", "/" and "=" escaped.
	want := "https://oapi.dingtalk.com/robot/send?access_token=tok&sign=AIWvBrlXm8i1jESKGSuYdqIjpJOb3VPTR79WTiL54pk%3D&timestamp=1700000000123"
	if got != want {
		t.Errorf("target\n got %s\nwant %s", got, want)
	}
	if strings.Contains(got, "secret") {
		t.Errorf("target keeps the secret: %s", got)
	}

	// A robot without a secret keeps its URL as it is.
	rb, err = parseAddress("https://oapi.dingtalk.com/robot/send?access_token=tok")
	if err != nil {
		t.Fatal(err)
	}
	if got := rb.target(time.Now()); got != "https://oapi.dingtalk.com/robot/send?access_token=tok" {
		t.Errorf("target %s", got)
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"hello world", 8, "hello…"},
		{"see [the page](https://x.example/p) now", 30, "see…"},
		{"see [the page](https://x.example/p) now", 38, "see [the page](https://x.example/p)…"},
		{"héllo", 5, "h…"},
		{"ab", 2, "ab"},
		{"abc", 2, ""},
	} {
		if got := truncate(tc.in, tc.n); got != tc.want || len(got) > tc.n {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
