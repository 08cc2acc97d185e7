package httpapi

import (
	"fmt"
	"net/mail"
	"regexp"
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

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// normalizePhone strips the separators people type and checks E.164.
func normalizePhone(s string) (string, bool) {
	r := strings.NewReplacer(" ", "", "-", "", "(", "", ")", "", ".", "")
	n := r.Replace(strings.TrimSpace(s))
	if strings.HasPrefix(n, "00") {
		n = "+" + n[2:]
	}
	return n, e164.MatchString(n)
}
