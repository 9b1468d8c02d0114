package reconciler

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrHistoryRewritten means the commit a pass read does not descend from
// one that environments on a cluster were last applied from: the branch
// was force-pushed or reset to other history, and deleting what the older
// commit lacks may not be what anyone meant.
var ErrHistoryRewritten = errors.New("the branch's history was rewritten")

// ancestry answers, for the commit of one pass, whether it descends from
// others, asking the source once per commit.
type ancestry struct {
	descends func(ctx context.Context, ancestor string) (bool, error)
	mu       sync.Mutex
	known    map[string]bool
}

func (a *ancestry) check(ctx context.Context, ancestor string) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ok, seen := a.known[ancestor]; seen {
		return ok, nil
	}
	ok, err := a.descends(ctx, ancestor)
	if err != nil {
		return false, err
	}
	if a.known == nil {
		a.known = map[string]bool{}
	}
	a.known[ancestor] = ok
	return ok, nil
}

// historyGuard holds a cluster's deletions when the pass's commit does not
// descend from the one the last pass there read (last, noted on
// allot-system). It is checked only when the pass would delete something,
// and only for sources that know history (git); --allow-history-rewrite
// and --allow-mass-delete lift it, and the pass that goes through moves
// the note on.
func (r *Reconciler) historyGuard(ctx context.Context, state *desiredState, last string, deletes int) error {
	if deletes == 0 || state.ancestry == nil || r.AllowHistoryRewrite || r.AllowMassDelete || !isCommitHash(last) || last == state.commit {
		return nil
	}
	ok, err := state.ancestry.check(ctx, last)
	if err != nil {
		return fmt.Errorf("%w? cannot tell whether %s descends from %s, which the last pass read: %w; deletions are held", ErrHistoryRewritten, short(state.commit), short(last), err)
	}
	if !ok {
		return fmt.Errorf("%w: %s does not descend from %s, which the last pass read (a force-push or reset?); deletions are held: run with --allow-history-rewrite if the older state is meant", ErrHistoryRewritten, short(state.commit), short(last))
	}
	return nil
}

// isCommitHash reports whether s looks like a git commit's full hash (a
// folder read from disk has no commit).
func isCommitHash(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
