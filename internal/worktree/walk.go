// Package worktree walks the files of a git working copy.
package worktree

import (
	"io/fs"
	"path/filepath"
)

// gitDir is the folder git keeps its repository in.
const gitDir = ".git"

// Walk calls fn for every path under dir but dir itself and .git, with
// its slash-separated path relative to dir; fn may return filepath.SkipDir
// for a folder. Dir may be a link to the folder, which WalkDir alone would
// not enter.
func Walk(dir string, fn func(p, rel string, d fs.DirEntry) error) error {
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch rel {
		case ".":
			return nil
		case gitDir:
			return filepath.SkipDir
		}
		return fn(p, rel, d)
	})
}
