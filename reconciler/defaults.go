package reconciler

import (
	"cmp"
	"time"

	"github.com/allot-dev/allot/renderer"
)

// The reconciler's defaults, in one place: a zero field of Reconciler
// means the default here.
const (
	// DefaultConcurrency is how many environments a pass applies at once
	// per cluster, and how many objects ssa and a fresh apply send at once.
	DefaultConcurrency = 4
	// DefaultReadinessTimeout bounds the wait for an environment's objects
	// when its template sets no readinessTimeout.
	DefaultReadinessTimeout = 5 * time.Minute
	// DefaultTeardownTimeout bounds a teardown's preDelete phase.
	DefaultTeardownTimeout = 5 * time.Minute
	// DefaultWaitInterval is how often waits read what they wait for.
	DefaultWaitInterval = 500 * time.Millisecond
)

// RequestTimeout bounds each request allot makes to a cluster, watches
// excepted, unless Reconciler.RequestTimeout says otherwise.
const RequestTimeout = 30 * time.Second

// DefaultMaxDeleteShare is the share of a cluster's managed objects one pass
// may delete before it stops and asks for --allow-mass-delete.
const DefaultMaxDeleteShare = 0.5

// DefaultDeleteWindow is how far back the window guard counts deletions.
const DefaultDeleteWindow = time.Hour

func (r *Reconciler) readinessTimeout(b *renderer.Bundle) time.Duration {
	if d, ok := r.ReadinessTimeouts[b.Type]; ok {
		return d
	}
	return DefaultReadinessTimeout
}

func (r *Reconciler) teardownTimeout() time.Duration {
	if r.TeardownTimeout > 0 {
		return r.TeardownTimeout
	}
	return DefaultTeardownTimeout
}

func (r *Reconciler) requestTimeout() time.Duration {
	return cmp.Or(r.RequestTimeout, RequestTimeout)
}

func (r *Reconciler) waitInterval() time.Duration {
	if r.WaitInterval > 0 {
		return r.WaitInterval
	}
	return DefaultWaitInterval
}

func (r *Reconciler) deleteWindow() time.Duration {
	switch {
	case r.DeleteWindow < 0:
		return 0
	case r.DeleteWindow == 0:
		return DefaultDeleteWindow
	}
	return r.DeleteWindow
}

func (r *Reconciler) maxDeleteShare() float64 {
	if r.MaxDeleteShare > 0 {
		return r.MaxDeleteShare
	}
	return DefaultMaxDeleteShare
}

func (r *Reconciler) concurrency() int {
	if r.Concurrency > 0 {
		return r.Concurrency
	}
	return DefaultConcurrency
}

// freshApplyConcurrency bounds the applies of one fresh environment.
const freshApplyConcurrency = DefaultConcurrency
