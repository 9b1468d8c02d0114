package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/allot-dev/allot/test/harness"
)

// nobody is the user the permission tests read as when they run as root,
// for whom modes do not deny anything.
const nobody = 65534

// asUser runs fn as a user the file system's modes apply to: the test's
// own user, or, under root, nobody as the effective user (the real and
// saved user stay root, so that the test can come back).
func asUser(t *testing.T, fn func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		fn()
		return
	}
	// git would warn, and go-git fail, on root's unreadable configuration.
	t.Setenv("HOME", os.DevNull)
	t.Setenv("XDG_CONFIG_HOME", os.DevNull)
	if err := syscall.Setresuid(-1, nobody, -1); err != nil {
		t.Fatalf("cannot drop root to test permissions: %v", err)
	}
	defer func() {
		if err := syscall.Setresuid(-1, 0, -1); err != nil {
			panic("cannot return to root: " + err.Error())
		}
	}()
	fn()
}

// sharedSource makes a requests repository under a folder the user asUser
// runs as may read and write, and owned by that user.
func sharedSource(t *testing.T) (*harness.GitRepo, string) {
	t.Helper()
	base, err := os.MkdirTemp("", "allot-source-permission-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				_ = os.Chmod(p, 0o755)
			}
			return nil
		})
		if err := os.RemoveAll(base); err != nil {
			t.Error(err)
		}
	})
	if err := os.Chmod(base, 0o777); err != nil {
		t.Fatal(err)
	}
	repo, err := harness.NewGitRepo(filepath.Join(base, "repos", "requests.git"), filepath.Join(base, "work"), "main")
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range requests() {
		if err := repo.WriteFile(name, content); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := repo.Commit("first"); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		chownAll(t, filepath.Join(base, "repos"), nobody)
	}
	return repo, base
}

func chownAll(t *testing.T, dir string, uid int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, uid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestFetchSaysARepositoryCannotBeRead(t *testing.T) {
	tests := []struct {
		name string
		// deny makes the repository unreadable and returns the path the
		// error must name.
		deny func(t *testing.T, repo *harness.GitRepo) string
		url  func(repo *harness.GitRepo) string
	}{
		{"when its objects folder denies reading", func(t *testing.T, repo *harness.GitRepo) string {
			return chmod(t, filepath.Join(repo.Bare, "objects"), 0)
		}, func(repo *harness.GitRepo) string { return repo.Bare }},
		{"when the repository folder denies reading", func(t *testing.T, repo *harness.GitRepo) string {
			return chmod(t, repo.Bare, 0)
		}, func(repo *harness.GitRepo) string { return "file://" + repo.Bare }},
		{"when the folder that holds it denies reading", func(t *testing.T, repo *harness.GitRepo) string {
			chmod(t, filepath.Dir(repo.Bare), 0)
			return repo.Bare
		}, func(repo *harness.GitRepo) string { return repo.Bare }},
		{"when one pack file denies reading", func(t *testing.T, repo *harness.GitRepo) string {
			if _, err := harness.RunGit(repo.Bare, "-c", "safe.directory=*", "repack", "-a", "-d", "-q"); err != nil {
				t.Fatal(err)
			}
			if os.Geteuid() == 0 {
				chownAll(t, repo.Bare, nobody)
			}
			packs, err := filepath.Glob(filepath.Join(repo.Bare, "objects", "pack", "*.pack"))
			if err != nil || len(packs) != 1 {
				t.Fatalf("packs %v (%v)", packs, err)
			}
			return chmod(t, packs[0], 0)
		}, func(repo *harness.GitRepo) string { return repo.Bare }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo, base := sharedSource(t)
			g := mustNew(t, Config{URL: tt.url(repo), Dir: filepath.Join(base, "checkout")})
			denied := tt.deny(t, repo)
			var err error
			asUser(t, func() {
				_, err = g.Fetch(context.Background())
			})
			t.Logf("error: %v", err)
			if !errors.Is(err, ErrPermission) {
				t.Errorf("error = %v, want %v", err, ErrPermission)
			}
			if errors.Is(err, ErrRepositoryNotFound) || errors.Is(err, ErrCorrupt) {
				t.Errorf("error = %v, which says the repository is missing or damaged", err)
			}
			if msg := err.Error(); !strings.Contains(msg, "permission denied") || !strings.Contains(msg, denied) {
				t.Errorf("error = %v, want it to say permission denied on %s", err, denied)
			}
			var gitErr *Error
			if !errors.As(err, &gitErr) || gitErr.Op != OpFetch {
				t.Errorf("error = %#v, want an *Error of op %s", err, OpFetch)
			}
		})
	}
	t.Run("when another user owns it", func(t *testing.T) {
		repo, base := sharedSource(t)
		if os.Geteuid() == 0 {
			// Root gives the repository to itself and reads as nobody.
			chownAll(t, filepath.Join(base, "repos"), 0)
		} else {
			// Only root can give a folder away; git's own switch makes it
			// judge ownership as for a repository another user owns.
			t.Setenv("GIT_TEST_ASSUME_DIFFERENT_OWNER", "1")
		}
		g := mustNew(t, Config{URL: repo.Bare, Dir: filepath.Join(base, "checkout")})
		var err error
		asUser(t, func() {
			_, err = g.Fetch(context.Background())
		})
		t.Logf("error: %v", err)
		if !errors.Is(err, ErrPermission) || errors.Is(err, ErrRepositoryNotFound) {
			t.Errorf("error = %v, want %v", err, ErrPermission)
		}
		if !strings.Contains(fmt.Sprint(err), "belongs to another user") {
			t.Errorf("error = %v, want it to say the repository belongs to another user", err)
		}
	})
	t.Run("but still says a missing one is not found", func(t *testing.T) {
		_, base := sharedSource(t)
		g := mustNew(t, Config{URL: filepath.Join(base, "repos", "missing.git"), Dir: filepath.Join(base, "checkout")})
		var err error
		asUser(t, func() {
			_, err = g.Fetch(context.Background())
		})
		if !errors.Is(err, ErrRepositoryNotFound) || errors.Is(err, ErrPermission) {
			t.Errorf("error = %v, want %v", err, ErrRepositoryNotFound)
		}
	})
}

// chmod sets the mode of p and returns p.
func chmod(t *testing.T, p string, mode fs.FileMode) string {
	t.Helper()
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}
