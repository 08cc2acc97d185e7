package dispatcher

import (
	"crypto/rand"
	"encoding/base64"
	"net/url"
	"strconv"
)

// Links builds the public URLs a message carries. The httpapi routes
// /r/{token} and /u/{token} answer them.
type Links struct {
	// Base is the public URL of the gateway, without a trailing slash.
	Base string
	// UnsubscribeMailto is the address of the mailto: unsubscribe; empty
	// leaves the mailto out.
	UnsubscribeMailto string
}

// Reply is the reply page of a delivery.
func (l Links) Reply(token string) string { return l.Base + "/r/" + token }

// Score is the reply page with a score preselected.
func (l Links) Score(token string, score int) string {
	return l.Reply(token) + "?score=" + strconv.Itoa(score)
}

// Short is a short link (/s/{code}) to the reply page: SMS carries it so
// that the default message stays in one segment.
func (l Links) Short(code string) string { return l.Base + "/s/" + code }

// Unsubscribe is the one-click (RFC 8058) unsubscribe URL.
func (l Links) Unsubscribe(token string) string { return l.Base + "/u/" + token }

// UnsubscribeMailtoURL is the mailto: alternative for List-Unsubscribe.
func (l Links) UnsubscribeMailtoURL(token string) string {
	if l.UnsubscribeMailto == "" {
		return ""
	}
	return "mailto:" + l.UnsubscribeMailto + "?subject=" + url.PathEscape("unsubscribe "+token)
}

// NewToken returns a reply token: 128 random bits, URL-safe.
func NewToken() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
