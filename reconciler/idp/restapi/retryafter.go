package restapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultRetryAfter is the wait after a 429 that says not how long: a
// minute, since the services' rate limits are counted per minute (Okta)
// or less, so a minute ends the window that refused the request.
const DefaultRetryAfter = time.Minute

// MaxRetryAfter caps what an answer may ask, so that a wrong or hostile
// header cannot park allot; idp.Retry then waits at most its own
// MaxRetryAfter of it.
const MaxRetryAfter = time.Hour

// RetryAfter is how long an answer asks the client to wait: Retry-After
// in seconds or as an HTTP date (RFC 9110 section 10.2.3), else Okta's
// X-Rate-Limit-Reset (epoch seconds), else DefaultRetryAfter. Dates are
// measured from the answer's Date when it has one, so that the clocks of
// client and server need not agree; now is the client's clock otherwise.
// The wait is capped at MaxRetryAfter; a time already past is zero.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	if date, err := http.ParseTime(h.Get("Date")); err == nil {
		now = date
	}
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.ParseUint(v, 10, 64); err == nil {
			return time.Duration(min(secs, uint64(MaxRetryAfter/time.Second))) * time.Second
		}
		if at, err := http.ParseTime(v); err == nil {
			return clamp(at.Sub(now))
		}
	}
	if reset, err := strconv.ParseInt(strings.TrimSpace(h.Get("X-Rate-Limit-Reset")), 10, 64); err == nil {
		// The reset is in whole seconds; round the wait up to match.
		return clamp(time.Unix(reset, 0).Sub(now) + time.Second - 1).Truncate(time.Second)
	}
	return DefaultRetryAfter
}

func clamp(d time.Duration) time.Duration {
	return min(max(d, 0), MaxRetryAfter)
}
