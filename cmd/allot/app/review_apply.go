package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/review"
	"github.com/allot-dev/allot/review/comment"
)

// passFeed lets callers wait for a reconcile pass that starts after they
// ask for one.
type passFeed struct {
	mu      sync.Mutex
	started int
	waiters []passWaiter
	// trigger asks the serve loop for a pass.
	trigger func()
	// reconciler is serve's, for /wake; nil in tests of the feed alone.
	reconciler *reconciler.Reconciler
	// afterPass, when set, is handed every pass's result.
	afterPass func(*reconciler.PassResult)
}

// passWaker wakes environments for /wake and asks for a pass that acts on
// it at once.
type passWaker struct {
	*reconciler.Reconciler
	trigger func()
}

func (w passWaker) WakeEnvironment(ctx context.Context, env string, d time.Duration, by string) error {
	if err := w.Reconciler.WakeEnvironment(ctx, env, d, by); err != nil {
		return err
	}
	w.trigger()
	return nil
}

// waker is what /wake uses, nil without a reconciler.
func (f *passFeed) waker() review.Waker {
	if f.reconciler == nil {
		return nil
	}
	return passWaker{Reconciler: f.reconciler, trigger: f.trigger}
}

type passWaiter struct {
	after int
	ch    chan *reconciler.PassResult
}

// start numbers a pass that is starting.
func (f *passFeed) start() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started++
	return f.started
}

// finish hands the result of pass n to those waiting for it.
func (f *passFeed) finish(n int, res *reconciler.PassResult) {
	if f.afterPass != nil {
		f.afterPass(res)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	kept := f.waiters[:0]
	for _, w := range f.waiters {
		if n > w.after {
			w.ch <- res
			continue
		}
		kept = append(kept, w)
	}
	f.waiters = kept
}

// next asks for a pass and waits for one that started after the call.
func (f *passFeed) next(ctx context.Context) (*reconciler.PassResult, error) {
	f.mu.Lock()
	w := passWaiter{after: f.started, ch: make(chan *reconciler.PassResult, 1)}
	f.waiters = append(f.waiters, w)
	f.mu.Unlock()
	f.trigger()
	select {
	case res := <-w.ch:
		return res, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for a reconcile pass: %w", ctx.Err())
	}
}

// passApplier reports how a merged pull request's environments came out,
// through the serve loop's passes.
type passApplier struct {
	feed *passFeed
	// Timeout bounds how long an environment may take to become ready;
	// Poll is the wait between passes meanwhile.
	timeout, poll time.Duration
}

var _ review.Applier = (*passApplier)(nil)

// Apply runs passes until every environment files name is ready, torn
// down or failed, or the timeout passes.
func (a *passApplier) Apply(ctx context.Context, commit string, files []string) ([]comment.Outcome, error) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	names := review.RequestNames(files)
	for {
		res, err := a.feed.next(ctx)
		if err != nil {
			return nil, err
		}
		outcomes, settled := outcomesOf(res, names)
		if settled || len(names) == 0 {
			return outcomes, nil
		}
		select {
		case <-ctx.Done():
			for i := range outcomes {
				if !outcomes[i].Ready && !outcomes[i].Removed && outcomes[i].Error == "" {
					outcomes[i].Error = fmt.Sprintf("not ready after %s", a.timeout)
				}
			}
			return outcomes, nil
		case <-time.After(a.poll):
		}
	}
}

// outcomesOf reads how the named environments came out of a pass, and
// whether each is settled: ready, removed or failed.
func outcomesOf(res *reconciler.PassResult, names []string) ([]comment.Outcome, bool) {
	var out []comment.Outcome
	settled := true
	for _, name := range names {
		found := false
		for _, c := range res.Clusters {
			for _, e := range c.Environments {
				if e.Environment != name {
					continue
				}
				found = true
				o := comment.Outcome{Environment: name, Kind: comment.EnvKind(e.Type), Cluster: c.Name, Namespace: e.Namespace, Groups: e.Groups}
				switch {
				case e.Err != nil:
					o.Error = e.Err.Error()
				case e.Action == reconciler.ActionDeleted:
					o.Removed = true
				case e.Action == reconciler.ActionHeld:
					o.Error = "held: " + e.Message
				case e.Ready:
					o.Ready = true
				default:
					settled = false
				}
				out = append(out, o)
			}
		}
		if found {
			continue
		}
		msg, kept := res.Kept.Reason(name)
		switch {
		case res.Err != nil:
			out = append(out, comment.Outcome{Environment: name, Error: "the pass stopped before changing anything: " + res.Err.Error()})
		case kept:
			out = append(out, comment.Outcome{Environment: name, Error: msg})
		}
	}
	return out, settled
}
