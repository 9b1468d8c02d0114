package okta

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
	for _, tc := range []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		// Our clock runs 3.5s behind Okta's (see ours below): with a Date
		// header the skew does not matter; without one, the wait is
		// measured on our clock and rounded up to whole seconds.
		{"reset less the answer's Date", http.Header{"X-Rate-Limit-Reset": {reset(42 * time.Second)}, "Date": {date}}, 42 * time.Second},
		{"reset without Date, rounded up", http.Header{"X-Rate-Limit-Reset": {reset(42 * time.Second)}}, 46 * time.Second},
		{"Retry-After wins", http.Header{"Retry-After": {"5"}, "X-Rate-Limit-Reset": {reset(42 * time.Second)}}, 5 * time.Second},
		{"a reset in the past", http.Header{"X-Rate-Limit-Reset": {reset(-time.Minute)}, "Date": {date}}, 0},
		{"no header", http.Header{}, defaultRetryAfter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ours := now.Add(-3500 * time.Millisecond)
			if got := retryAfter(tc.header, ours); got != tc.want {
				t.Errorf("retryAfter = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestNextLink(t *testing.T) {
	h := http.Header{}
	h.Add("Link", `<https://example.okta.com/api/v1/groups?limit=2>; rel="self"`)
	h.Add("Link", `<https://example.okta.com/api/v1/groups?after=00g2&limit=2>; rel="next"`)
	if got, want := nextLink(h), "https://example.okta.com/api/v1/groups?after=00g2&limit=2"; got != want {
		t.Errorf("nextLink = %q, want %q", got, want)
	}
	one := http.Header{"Link": {`<https://a/x?limit=2>; rel="self", <https://a/x?after=1>; rel=next`}}
	if got := nextLink(one); got != "https://a/x?after=1" {
		t.Errorf("nextLink of one combined header = %q", got)
	}
	if got := nextLink(http.Header{"Link": {`<https://a/x>; rel="self"`}}); got != "" {
		t.Errorf("nextLink without next = %q, want empty", got)
	}
}
