package source

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/allot-dev/allot/test/harness"
)

// requests returns the content of a small requests repository.
func requests() map[string]string {
	return map[string]string{
		"allot.yaml":                   "kind: Platform\n",
		"environments/team-a/dev.yaml": "kind: Environment\nmetadata:\n  name: dev\n",
		"environments/team-b/qa.yaml":  "kind: Environment\nmetadata:\n  name: qa\n",
	}
}

// source is a requests repository: a bare repository under root, which a
// git server can serve as "requests.git", and the work tree that commits
// to it.
type source struct {
	*harness.GitRepo
	root string
	head string
}

// newSource makes a requests repository on branch main holding files in
// one commit.
func newSource(t *testing.T, files map[string]string) *source {
	t.Helper()
	root := t.TempDir()
	repo, err := harness.NewGitRepo(filepath.Join(root, "requests.git"), t.TempDir(), "main")
	if err != nil {
		t.Fatal(err)
	}
	s := &source{GitRepo: repo, root: root}
	s.commit(t, "first", files)
	return s
}

// commit writes files (an empty content deletes the file), commits and
// pushes, and remembers the new head.
func (s *source) commit(t *testing.T, message string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		var err error
		if content == "" {
			err = s.Remove(name)
		} else {
			err = s.WriteFile(name, content)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	head, err := s.Commit(message)
	if err != nil {
		t.Fatal(err)
	}
	s.head = head
	return head
}

// commitTime returns the committer time of the head commit.
func (s *source) commitTime(t *testing.T) time.Time {
	t.Helper()
	out, err := s.Git("show", "-s", "--format=%cI", s.head)
	if err != nil {
		t.Fatal(err)
	}
	when, err := time.Parse(time.RFC3339, out)
	if err != nil {
		t.Fatal(err)
	}
	return when
}

// serve serves the source's root over HTTP, with token if set.
func (s *source) serve(t *testing.T, token string) *harness.GitServer {
	t.Helper()
	srv, err := harness.StartGitServer(s.root, harness.GitServerOptions{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	return srv
}

// mustNew returns a Git for cfg, with a fresh Dir unless cfg has one.
func mustNew(t *testing.T, cfg Config) *Git {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(t.TempDir(), "checkout")
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// mustFetch fetches and fails the test on an error.
func mustFetch(t *testing.T, g *Git) *Snapshot {
	t.Helper()
	snap, err := g.Fetch(context.Background())
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	return snap
}

// readTree returns the files under dir, .git aside, with their content.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if d.Type()&os.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			files[filepath.ToSlash(rel)] = "-> " + target
			return err
		}
		data, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// listDirs returns the folders under dir, .git aside.
func listDirs(t *testing.T, dir string) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() || p == dir {
			return err
		}
		if d.Name() == ".git" {
			return filepath.SkipDir
		}
		rel, err := filepath.Rel(dir, p)
		dirs = append(dirs, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(dirs)
	return dirs
}

// closedAddress returns a loopback address nothing listens on.
func closedAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// silentAddress returns a loopback address that accepts connections and
// never answers.
func silentAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
			close(done)
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String()
}
