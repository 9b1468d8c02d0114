package sources

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// treeLimits bounds what readTree reads.
type treeLimits struct {
	maxFiles     int   // files read, after filtering
	maxBytes     int64 // all files together
	maxFileBytes int64 // any one file
}

// treeFilter decides what readTree skips. rel is the slash-separated path
// below the tree's root.
type treeFilter struct {
	skipDir  func(rel string, info fs.FileInfo) bool
	skipFile func(rel string, info fs.FileInfo) bool
	// skipBadLinks skips symlinks that dangle, leave the fs.FS or name a
	// directory instead of failing on them.
	skipBadLinks bool
}

// treeFile is one file readTree read.
type treeFile struct {
	rel  string // below the tree's root
	data []byte
}

// readTree reads the regular files below dir in fsys, in lexical order.
// Symlinks to files are followed as far as fsys allows: an fs.FS from
// os.Root refuses links that leave the root. Symlinked directories are not
// followed.
func readTree(fsys fs.FS, dir string, lim treeLimits, filter treeFilter) ([]treeFile, error) {
	if !fs.ValidPath(dir) {
		return nil, fmt.Errorf("path %q is not a clean relative path inside the repository", dir)
	}
	info, err := fs.Stat(fsys, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("directory %s does not exist: %w", dir, fs.ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}

	var (
		files []treeFile
		total int64
	)
	err = fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := relPath(dir, p)
		if rel == "" {
			return nil
		}
		if d.IsDir() {
			if filter.skipDir == nil {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if filter.skipDir(rel, info) {
				return fs.SkipDir
			}
			return nil
		}

		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			target, err := fs.Stat(fsys, p)
			switch {
			case err != nil && filter.skipBadLinks:
				return nil
			case err != nil:
				return fmt.Errorf("symlink %s cannot be followed (it must point to a file inside the repository): %w", p, err)
			case target.IsDir() && filter.skipBadLinks:
				return nil
			case target.IsDir():
				return fmt.Errorf("symlink %s points to a directory; symlinked directories are not supported, copy the directory instead", p)
			}
			info = target
		}
		if filter.skipFile != nil && filter.skipFile(rel, info) {
			return nil
		}
		if !info.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file", p)
		}

		if len(files) >= lim.maxFiles {
			return fmt.Errorf("%s holds more than %d files: %w", dir, lim.maxFiles, ErrLimitExceeded)
		}
		if info.Size() > lim.maxFileBytes {
			return fmt.Errorf("%s is %d bytes, more than the limit of %d bytes for one file: %w", p, info.Size(), lim.maxFileBytes, ErrLimitExceeded)
		}
		data, err := readFileLimited(fsys, p, lim.maxFileBytes)
		if err != nil {
			return err
		}
		if total+int64(len(data)) > lim.maxBytes {
			return fmt.Errorf("%s holds more than %d bytes (reached at %s): %w", dir, lim.maxBytes, p, ErrLimitExceeded)
		}
		total += int64(len(data))
		files = append(files, treeFile{rel: rel, data: data})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return files, nil
}

// readFileLimited reads a file of fsys, failing once it has more than max
// bytes, whatever its size claims to be.
func readFileLimited(fsys fs.FS, name string, max int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes: %w", name, max, ErrLimitExceeded)
	}
	return data, nil
}

// relPath returns p relative to dir, both clean fs.FS paths below which p lies.
func relPath(dir, p string) string {
	if dir == "." {
		if p == "." {
			return ""
		}
		return p
	}
	if p == dir {
		return ""
	}
	return strings.TrimPrefix(p, dir+"/")
}
