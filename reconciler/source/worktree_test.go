package source

import (
	"errors"
	"github.com/allot-dev/allot/internal/testfs"
	"os"
	"path/filepath"
	"testing"
)

func TestWorkTreeSaysTheCommitOrDirty(t *testing.T) {
	files := requests()
	files["sub/allot.yaml"] = "kind: Platform\n"
	s := newSource(t, files)
	check := func(t *testing.T, dir string, wantDirty bool) {
		t.Helper()
		commit, dirty, err := WorkTree(dir)
		if err != nil {
			t.Fatal(err)
		}
		if commit != s.head || dirty != wantDirty {
			t.Errorf("WorkTree = %s dirty %v, want %s dirty %v", commit, dirty, s.head, wantDirty)
		}
	}
	t.Run("files that match HEAD are its commit", func(t *testing.T) { check(t, s.Work, false) })
	t.Run("a changed file is dirty", func(t *testing.T) {
		write(t, filepath.Join(s.Work, "allot.yaml"), "kind: Platform # edited\n")
		check(t, s.Work, true)
		write(t, filepath.Join(s.Work, "allot.yaml"), "kind: Platform\n")
		check(t, s.Work, false)
	})
	t.Run("a new file is dirty", func(t *testing.T) {
		p := filepath.Join(s.Work, "environments/team-a/new.yaml")
		write(t, p, "kind: Environment\n")
		check(t, s.Work, true)
		_ = os.Remove(p)
	})
	t.Run("a deleted file is dirty", func(t *testing.T) {
		p := filepath.Join(s.Work, "environments/team-b/qa.yaml")
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		check(t, s.Work, true)
		write(t, p, files["environments/team-b/qa.yaml"])
		check(t, s.Work, false)
	})
	t.Run("only the folder read counts", func(t *testing.T) {
		write(t, filepath.Join(s.Work, "allot.yaml"), "kind: Platform # edited\n")
		defer write(t, filepath.Join(s.Work, "allot.yaml"), "kind: Platform\n")
		check(t, filepath.Join(s.Work, "sub"), false)
	})
	t.Run("a folder outside git is not a work tree", func(t *testing.T) {
		if _, _, err := WorkTree(t.TempDir()); !errors.Is(err, ErrNotGit) {
			t.Errorf("err = %v, want ErrNotGit", err)
		}
	})
}

func write(t *testing.T, p, content string) {
	t.Helper()
	testfs.WriteFile(t, p, content)
}
