package schemas

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// Expiry is a parsed spec.expires: either a point in time, or a time to live
// counted from when the request is merged.
type Expiry struct {
	// At is the moment the environment expires; zero for a TTL.
	At time.Time
	// TTL is how long the environment lives after the merge; zero for At.
	TTL time.Duration
}

var ttlPattern = regexp.MustCompile(`^([0-9]{1,5})(h|d|w)$`)

// ParseTTL parses a duration written as a whole number of hours, days or
// weeks: 12h, 14d, 2w.
func ParseTTL(s string) (time.Duration, error) {
	m := ttlPattern.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a duration; write a whole number of hours, days or weeks such as 12h, 14d or 2w", s)
	}
	n, _ := strconv.Atoi(m[1])
	unit := map[string]time.Duration{"h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour}[m[2]]
	if n == 0 {
		return 0, fmt.Errorf("%q is zero; an environment must live a while", s)
	}
	return time.Duration(n) * unit, nil
}

// ParseExpiry parses spec.expires: a date (2026-12-31, meaning through the end
// of that day in UTC), an RFC 3339 timestamp, or a TTL (see ParseTTL).
func ParseExpiry(s string) (Expiry, error) {
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return Expiry{At: d.AddDate(0, 0, 1)}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return Expiry{At: t}, nil
	}
	ttl, err := ParseTTL(s)
	if err != nil {
		return Expiry{}, fmt.Errorf("%q is neither a date (2026-12-31), a timestamp (2026-12-31T18:00:00Z) nor a duration (12h, 14d, 2w)", s)
	}
	return Expiry{TTL: ttl}, nil
}
