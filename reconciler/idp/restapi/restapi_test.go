package restapi

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func TestTokenSourceRenewsBeforeExpiry(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	fetches := 0
	s := &TokenSource{
		Now: func() time.Time { return now },
		Fetch: func(context.Context) (string, time.Duration, error) {
			fetches++
			return "token-" + string(rune('0'+fetches)), 5 * time.Minute, nil
		},
	}
	get := func() string {
		t.Helper()
		tok, err := s.Get(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	first := get()
	now = now.Add(4 * time.Minute)
	if tok := get(); tok != first {
		t.Errorf("after 4 of 5 minutes: token %s, want the first one still", tok)
	}
	now = now.Add(40 * time.Second)
	if tok := get(); tok == first {
		t.Errorf("20s before expiry: still the first token, want a renewed one")
	}
	if fetches != 2 {
		t.Errorf("fetches = %d, want 2", fetches)
	}
	s.Invalidate("an older token")
	if tok := get(); fetches != 2 {
		t.Errorf("invalidating a token no longer current fetched again (%s)", tok)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"seconds", http.Header{"Retry-After": {"7"}}, 7 * time.Second},
		{"a date after the answer's Date", http.Header{
			"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)},
			"Date":        {now.Format(http.TimeFormat)},
		}, 90 * time.Second},
		{"a date in the past", http.Header{"Retry-After": {now.Add(-time.Hour).Format(http.TimeFormat)}}, 0},
		{"nothing usable", http.Header{"Retry-After": {"soon"}}, DefaultRetryAfter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := RetryAfter(tc.header, now); got != tc.want {
				t.Errorf("RetryAfter = %s, want %s", got, tc.want)
			}
		})
	}
}
