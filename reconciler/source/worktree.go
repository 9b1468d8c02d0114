package source

import (
	"errors"
	"fmt"
	"io"
)

// ErrNotGit says a folder is not inside a git work tree.
var ErrNotGit = errors.New("not inside a git work tree")

// WorkTree says which commit a folder's files are: the commit of HEAD when
// every file under dir matches it (none changed, added or deleted), and
// dirty otherwise. dir may be any folder inside a git work tree; only the
// files under it count. It returns ErrNotGit when dir is in no work tree.
func WorkTree(dir string) (commit string, dirty bool, err error) {
	if _, err := TopLevel(dir); err != nil {
		return "", false, fmt.Errorf("%s: %w", dir, ErrNotGit)
	}
	repo, prefix, realDir, err := openAt(dir)
	if err != nil {
		return "", false, err
	}
	head, err := repo.Head()
	if err != nil {
		// No commit yet: everything is new.
		return "", true, nil
	}
	c, err := repo.CommitObject(head.Hash())
	if err != nil {
		return "", false, fmt.Errorf("read HEAD: %w", err)
	}
	tree, err := c.Tree()
	if err != nil {
		return "", false, fmt.Errorf("read tree of HEAD: %w", err)
	}
	changed, onDisk, err := changedFiles(dir, realDir, prefix, tree)
	if err != nil {
		return "", false, err
	}
	if len(changed) > 0 {
		return c.Hash.String(), true, nil
	}
	// Nothing on disk differs; a file of the commit that is not on disk
	// any more does.
	sub := tree
	if prefix != "." {
		if sub, err = tree.Tree(prefix); err != nil {
			// The folder holds no committed file.
			return c.Hash.String(), onDisk > 0, nil
		}
	}
	inCommit := 0
	files := sub.Files()
	defer files.Close()
	for {
		_, err := files.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", false, fmt.Errorf("read tree of HEAD: %w", err)
		}
		inCommit++
	}
	return c.Hash.String(), inCommit != onDisk, nil
}
