package ghclient

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/google/go-github/v62/github"

	"github.com/allot-dev/allot/internal/retryafter"
)

// Retry bounds how a client waits out GitHub's rate limits and server
// errors. Set its fields before the first call.
type Retry struct {
	// MaxWait is the most a call waits in all; a limit that resets later
	// fails the call at once with a *RateLimitedError. Zero means 2 minutes.
	MaxWait time.Duration
	// MaxAttempts counts the first try; zero means 4.
	MaxAttempts int
	// Sleep waits d or until ctx is done; nil means a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now reads the clock that GitHub's X-RateLimit-Reset is compared
	// with; nil means time.Now.
	Now func() time.Time
}

// RateLimitedError is returned when GitHub's rate limit stays exceeded for
// longer than Retry allows a call to wait.
type RateLimitedError struct {
	// Status is GitHub's answer, 403 or 429.
	Status int
	// Reset is when GitHub accepts requests again.
	Reset time.Time
	// Message is GitHub's explanation.
	Message string
}

// Error says when the limit resets.
func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("GitHub API rate limit exceeded (%d %s); it resets at %s",
		e.Status, e.Message, e.Reset.UTC().Format(time.RFC3339))
}

// retryTransport retries requests that GitHub turned away for its rate
// limits, and idempotent requests that met a server error. It sits below
// go-github so that go-github never records a limit it would then enforce
// by itself until the wall clock reaches the reset.
type retryTransport struct {
	base    http.RoundTripper
	timeout time.Duration
	policy  *Retry
}

func newRetryTransport(hc *http.Client, policy *Retry) *retryTransport {
	t := &retryTransport{base: http.DefaultTransport, timeout: 30 * time.Second, policy: policy}
	if hc != nil {
		t.base = cmp.Or[http.RoundTripper](hc.Transport, http.DefaultTransport)
		t.timeout = cmp.Or(hc.Timeout, t.timeout)
	}
	return t
}

// RoundTrip sends req, waiting and sending it again while the answer says
// to and the wait fits in the policy.
func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	p := t.policy
	maxWait, attempts := cmp.Or(p.MaxWait, 2*time.Minute), cmp.Or(p.MaxAttempts, 4)
	sleep, now := sleepContext, time.Now
	if p.Sleep != nil {
		sleep = p.Sleep
	}
	if p.Now != nil {
		now = p.Now
	}
	var waited time.Duration
	for attempt := 1; ; attempt++ {
		try := req
		if attempt > 1 {
			try = req.Clone(req.Context())
			if req.Body != nil {
				body, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				try.Body = body
			}
		}
		resp, err := t.send(try)
		if err != nil {
			return nil, err
		}
		wait, limited := retryWait(resp, attempt, now())
		// A POST that met a server error may have created its object;
		// sending it again could, say, post a comment twice.
		if wait < 0 || req.Body != nil && req.GetBody == nil || limited == nil && req.Method == http.MethodPost {
			return resp, nil
		}
		if deadline, ok := req.Context().Deadline(); attempt >= attempts || waited+wait > maxWait ||
			ok && time.Until(deadline) < wait {
			if limited == nil {
				return resp, nil
			}
			drain(resp)
			return nil, limited
		}
		drain(resp)
		if err := sleep(req.Context(), wait); err != nil {
			return nil, err
		}
		waited += wait
	}
}

// send makes one attempt, bounded by the transport's timeout until the
// body is closed.
func (t *retryTransport) send(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// retryWait reads how long GitHub asks to wait before trying again, as its
// documentation on rate limits says: Retry-After, else the reset time when
// no requests remain, else a minute for a secondary limit. Other 429s and
// 5xxs back off exponentially. A negative wait means not to retry; limited
// is the error to return if the wait is too long.
func retryWait(resp *http.Response, attempt int, now time.Time) (wait time.Duration, limited *RateLimitedError) {
	wait = time.Second << (attempt - 1)
	if resp.StatusCode >= 500 {
		return wait, nil
	}
	if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusTooManyRequests {
		return -1, nil
	}
	var rateErr *github.RateLimitError
	var abuseErr *github.AbuseRateLimitError
	var errResp *github.ErrorResponse
	apiErr := github.CheckResponse(resp) // reads the body and puts it back
	limited = &RateLimitedError{Status: resp.StatusCode}
	switch {
	case errors.As(apiErr, &rateErr):
		limited.Message = rateErr.Message
	case errors.As(apiErr, &abuseErr):
		limited.Message = abuseErr.Message
	case errors.As(apiErr, &errResp):
		limited.Message = errResp.Message
	}
	after, hasAfter := retryafter.Parse(resp.Header, now)
	reset, errReset := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64)
	switch {
	case hasAfter:
		wait = after
	case resp.Header.Get("X-RateLimit-Remaining") == "0" && errReset == nil:
		wait = retryafter.Clamp(time.Unix(reset, 0).Sub(now))
	case abuseErr != nil:
		wait = time.Minute
	case resp.StatusCode == http.StatusForbidden:
		return -1, nil // forbidden for another reason
	}
	limited.Reset = now.Add(wait)
	return wait, limited
}

func sleepContext(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// drain reads a little of a response that will not be used, so the
// connection can be reused, and closes it.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
