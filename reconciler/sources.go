package reconciler

import (
	"context"
	"fmt"
	"os"

	"github.com/allot-dev/allot/reconciler/source"
)

// FolderSource reads a local folder as it is on disk.
type FolderSource struct{ Dir string }

// Fetch implements Source.
func (s FolderSource) Fetch(context.Context) (Snapshot, error) {
	info, err := os.Stat(s.Dir)
	if err != nil {
		return Snapshot{}, err
	}
	if !info.IsDir() {
		return Snapshot{}, fmt.Errorf("%s is not a directory", s.Dir)
	}
	return Snapshot{Dir: s.Dir, Commit: folderCommit(s.Dir)}, nil
}

// folderCommit says what a folder's files are: the commit when it is in a
// git work tree and its files match HEAD, "working tree (dirty)" when they
// differ, and "working tree" outside git.
func folderCommit(dir string) string {
	commit, dirty, err := source.WorkTree(dir)
	switch {
	case err != nil:
		return "working tree"
	case dirty:
		return "working tree (dirty)"
	}
	return commit
}

// GitSource reads a git repository at the head of a branch: its snapshots
// are immutable and know their history.
type GitSource struct{ Git *source.Git }

// Fetch implements Source.
func (s GitSource) Fetch(ctx context.Context) (Snapshot, error) {
	snap, err := s.Git.Fetch(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	commit := snap.Commit
	return Snapshot{Dir: snap.Dir, Commit: commit, Immutable: true,
		Descends: func(ctx context.Context, ancestor string) (bool, error) { return s.Git.Descends(ctx, commit, ancestor) },
	}, nil
}
