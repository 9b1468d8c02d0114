package source

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"

	"github.com/allot-dev/allot/internal/worktree"
)

// verify checks that the work tree in dir holds exactly want: each file
// with its mode and the content its hash names, and nothing else but .git.
// A submodule may be missing or an empty folder, as checkout leaves it.
//
// go-git's reset trusts the index and the objects it reads; after a disk
// error either may lie, and the reset then reports success over a tree
// that lacks files or holds stale ones. Hashing every file costs at most
// what inspect let through: MaxFiles files and MaxBytes bytes.
func verify(dir string, want tracked) error {
	for name, b := range want.files {
		if err := verifyFile(filepath.Join(dir, filepath.FromSlash(name)), b); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return worktree.Walk(dir, func(p, rel string, d fs.DirEntry) error {
		switch {
		case d.IsDir() && want.dirs[rel]:
			return nil
		case d.IsDir() && want.submodules[rel]:
			entries, err := os.ReadDir(p)
			if err != nil {
				return err
			}
			if len(entries) > 0 {
				return fmt.Errorf("submodule %s is not empty", rel)
			}
			return filepath.SkipDir
		case d.IsDir():
			return fmt.Errorf("folder %s is not in the commit", rel)
		}
		if _, ok := want.files[rel]; !ok {
			return fmt.Errorf("file %s is not in the commit", rel)
		}
		return nil
	})
}

// verifyFile checks the file at p against b.
func verifyFile(p string, b blob) error {
	info, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return errors.New("missing")
	}
	if err != nil {
		return err
	}
	var content io.Reader
	switch mode := info.Mode(); {
	case b.mode == filemode.Symlink:
		if mode&fs.ModeSymlink == 0 {
			return fmt.Errorf("is %s, want a symbolic link", describeMode(mode))
		}
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		if int64(len(target)) != b.size {
			return errors.New("symbolic link target differs from the commit")
		}
		h := plumbing.NewHasher(plumbing.BlobObject, b.size)
		_, _ = io.WriteString(h, target)
		if h.Sum() != b.hash {
			return errors.New("symbolic link target differs from the commit")
		}
		return nil
	case !mode.IsRegular():
		return fmt.Errorf("is %s, want a file", describeMode(mode))
	case (b.mode == filemode.Executable) != (mode&0o111 != 0):
		return fmt.Errorf("mode %s, want %s", mode.Perm(), b.mode)
	case info.Size() != b.size:
		return fmt.Errorf("holds %d bytes, want %d", info.Size(), b.size)
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	content = io.LimitReader(f, b.size)
	h := plumbing.NewHasher(plumbing.BlobObject, b.size)
	n, err := io.Copy(h, content)
	if err != nil {
		return err
	}
	if n != b.size || h.Sum() != b.hash {
		return errors.New("content differs from the commit")
	}
	return nil
}

// describeMode names the type of a file for an error.
func describeMode(mode fs.FileMode) string {
	switch {
	case mode.IsDir():
		return "a folder"
	case mode&fs.ModeSymlink != 0:
		return "a symbolic link"
	case mode.IsRegular():
		return "a file"
	}
	return "a special file"
}
