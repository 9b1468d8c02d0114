package ghclient

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/allot-dev/allot/test/harness/githubapi"
)

func TestRetry(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inject func(s *githubapi.Server)
		post   bool
		want   []time.Duration
		err    string
	}{
		{name: "waits for the primary limit to reset",
			inject: func(s *githubapi.Server) { s.RateLimitNext(1, githubapi.PrimaryLimit, 30*time.Second) },
			want:   []time.Duration{30 * time.Second}},
		{name: "waits Retry-After on a secondary limit",
			inject: func(s *githubapi.Server) { s.RateLimitNext(2, githubapi.SecondaryLimit, 5*time.Second) },
			want:   []time.Duration{5 * time.Second, 5 * time.Second}},
		{name: "waits Retry-After on a 429",
			inject: func(s *githubapi.Server) { s.RateLimitNext(1, githubapi.SecondaryLimit429, 7*time.Second) },
			want:   []time.Duration{7 * time.Second}},
		{name: "waits a minute on a secondary limit without Retry-After",
			inject: func(s *githubapi.Server) { s.RateLimitNext(1, githubapi.SecondaryLimit, 0) },
			want:   []time.Duration{time.Minute}},
		{name: "retries a create after a rate limit",
			inject: func(s *githubapi.Server) { s.RateLimitNext(1, githubapi.SecondaryLimit, time.Second) },
			post:   true, want: []time.Duration{time.Second}},
		{name: "backs off on server errors",
			inject: func(s *githubapi.Server) { s.FailNext(2, http.StatusBadGateway) },
			want:   []time.Duration{time.Second, 2 * time.Second}},
		{name: "does not repeat a create after a server error",
			inject: func(s *githubapi.Server) { s.FailNext(1, http.StatusBadGateway) },
			post:   true, err: "502"},
		{name: "gives up when the limit resets after MaxWait",
			inject: func(s *githubapi.Server) { s.RateLimitNext(1, githubapi.PrimaryLimit, time.Hour) },
			err:    "it resets at 2024-05-01T10:00:0"},
		{name: "gives up after MaxAttempts",
			inject: func(s *githubapi.Server) { s.RateLimitNext(5, githubapi.SecondaryLimit, time.Second) },
			want:   []time.Duration{time.Second, time.Second, time.Second}, err: "secondary rate limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, gh, slept := fakeGitHub(t, false)
			tc.inject(s)
			var err error
			if tc.post {
				_, err = gh.CreateComment(context.Background(), acme, 1, "hello")
			} else {
				_, err = gh.PullRequest(context.Background(), acme, 1)
			}
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
			if diff := cmp.Diff(tc.want, *slept); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
			var limited *RateLimitedError
			if strings.Contains(tc.err, "resets") && (!errors.As(err, &limited) || limited.Reset.Sub(s.Now()) != time.Hour) {
				t.Errorf("err = %#v, want a RateLimitedError resetting in an hour", err)
			}
			if tc.post && tc.err == "" && len(s.Comments(fakeRepo, 1)) != 1 {
				t.Errorf("%d comments, want 1", len(s.Comments(fakeRepo, 1)))
			}
		})
	}
}

// TestRetryWaitReadsRetryAfterAsEveryClientDoes: an HTTP date counts from
// the answer's Date, and a huge wait is capped, as for the IdP backends.
func TestRetryWaitReadsRetryAfterAsEveryClientDoes(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		after string
		want  time.Duration
	}{
		{"Wed, 02 Dec 2026 09:00:45 GMT", 45 * time.Second}, // the server's clock is an hour behind
		{"99999999999", time.Hour},
	} {
		resp := &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{
			"Retry-After": {tc.after}, "Date": {"Wed, 02 Dec 2026 09:00:00 GMT"},
		}, Body: http.NoBody, Request: &http.Request{}}
		if wait, _ := retryWait(resp, 1, now); wait != tc.want {
			t.Errorf("Retry-After %s: wait %s, want %s", tc.after, wait, tc.want)
		}
	}
}
