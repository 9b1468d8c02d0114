package review

// What merging a pull request would give, as the check computes it: the
// base branch's working copy with the pull request's files on top, the diff
// of its platform files, and the plan cut down to what it touches.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/review/comment"
	"github.com/allot-dev/allot/schemas"
	"github.com/allot-dev/allot/schemas/load"
)

// maxDiffInput bounds what is read of each side of a platform file for its
// diff; the comment shows far less.
const maxDiffInput = 1 << 20

// PlatformDiff is a unified diff of the platform files between the base
// branch and the pull request's head.
func PlatformDiff(base, head string, files []string) (string, error) {
	var b strings.Builder
	for _, f := range files {
		before, err := readBounded(base, f)
		if err != nil {
			return "", err
		}
		after, err := readBounded(head, f)
		if err != nil {
			return "", err
		}
		from, to := "a/"+f, "b/"+f
		if before == nil {
			from = "/dev/null"
		}
		if after == nil {
			to = "/dev/null"
		}
		d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: difflib.SplitLines(string(before)), B: difflib.SplitLines(string(after)),
			FromFile: from, ToFile: to, Context: 3,
		})
		if err != nil {
			return "", err
		}
		b.WriteString(d)
	}
	return b.String(), nil
}

// readBounded reads a file of a working copy through os.Root, so that no
// link leads out of it; a missing file reads as nil.
func readBounded(dir, rel string) ([]byte, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(filepath.FromSlash(rel))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxDiffInput+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxDiffInput {
		return []byte(fmt.Sprintf("(%s is larger than %d bytes; not shown)\n", rel, maxDiffInput)), nil
	}
	return data, nil
}

// ProblemsOf turns validation findings into the report's problems.
func ProblemsOf(ps []schemas.Problem) []comment.Problem {
	var out []comment.Problem
	for _, p := range ps {
		out = append(out, comment.Problem{File: p.File, Line: p.Line, Message: p.Message, Warning: p.Severity != schemas.SeverityError})
	}
	return out
}

// RequestNames are the environments that changed files name.
func RequestNames(files []string) []string {
	var names []string
	for _, f := range files {
		if name, ok := RequestName(f); ok {
			names = append(names, name)
		}
	}
	return names
}

// RequestName is the environment a request file names: request files
// live under environments/ and are named after their environment.
func RequestName(file string) (string, bool) {
	ext := path.Ext(file)
	if !strings.HasPrefix(file, load.EnvironmentsDir+"/") || ext != ".yaml" && ext != ".yml" {
		return "", false
	}
	return strings.TrimSuffix(path.Base(file), ext), true
}

// RequestsOnly reports whether every changed file is a request file: then
// the rest of the repository is as on the base branch, and its plan is
// left out.
func RequestsOnly(changed, requests []string) bool {
	for _, f := range changed {
		if !slices.Contains(requests, f) {
			return false
		}
	}
	return true
}

// OnlyTouched keeps the parts of a plan about the touched environments,
// and, when more than requests changed, every entry that changes anything.
// Errors stay: a guard that would stop the pass concerns every pull
// request.
func OnlyTouched(plan *reconciler.Plan, touched map[string]bool, requestsOnly bool) *reconciler.Plan {
	out := &reconciler.Plan{Commit: plan.Commit, Errors: plan.Errors}
	groups := map[string]bool{}
	for _, e := range plan.Entries {
		changes := slices.ContainsFunc(e.Changes, func(c reconciler.Change) bool { return c.Action != "unchanged" })
		if touched[e.Environment] || !requestsOnly && (changes || e.Action != reconciler.ActionUnchanged) {
			out.Entries = append(out.Entries, e)
			for _, g := range e.Groups {
				groups[g.Name] = true
			}
		}
	}
	for _, g := range plan.Groups {
		if groups[g.Group] {
			out.Groups = append(out.Groups, g)
		}
	}
	out.Kept = plan.Kept.Filter(func(kr reconciler.KeptRequest) bool {
		name := kr.Environment
		if name == "" {
			name, _ = RequestName(kr.File)
		}
		return touched[name] || !requestsOnly
	})
	return out
}

// Overlay makes dir the base working copy with the changed files taken
// from head: copied where head has them, removed where it has not. Only
// regular files and symbolic links are copied (a link stays a link, for
// the loader to refuse); git's own folder is left out. Every read and
// write goes through os.Root, so no link in either working copy, however
// chained, leads a copy or a removal outside its folder.
func Overlay(dir, base, head string, changed []string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	dst, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer dst.Close()
	src, err := os.OpenRoot(base)
	if err != nil {
		return err
	}
	defer src.Close()
	err = fs.WalkDir(src.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return fs.SkipDir
		}
		if p == "." {
			return nil
		}
		return copyEntry(dst, src, p, d)
	})
	if err != nil {
		return fmt.Errorf("copy the base branch: %w", err)
	}
	pr, err := os.OpenRoot(head)
	if err != nil {
		return err
	}
	defer pr.Close()
	for _, f := range changed {
		if !filepath.IsLocal(filepath.FromSlash(f)) || path.Clean(f) != f || f == ".git" || strings.HasPrefix(f, ".git/") {
			return fmt.Errorf("pull request file %q is not a path inside the repository", f)
		}
		rel := filepath.FromSlash(f)
		info, err := pr.Lstat(rel)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := dst.RemoveAll(rel); err != nil {
				return fmt.Errorf("remove %s as the pull request does: %w", f, err)
			}
			continue
		case err != nil:
			return fmt.Errorf("pull request file %s: %w", f, err)
		}
		if err := dst.RemoveAll(rel); err != nil {
			return fmt.Errorf("replace %s with the pull request's: %w", f, err)
		}
		if err := copyEntry(dst, pr, f, fs.FileInfoToDirEntry(info)); err != nil {
			return fmt.Errorf("copy %s from the pull request: %w", f, err)
		}
	}
	return nil
}

// copyEntry copies one folder (made empty), regular file or symbolic link
// from src to dst, both rooted; rel is slash-separated.
func copyEntry(dst, src *os.Root, rel string, d fs.DirEntry) error {
	name := filepath.FromSlash(rel)
	switch {
	case d.IsDir():
		return dst.MkdirAll(name, 0o755)
	case d.Type()&fs.ModeSymlink != 0:
		target, err := src.Readlink(name)
		if err != nil {
			return err
		}
		if err := dst.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return err
		}
		return dst.Symlink(target, name)
	case !d.Type().IsRegular():
		return nil
	}
	in, err := src.Open(name)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := dst.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	out, err := dst.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
