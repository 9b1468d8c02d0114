package review

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/allot-dev/allot/internal/testfs"
	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/renderer"
)

func TestOverlay(t *testing.T) {
	t.Run("takes changed files from head and removes what head deleted", func(t *testing.T) {
		root := t.TempDir()
		base, head, out := filepath.Join(root, "base"), filepath.Join(root, "head"), filepath.Join(root, "out")
		testfs.Write(t, base, map[string]string{"allot.yaml": "base", "environments/web/a.yaml": "a", "environments/web/gone.yaml": "gone"})
		testfs.Write(t, head, map[string]string{"allot.yaml": "head", "environments/web/a.yaml": "a2", "environments/web/b.yaml": "b"})
		if err := Overlay(out, base, head, []string{"environments/web/a.yaml", "environments/web/b.yaml", "environments/web/gone.yaml"}); err != nil {
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
		testfs.Write(t, outside, map[string]string{"victim.yaml": "keep me"})
		testfs.Write(t, base, map[string]string{"allot.yaml": "base"})
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
		testfs.Write(t, head, map[string]string{"environments/web/new.yaml": "x"})
		err := Overlay(out, base, head, []string{"environments/web/victim.yaml", "environments/web/new.yaml"})
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
		testfs.Write(t, base, map[string]string{"allot.yaml": "base"})
		testfs.Write(t, head, map[string]string{"allot.yaml": "head"})
		for _, f := range []string{"../x", "environments/../allot.yaml", ".git/config", "/etc/passwd"} {
			if err := Overlay(filepath.Join(root, "out"), base, head, []string{f}); err == nil {
				t.Errorf("%q: no error", f)
			}
		}
	})
}

func TestOnlyTouched(t *testing.T) {
	plan := &reconciler.Plan{
		Commit: "abc",
		Entries: []reconciler.PlanEntry{
			{Cluster: "dev", Environment: "shop", Action: reconciler.ActionCreated, Changes: []reconciler.Change{{Object: "Namespace/shop", Action: "create"}}, Groups: []renderer.Group{{Name: "env-shop"}}},
			{Cluster: "dev", Environment: "other", Action: reconciler.ActionUnchanged, Changes: []reconciler.Change{{Object: "Namespace/other", Action: "unchanged"}}},
			{Cluster: "dev", Environment: "drifted", Action: reconciler.ActionUpdated, Changes: []reconciler.Change{{Object: "ConfigMap/x", Action: "update"}}},
		},
		Groups: []reconciler.GroupChange{{Group: "env-shop", Action: "create"}, {Group: "env-other", Action: "update"}},
		Kept:   reconciler.KeptOf(reconciler.KeptRequest{File: "environments/a/broken.yaml", Message: "bad"}, reconciler.KeptRequest{Environment: "shop", Message: "render failed"}),
		Errors: []string{"cluster prod: unreachable"},
	}
	touched := map[string]bool{"shop": true}

	got := OnlyTouched(plan, touched, true)
	var envs []string
	for _, e := range got.Entries {
		envs = append(envs, e.Environment)
	}
	if diff := cmp.Diff([]string{"shop"}, envs); diff != "" {
		t.Errorf("a pull request of requests only: entries (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]reconciler.GroupChange{{Group: "env-shop", Action: "create"}}, got.Groups); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]reconciler.KeptRequest{{Environment: "shop", Message: "render failed"}}, got.Kept.List()); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(plan.Errors, got.Errors); diff != "" {
		t.Errorf("guards and unreachable clusters must stay (-want +got):\n%s", diff)
	}

	envs = nil
	for _, e := range OnlyTouched(plan, touched, false).Entries {
		envs = append(envs, e.Environment)
	}
	if diff := cmp.Diff([]string{"shop", "drifted"}, envs); diff != "" {
		t.Errorf("a pull request that changes templates shows every change (-want +got):\n%s", diff)
	}
}
