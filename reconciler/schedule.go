package reconciler

import (
	"context"
	"time"
)

// Schedule decides when a long-running reconciler (allot serve) runs its
// next pass. The zero value with Interval set is ready to use; it is not
// safe for concurrent use.
type Schedule struct {
	// Interval is the period of the full pass.
	Interval time.Duration
	backoff  time.Duration
	passes   int
}

// ScheduleMinBackoff is the first wait after a failed pass; each failure
// in a row doubles it, up to the interval.
const ScheduleMinBackoff = 2 * time.Second

// FirstRecheck is the wait after a clean first pass: once the drift watch
// has listed what it applied, a second pass lets the watch vouch for every
// unchanged environment, so later passes check only what drifted.
const FirstRecheck = 2 * time.Second

// After returns how long to wait after the pass res, ended at now, before
// the next: the interval; sooner after a failure, backing off; no later
// than a second after an environment's readiness deadline (a pass right
// after says it failed) or its next sleep or wake.
func (s *Schedule) After(res *PassResult, now time.Time) time.Duration {
	s.passes++
	wait := s.Interval
	if res.Failed() {
		s.backoff = min(max(2*s.backoff, ScheduleMinBackoff), s.Interval)
		wait = s.backoff
	} else {
		s.backoff = 0
	}
	for _, next := range []time.Time{res.NextDeadline(), res.NextSleepChange()} {
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(now), 0)+time.Second)
		}
	}
	if s.passes == 1 && !res.Failed() {
		wait = min(wait, FirstRecheck)
	}
	return wait
}

// Debounce waits d so that the events of one edit, which arrive together,
// make one pass, then drops a trigger that came meanwhile. It returns false
// when ctx ends first.
func Debounce(ctx context.Context, trigger <-chan struct{}, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
	}
	select {
	case <-trigger:
	default:
	}
	return true
}
