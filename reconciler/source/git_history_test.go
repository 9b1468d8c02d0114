package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDescends(t *testing.T) {
	transports := []struct {
		name   string
		config func(t *testing.T, s *source) Config
	}{
		{"by path", func(t *testing.T, s *source) Config { return Config{URL: s.Bare} }},
		{"over HTTP", func(t *testing.T, s *source) Config {
			return Config{URL: s.serve(t, token).URL("requests.git"), Token: token}
		}},
	}
	tests := []struct {
		name string
		// change moves the branch on from applied, which Fetch returned,
		// and returns what Descends must answer for the new head.
		change func(t *testing.T, s *source, applied string) bool
	}{
		{"true after a fast-forward", func(t *testing.T, s *source, applied string) bool {
			s.commit(t, "next", map[string]string{"environments/team-c/ops.yaml": "kind: Environment\n"})
			return true
		}},
		{"true for the same commit", func(t *testing.T, s *source, applied string) bool {
			return true
		}},
		{"true with 50 commits between", func(t *testing.T, s *source, applied string) bool {
			for i := range 49 {
				if _, err := s.Git("commit", "--quiet", "--allow-empty", "-m", fmt.Sprintf("step %d", i)); err != nil {
					t.Fatal(err)
				}
			}
			s.commit(t, "step 49", map[string]string{"environments/team-c/ops.yaml": "kind: Environment\n"})
			return true
		}},
		{"false after a force-push back to an older commit", func(t *testing.T, s *source, applied string) bool {
			forcePush(t, s, applied+"~2")
			return false
		}},
		{"false after a force-push to a rewritten history", func(t *testing.T, s *source, applied string) bool {
			if _, err := s.Git("checkout", "--quiet", "--orphan", "rewritten"); err != nil {
				t.Fatal(err)
			}
			s.commit(t, "rewritten 1", map[string]string{"environments/team-c/ops.yaml": "kind: Environment\n"})
			s.commit(t, "rewritten 2", map[string]string{"environments/team-b/qa.yaml": ""})
			return false
		}},
		{"false after a force-push to a sibling of the applied commit", func(t *testing.T, s *source, applied string) bool {
			forcePush(t, s, applied+"~1")
			s.commit(t, "sibling", map[string]string{"environments/team-c/ops.yaml": "kind: Environment\n"})
			return false
		}},
	}
	for _, tr := range transports {
		for _, full := range []bool{false, true} {
			history := "shallow"
			if full {
				history = "full history"
			}
			for _, tt := range tests {
				t.Run(tr.name+", "+history+": "+tt.name, func(t *testing.T) {
					s := newSource(t, requests())
					for i := range 5 {
						s.commit(t, fmt.Sprintf("before %d", i), map[string]string{"allot.yaml": fmt.Sprintf("kind: Platform # %d\n", i)})
					}
					cfg := tr.config(t, s)
					cfg.FullHistory = full
					applied := mustFetch(t, mustNew(t, cfg)).Commit
					want := tt.change(t, s, applied)
					// A new working copy: all it holds of the history is
					// what its one Fetch brought.
					g := mustNew(t, cfg)
					head := mustFetch(t, g)
					if _, err := os.Stat(filepath.Join(head.Dir, ".git", "shallow")); (err == nil) == full {
						t.Fatalf("working copy shallow = %v, want %v", err == nil, !full)
					}
					got, err := g.Descends(context.Background(), head.Commit, applied)
					if err != nil {
						t.Fatalf("Descends: %v", err)
					}
					if got != want {
						t.Errorf("Descends(%.7s, %.7s) = %v, want %v", head.Commit, applied, got, want)
					}
					// The history Descends fetched leaves Fetch as it was.
					snap := mustFetch(t, g)
					if snap.Commit != s.head {
						t.Errorf("fetch after Descends: commit = %s, want %s", snap.Commit, s.head)
					}
					if diff := cmp.Diff(gitTree(t, s), diskTree(t, snap.Dir)); diff != "" {
						t.Errorf("working copy after Descends (-want +got):\n%s", diff)
					}
				})
			}
		}
	}
}

func TestDescendsFetchesTheWholeHistoryAtLast(t *testing.T) {
	saved := deepenDepths
	deepenDepths = []int{2, math.MaxInt32}
	t.Cleanup(func() { deepenDepths = saved })
	s := newSource(t, requests())
	applied := mustFetch(t, mustNew(t, Config{URL: s.Bare})).Commit
	for i := range 20 {
		if _, err := s.Git("commit", "--quiet", "--allow-empty", "-m", fmt.Sprintf("step %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	s.commit(t, "last", nil)
	g := mustNew(t, Config{URL: s.Bare})
	head := mustFetch(t, g).Commit
	if ok, err := g.Descends(context.Background(), head, applied); err != nil || !ok {
		t.Fatalf("Descends 21 commits back with steps of 2 and all = %v, %v; want true", ok, err)
	}
	// Deepened to the whole history, the working copy is shallow no more.
	shallow, err := os.ReadFile(filepath.Join(g.cfg.Dir, ".git", "shallow"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	if len(shallow) > 0 {
		t.Errorf("shallow commits after fetching the whole history: %q", shallow)
	}
	snap := mustFetch(t, g)
	if diff := cmp.Diff(gitTree(t, s), diskTree(t, snap.Dir)); diff != "" {
		t.Errorf("working copy after Descends (-want +got):\n%s", diff)
	}
}

func TestDescendsAcrossFetches(t *testing.T) {
	// The reconciler's use: one working copy, Descends after each Fetch.
	s := newSource(t, requests())
	g := mustNew(t, Config{URL: s.Bare})
	first := mustFetch(t, g).Commit
	for i := range 3 {
		s.commit(t, fmt.Sprintf("step %d", i), map[string]string{"environments/team-c/ops.yaml": fmt.Sprintf("kind: Environment # %d\n", i)})
	}
	second := mustFetch(t, g).Commit
	if ok, err := g.Descends(context.Background(), second, first); err != nil || !ok {
		t.Fatalf("Descends after a fast-forward = %v, %v; want true", ok, err)
	}
	forcePush(t, s, second+"~2")
	third := mustFetch(t, g).Commit
	if ok, err := g.Descends(context.Background(), third, second); err != nil || ok {
		t.Fatalf("Descends after a force-push back = %v, %v; want false", ok, err)
	}
	if ok, err := g.Descends(context.Background(), third, first); err != nil || !ok {
		t.Fatalf("Descends of the older commit from the first = %v, %v; want true", ok, err)
	}
	s.commit(t, "on again", map[string]string{"environments/team-d/x.yaml": "kind: Environment\n"})
	snap := mustFetch(t, g)
	if ok, err := g.Descends(context.Background(), snap.Commit, third); err != nil || !ok {
		t.Fatalf("Descends after fetching on = %v, %v; want true", ok, err)
	}
	if diff := cmp.Diff(gitTree(t, s), diskTree(t, snap.Dir)); diff != "" {
		t.Errorf("working copy (-want +got):\n%s", diff)
	}
}

func TestDescendsAnswersFalseForACommitNeverInTheHistory(t *testing.T) {
	s := newSource(t, requests())
	g := mustNew(t, Config{URL: s.Bare})
	head := mustFetch(t, g).Commit
	got, err := g.Descends(context.Background(), head, strings.Repeat("ab", 20))
	if err != nil || got {
		t.Errorf("Descends = %v, %v; want false", got, err)
	}
}

func TestDescendsRefuses(t *testing.T) {
	s := newSource(t, requests())
	g := mustNew(t, Config{URL: s.Bare})
	head := mustFetch(t, g).Commit
	for _, bad := range []string{"", "main", head[:7], strings.Repeat("x", 40)} {
		_, err := g.Descends(context.Background(), head, bad)
		var gitErr *Error
		if !errors.As(err, &gitErr) || gitErr.Op != OpHistory || !strings.Contains(err.Error(), "not a full commit hash") {
			t.Errorf("Descends(%q) error = %v, want an *Error of op %s saying it is not a full commit hash", bad, err, OpHistory)
		}
	}
	// A commit that is not in the branch at all cannot be walked from.
	_, err := g.Descends(context.Background(), strings.Repeat("cd", 20), head)
	if err == nil {
		t.Error("Descends from a commit not in the repository succeeded")
	}
	t.Logf("error: %v", err)
}

// forcePush moves the branch back to rev and pushes it by force.
func forcePush(t *testing.T, s *source, rev string) {
	t.Helper()
	if _, err := s.Git("reset", "--quiet", "--hard", rev); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Git("push", "--quiet", "--force", "origin", "HEAD:refs/heads/main"); err != nil {
		t.Fatal(err)
	}
	head, err := s.Git("rev-parse", "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	s.head = head
}
