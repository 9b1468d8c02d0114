package app

import (
	"os"
	"path/filepath"
	"testing"
)

func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		writeFile(t, filepath.Join(root, rel), content)
	}
}

func TestOverlay(t *testing.T) {
	t.Run("takes changed files from head and removes what head deleted", func(t *testing.T) {
		root := t.TempDir()
		base, head, out := filepath.Join(root, "base"), filepath.Join(root, "head"), filepath.Join(root, "out")
		writeTree(t, base, map[string]string{"allot.yaml": "base", "environments/web/a.yaml": "a", "environments/web/gone.yaml": "gone"})
		writeTree(t, head, map[string]string{"allot.yaml": "head", "environments/web/a.yaml": "a2", "environments/web/b.yaml": "b"})
		if err := overlay(out, base, head, []string{"environments/web/a.yaml", "environments/web/b.yaml", "environments/web/gone.yaml"}); err != nil {
			t.Fatal(err)
		}
		for rel, want := range map[string]string{"allot.yaml": "base", "environments/web/a.yaml": "a2", "environments/web/b.yaml": "b"} {
			got, err := os.ReadFile(filepath.Join(out, rel))
			if err != nil || string(got) != want {
				t.Errorf("%s = %q, %v; want %q", rel, got, err, want)
			}
		}
		if _, err := os.Lstat(filepath.Join(out, "environments/web/gone.yaml")); !os.IsNotExist(err) {
			t.Errorf("the file head deleted is still there: %v", err)
		}
	})

	// A pull request that turns a folder into a chain of links (a link to
	// a link to a folder outside) and then deletes or changes a file
	// "inside" it must not reach the outside folder.
	t.Run("never writes or removes through a chain of links", func(t *testing.T) {
		root := t.TempDir()
		base, head, out, outside := filepath.Join(root, "base"), filepath.Join(root, "head"), filepath.Join(root, "out"), filepath.Join(root, "outside")
		writeTree(t, outside, map[string]string{"victim.yaml": "keep me"})
		writeTree(t, base, map[string]string{"allot.yaml": "base"})
		if err := os.MkdirAll(filepath.Join(base, "environments"), 0o755); err != nil {
			t.Fatal(err)
		}
		// base: environments/web -> hop, hop -> ../../outside (a chain).
		if err := os.Symlink(filepath.Join("..", "outside"), filepath.Join(base, "hop")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..", "hop"), filepath.Join(base, "environments", "web")); err != nil {
			t.Fatal(err)
		}
		writeTree(t, head, map[string]string{"environments/web/new.yaml": "x"})
		err := overlay(out, base, head, []string{"environments/web/victim.yaml", "environments/web/new.yaml"})
		if err == nil {
			t.Log("overlay refused nothing; checking the outside folder is untouched")
		}
		got, rerr := os.ReadFile(filepath.Join(outside, "victim.yaml"))
		if rerr != nil || string(got) != "keep me" {
			t.Fatalf("the file outside the working copy was changed or removed: %q, %v (overlay: %v)", got, rerr, err)
		}
		if _, err := os.Stat(filepath.Join(outside, "new.yaml")); !os.IsNotExist(err) {
			t.Fatalf("overlay wrote a file outside the working copy: %v", err)
		}
	})

	t.Run("refuses paths that leave the repository", func(t *testing.T) {
		root := t.TempDir()
		base, head := filepath.Join(root, "base"), filepath.Join(root, "head")
		writeTree(t, base, map[string]string{"allot.yaml": "base"})
		writeTree(t, head, map[string]string{"allot.yaml": "head"})
		for _, f := range []string{"../x", "environments/../allot.yaml", ".git/config", "/etc/passwd"} {
			if err := overlay(filepath.Join(root, "out"), base, head, []string{f}); err == nil {
				t.Errorf("%q: no error", f)
			}
		}
	})
}
