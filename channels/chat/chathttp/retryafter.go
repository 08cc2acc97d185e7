package chathttp

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRetryAfter caps a Retry-After: past a day it is more likely a
// misconfigured proxy than advice, and waiting longer helps nobody.
const maxRetryAfter = 24 * time.Hour

// retryAfter reads a Retry-After value (seconds or an HTTP date) and
// returns def when there is none or it makes no sense.
func retryAfter(v string, now time.Time, def time.Duration) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return def
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		d = time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d <= 0 {
		return def
	}
	return min(d, maxRetryAfter)
}
