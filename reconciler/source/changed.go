package source

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// maxChangedFiles bounds how many files ChangedSince walks.
const maxChangedFiles = 100000

// maxHashedFile bounds the size of a file ChangedSince reads to hash it;
// larger files count as changed.
const maxHashedFile = 64 << 20

// ChangedSince returns the files under dir (relative to dir, with forward
// slashes) whose content on disk differs from the merge base of ref and HEAD
// — what `git diff ref...` plus uncommitted changes would show — including
// files that did not exist at the base. dir may be any folder inside a git
// work tree.
func ChangedSince(dir, ref string) (map[string]bool, error) {
	repo, prefix, realDir, err := openAt(dir)
	if err != nil {
		return nil, err
	}
	base, err := mergeBase(repo, ref)
	if err != nil {
		return nil, err
	}
	tree, err := base.Tree()
	if err != nil {
		return nil, fmt.Errorf("read tree of %s: %w", ref, err)
	}
	changed, _, err := changedFiles(dir, realDir, prefix, tree)
	return changed, err
}

// openAt opens the git repository whose work tree holds dir, and returns
// where dir is in it (slash-separated, "." for the top) and dir with its
// links resolved.
func openAt(dir string) (*git.Repository, string, string, error) {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return nil, "", "", fmt.Errorf("open git repository at %s: %w", dir, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, "", "", fmt.Errorf("open git work tree: %w", err)
	}
	top := wt.Filesystem.Root()
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, "", "", err
	}
	realTop, err := filepath.EvalSymlinks(top)
	if err != nil {
		return nil, "", "", err
	}
	realDir, err := filepath.EvalSymlinks(absDir)
	if err != nil {
		return nil, "", "", err
	}
	prefix, err := filepath.Rel(realTop, realDir)
	if err != nil {
		return nil, "", "", err
	}
	return repo, filepath.ToSlash(prefix), realDir, nil
}

// changedFiles returns the files under realDir that differ from tree, or
// that tree does not hold, and how many files it found; prefix is where
// realDir is in tree.
func changedFiles(dir, realDir, prefix string, tree *object.Tree) (map[string]bool, int, error) {
	changed := map[string]bool{}
	n := 0
	err := filepath.WalkDir(realDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		if n++; n > maxChangedFiles {
			return fmt.Errorf("more than %d files under %s", maxChangedFiles, dir)
		}
		rel, _ := filepath.Rel(realDir, p)
		rel = filepath.ToSlash(rel)
		inRepo := filepath.ToSlash(filepath.Join(prefix, rel))
		entry, err := tree.FindEntry(inRepo)
		if err != nil {
			changed[rel] = true
			return nil
		}
		if differs(p, d, entry) {
			changed[rel] = true
		}
		return nil
	})
	if err != nil {
		return nil, n, fmt.Errorf("compare %s with git: %w", dir, err)
	}
	return changed, n, nil
}

// mergeBase resolves ref and returns its merge base with HEAD, or ref itself
// when HEAD has no commits or no common history.
func mergeBase(repo *git.Repository, ref string) (*object.Commit, error) {
	hash, err := repo.ResolveRevision(plumbing.Revision(ref))
	if err != nil {
		return nil, fmt.Errorf("resolve %q: %w; fetch it first (in GitHub Actions, check out with fetch-depth: 0)", ref, err)
	}
	target, err := repo.CommitObject(*hash)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", hash, err)
	}
	head, err := repo.Head()
	if err != nil {
		return target, nil
	}
	headCommit, err := repo.CommitObject(head.Hash())
	if err != nil {
		return target, nil
	}
	bases, err := headCommit.MergeBase(target)
	if err != nil || len(bases) == 0 {
		return target, nil
	}
	return bases[0], nil
}

// differs reports whether the file at p differs from the tree entry.
func differs(p string, d fs.DirEntry, entry *object.TreeEntry) bool {
	if d.Type()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(p)
		if err != nil {
			return true
		}
		return plumbing.ComputeHash(plumbing.BlobObject, []byte(target)) != entry.Hash
	}
	f, err := os.Open(p)
	if err != nil {
		return true
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxHashedFile+1))
	if err != nil || len(data) > maxHashedFile {
		return true
	}
	return plumbing.ComputeHash(plumbing.BlobObject, data) != entry.Hash
}

// TopLevel returns the root of the git work tree that holds dir, or an error
// when dir is not in one.
func TopLevel(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			return d, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		if parent := filepath.Dir(d); parent == d || strings.TrimSpace(parent) == "" {
			return "", fmt.Errorf("%s is not inside a git work tree", dir)
		}
	}
}
