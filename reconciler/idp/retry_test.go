package idp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// script is an operation that fails with errs in turn, then succeeds.
type script struct {
	errs  []error
	calls int
}

func (s *script) op(context.Context) error {
	s.calls++
	if s.calls <= len(s.errs) {
		return s.errs[s.calls-1]
	}
	return nil
}

func recordWaits(waits *[]time.Duration) func(context.Context, time.Duration) error {
	return func(_ context.Context, d time.Duration) error {
		*waits = append(*waits, d)
		return nil
	}
}

func TestRetry(t *testing.T) {
	transient := fmt.Errorf("GET /Groups: 503: %w", ErrTransient)
	t.Run("backs off on transient failures, doubling up to the cap", func(t *testing.T) {
		var waits []time.Duration
		s := &script{errs: []error{transient, transient, transient, transient}}
		r := Retry{Attempts: 5, InitialWait: 100 * time.Millisecond, MaxWait: 300 * time.Millisecond, Sleep: recordWaits(&waits)}
		if err := r.Do(context.Background(), s.op); err != nil {
			t.Fatal(err)
		}
		if s.calls != 5 || len(waits) != 4 {
			t.Fatalf("%d calls, waits %v; want 5 calls and 4 waits", s.calls, waits)
		}
		for i, ceiling := range []time.Duration{100, 200, 300, 300} {
			ceiling *= time.Millisecond
			if waits[i] < ceiling/2 || waits[i] > ceiling {
				t.Errorf("wait %d = %s, want between %s and %s", i, waits[i], ceiling/2, ceiling)
			}
		}
	})
	t.Run("waits as long as a rate limit says, up to the cap", func(t *testing.T) {
		var waits []time.Duration
		s := &script{errs: []error{
			fmt.Errorf("x: %w", &RateLimitError{RetryAfter: 3 * time.Second}),
			&RateLimitError{RetryAfter: time.Hour},
			&RateLimitError{}, // no Retry-After: back off as for a transient failure
		}}
		r := Retry{MaxRetryAfter: time.Minute, InitialWait: time.Second, Sleep: recordWaits(&waits)}
		if err := r.Do(context.Background(), s.op); err != nil {
			t.Fatal(err)
		}
		if len(waits) != 3 || waits[0] != 3*time.Second || waits[1] != time.Minute || waits[2] < 2*time.Second || waits[2] > 4*time.Second {
			t.Errorf("waits %v, want [3s 1m0s 2s..4s]", waits)
		}
	})
	t.Run("does not retry other errors", func(t *testing.T) {
		for _, err := range []error{ErrNotFound, ErrUnauthorized, ErrConflict, errors.New("400 Bad Request")} {
			s := &script{errs: []error{err}}
			if got := (Retry{}).Do(context.Background(), s.op); !errors.Is(got, err) || s.calls != 1 {
				t.Errorf("%v: %d calls, error %v; want one call and the error", err, s.calls, got)
			}
		}
	})
	t.Run("gives up after the attempts", func(t *testing.T) {
		var waits []time.Duration
		s := &script{errs: []error{transient, transient, transient, transient}}
		err := Retry{Attempts: 3, Sleep: recordWaits(&waits)}.Do(context.Background(), s.op)
		if !errors.Is(err, ErrTransient) || !strings.Contains(err.Error(), "after 3 attempts") || s.calls != 3 {
			t.Errorf("%d calls, error %v", s.calls, err)
		}
	})
	t.Run("stops when the context is done while waiting", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		s := &script{errs: []error{transient, transient}}
		r := Retry{Sleep: func(ctx context.Context, _ time.Duration) error { cancel(); return ctx.Err() }}
		err := r.Do(ctx, s.op)
		if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrTransient) || s.calls != 1 {
			t.Errorf("%d calls, error %v; want one call and both reasons", s.calls, err)
		}
	})
	t.Run("does not wait past the deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var waits []time.Duration
		s := &script{errs: []error{&RateLimitError{RetryAfter: 10 * time.Minute}}}
		err := Retry{MaxRetryAfter: time.Hour, Sleep: recordWaits(&waits)}.Do(ctx, s.op)
		if !errors.Is(err, ErrRateLimited) || len(waits) != 0 {
			t.Errorf("error %v after waits %v; want the rate limit at once", err, waits)
		}
	})
	t.Run("stops when the waits would pass the total bound", func(t *testing.T) {
		var waits []time.Duration
		limited := &RateLimitError{RetryAfter: 40 * time.Second}
		s := &script{errs: []error{limited, limited, limited, limited}}
		err := Retry{MaxTotalWait: 100 * time.Second, Sleep: recordWaits(&waits)}.Do(context.Background(), s.op)
		if !errors.Is(err, ErrGaveUp) || !errors.Is(err, ErrRateLimited) || s.calls != 3 || len(waits) != 2 {
			t.Errorf("%d calls, waits %v, error %v; want 3 calls, 2 waits of 40s and ErrGaveUp", s.calls, waits, err)
		}
	})
	t.Run("does not retry what another retry gave up on", func(t *testing.T) {
		inner := Retry{Attempts: 2, Sleep: recordWaits(new([]time.Duration))}
		s := &script{errs: []error{transient, transient, transient, transient, transient}}
		err := Retry{Sleep: recordWaits(new([]time.Duration))}.Do(context.Background(), func(ctx context.Context) error {
			return inner.Do(ctx, s.op)
		})
		if !errors.Is(err, ErrGaveUp) || !errors.Is(err, ErrTransient) || s.calls != 2 {
			t.Errorf("%d calls, error %v; want the inner retry's 2 calls only", s.calls, err)
		}
		if Retryable(err) {
			t.Errorf("Retryable(%v) = true, want false", err)
		}
	})
	t.Run("retries only what the caller's rule allows", func(t *testing.T) {
		s := &script{errs: []error{transient, &RateLimitError{RetryAfter: time.Second}}}
		onlyRateLimits := func(err error) bool { return errors.Is(err, ErrRateLimited) }
		_, err := RetryingIf(context.Background(), Retry{Sleep: recordWaits(new([]time.Duration))}, onlyRateLimits,
			func(ctx context.Context) (struct{}, error) { return struct{}{}, s.op(ctx) })
		if !errors.Is(err, ErrTransient) || errors.Is(err, ErrGaveUp) || s.calls != 1 {
			t.Errorf("%d calls, error %v; want one call and the transient error unmarked", s.calls, err)
		}
	})
	t.Run("sleeps for real by default", func(t *testing.T) {
		s := &script{errs: []error{transient}}
		if err := (Retry{InitialWait: time.Millisecond}).Do(context.Background(), s.op); err != nil || s.calls != 2 {
			t.Errorf("%d calls, error %v", s.calls, err)
		}
	})
}

func TestRetryingReturnsTheValue(t *testing.T) {
	calls := 0
	v, err := Retrying(context.Background(), Retry{Sleep: recordWaits(new([]time.Duration))}, func(context.Context) (string, error) {
		calls++
		if calls == 1 {
			return "", ErrTransient
		}
		return "ok", nil
	})
	if v != "ok" || err != nil || calls != 2 {
		t.Errorf("Retrying = %q, %v after %d calls", v, err, calls)
	}
}
