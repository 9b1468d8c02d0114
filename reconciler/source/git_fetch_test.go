package source

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const token = "tok-3f9a1c7e5b"

// withUser puts user and password into an http URL.
func withUser(t *testing.T, raw, user, password string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(user, password)
	return u.String()
}

func TestFetchClones(t *testing.T) {
	tests := []struct {
		name   string
		config func(t *testing.T, s *source) Config
	}{
		{"a bare repository by path", func(t *testing.T, s *source) Config {
			return Config{URL: s.Bare}
		}},
		{"a file URL", func(t *testing.T, s *source) Config {
			return Config{URL: "file://" + s.Bare}
		}},
		{"over HTTP with the token", func(t *testing.T, s *source) Config {
			return Config{URL: s.serve(t, token).URL("requests.git"), Token: token}
		}},
		{"over HTTP with the token in the URL", func(t *testing.T, s *source) Config {
			return Config{URL: withUser(t, s.serve(t, token).URL("requests.git"), "bot", token)}
		}},
		{"over HTTP from a server that asks for no token", func(t *testing.T, s *source) Config {
			return Config{URL: s.serve(t, "").URL("requests.git")}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSource(t, requests())
			g := mustNew(t, tt.config(t, s))
			snap := mustFetch(t, g)
			want := Snapshot{Dir: g.cfg.Dir, Commit: s.head, Branch: "main", Time: s.commitTime(t)}
			if diff := cmp.Diff(want, *snap, cmp.Comparer(time.Time.Equal)); diff != "" {
				t.Errorf("snapshot (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(requests(), readTree(t, snap.Dir)); diff != "" {
				t.Errorf("working copy (-want +got):\n%s", diff)
			}
			if got := g.LastCommit(); got != s.head {
				t.Errorf("LastCommit() = %q, want %q", got, s.head)
			}
			gitConfig, err := os.ReadFile(filepath.Join(snap.Dir, ".git", "config"))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(gitConfig), token) {
				t.Errorf("the working copy's git config holds the token:\n%s", gitConfig)
			}
		})
	}
}

func TestFetchReadsOnlyCommittedContentOfALocalPath(t *testing.T) {
	s := newSource(t, requests())
	if err := s.WriteFile("allot.yaml", "kind: Platform # edited, not committed\n"); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteFile("environments/team-c/new.yaml", "kind: Environment\n"); err != nil {
		t.Fatal(err)
	}
	g := mustNew(t, Config{URL: s.Work})
	snap := mustFetch(t, g)
	if snap.Commit != s.head {
		t.Errorf("commit = %s, want %s", snap.Commit, s.head)
	}
	if diff := cmp.Diff(requests(), readTree(t, snap.Dir)); diff != "" {
		t.Errorf("working copy (-want +got):\n%s", diff)
	}
}

func TestFetchFollowsTheBranch(t *testing.T) {
	transports := []struct {
		name   string
		config func(t *testing.T, s *source) Config
	}{
		{"by path", func(t *testing.T, s *source) Config { return Config{URL: s.Bare} }},
		{"over HTTP", func(t *testing.T, s *source) Config {
			return Config{URL: s.serve(t, token).URL("requests.git"), Token: token}
		}},
	}
	for _, tr := range transports {
		for _, full := range []bool{false, true} {
			name := tr.name + ", shallow"
			if full {
				name = tr.name + ", full history"
			}
			t.Run(name, func(t *testing.T) {
				s := newSource(t, requests())
				cfg := tr.config(t, s)
				cfg.FullHistory = full
				g := mustNew(t, cfg)
				first := mustFetch(t, g)
				_, err := os.Stat(filepath.Join(first.Dir, ".git", "shallow"))
				if shallow := err == nil; shallow == full {
					t.Errorf("working copy shallow = %v, want %v", shallow, !full)
				}

				t.Run("sees a new commit and drops a file deleted upstream", func(t *testing.T) {
					head := s.commit(t, "qa goes, dev changes", map[string]string{
						"environments/team-b/qa.yaml":  "",
						"environments/team-a/dev.yaml": "kind: Environment\nmetadata:\n  name: dev\nspec:\n  size: large\n",
					})
					snap := mustFetch(t, g)
					if snap.Commit != head || snap.Commit == first.Commit {
						t.Fatalf("commit = %s, want the new head %s", snap.Commit, head)
					}
					want := map[string]string{
						"allot.yaml":                   "kind: Platform\n",
						"environments/team-a/dev.yaml": "kind: Environment\nmetadata:\n  name: dev\nspec:\n  size: large\n",
					}
					if diff := cmp.Diff(want, readTree(t, snap.Dir)); diff != "" {
						t.Errorf("working copy (-want +got):\n%s", diff)
					}
					if diff := cmp.Diff([]string{"environments", "environments/team-a"}, listDirs(t, snap.Dir)); diff != "" {
						t.Errorf("folders (-want +got):\n%s", diff)
					}
				})

				t.Run("returns the same commit when nothing is new", func(t *testing.T) {
					before := g.LastCommit()
					snap := mustFetch(t, g)
					if snap.Commit != before || snap.Commit != s.head {
						t.Errorf("commit = %s, want the unchanged %s", snap.Commit, before)
					}
				})

				t.Run("follows a force-push", func(t *testing.T) {
					if _, err := s.Git("reset", "--quiet", "--hard", first.Commit); err != nil {
						t.Fatal(err)
					}
					head := s.commit(t, "rewritten", map[string]string{"environments/team-c/ops.yaml": "kind: Environment\n"})
					snap := mustFetch(t, g)
					if snap.Commit != head {
						t.Fatalf("commit = %s, want the force-pushed %s", snap.Commit, head)
					}
					want := requests()
					want["environments/team-c/ops.yaml"] = "kind: Environment\n"
					if diff := cmp.Diff(want, readTree(t, snap.Dir)); diff != "" {
						t.Errorf("working copy (-want +got):\n%s", diff)
					}
				})
			})
		}
	}
}

func TestFetchResetsLocalChanges(t *testing.T) {
	files := requests()
	files[".gitignore"] = "*.local\n"
	s := newSource(t, files)
	g := mustNew(t, Config{URL: s.Bare})
	snap := mustFetch(t, g)
	dir := snap.Dir
	tamper := []struct {
		name string
		do   func() error
	}{
		{"edit a tracked file", func() error {
			return os.WriteFile(filepath.Join(dir, "allot.yaml"), []byte("kind: Tampered\n"), 0o644)
		}},
		{"delete a tracked file", func() error { return os.Remove(filepath.Join(dir, "environments/team-b/qa.yaml")) }},
		{"add an untracked file", func() error {
			return os.WriteFile(filepath.Join(dir, "environments/team-a/extra.yaml"), []byte("kind: Environment\n"), 0o644)
		}},
		{"add an ignored file", func() error {
			return os.WriteFile(filepath.Join(dir, "secret.local"), []byte("x"), 0o644)
		}},
		{"add an untracked folder", func() error {
			return os.MkdirAll(filepath.Join(dir, "environments/team-z/deep"), 0o755)
		}},
		{"put a folder where a file belongs", func() error {
			p := filepath.Join(dir, "environments/team-a/dev.yaml")
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.MkdirAll(filepath.Join(p, "inner"), 0o755)
		}},
		{"put a link where a folder belongs", func() error {
			p := filepath.Join(dir, "environments/team-b")
			if err := os.RemoveAll(p); err != nil {
				return err
			}
			return os.Symlink("/etc", p)
		}},
	}
	for _, tt := range tamper {
		t.Run("undoes: "+tt.name, func(t *testing.T) {
			if err := tt.do(); err != nil {
				t.Fatal(err)
			}
			snap := mustFetch(t, g)
			if snap.Commit != s.head {
				t.Errorf("commit = %s, want %s", snap.Commit, s.head)
			}
			if diff := cmp.Diff(files, readTree(t, dir)); diff != "" {
				t.Errorf("working copy (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"environments", "environments/team-a", "environments/team-b"}, listDirs(t, dir)); diff != "" {
				t.Errorf("folders (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFetchFails(t *testing.T) {
	tests := []struct {
		name     string
		config   func(t *testing.T, s *source) Config
		wantKind error
	}{
		{"with ErrAuth on a wrong token", func(t *testing.T, s *source) Config {
			return Config{URL: s.serve(t, "right-token").URL("requests.git"), Token: token}
		}, ErrAuth},
		{"with ErrAuth on a wrong token in the URL", func(t *testing.T, s *source) Config {
			return Config{URL: withUser(t, s.serve(t, "right-token").URL("requests.git"), "bot", token)}
		}, ErrAuth},
		{"with ErrAuth on a missing token", func(t *testing.T, s *source) Config {
			return Config{URL: s.serve(t, "right-token").URL("requests.git")}
		}, ErrAuth},
		{"with ErrBranchNotFound on an unknown branch over HTTP", func(t *testing.T, s *source) Config {
			return Config{URL: s.serve(t, token).URL("requests.git"), Token: token, Branch: "release"}
		}, ErrBranchNotFound},
		{"with ErrBranchNotFound on an unknown branch by path", func(t *testing.T, s *source) Config {
			return Config{URL: s.Bare, Branch: "release"}
		}, ErrBranchNotFound},
		{"with ErrBranchNotFound on an empty repository", func(t *testing.T, s *source) Config {
			empty := filepath.Join(s.root, "empty.git")
			if _, err := s.Git("init", "--quiet", "--bare", empty); err != nil {
				t.Fatal(err)
			}
			return Config{URL: s.serve(t, token).URL("empty.git"), Token: token}
		}, ErrBranchNotFound},
		{"with ErrRepositoryNotFound on a missing repository over HTTP", func(t *testing.T, s *source) Config {
			return Config{URL: s.serve(t, token).URL("missing.git"), Token: token}
		}, ErrRepositoryNotFound},
		{"with ErrRepositoryNotFound on a missing path", func(t *testing.T, s *source) Config {
			return Config{URL: filepath.Join(s.root, "missing.git")}
		}, ErrRepositoryNotFound},
		{"with ErrUnreachable on a closed port", func(t *testing.T, s *source) Config {
			return Config{URL: "http://" + closedAddress(t) + "/requests.git", Token: token}
		}, ErrUnreachable},
		{"with ErrUnreachable on a server that does not answer in time", func(t *testing.T, s *source) Config {
			return Config{URL: "http://" + silentAddress(t) + "/requests.git", Token: token, Timeout: 300 * time.Millisecond}
		}, ErrUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSource(t, requests())
			g := mustNew(t, tt.config(t, s))
			snap, err := g.Fetch(context.Background())
			if err == nil {
				t.Fatalf("fetch succeeded with %s, want an error", snap.Commit)
			}
			if !errors.Is(err, tt.wantKind) {
				t.Errorf("error = %v, want %v", err, tt.wantKind)
			}
			t.Logf("error: %v", err)
			var gitErr *Error
			if !errors.As(err, &gitErr) {
				t.Fatalf("error %v is not an *Error", err)
			}
			if gitErr.Op != OpFetch {
				t.Errorf("op = %s, want %s", gitErr.Op, OpFetch)
			}
			for _, text := range []string{err.Error(), gitErr.URL, gitErr.Err.Error()} {
				if strings.Contains(text, token) {
					t.Errorf("error text holds the token: %s", text)
				}
			}
			if got := g.LastCommit(); got != "" {
				t.Errorf("LastCommit() = %q after a failed first fetch, want empty", got)
			}
		})
	}
}

func TestFetchKeepsTheWorkingCopyWhenTheServerGoesAway(t *testing.T) {
	s := newSource(t, requests())
	srv := s.serve(t, token)
	g := mustNew(t, Config{URL: srv.URL("requests.git"), Token: token})
	first := mustFetch(t, g)
	if err := os.RemoveAll(s.Bare); err != nil {
		t.Fatal(err)
	}
	_, err := g.Fetch(context.Background())
	if !errors.Is(err, ErrRepositoryNotFound) {
		t.Fatalf("error = %v, want %v", err, ErrRepositoryNotFound)
	}
	if got := g.LastCommit(); got != first.Commit {
		t.Errorf("LastCommit() = %q, want the earlier %q", got, first.Commit)
	}
	if diff := cmp.Diff(requests(), readTree(t, first.Dir)); diff != "" {
		t.Errorf("working copy (-want +got):\n%s", diff)
	}
}

func TestFetchRefusesACommit(t *testing.T) {
	tests := []struct {
		name     string
		config   Config
		change   func(t *testing.T, s *source)
		wantKind error
		wantText string // in the error, when set
	}{
		{
			name:   "with more files than MaxFiles",
			config: Config{MaxFiles: 3},
			change: func(t *testing.T, s *source) {
				s.commit(t, "one more", map[string]string{"environments/team-c/x.yaml": "kind: Environment\n"})
			},
			wantKind: ErrTooLarge,
		},
		{
			name:   "with more bytes than MaxBytes",
			config: Config{MaxBytes: 1024},
			change: func(t *testing.T, s *source) {
				s.commit(t, "big", map[string]string{"big.yaml": strings.Repeat("x", 2048)})
			},
			wantKind: ErrTooLarge,
		},
		{
			name: "with an absolute symbolic link",
			change: func(t *testing.T, s *source) {
				if err := os.Symlink("/etc/passwd", filepath.Join(s.Work, "environments/team-a/passwd.yaml")); err != nil {
					t.Fatal(err)
				}
				s.commit(t, "link", nil)
			},
			wantKind: ErrUnsafeContent,
		},
		{
			name: "with a symbolic link that climbs out",
			change: func(t *testing.T, s *source) {
				if err := os.Symlink("../../../outside", filepath.Join(s.Work, "environments/team-a/out.yaml")); err != nil {
					t.Fatal(err)
				}
				s.commit(t, "link", nil)
			},
			wantKind: ErrUnsafeContent,
		},
		{
			// Each link alone stays inside: environments/up is the root,
			// and ../up/.. of team-a reads as environments.
			name: "with a chain of links that climbs out",
			change: func(t *testing.T, s *source) {
				links(t, s.Work, map[string]string{
					"environments/up":                 "..",
					"environments/team-a/passwd.yaml": "../up/../etc/passwd",
				})
				s.commit(t, "link chain", nil)
			},
			wantKind: ErrUnsafeContent,
			wantText: "symbolic link environments/team-a/passwd.yaml leaves the repository through the link environments/up (-> ..)",
		},
		{
			name: "with a linked folder that a chain leads out of",
			change: func(t *testing.T, s *source) {
				links(t, s.Work, map[string]string{
					"top":                      ".",
					"environments/team-a/host": "../../top/..",
				})
				s.commit(t, "link chain", nil)
			},
			wantKind: ErrUnsafeContent,
			wantText: "symbolic link environments/team-a/host leaves the repository through the link top (-> .)",
		},
		{
			name: "with a link to a link that points outside",
			change: func(t *testing.T, s *source) {
				links(t, s.Work, map[string]string{
					"environments/out":              "../../elsewhere",
					"environments/team-a/next.yaml": "../out",
				})
				s.commit(t, "link chain", nil)
			},
			wantKind: ErrUnsafeContent,
			wantText: "symbolic link environments/out points outside the repository (../../elsewhere)",
		},
		{
			name: "with links in a loop",
			change: func(t *testing.T, s *source) {
				links(t, s.Work, map[string]string{"a.yaml": "b.yaml", "b.yaml": "a.yaml"})
				s.commit(t, "loop", nil)
			},
			wantKind: ErrUnsafeContent,
			wantText: "symbolic link a.yaml goes through more than 40 links",
		},
		{
			name: "with a link into the .git folder",
			change: func(t *testing.T, s *source) {
				links(t, s.Work, map[string]string{"environments/team-a/config.yaml": "../../.git/config"})
				s.commit(t, "git data", nil)
			},
			wantKind: ErrUnsafeContent,
			wantText: "symbolic link environments/team-a/config.yaml points into the .git folder",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name+" and keeps the working copy", func(t *testing.T) {
			s := newSource(t, requests())
			cfg := tt.config
			cfg.URL = s.Bare
			g := mustNew(t, cfg)
			first := mustFetch(t, g)
			tt.change(t, s)
			_, err := g.Fetch(context.Background())
			if !errors.Is(err, tt.wantKind) {
				t.Fatalf("error = %v, want %v", err, tt.wantKind)
			}
			if !strings.Contains(fmt.Sprint(err), tt.wantText) {
				t.Errorf("error = %v, want it to say %q", err, tt.wantText)
			}
			var gitErr *Error
			if !errors.As(err, &gitErr) || gitErr.Op != OpCheckout {
				t.Errorf("error = %#v, want an *Error of op %s", err, OpCheckout)
			}
			if got := g.LastCommit(); got != first.Commit {
				t.Errorf("LastCommit() = %q, want the earlier %q", got, first.Commit)
			}
			if diff := cmp.Diff(requests(), readTree(t, first.Dir)); diff != "" {
				t.Errorf("working copy (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("but checks out a symbolic link inside the repository", func(t *testing.T) {
		s := newSource(t, requests())
		if err := os.Symlink("../team-a/dev.yaml", filepath.Join(s.Work, "environments/team-b/dev.yaml")); err != nil {
			t.Fatal(err)
		}
		s.commit(t, "link", nil)
		snap := mustFetch(t, mustNew(t, Config{URL: s.Bare}))
		want := requests()
		want["environments/team-b/dev.yaml"] = "-> ../team-a/dev.yaml"
		if diff := cmp.Diff(want, readTree(t, snap.Dir)); diff != "" {
			t.Errorf("working copy (-want +got):\n%s", diff)
		}
	})
	t.Run("and a chain of links that stays inside", func(t *testing.T) {
		s := newSource(t, requests())
		links(t, s.Work, map[string]string{
			"environments/up":              "..",
			"environments/team-b/dev.yaml": "../up/environments/team-a/dev.yaml",
		})
		s.commit(t, "link chain", nil)
		snap := mustFetch(t, mustNew(t, Config{URL: s.Bare}))
		got, err := os.ReadFile(filepath.Join(snap.Dir, "environments/team-b/dev.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if want := requests()["environments/team-a/dev.yaml"]; string(got) != want {
			t.Errorf("environments/team-b/dev.yaml reads %q, want %q", got, want)
		}
	})
}

// links makes symbolic links in dir, from each name to its target.
func links(t *testing.T, dir string, targets map[string]string) {
	t.Helper()
	for name, target := range targets {
		if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(name))); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFetchRecovers(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{"from a damaged index", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, ".git", "index"), []byte("garbage"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"from a working copy whose git data is gone but for the marker", func(t *testing.T, dir string) {
			for _, name := range []string{"HEAD", "config", "objects", "refs", "index"} {
				if err := os.RemoveAll(filepath.Join(dir, ".git", name)); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSource(t, requests())
			g := mustNew(t, Config{URL: s.Bare})
			first := mustFetch(t, g)
			tt.damage(t, first.Dir)
			head := s.commit(t, "next", map[string]string{"environments/team-b/qa.yaml": ""})
			snap := mustFetch(t, g)
			if snap.Commit != head {
				t.Errorf("commit = %s, want %s", snap.Commit, head)
			}
			want := requests()
			delete(want, "environments/team-b/qa.yaml")
			if diff := cmp.Diff(want, readTree(t, snap.Dir)); diff != "" {
				t.Errorf("working copy (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFetchRefusesADirItDidNotMake(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string)
	}{
		{"holding files", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"holding another git repository", func(t *testing.T, dir string) {
			other := newSource(t, map[string]string{"notes.txt": "mine"})
			if _, err := other.Git("clone", "--quiet", other.Bare, dir); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSource(t, requests())
			dir := t.TempDir()
			tt.prepare(t, dir)
			g := mustNew(t, Config{URL: s.Bare, Dir: dir})
			_, err := g.Fetch(context.Background())
			var gitErr *Error
			if !errors.As(err, &gitErr) || gitErr.Op != OpOpen {
				t.Fatalf("error = %v, want an *Error of op %s", err, OpOpen)
			}
			if diff := cmp.Diff(map[string]string{"notes.txt": "mine"}, readTree(t, dir)); diff != "" {
				t.Errorf("folder changed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFetchRunsOneAtATime(t *testing.T) {
	s := newSource(t, requests())
	g := mustNew(t, Config{URL: s.serve(t, token).URL("requests.git"), Token: token})
	const n = 4
	var wg sync.WaitGroup
	commits := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			snap, err := g.Fetch(context.Background())
			if err == nil {
				commits[i] = snap.Commit
			}
			errs[i] = err
			_ = g.LastCommit()
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("fetch %d: %v", i, errs[i])
		} else if commits[i] != s.head {
			t.Errorf("fetch %d: commit %s, want %s", i, commits[i], s.head)
		}
	}
	if diff := cmp.Diff(requests(), readTree(t, g.cfg.Dir)); diff != "" {
		t.Errorf("working copy (-want +got):\n%s", diff)
	}
}

func TestFetchStopsWhenCanceled(t *testing.T) {
	g := mustNew(t, Config{URL: "http://" + silentAddress(t) + "/requests.git"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := g.Fetch(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want %v", err, context.Canceled)
	}
	if errors.Is(err, ErrUnreachable) {
		t.Errorf("error = %v, which blames the server for the caller's cancel", err)
	}
}

func TestFetchPullRequestRef(t *testing.T) {
	s := newSource(t, requests())
	base := s.head
	pr := s.commit(t, "a pull request", map[string]string{"environments/shop/extra.yaml": "kind: Environment\n"})
	// GitHub keeps a pull request's head under refs/pull/N/head; the branch
	// itself stays where it was.
	if _, err := s.Git("update-ref", "refs/pull/7/head", pr); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Git("update-ref", "refs/heads/main", base); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Git("push", "--force", "origin", "refs/pull/7/head:refs/pull/7/head", "main:main"); err != nil {
		t.Fatal(err)
	}
	srv := s.serve(t, "")
	g := mustNew(t, Config{URL: srv.URL("requests.git"), Ref: "refs/pull/7/head"})
	snap := mustFetch(t, g)
	if snap.Commit != pr {
		t.Errorf("fetched %s, want the pull request's head %s", snap.Commit, pr)
	}
	if _, ok := readTree(t, snap.Dir)["environments/shop/extra.yaml"]; !ok {
		t.Error("the pull request's file is not checked out")
	}
	main := mustFetch(t, mustNew(t, Config{URL: srv.URL("requests.git")}))
	if main.Commit != base {
		t.Errorf("main is %s, want %s", main.Commit, base)
	}

	if _, err := New(Config{URL: s.Bare, Dir: t.TempDir(), Ref: "pull/7/head"}); err == nil || !strings.Contains(err.Error(), "full reference name") {
		t.Errorf("a short ref: got %v, want an error asking for a full reference name", err)
	}
}

// TestResolveLinkIsBounded: however many long chains a commit holds, all
// its links together resolve within a fixed number of path elements.
func TestResolveLinkIsBounded(t *testing.T) {
	links := map[string]string{"a": "b/../b/../b/../c", "c": "d", "d": "e"}
	steps := 1000
	if err := resolveLink(links, "a", &steps); err != nil {
		t.Fatalf("a chain inside the repository: %v", err)
	}
	steps = 5
	if err := resolveLink(links, "a", &steps); err == nil || !strings.Contains(err.Error(), "path elements") {
		t.Fatalf("error %v, want the step budget reached", err)
	}
	many := map[string]string{}
	for i := range 3000 {
		many[fmt.Sprintf("l%d", i)] = strings.Repeat("x/../", 800) + "f"
	}
	if err := checkLinks(many); err == nil || !strings.Contains(err.Error(), "path elements") {
		t.Fatalf("error %v, want 3,000 long links refused by the budget", err)
	}
}
