package idp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// ErrTransient marks a failure worth trying again: an HTTP 5xx answer, a
// timeout or a dropped connection. Backends wrap it, as in
// fmt.Errorf("%w: %s", idp.ErrTransient, msg); Retry retries it.
var ErrTransient = errors.New("transient failure")

// Defaults of Retry.
const (
	DefaultAttempts      = 5
	DefaultInitialWait   = 200 * time.Millisecond
	DefaultMaxWait       = 10 * time.Second
	DefaultMaxRetryAfter = time.Minute
)

// Retry says how often and how long to wait before calling an identity
// provider again after a failure that may pass: a rate limit
// (ErrRateLimited, waiting as long as the RateLimitError says) or a
// transient failure (ErrTransient, waiting with exponential backoff and
// jitter). Other errors, and a done context, end it at once. The zero value
// is ready to use.
type Retry struct {
	// Attempts is the most calls made, the first included; zero means
	// DefaultAttempts.
	Attempts int
	// InitialWait is the first backoff after a transient failure; it
	// doubles with every attempt up to MaxWait. Zero means the defaults.
	InitialWait, MaxWait time.Duration
	// MaxRetryAfter caps how long one rate-limit answer may make allot
	// wait; zero means DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration
	// Sleep waits for d or until ctx is done. Nil means a timer; tests set
	// it to see the waits without spending them.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Do calls op until it succeeds, fails in a way not worth retrying, runs
// out of attempts or ctx is done, and returns op's last error.
func (r Retry) Do(ctx context.Context, op func(context.Context) error) error {
	_, err := Retrying(ctx, r, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, op(ctx)
	})
	return err
}

// Retrying is Retry.Do for an operation that returns a value.
func Retrying[T any](ctx context.Context, r Retry, op func(context.Context) (T, error)) (T, error) {
	attempts := r.Attempts
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	for attempt := 1; ; attempt++ {
		v, err := op(ctx)
		if err == nil {
			return v, nil
		}
		if ctx.Err() != nil {
			return v, err
		}
		wait, ok := r.wait(err, attempt)
		if !ok {
			return v, err
		}
		if attempt >= attempts {
			return v, fmt.Errorf("gave up after %d attempts: %w", attempts, err)
		}
		if deadline, has := ctx.Deadline(); has && time.Until(deadline) < wait {
			// Waiting would outlast the pass; fail now with the reason.
			return v, fmt.Errorf("not retrying within the deadline: %w", err)
		}
		if serr := r.sleep(ctx, wait); serr != nil {
			return v, fmt.Errorf("%w (stopped waiting to retry: %w)", err, serr)
		}
	}
}

// Retryable reports whether err is worth another attempt.
func Retryable(err error) bool {
	return errors.Is(err, ErrRateLimited) || errors.Is(err, ErrTransient)
}

// wait is how long to wait before the next attempt after err, and whether
// to retry at all.
func (r Retry) wait(err error, attempt int) (time.Duration, bool) {
	var rl *RateLimitError
	if errors.As(err, &rl) && rl.RetryAfter > 0 {
		return min(rl.RetryAfter, r.maxRetryAfter()), true
	}
	if !Retryable(err) {
		return 0, false
	}
	d := r.initialWait()
	for range attempt - 1 {
		d *= 2
		if d >= r.maxWait() {
			d = r.maxWait()
			break
		}
	}
	// Equal jitter: half fixed, half random, so that clients that failed
	// together do not come back together.
	half := d / 2
	return half + rand.N(half+1), true
}

func (r Retry) sleep(ctx context.Context, d time.Duration) error {
	if r.Sleep != nil {
		return r.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (r Retry) initialWait() time.Duration {
	if r.InitialWait > 0 {
		return r.InitialWait
	}
	return DefaultInitialWait
}

func (r Retry) maxWait() time.Duration {
	if r.MaxWait > 0 {
		return r.MaxWait
	}
	return DefaultMaxWait
}

func (r Retry) maxRetryAfter() time.Duration {
	if r.MaxRetryAfter > 0 {
		return r.MaxRetryAfter
	}
	return DefaultMaxRetryAfter
}
