package restapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/allot-dev/allot/internal/retryafter"
)

// DefaultRetryAfter is the wait after a 429 that says not how long: a
// minute, since the services' rate limits are counted per minute (Okta)
// or less, so a minute ends the window that refused the request.
const DefaultRetryAfter = time.Minute

// MaxRetryAfter caps what an answer may ask, so that a wrong or hostile
// header cannot park allot; idp.Retry then waits at most its own
// MaxRetryAfter of it.
const MaxRetryAfter = retryafter.Max

// RetryAfter is how long an answer asks the client to wait: Retry-After
// (retryafter.Parse), else Okta's X-Rate-Limit-Reset (epoch seconds,
// measured from the answer's Date when it has one), else
// DefaultRetryAfter, capped at MaxRetryAfter.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	if wait, ok := retryafter.Parse(h, now); ok {
		return wait
	}
	if reset, err := strconv.ParseInt(strings.TrimSpace(h.Get("X-Rate-Limit-Reset")), 10, 64); err == nil {
		// The reset is in whole seconds; round the wait up to match.
		return retryafter.Clamp(time.Unix(reset, 0).Sub(retryafter.Now(h, now)) + time.Second - 1).Truncate(time.Second)
	}
	return DefaultRetryAfter
}
