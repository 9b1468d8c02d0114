package source

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/allot-dev/allot/internal/worktree"
)

const (
	// remoteName is the remote Fetch keeps in the working copy.
	remoteName = "origin"
	// markerFile, inside .git, marks a working copy Fetch made and may
	// therefore reset and clean.
	markerFile = "allot-source"
	// maxSymlinkTarget bounds the target of a symbolic link Fetch reads to
	// check it.
	maxSymlinkTarget = 4096
	// maxLinkHops is how many links one path may go through, as Linux
	// allows (ELOOP beyond).
	maxLinkHops = 40
	// maxLinkSteps bounds the path elements all the links of one commit
	// take to resolve; real repositories need a few per link.
	maxLinkSteps = 1 << 20
)

// Fetch brings the working copy in Config.Dir to the newest commit of the
// branch and returns it. The first Fetch clones the branch (only its newest
// commit unless Config.FullHistory); later ones download only new objects.
// Either way the working copy is then reset hard to the commit: files
// deleted upstream disappear, and so do local edits and untracked files,
// ignored ones included. Even when nothing changed upstream the working
// copy is reset, so a pass always sees exactly the commit it reports.
//
// After the reset Fetch verifies the work tree against the commit's tree:
// every file there with its mode and content (each one hashed, within
// MaxBytes), and nothing else but .git. When that fails, or git data of the
// working copy cannot be read back (a truncated pack, a missing object,
// malformed references, as a disk error leaves them), Fetch discards the
// working copy and clones again, once. If that fails too, the error says
// both; Fetch never returns a Snapshot whose files are not the commit's.
//
// A local path is cloned like a remote, so uncommitted edits in the source
// repository are never seen; commit them first.
//
// When the commit breaks Config's limits, Fetch fails with ErrTooLarge or
// ErrUnsafeContent before touching the working copy. Every error is an
// *Error.
func (g *Git) Fetch(ctx context.Context) (*Snapshot, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Timeout)
	defer cancel()

	commit, err := g.sync(ctx)
	if err != nil && errors.Is(err, ErrCorrupt) && !errors.Is(err, errSentDamaged) {
		commit, err = g.heal(ctx, err)
	}
	if err != nil {
		return nil, err
	}
	g.last.Lock()
	g.last.commit = commit.Hash.String()
	g.last.Unlock()
	return &Snapshot{
		Dir:    g.cfg.Dir,
		Commit: commit.Hash.String(),
		Branch: g.cfg.Branch,
		Time:   commit.Committer.When,
	}, nil
}

// sync runs the steps of one Fetch: open, fetch, checkout.
func (g *Git) sync(ctx context.Context) (*object.Commit, *Error) {
	repo, err := g.open()
	if err != nil {
		return nil, g.fail(OpOpen, err)
	}
	commit, err := g.fetch(ctx, repo)
	if err != nil {
		return nil, g.fail(OpFetch, err)
	}
	if err := g.checkout(repo, commit); err != nil {
		return nil, g.fail(OpCheckout, err)
	}
	return commit, nil
}

// heal discards the working copy, which cause found damaged, and runs the
// steps of Fetch again on an empty Dir: a clone.
func (g *Git) heal(ctx context.Context, cause *Error) (*object.Commit, *Error) {
	if _, err := os.Stat(filepath.Join(g.cfg.Dir, git.GitDirName, markerFile)); err != nil {
		// Not provably ours; open refuses such a Dir anyway.
		return nil, cause
	}
	if err := removeContents(g.cfg.Dir); err != nil {
		return nil, &Error{URL: g.shownURL, Op: cause.Op,
			Err: fmt.Errorf("%w; discarding the working copy to clone again failed: %w", cause.Err, err)}
	}
	commit, err := g.sync(ctx)
	if err != nil {
		return nil, &Error{URL: g.shownURL, Op: err.Op,
			Err: fmt.Errorf("git data could not be read at %s (%w), so the working copy was discarded and cloned again, which failed: %w", cause.Op, cause.Err, err.Err)}
	}
	return commit, nil
}

// fail wraps err in an *Error with its kind and without secrets.
func (g *Git) fail(op Op, err error) *Error {
	if kind := classify(err); kind != nil && !errors.Is(err, kind) {
		err = fmt.Errorf("%w: %w", kind, err)
	}
	return &Error{URL: g.shownURL, Op: op, Err: &redacted{err: err, secrets: g.secrets}}
}

// open opens the working copy in Dir, or makes one when Dir is empty or
// missing. A working copy whose git data cannot be read any more (say, a
// crash while it was written) is made anew.
func (g *Git) open() (*git.Repository, error) {
	dir := g.cfg.Dir
	marker := filepath.Join(dir, git.GitDirName, markerFile)
	repo, err := git.PlainOpen(dir)
	_, markerErr := os.Stat(marker)
	switch {
	case err == nil && markerErr == nil:
		return repo, g.setRemote(repo)
	case markerErr == nil:
		// Ours, but unreadable: start again.
		if err := removeContents(dir); err != nil {
			return nil, err
		}
	case err == nil || !errors.Is(err, git.ErrRepositoryNotExists):
		return nil, fmt.Errorf("%s holds a git repository allot did not make; point Dir at an empty folder", dir)
	default:
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if len(entries) > 0 {
			return nil, fmt.Errorf("%s is not empty and holds no working copy; point Dir at an empty folder", dir)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	repo, err = git.PlainInit(dir, false)
	if err != nil {
		return nil, fmt.Errorf("init working copy: %w", err)
	}
	if err := os.WriteFile(marker, []byte("made by allot; Fetch resets and cleans this working copy\n"), 0o644); err != nil {
		return nil, err
	}
	return repo, g.setRemote(repo)
}

// setRemote points the remote at the configured URL, which may have changed
// since the working copy was made.
func (g *Git) setRemote(repo *git.Repository) error {
	cfg, err := repo.Config()
	if err != nil {
		return fmt.Errorf("read working copy config: %w", err)
	}
	want := &config.RemoteConfig{
		Name:  remoteName,
		URLs:  []string{g.url},
		Fetch: []config.RefSpec{g.refSpec()},
	}
	if have, ok := cfg.Remotes[remoteName]; ok && len(have.URLs) == 1 && have.URLs[0] == g.url &&
		len(have.Fetch) == 1 && have.Fetch[0] == want.Fetch[0] {
		return nil
	}
	cfg.Remotes[remoteName] = want
	return repo.SetConfig(cfg)
}

func (g *Git) refSpec() config.RefSpec {
	if g.cfg.Ref != "" {
		return config.RefSpec(fmt.Sprintf("+%s:%s", g.cfg.Ref, g.remoteRef()))
	}
	return config.RefSpec(fmt.Sprintf("+%s:%s", plumbing.NewBranchReferenceName(g.cfg.Branch), g.remoteRef()))
}

// remoteRef is where the fetched commit is kept; a Ref is kept under a
// name of its own so that it never looks like a branch.
func (g *Git) remoteRef() plumbing.ReferenceName {
	if g.cfg.Ref != "" {
		return plumbing.ReferenceName("refs/allot/" + strings.TrimPrefix(g.cfg.Ref, "refs/"))
	}
	return plumbing.NewRemoteReferenceName(remoteName, g.cfg.Branch)
}

// fetch downloads the branch and returns its newest commit.
func (g *Git) fetch(ctx context.Context, repo *git.Repository) (*object.Commit, error) {
	opts := &git.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{g.refSpec()},
		Auth:       g.auth,
		Tags:       git.NoTags,
		Force:      true,
	}
	if !g.cfg.FullHistory {
		opts.Depth = 1
	}
	err := repo.FetchContext(ctx, opts)
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		if strings.Contains(err.Error(), "corruption on the remote side") {
			// git upload-pack could not read the repository; cloning
			// again would not help.
			err = fmt.Errorf("%w: %w: %w", ErrCorrupt, errSentDamaged, err)
		}
		return nil, g.unreadable(err)
	}
	ref, err := repo.Reference(g.remoteRef(), true)
	if err != nil {
		if damaged(err) {
			return nil, fmt.Errorf("read %s after fetching: %w", g.remoteRef(), err)
		}
		return nil, fmt.Errorf("%w: %s after fetching: %w", ErrBranchNotFound, cmp.Or(g.cfg.Ref, g.cfg.Branch), err)
	}
	commit, err := repo.CommitObject(ref.Hash())
	if err != nil {
		return nil, g.unreadable(fmt.Errorf("read commit %s: %w", ref.Hash(), stored(err)))
	}
	return commit, nil
}

// errSentDamaged marks damage on the server's side, which a new clone
// would meet again.
var errSentDamaged = errors.New("the repository could not send its objects")

// unreadable returns err, or, when the source is a local repository that
// the file system does not let allot read, an ErrPermission error naming
// the path. git reports such a repository as missing, or sends no objects
// from it; neither says what is wrong, and the second would pass for a
// damaged working copy.
func (g *Git) unreadable(err error) error {
	if g.kind != kindLocal {
		return err
	}
	if strings.Contains(err.Error(), "detected dubious ownership") {
		return fmt.Errorf("%w: repository %s belongs to another user, which git refuses; run allot as its owner or list it in git's safe.directory: %w", ErrPermission, g.url, err)
	}
	if denied := deniedIn(g.url); denied != nil {
		return fmt.Errorf("%w: repository %s cannot be read: %w", ErrPermission, g.url, denied)
	}
	return err
}

// maxProbed bounds the entries deniedIn looks at.
const maxProbed = 10000

// deniedIn returns the first permission error met while reading the
// repository at p (a work tree or a bare repository), or nil.
func deniedIn(p string) error {
	d, err := os.Open(p)
	if err == nil {
		_, err = d.ReadDir(1)
		d.Close()
	}
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return err
		}
		return nil
	}
	gitDir := p
	if _, err := os.Stat(filepath.Join(p, git.GitDirName)); err == nil {
		gitDir = filepath.Join(p, git.GitDirName)
	} else if errors.Is(err, fs.ErrPermission) {
		return err
	}
	var denied error
	n := 0
	_ = filepath.WalkDir(gitDir, func(p string, d fs.DirEntry, err error) error {
		if n++; n > maxProbed || denied != nil {
			return filepath.SkipAll
		}
		if err == nil && d.Type().IsRegular() {
			var f *os.File
			if f, err = os.Open(p); err == nil {
				f.Close()
			}
		}
		if errors.Is(err, fs.ErrPermission) {
			denied = err
			return filepath.SkipAll
		}
		return nil
	})
	return denied
}

// checkout makes the working copy hold exactly commit's tree.
func (g *Git) checkout(repo *git.Repository, commit *object.Commit) error {
	tree, err := commit.Tree()
	if err != nil {
		return fmt.Errorf("read tree of %s: %w", commit.Hash, stored(err))
	}
	want, err := g.inspect(repo, tree)
	if err != nil {
		return fmt.Errorf("commit %s: %w", commit.Hash, err)
	}
	err = g.reset(repo, commit.Hash, want)
	if err != nil {
		// The index may be damaged, say by a crash while it was written;
		// rebuild it and the work tree from the commit alone.
		if rmErr := os.Remove(filepath.Join(g.cfg.Dir, git.GitDirName, "index")); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
			return errors.Join(err, rmErr)
		}
		err = g.reset(repo, commit.Hash, tracked{})
	}
	if err != nil {
		return fmt.Errorf("reset to %s: %w", commit.Hash, stored(err))
	}
	if err := verify(g.cfg.Dir, want); err != nil {
		return fmt.Errorf("%w: work tree after the reset to %s: %w", ErrCorrupt, commit.Hash, err)
	}
	return nil
}

// reset removes from the work tree what want does not hold, then resets the
// index and work tree hard to the commit.
func (g *Git) reset(repo *git.Repository, hash plumbing.Hash, want tracked) error {
	if err := clean(g.cfg.Dir, want); err != nil {
		return err
	}
	if err := repo.Storer.SetReference(plumbing.NewHashReference(plumbing.HEAD, hash)); err != nil {
		return err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return err
	}
	return wt.Reset(&git.ResetOptions{Commit: hash, Mode: git.HardReset})
}

// tracked is the paths of a tree, relative to the root with forward
// slashes: files (symbolic links included), the folders that hold them,
// and submodules, which are not checked out.
type tracked struct {
	files      map[string]blob
	dirs       map[string]bool
	submodules map[string]bool
}

// blob is a file of a tree.
type blob struct {
	mode filemode.FileMode
	hash plumbing.Hash
	size int64
}

// inspect walks tree and checks it against the limits before anything is
// written: the number of files, their total size, the names of its
// entries, and symbolic links that point outside the working copy.
//
// It walks the tree itself: go-git's TreeWalker ends quietly, as if the
// tree were done, at a subtree it cannot read, and a damaged working copy
// then passes for a commit with fewer files.
func (g *Git) inspect(repo *git.Repository, tree *object.Tree) (tracked, error) {
	w := &inspection{
		g:     g,
		repo:  repo,
		want:  tracked{files: map[string]blob{}, dirs: map[string]bool{}, submodules: map[string]bool{}},
		links: map[string]string{},
	}
	if err := w.walk(tree, "", 0); err != nil {
		return w.want, err
	}
	return w.want, checkLinks(w.links)
}

// maxTreeDepth bounds how deep inspect follows folders.
const maxTreeDepth = 1024

// inspection is the state of one inspect.
type inspection struct {
	g     *Git
	repo  *git.Repository
	want  tracked
	links map[string]string
	bytes int64
}

// walk inspects the entries of tree, which lies at dir.
func (w *inspection) walk(tree *object.Tree, dir string, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("%w: folders nested more than %d deep", ErrUnsafeContent, maxTreeDepth)
	}
	for _, entry := range tree.Entries {
		if err := checkName(entry.Name); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrUnsafeContent, path.Join(dir, entry.Name), err)
		}
		name := path.Join(dir, entry.Name)
		switch entry.Mode {
		case filemode.Dir:
			if len(w.want.dirs) >= w.g.cfg.MaxFiles {
				return fmt.Errorf("%w: more than %d folders", ErrTooLarge, w.g.cfg.MaxFiles)
			}
			w.want.dirs[name] = true
			sub, err := object.GetTree(w.repo.Storer, entry.Hash)
			if err != nil {
				return fmt.Errorf("read tree %s of %s: %w", entry.Hash, name, stored(err))
			}
			if err := w.walk(sub, name, depth+1); err != nil {
				return err
			}
			continue
		case filemode.Submodule:
			// Submodules are not checked out.
			w.want.submodules[name] = true
			continue
		case filemode.Symlink:
			target, err := readSymlink(w.repo, name, entry.Hash)
			if err != nil {
				return err
			}
			w.links[name] = target
		}
		if len(w.want.files) >= w.g.cfg.MaxFiles {
			return fmt.Errorf("%w: more than %d files", ErrTooLarge, w.g.cfg.MaxFiles)
		}
		size, err := w.repo.Storer.EncodedObjectSize(entry.Hash)
		if err != nil {
			return fmt.Errorf("size of %s: %w", name, stored(err))
		}
		w.want.files[name] = blob{mode: entry.Mode, hash: entry.Hash, size: size}
		if w.bytes += size; w.bytes > w.g.cfg.MaxBytes {
			return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, w.g.cfg.MaxBytes)
		}
	}
	return nil
}

// checkName refuses a tree entry name that is not one plain path element,
// or that a file system could take for the .git folder.
func checkName(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return fmt.Errorf("entry name %q is not a file name", name)
	case strings.ContainsAny(name, "/\\\x00"):
		return fmt.Errorf("entry name %q holds a path separator or NUL", name)
	case strings.EqualFold(strings.TrimRight(name, ". "), git.GitDirName), strings.EqualFold(name, "git~1"):
		return fmt.Errorf("entry name %q names the .git folder", name)
	}
	return nil
}

// stored marks err, met reading what the working copy stores (objects it
// fetched, or the work tree while it is reset), as damage, whatever its
// type: go-git reports a truncated object as io.EOF as readily as with a
// named error. A denied permission, a full disk or a canceled context
// is no damage; a new clone would not help.
func stored(err error) error {
	if errors.Is(err, ErrCorrupt) || errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.ENOSPC) ||
		errors.Is(err, syscall.EDQUOT) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrCorrupt, err)
}

// readSymlink returns the target of the symbolic link name, bounded by
// maxSymlinkTarget.
func readSymlink(repo *git.Repository, name string, hash plumbing.Hash) (string, error) {
	blob, err := repo.BlobObject(hash)
	if err != nil {
		return "", fmt.Errorf("read symbolic link %s: %w", name, stored(err))
	}
	if blob.Size > maxSymlinkTarget {
		return "", fmt.Errorf("%w: symbolic link %s has a target longer than %d bytes", ErrUnsafeContent, name, maxSymlinkTarget)
	}
	r, err := blob.Reader()
	if err != nil {
		return "", fmt.Errorf("read symbolic link %s: %w", name, stored(err))
	}
	defer r.Close()
	target, err := io.ReadAll(r)
	if err != nil {
		return "", fmt.Errorf("read symbolic link %s: %w", name, stored(err))
	}
	return string(target), nil
}

// checkLinks refuses a tree in which a symbolic link, followed through
// every link on its way as the file system would, ends outside the
// working copy or in its .git folder: the renderer would read files of the
// machine allot runs on. Each link is resolved in the tree, before anything
// is written, so a refused commit leaves the working copy as it was.
func checkLinks(links map[string]string) error {
	steps := maxLinkSteps
	for _, name := range slices.Sorted(maps.Keys(links)) {
		if err := resolveLink(links, name, &steps); err != nil {
			return fmt.Errorf("%w: symbolic link %s %w; point it at a file inside the repository or remove it", ErrUnsafeContent, name, err)
		}
	}
	return nil
}

// resolveLink follows the link name, in the tree whose links are links,
// one path element at a time as the file system would, and says how it
// leaves the working copy, if it does. steps is what is left of the
// elements all links of a commit may take to resolve, so that a tree of
// many long chains cannot cost unbounded time.
func resolveLink(links map[string]string, name string, steps *int) error {
	var (
		at      []string // the elements resolved so far
		cur     string   // at, joined
		pending = strings.Split(name, "/")
		via     string // the link followed last
	)
	outside := func() error {
		if via == name {
			return fmt.Errorf("points outside the repository (%s)", links[name])
		}
		return fmt.Errorf("leaves the repository through the link %s (-> %s)", via, links[via])
	}
	for hops := 0; len(pending) > 0; {
		if *steps--; *steps < 0 {
			return fmt.Errorf("and the commit's other links take more than %d path elements to resolve", maxLinkSteps)
		}
		elem := pending[0]
		pending = pending[1:]
		switch elem {
		case "", ".":
			continue
		case "..":
			if len(at) == 0 {
				return outside()
			}
			at = at[:len(at)-1]
			cur = cur[:max(strings.LastIndexByte(cur, '/'), 0)]
			continue
		}
		p := elem
		if cur != "" {
			p = cur + "/" + elem
		}
		target, ok := links[p]
		if !ok {
			at, cur = append(at, elem), p
			continue
		}
		if hops++; hops > maxLinkHops {
			return fmt.Errorf("goes through more than %d links; it may be a loop", maxLinkHops)
		}
		via = p
		if path.IsAbs(target) || filepath.IsAbs(target) {
			return outside()
		}
		// The target takes the link's place, in the link's folder.
		pending = append(strings.Split(target, "/"), pending...)
	}
	if len(at) > 0 && at[0] == git.GitDirName {
		return fmt.Errorf("points into the %s folder", git.GitDirName)
	}
	return nil
}

// clean removes everything under dir but .git that want does not hold:
// what `git clean -ffdx` would remove, and also paths whose type differs
// (a folder where want has a file).
func clean(dir string, want tracked) error {
	return worktree.Walk(dir, func(p, rel string, d fs.DirEntry) error {
		switch {
		case d.IsDir():
			if want.dirs[rel] {
				return nil
			}
			if err := os.RemoveAll(p); err != nil {
				return err
			}
			return filepath.SkipDir
		}
		if _, ok := want.files[rel]; !ok {
			return os.Remove(p)
		}
		return nil
	})
}

// removeContents empties dir, keeping dir itself (it may be a mount point).
func removeContents(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
