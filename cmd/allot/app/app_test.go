package app

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/allot-dev/allot/internal/testfs"
	"github.com/allot-dev/allot/test/harness"
)

// run runs allot with args and returns its exit code, stdout and stderr.
func run(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(Streams{In: strings.NewReader(""), Out: &out, Err: &errOut}, args, func(k string) string { return env[k] })
	return code, out.String(), errOut.String()
}

// examples is the path of the repository's examples folder.
func examples(t testing.TB, parts ...string) string {
	t.Helper()
	return filepath.Join(append([]string{"..", "..", "..", "examples"}, parts...)...)
}

// chartCache returns a chart cache holding the real vcluster chart that
// the example's vcluster requests use (the built-in template's), so that
// commands render them offline.
func chartCache(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := harness.SeedVClusterChart(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// gitRepo makes a git work tree in a temporary folder with the real git.
func gitRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	git(t, dir, "config", "user.email", "test@allot.invalid")
	git(t, dir, "config", "user.name", "allot test")
	return dir
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_SYSTEM=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// copyDir copies a folder tree, keeping symbolic links as links.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		target := filepath.Join(to, rel)
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case info.IsDir():
			return os.MkdirAll(target, 0o755)
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, 0o644)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	testfs.WriteFile(t, path, content)
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		code, out, _ := run(t, nil, args...)
		if code != ExitOK || !strings.HasPrefix(out, "allot ") || !strings.Contains(out, "commit ") {
			t.Errorf("allot %s: exit %d, output %q; want 0 and \"allot VERSION (commit ...)\"", strings.Join(args, " "), code, out)
		}
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for name, args := range map[string][]string{
		"malformed flag":           {"validate", "--repo"},
		"unknown flag":             {"validate", "--bogus"},
		"unknown output":           {"validate", "--repo", examples(t, "requests"), "-o", "xml"},
		"unknown command":          {"frobnicate"},
		"extra argument":           {"validate", "extra"},
		"missing repository":       {"validate", "--repo", filepath.Join(t.TempDir(), "nowhere")},
		"repository is file":       {"validate", "--repo", filepath.Join(examples(t, "requests"), "allot.yaml")},
		"unknown schema kind":      {"schema", "cluster"},
		"changed-from outside git": {"validate", "--repo", t.TempDir(), "--changed-from", "main"},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := run(t, nil, args...)
			if code != ExitUsage {
				t.Errorf("exit %d, want %d (stderr %q)", code, ExitUsage, errOut)
			}
			if !strings.HasPrefix(errOut, "allot: ") {
				t.Errorf("stderr %q, want an \"allot: \" error", errOut)
			}
		})
	}
}

func TestSchemaCommandPrintsEmbeddedSchema(t *testing.T) {
	code, out, _ := run(t, nil, "schema", "environment")
	want, err := os.ReadFile(filepath.Join("..", "..", "..", "schemas", "environment.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if code != ExitOK || out != string(want) {
		t.Errorf("exit %d; output differs from schemas/environment.schema.json", code)
	}
}

func TestListShowsEnvironmentsWithTheirClusters(t *testing.T) {
	code, out, errOut := run(t, nil, "list", "--repo", examples(t, "requests"))
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if got := strings.Fields(lines[0]); strings.Join(got, " ") != "NAME TYPE TEAM OWNER CLUSTER EXPIRES" {
		t.Errorf("header %q", lines[0])
	}
	rows := map[string][]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		rows[f[0]] = f
	}
	for name, want := range map[string]string{
		"checkout-dev": "checkout-dev namespace payments jane.doe@acme.example dev-eu-1 30d after merge",
		"ledger-vc":    "ledger-vc vcluster payments dana.kim@acme.example dev-us-1 2w after merge",
		"indexer-ecs":  "indexer-ecs ecs search omar.haddad@acme.example mgmt 7d after merge",
	} {
		if got := strings.Join(rows[name], " "); got != want {
			t.Errorf("row %s = %q, want %q", name, got, want)
		}
	}
	if len(rows) != 6 {
		t.Errorf("%d rows, want 6", len(rows))
	}
}

func TestEveryCommandBuildsAndHasHelp(t *testing.T) {
	root := NewRootCommand(Streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}, func(string) string { return "" })
	for _, cmd := range root.Commands() {
		t.Run(cmd.Name(), func(t *testing.T) {
			code, out, errOut := run(t, nil, cmd.Name(), "--help")
			if code != ExitOK || !strings.Contains(out, "Usage:") {
				t.Errorf("allot %s --help: exit %d\n%s%s", cmd.Name(), code, out, errOut)
			}
		})
	}
}
