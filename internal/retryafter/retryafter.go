// Package retryafter is the project's one reading of an HTTP Retry-After
// header, for every client allot has (the IdP backends, the GitHub
// client), which then fall back on their services' own rate-limit headers.
package retryafter

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Max caps what an answer may ask, so that a wrong or hostile header
// cannot park allot.
const Max = time.Hour

// Parse reads Retry-After in seconds or as an HTTP date (RFC 9110 section
// 10.2.3). Dates are measured from the answer's Date when it has one, so
// that the clocks of client and server need not agree; now is the
// client's clock otherwise. The wait is capped at Max; a time already past
// is zero. ok is false when the header is missing or unreadable.
func Parse(h http.Header, now time.Time) (wait time.Duration, ok bool) {
	now = Now(h, now)
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil {
		return time.Duration(min(secs, uint64(Max/time.Second))) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return Clamp(at.Sub(now)), true
	}
	return 0, false
}

// Now is the answer's Date when it has one, else now.
func Now(h http.Header, now time.Time) time.Time {
	if date, err := http.ParseTime(h.Get("Date")); err == nil {
		return date
	}
	return now
}

// Clamp bounds a wait to [0, Max].
func Clamp(d time.Duration) time.Duration {
	return min(max(d, 0), Max)
}
