package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"
)

// gitTree returns every file of the source's head commit, as git itself
// lists it: path to "mode hash".
func gitTree(t *testing.T, s *source) map[string]string {
	t.Helper()
	out, err := s.Git("ls-tree", "-r", "--full-tree", s.head)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for line := range strings.SplitSeq(out, "\n") {
		meta, name, ok := strings.Cut(line, "\t")
		fields := strings.Fields(meta)
		if !ok || len(fields) != 3 {
			t.Fatalf("ls-tree line %q", line)
		}
		files[name] = fields[0] + " " + fields[2]
	}
	return files
}

// diskTree returns every file under dir but .git, as gitTree lists a
// commit: path to "mode hash", the hash of what is on disk. A folder that
// holds no file shows as "folder".
func diskTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == ".git" {
				return filepath.SkipDir
			}
			if entries, err := os.ReadDir(p); err == nil && len(entries) == 0 && rel != "." {
				files[rel] = "folder"
			}
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		var mode string
		var data []byte
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			mode, data = "120000", []byte(target)
		case info.Mode().IsRegular():
			mode = "100644"
			if info.Mode()&0o111 != 0 {
				mode = "100755"
			}
			if data, err = os.ReadFile(p); err != nil {
				return err
			}
		default:
			mode = info.Mode().String()
		}
		files[rel] = mode + " " + plumbing.ComputeHash(plumbing.BlobObject, data).String()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// loosen unpacks the working copy's packs into loose objects, so that a
// test can remove one object.
func loosen(t *testing.T, dir string) {
	t.Helper()
	packs, err := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", "*.pack"))
	if err != nil || len(packs) == 0 {
		t.Fatalf("no pack files in the working copy (%v)", err)
	}
	for _, pack := range packs {
		moved := filepath.Join(t.TempDir(), "objects.pack")
		if err := os.Rename(pack, moved); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(strings.TrimSuffix(pack, ".pack") + ".idx"); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(moved)
		if err != nil {
			t.Fatal(err)
		}
		cmd := gitCommand(dir, "unpack-objects", "-q")
		cmd.Stdin = f
		out, err := cmd.CombinedOutput()
		f.Close()
		if err != nil {
			t.Fatalf("unpack-objects: %v: %s", err, out)
		}
	}
}

// gitCommand is git run in dir without the user's or the system's
// configuration.
func gitCommand(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	return cmd
}

// blobOf returns the hash of name in the source's head commit.
func blobOf(t *testing.T, s *source, name string) string {
	t.Helper()
	hash, err := s.Git("rev-parse", s.head+":"+name)
	if err != nil {
		t.Fatal(err)
	}
	return hash
}

func TestFetchHeals(t *testing.T) {
	files := requests()
	files["bin/check.sh"] = "#!/bin/sh\nexit 0\n"
	tests := []struct {
		name string
		// damage harms the working copy in dir after the first Fetch.
		damage func(t *testing.T, s *source, dir string)
		// next, when set, commits upstream after the damage.
		next bool
	}{
		{"pack files cut in half", func(t *testing.T, s *source, dir string) {
			truncatePacks(t, dir, func(size int64) int64 { return size / 2 })
		}, false},
		{"pack files cut in half, with a new commit upstream", func(t *testing.T, s *source, dir string) {
			truncatePacks(t, dir, func(size int64) int64 { return size / 2 })
		}, true},
		{"pack files cut to a quarter", func(t *testing.T, s *source, dir string) {
			truncatePacks(t, dir, func(size int64) int64 { return size / 4 })
		}, false},
		{"pack files that lost their last objects", func(t *testing.T, s *source, dir string) {
			truncatePacks(t, dir, func(size int64) int64 { return size * 9 / 10 })
		}, false},
		{"pack files that lost their checksum", func(t *testing.T, s *source, dir string) {
			truncatePacks(t, dir, func(size int64) int64 { return size - 20 })
		}, false},
		{"empty pack files", func(t *testing.T, s *source, dir string) {
			truncatePacks(t, dir, func(int64) int64 { return 0 })
		}, true},
		{"garbage in packed-refs", func(t *testing.T, s *source, dir string) {
			writeFile(t, filepath.Join(dir, ".git", "packed-refs"), "\x00\x01 not refs at all\ngarbage\n")
		}, false},
		{"garbage in packed-refs, with a new commit upstream", func(t *testing.T, s *source, dir string) {
			writeFile(t, filepath.Join(dir, ".git", "packed-refs"), "\x00\x01 not refs at all\ngarbage\n")
		}, true},
		{"garbage in the branch's reference", func(t *testing.T, s *source, dir string) {
			writeFile(t, filepath.Join(dir, ".git", "refs", "remotes", "origin", "main"), "not a hash\n")
		}, true},
		{"garbage in the shallow file", func(t *testing.T, s *source, dir string) {
			writeFile(t, filepath.Join(dir, ".git", "shallow"), "\x00garbage\n")
		}, true},
		{"garbage in the config", func(t *testing.T, s *source, dir string) {
			writeFile(t, filepath.Join(dir, ".git", "config"), "[remote \"origin\n\x00")
		}, true},
		{"truncated pack indexes", func(t *testing.T, s *source, dir string) {
			idx, err := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", "*.idx"))
			if err != nil || len(idx) == 0 {
				t.Fatalf("no pack indexes (%v)", err)
			}
			for _, p := range idx {
				if err := os.Truncate(p, 100); err != nil {
					t.Fatal(err)
				}
			}
		}, false},
		{"a tracked file's object gone, and the file too", func(t *testing.T, s *source, dir string) {
			loosen(t, dir)
			hash := blobOf(t, s, "environments/team-a/dev.yaml")
			removeFile(t, filepath.Join(dir, ".git", "objects", hash[:2], hash[2:]))
			removeFile(t, filepath.Join(dir, "environments", "team-a", "dev.yaml"))
		}, false},
		{"a tracked file's object gone, and the file edited", func(t *testing.T, s *source, dir string) {
			loosen(t, dir)
			hash := blobOf(t, s, "allot.yaml")
			removeFile(t, filepath.Join(dir, ".git", "objects", hash[:2], hash[2:]))
			writeFile(t, filepath.Join(dir, "allot.yaml"), "kind: Tampered\n")
		}, false},
		{"the commit's tree object gone", func(t *testing.T, s *source, dir string) {
			loosen(t, dir)
			tree, err := s.Git("rev-parse", s.head+"^{tree}")
			if err != nil {
				t.Fatal(err)
			}
			removeFile(t, filepath.Join(dir, ".git", "objects", tree[:2], tree[2:]))
		}, false},
		{"every tracked file removed", func(t *testing.T, s *source, dir string) {
			removeWorkTree(t, dir)
		}, false},
		{"every tracked file and the index removed", func(t *testing.T, s *source, dir string) {
			removeWorkTree(t, dir)
			removeFile(t, filepath.Join(dir, ".git", "index"))
		}, false},
		{"a file edited in place, its size and time kept", func(t *testing.T, s *source, dir string) {
			p := filepath.Join(dir, "allot.yaml")
			info, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, p, strings.ToUpper(files["allot.yaml"]))
			if err := os.Chtimes(p, info.ModTime(), info.ModTime()); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"an executable file made plain", func(t *testing.T, s *source, dir string) {
			if err := os.Chmod(filepath.Join(dir, "bin", "check.sh"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"a link replaced by a file", func(t *testing.T, s *source, dir string) {
			p := filepath.Join(dir, "environments", "team-a", "link.yaml")
			removeFile(t, p)
			writeFile(t, p, files["environments/team-a/dev.yaml"])
		}, false},
	}
	for _, tt := range tests {
		t.Run("from "+tt.name, func(t *testing.T) {
			s := newSource(t, files)
			links(t, s.Work, map[string]string{"environments/team-a/link.yaml": "dev.yaml"})
			if err := os.Chmod(filepath.Join(s.Work, "bin", "check.sh"), 0o755); err != nil {
				t.Fatal(err)
			}
			s.commit(t, "link and executable", nil)
			g := mustNew(t, Config{URL: s.Bare})
			first := mustFetch(t, g)
			if diff := cmp.Diff(gitTree(t, s), diskTree(t, first.Dir)); diff != "" {
				t.Fatalf("first checkout (-want +got):\n%s", diff)
			}
			tt.damage(t, s, first.Dir)
			if tt.next {
				s.commit(t, "next", map[string]string{"environments/team-b/qa.yaml": "", "environments/team-c/ops.yaml": "kind: Environment\n"})
			}
			// Each pass must see the commit whole; the first heals, the
			// next ones must not find anything left to heal.
			for pass := 1; pass <= 3; pass++ {
				snap, err := g.Fetch(context.Background())
				if err != nil {
					t.Fatalf("pass %d: %v", pass, err)
				}
				if snap.Commit != s.head {
					t.Errorf("pass %d: commit = %s, want %s", pass, snap.Commit, s.head)
				}
				if diff := cmp.Diff(gitTree(t, s), diskTree(t, snap.Dir)); diff != "" {
					t.Errorf("pass %d: working copy (-want +got):\n%s", pass, diff)
				}
			}
			if _, err := os.Stat(filepath.Join(first.Dir, ".git", markerFile)); err != nil {
				t.Errorf("the healed working copy has no marker: %v", err)
			}
		})
	}
}

// TestFetchCleansADirThatIsALink: a Dir that is a symbolic link to the
// folder (a mount point linked into place, say) is cleaned and verified
// like any other.
func TestFetchCleansADirThatIsALink(t *testing.T) {
	s := newSource(t, requests())
	real := filepath.Join(t.TempDir(), "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "checkout")
	if err := os.Symlink(real, dir); err != nil {
		t.Fatal(err)
	}
	g := mustNew(t, Config{URL: s.Bare, Dir: dir})
	mustFetch(t, g)
	writeFile(t, filepath.Join(real, "environments", "team-a", "extra.yaml"), "kind: Environment\n")
	snap := mustFetch(t, g)
	if diff := cmp.Diff(gitTree(t, s), diskTree(t, real)); diff != "" {
		t.Errorf("working copy (-want +got):\n%s", diff)
	}
	if snap.Dir != dir {
		t.Errorf("Dir = %s, want %s", snap.Dir, dir)
	}
}

// TestFetchSaysWhatIsDamaged: when the working copy is damaged and the
// clone that replaces it fails too, Fetch says both, and never returns a
// tree that is not the commit.
func TestFetchSaysWhatIsDamaged(t *testing.T) {
	s := newSource(t, requests())
	g := mustNew(t, Config{URL: s.Bare})
	first := mustFetch(t, g)
	truncatePacks(t, first.Dir, func(size int64) int64 { return size / 2 })
	// The source loses an object too. Nothing is new upstream, so the
	// first attempt downloads nothing and meets only the damaged working
	// copy; the clone again needs every object and fails.
	hash := blobOf(t, s, "allot.yaml")
	removeFile(t, filepath.Join(s.Bare, "objects", hash[:2], hash[2:]))
	snap, err := g.Fetch(context.Background())
	if err == nil {
		t.Fatalf("fetch succeeded with %s and %d files, want an error", snap.Commit, len(readTree(t, snap.Dir)))
	}
	t.Logf("error: %v", err)
	var gitErr *Error
	if !errors.As(err, &gitErr) {
		t.Fatalf("error %v is not an *Error", err)
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("error = %v, want %v", err, ErrCorrupt)
	}
	for _, text := range []string{"damaged", "unexpected EOF", "cloned again, which failed"} {
		if !strings.Contains(err.Error(), text) {
			t.Errorf("error = %v, want it to say %q", err, text)
		}
	}
	if got := g.LastCommit(); got != first.Commit {
		t.Errorf("LastCommit() = %q, want the earlier %q", got, first.Commit)
	}
}

// TestFetchFailsOnADamagedSource: a source repository whose own objects
// are damaged fails every Fetch with ErrCorrupt, says so without blaming
// the working copy, and never succeeds with what it could read.
func TestFetchFailsOnADamagedSource(t *testing.T) {
	s := newSource(t, requests())
	hash := blobOf(t, s, "allot.yaml")
	removeFile(t, filepath.Join(s.Bare, "objects", hash[:2], hash[2:]))
	g := mustNew(t, Config{URL: s.Bare})
	for pass := 1; pass <= 2; pass++ {
		snap, err := g.Fetch(context.Background())
		if err == nil {
			t.Fatalf("pass %d: fetch succeeded with %s, want an error", pass, snap.Commit)
		}
		t.Logf("pass %d: %v", pass, err)
		var gitErr *Error
		if !errors.As(err, &gitErr) || gitErr.Op != OpFetch {
			t.Fatalf("error %v is not an *Error of op %s", err, OpFetch)
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("error = %v, want %v", err, ErrCorrupt)
		}
		if strings.Contains(err.Error(), "working copy") {
			t.Errorf("error = %v, which blames the working copy for the source's damage", err)
		}
	}
}

// truncatePacks cuts each pack file of the working copy in dir to the size
// that to gives.
func truncatePacks(t *testing.T, dir string, to func(size int64) int64) {
	t.Helper()
	packs, err := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", "*.pack"))
	if err != nil || len(packs) == 0 {
		t.Fatalf("no pack files in the working copy (%v)", err)
	}
	for _, p := range packs {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, to(info.Size())); err != nil {
			t.Fatal(err)
		}
	}
}

func removeWorkTree(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != ".git" {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func removeFile(t *testing.T, p string) {
	t.Helper()
	if err := os.Remove(p); err != nil {
		t.Fatal(fmt.Errorf("damage: %w", err))
	}
}
