package reconciler

import (
	"context"
	"errors"
	"fmt"
	"sort"
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
// descend from the commit every record there was applied from. It is
// checked only when the pass would delete something, and only for sources
// that know history (git); --allow-history-rewrite and --allow-mass-delete
// lift it.
func (r *Reconciler) historyGuard(ctx context.Context, state *desiredState, records map[string]*Record, deletes int) error {
	if deletes == 0 || state.ancestry == nil || r.AllowHistoryRewrite || r.AllowMassDelete {
		return nil
	}
	names := make([]string, 0, len(records))
	for name := range records {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c := records[name].Commit
		if !isCommitHash(c) || c == state.commit {
			continue
		}
		ok, err := state.ancestry.check(ctx, c)
		if err != nil {
			return fmt.Errorf("%w? cannot tell whether %s descends from %s, which environment %s was applied from: %w; deletions are held", ErrHistoryRewritten, short(state.commit), short(c), name, err)
		}
		if !ok {
			return fmt.Errorf("%w: %s does not descend from %s, which environment %s was last applied from (a force-push or reset?); deletions are held: run with --allow-history-rewrite if the older state is meant", ErrHistoryRewritten, short(state.commit), short(c), name)
		}
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
