package app

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestBuildVersion(t *testing.T) {
	goVersion := runtime.Version()
	for _, tc := range []struct {
		name, version, commit string
		info                  *debug.BuildInfo
		want                  string
	}{
		{"the Makefile's linker flags win", "v1.2.3", "abc", &debug.BuildInfo{Main: debug.Module{Version: "v9.9.9"}},
			"allot v1.2.3 (commit abc, " + goVersion + ")"},
		{"go install …@v1.2.3 records the module version", "", "", &debug.BuildInfo{Main: debug.Module{Path: "github.com/allot-dev/allot", Version: "v1.2.3"}},
			"allot v1.2.3 (commit unknown, " + goVersion + ")"},
		{"go build in a checkout records a pseudo-version and the commit", "", "", &debug.BuildInfo{
			Main:     debug.Module{Version: "v0.0.0-20261202004202-615ef40abcde+dirty"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "615ef40abcdef"}, {Key: "vcs.modified", Value: "true"}}},
			"allot v0.0.0-20261202004202-615ef40abcde+dirty (commit 615ef40abcdef, " + goVersion + ")"},
		{"nothing recorded", "", "", nil, "allot (devel) (commit unknown, " + goVersion + ")"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := buildVersion(tc.version, tc.commit, tc.info).String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestVersionOfAPlainGoBuild builds allot with `go build` and without the
// Makefile's linker flags, in this checkout (or a clone of it, from a git
// worktree), and checks that `allot
// version` still names a version and the commit it was built from, from
// what the toolchain recorded.
func TestVersionOfAPlainGoBuild(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(filepath.Join(root, ".git")); err != nil || !info.IsDir() {
		// The toolchain records VCS data only where .git is a folder; a
		// git worktree's is a file. Build in a clone of it instead, which
		// has one.
		clone := filepath.Join(t.TempDir(), "allot")
		if out, err := exec.Command("git", "clone", "--quiet", root, clone).CombinedOutput(); err != nil {
			t.Fatalf("clone %s: %v\n%s", root, err, out)
		}
		root = clone
	}
	head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	status, err := exec.Command("git", "-C", root, "status", "--porcelain").Output()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "allot")
	build := exec.Command("go", "build", "-o", bin, "./cmd/allot")
	build.Dir = root
	// The toolchain's default; a machine may turn it off in GOFLAGS.
	build.Env = append(os.Environ(), "GOFLAGS=-buildvcs=auto")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	// A tag on HEAD gives vX.Y.Z; otherwise a pseudo-version naming the
	// commit; either way +dirty when the files differ from it.
	dirty := ""
	if len(status) > 0 {
		dirty = `\+dirty`
	}
	want := regexp.MustCompile(`^allot v[0-9][^ ]*` + dirty + ` \(commit ` + strings.TrimSpace(string(head)) + `, go\S+\)\n$`)
	if !want.Match(out) {
		t.Errorf("allot version says %q, want it to match %s", out, want)
	}
}
