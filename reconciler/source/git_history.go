package source

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// maxHistoryCommits bounds the commits one Descends walks.
const maxHistoryCommits = 100000

// deepenDepths are the depths, counted from the tip of the branch, that
// Descends fetches a shallow working copy to, one after the other, while
// its walk meets the edge of the history it has; the last is the whole
// history, as `git fetch --unshallow` asks for it.
var deepenDepths = []int{64, 1024, math.MaxInt32}

// Descends reports whether ancestor is reachable from commit in the
// history of the branch: true when commit is ancestor or descends from
// it, as after a fast-forward; false when the branch was force-pushed back
// to an older commit or to a rewritten history, in which ancestor is not
// there at all. Both are full commit hashes, commit usually the one the
// last Fetch returned and ancestor the one applied before it.
//
// A working copy fetched shallow (without Config.FullHistory) holds only
// the newest commit; Descends deepens it, fetching more of the branch's
// history each time its walk reaches the edge of what is there, up to the
// whole history. Each call is bounded by Config.Timeout and walks at most
// 100,000 commits (ErrTooLarge beyond). A failure is an *Error, after
// which the answer is unknown: a caller guarding deletions must hold them.
func (g *Git) Descends(ctx context.Context, commit, ancestor string) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Timeout)
	defer cancel()

	from, err := parseCommitHash(commit)
	if err != nil {
		return false, g.fail(OpHistory, err)
	}
	target, err := parseCommitHash(ancestor)
	if err != nil {
		return false, g.fail(OpHistory, err)
	}
	if from == target {
		return true, nil
	}
	repo, err := g.open()
	if err != nil {
		return false, g.fail(OpOpen, err)
	}
	shallow, err := repo.Storer.Shallow()
	if err != nil {
		return false, g.fail(OpHistory, fmt.Errorf("read the shallow commits of the working copy: %w", err))
	}
	// A full history lacks at most what was pushed since; a shallow one is
	// deepened step by step.
	depths := []int{0}
	if len(shallow) > 0 {
		depths = deepenDepths
	}
	for i := 0; ; i++ {
		found, complete, err := reachable(repo, from, target)
		switch {
		case err != nil:
			return false, g.fail(OpHistory, err)
		case found:
			return true, nil
		case complete:
			return false, nil
		case i == len(depths):
			return false, g.fail(OpHistory, fmt.Errorf("%w: the history of %s is incomplete after fetching all of %s", ErrCorrupt, from, g.branchOrRef()))
		}
		if err := g.deepen(ctx, repo, depths[i]); err != nil {
			return false, g.fail(OpHistory, err)
		}
	}
}

// parseCommitHash reads a full commit hash.
func parseCommitHash(s string) (plumbing.Hash, error) {
	if !plumbing.IsHash(s) {
		return plumbing.ZeroHash, fmt.Errorf("%q is not a full commit hash", s)
	}
	return plumbing.NewHash(s), nil
}

// branchOrRef names what Fetch reads, for errors.
func (g *Git) branchOrRef() string {
	if g.cfg.Ref != "" {
		return g.cfg.Ref
	}
	return "branch " + g.cfg.Branch
}

// deepen fetches the branch to depth commits from its tip, or, with depth
// 0, whatever the working copy lacks of its full history.
func (g *Git) deepen(ctx context.Context, repo *git.Repository, depth int) error {
	err := repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{g.refSpec()},
		Auth:       g.auth,
		Tags:       git.NoTags,
		Force:      true,
		Depth:      depth,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return fmt.Errorf("deepen the history to %d commits: %w", depth, g.unreadable(err))
	}
	return tidyShallow(repo)
}

// tidyShallow drops from the working copy's list of shallow commits those
// whose parents it now holds. go-git adds the new edge of a deepened
// history to the list but keeps the old one, so that git would read the
// history as cut where it is not.
func tidyShallow(repo *git.Repository) error {
	shallow, err := repo.Storer.Shallow()
	if err != nil {
		return fmt.Errorf("read the shallow commits of the working copy: %w", err)
	}
	var edge []plumbing.Hash
	for _, h := range shallow {
		c, err := object.GetCommit(repo.Storer, h)
		if err != nil {
			edge = append(edge, h)
			continue
		}
		for _, p := range c.ParentHashes {
			if err := repo.Storer.HasEncodedObject(p); err != nil {
				edge = append(edge, h)
				break
			}
		}
	}
	if len(edge) == len(shallow) {
		return nil
	}
	if err := repo.Storer.SetShallow(edge); err != nil {
		return fmt.Errorf("write the shallow commits of the working copy: %w", err)
	}
	return nil
}

// reachable walks the history from commit, as far as the working copy
// holds it, looking for target. complete says the walk met no missing
// commit: no edge of a shallow history, and commit itself was there.
func reachable(repo *git.Repository, from, target plumbing.Hash) (found, complete bool, err error) {
	complete = true
	seen := map[plumbing.Hash]bool{from: true}
	queue := []plumbing.Hash{from}
	for len(queue) > 0 {
		h := queue[0]
		queue = queue[1:]
		if h == target {
			return true, complete, nil
		}
		c, err := object.GetCommit(repo.Storer, h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			// The edge of a shallow history, or a commit not fetched yet.
			complete = false
			continue
		}
		if err != nil {
			return false, false, fmt.Errorf("read commit %s: %w", h, err)
		}
		for _, p := range c.ParentHashes {
			if seen[p] {
				continue
			}
			if len(seen) >= maxHistoryCommits {
				return false, false, fmt.Errorf("%w: the history of %s holds more than %d commits", ErrTooLarge, from, maxHistoryCommits)
			}
			seen[p] = true
			queue = append(queue, p)
		}
	}
	return false, complete, nil
}
