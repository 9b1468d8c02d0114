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

// ErrGaveUp marks the last error of a Retry that stopped: out of
// attempts, out of its waiting budget, or out of time before the context's
// deadline. It is not retried again, so a loop around a call that retries
// by itself (a Syncer around an HTTP backend) does not multiply the
// attempts.
var ErrGaveUp = errors.New("gave up retrying")

// Defaults of Retry.
const (
	DefaultAttempts      = 5
	DefaultInitialWait   = 200 * time.Millisecond
	DefaultMaxWait       = 10 * time.Second
	DefaultMaxRetryAfter = time.Minute
	DefaultMaxTotalWait  = 2 * time.Minute
)

// Retry says how often and how long to wait before calling an identity
// provider again after a failure that may pass: a rate limit
// (ErrRateLimited, waiting as long as the RateLimitError says) or a
// transient failure (ErrTransient, waiting with exponential backoff and
// jitter). Other errors, errors marked ErrGaveUp, and a done context end it
// at once. It is bounded in count (Attempts) and in time (MaxTotalWait, and
// the context's deadline). The zero value is ready to use.
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
	// MaxTotalWait bounds the time spent waiting between attempts, all
	// waits together; zero means DefaultMaxTotalWait.
	MaxTotalWait time.Duration
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
	return RetryingIf(ctx, r, Retryable, op)
}

// RetryingIf is Retrying with the caller's rule of what is worth another
// attempt; an HTTP client, for one, resends a create only after a 429,
// when the server did not act on it. Errors marked ErrGaveUp are never
// retried, whatever retryable says.
func RetryingIf[T any](ctx context.Context, r Retry, retryable func(error) bool, op func(context.Context) (T, error)) (T, error) {
	r = r.withDefaults()
	attempts := r.Attempts
	var waited time.Duration
	for attempt := 1; ; attempt++ {
		v, err := op(ctx)
		if err == nil {
			return v, nil
		}
		if ctx.Err() != nil || errors.Is(err, ErrGaveUp) || !retryable(err) {
			return v, err
		}
		wait := r.wait(err, attempt)
		switch {
		case attempt >= attempts:
			return v, fmt.Errorf("%w after %d attempts: %w", ErrGaveUp, attempts, err)
		case waited+wait > r.MaxTotalWait:
			return v, fmt.Errorf("%w after %d attempts and %s of waiting, as %s more would pass the bound of %s: %w",
				ErrGaveUp, attempt, waited, wait, r.MaxTotalWait, err)
		}
		if deadline, has := ctx.Deadline(); has && time.Until(deadline) < wait {
			// Waiting would outlast the pass; fail now with the reason.
			return v, fmt.Errorf("%w: not retrying within the deadline: %w", ErrGaveUp, err)
		}
		if serr := r.sleep(ctx, wait); serr != nil {
			return v, fmt.Errorf("%w (stopped waiting to retry: %w)", err, serr)
		}
		waited += wait
	}
}

// Retryable reports whether err is worth another attempt: a rate limit or
// a transient failure not marked ErrGaveUp.
func Retryable(err error) bool {
	return (errors.Is(err, ErrRateLimited) || errors.Is(err, ErrTransient)) && !errors.Is(err, ErrGaveUp)
}

// wait is how long to wait before the next attempt after err.
func (r Retry) wait(err error, attempt int) time.Duration {
	var rl *RateLimitError
	if errors.As(err, &rl) && rl.RetryAfter > 0 {
		return min(rl.RetryAfter, r.MaxRetryAfter)
	}
	d := r.InitialWait
	for range attempt - 1 {
		d *= 2
		if d >= r.MaxWait {
			d = r.MaxWait
			break
		}
	}
	// Equal jitter: half fixed, half random, so that clients that failed
	// together do not come back together.
	half := d / 2
	return half + rand.N(half+1)
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

// withDefaults fills in the settings left zero (or negative).
func (r Retry) withDefaults() Retry {
	orDefault := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	if r.Attempts <= 0 {
		r.Attempts = DefaultAttempts
	}
	orDefault(&r.InitialWait, DefaultInitialWait)
	orDefault(&r.MaxWait, DefaultMaxWait)
	orDefault(&r.MaxRetryAfter, DefaultMaxRetryAfter)
	orDefault(&r.MaxTotalWait, DefaultMaxTotalWait)
	return r
}
