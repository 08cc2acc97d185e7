package httpapi

import (
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"
)

// parseDuration accepts Go durations and, because people write them, whole
// days: "48h", "90m", "2d", "1d12h".
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil {
			return 0, fmt.Errorf("bad day count in %q", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if days < 0 {
		return days - d, nil
	}
	return days + d, nil
}

// validEmail accepts a bare address (no display name) that net/mail parses
// and that has a dot in its domain, which rules out most typos that would
// only bounce later.
func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && strings.Contains(s[at+1:], ".") && !strings.ContainsAny(s, "\r\n")
}
