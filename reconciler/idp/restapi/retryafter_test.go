package restapi

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	date := now.Format(http.TimeFormat)
	reset := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	// Our clock runs 3.5s behind the server's: with a Date header the
	// skew does not matter; without one, waits are measured on our clock.
	ours := now.Add(-3500 * time.Millisecond)
	for _, tc := range []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"seconds", http.Header{"Retry-After": {"7"}}, 7 * time.Second},
		{"seconds with spaces", http.Header{"Retry-After": {" 120 "}}, 2 * time.Minute},
		{"zero seconds", http.Header{"Retry-After": {"0"}}, 0},
		{"seconds past the cap", http.Header{"Retry-After": {"86400"}}, MaxRetryAfter},
		{"seconds that overflow a Duration", http.Header{"Retry-After": {"99999999999999999999"}}, DefaultRetryAfter},
		{"a date, from the answer's Date", http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}, "Date": {date}}, 90 * time.Second},
		{"a date, from our clock without Date", http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 93500 * time.Millisecond},
		{"a date in the past", http.Header{"Retry-After": {now.Add(-time.Hour).Format(http.TimeFormat)}, "Date": {date}}, 0},
		{"a date past the cap", http.Header{"Retry-After": {now.Add(48 * time.Hour).Format(http.TimeFormat)}, "Date": {date}}, MaxRetryAfter},
		{"Okta's reset less the answer's Date", http.Header{"X-Rate-Limit-Reset": {reset(42 * time.Second)}, "Date": {date}}, 42 * time.Second},
		{"Okta's reset without Date, rounded up", http.Header{"X-Rate-Limit-Reset": {reset(42 * time.Second)}}, 46 * time.Second},
		{"Retry-After before Okta's reset", http.Header{"Retry-After": {"5"}, "X-Rate-Limit-Reset": {reset(42 * time.Second)}}, 5 * time.Second},
		{"Okta's reset in the past", http.Header{"X-Rate-Limit-Reset": {reset(-time.Minute)}, "Date": {date}}, 0},
		{"negative seconds are no value", http.Header{"Retry-After": {"-3"}}, DefaultRetryAfter},
		{"nothing usable", http.Header{"Retry-After": {"soon"}}, DefaultRetryAfter},
		{"no header", http.Header{}, DefaultRetryAfter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := RetryAfter(tc.header, ours); got != tc.want {
				t.Errorf("RetryAfter(%v) = %s, want %s", tc.header, got, tc.want)
			}
		})
	}
}
