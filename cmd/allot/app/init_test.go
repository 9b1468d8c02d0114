package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/allot-dev/allot/test/harness"
)

// TestInitWritesAValidRepository checks that allot init writes a
// repository allot validate accepts, and never replaces a file unless told.
func TestInitWritesAValidRepository(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "requests")
	files := []string{"allot.yaml", "environments/my-team/sandbox.yaml", "README.md"}
	validate := func(t *testing.T) {
		t.Helper()
		code, out, errOut := run(t, nil, "validate", "--repo", dir)
		if code != ExitOK || !strings.Contains(out, "is valid: 1 environment") {
			t.Fatalf("validate: exit %d\n%s%s", code, out, errOut)
		}
	}

	t.Run("writes allot.yaml, one request and a README that validate", func(t *testing.T) {
		code, out, errOut := run(t, nil, "init", dir)
		if code != ExitOK {
			t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
		}
		for _, f := range files {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("init did not write %s: %v", f, err)
			}
			if !strings.Contains(out, "wrote "+filepath.Join(dir, f)+"\n") {
				t.Errorf("init does not say it wrote %s:\n%s", f, out)
			}
		}
		if !strings.Contains(out, "allot validate --repo "+dir) {
			t.Errorf("init does not say what to run next:\n%s", out)
		}
		validate(t)
		platform, _ := os.ReadFile(filepath.Join(dir, "allot.yaml"))
		for _, want := range []string{"name: dev\n", "kubeconfig: {}\n", "provider: none\n", "small:\n"} {
			if !strings.Contains(string(platform), want) {
				t.Errorf("allot.yaml lacks %q:\n%s", want, platform)
			}
		}
	})
	t.Run("refuses to replace files, naming them, and changes nothing", func(t *testing.T) {
		edited := "# mine\n"
		if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte(edited), 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, errOut := run(t, nil, "init", dir)
		if code != ExitUsage {
			t.Errorf("exit %d, want %d", code, ExitUsage)
		}
		for _, f := range files {
			if !strings.Contains(errOut, filepath.Join(dir, f)) {
				t.Errorf("the error does not name %s: %s", f, errOut)
			}
		}
		if !strings.Contains(errOut, "--force") {
			t.Errorf("the error does not say how to replace them: %s", errOut)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "README.md")); string(got) != edited {
			t.Errorf("README.md was replaced: %q", got)
		}
	})
	t.Run("--force replaces them, a link by a file rather than through it", func(t *testing.T) {
		outside := filepath.Join(t.TempDir(), "outside.md")
		if err := os.WriteFile(outside, []byte("keep\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		readme := filepath.Join(dir, "README.md")
		if err := os.Remove(readme); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, readme); err != nil {
			t.Fatal(err)
		}
		if code, out, errOut := run(t, nil, "init", dir, "--force"); code != ExitOK {
			t.Fatalf("init --force: exit %d\n%s%s", code, out, errOut)
		}
		if got, _ := os.ReadFile(outside); string(got) != "keep\n" {
			t.Errorf("init wrote through the link: %q", got)
		}
		if info, err := os.Lstat(readme); err != nil || !info.Mode().IsRegular() {
			t.Errorf("README.md is not a file again: %v", err)
		}
		validate(t)
	})
	t.Run("names the cluster, its kubeconfig made absolute, and its context", func(t *testing.T) {
		t.Chdir(t.TempDir())
		abs, err := filepath.Abs("kubeconfigs/dev-eu-1.yaml")
		if err != nil {
			t.Fatal(err)
		}
		code, out, errOut := run(t, nil, "init", dir, "--force", "--cluster", "dev-eu-1", "--kubeconfig", "kubeconfigs/dev-eu-1.yaml", "--context", "eu")
		if code != ExitOK {
			t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
		}
		platform, _ := os.ReadFile(filepath.Join(dir, "allot.yaml"))
		request, _ := os.ReadFile(filepath.Join(dir, "environments/my-team/sandbox.yaml"))
		if want := `kubeconfig: {file: "` + abs + `", context: "eu"}`; !strings.Contains(string(platform), want) {
			t.Errorf("allot.yaml lacks %s:\n%s", want, platform)
		}
		if !strings.Contains(string(platform), "- name: dev-eu-1\n") || !strings.Contains(string(request), "cluster: dev-eu-1\n") {
			t.Errorf("the cluster is not named dev-eu-1:\n%s\n%s", platform, request)
		}
		validate(t)
	})
	t.Run("quotes names YAML would read as numbers", func(t *testing.T) {
		numbered := filepath.Join(t.TempDir(), "2026")
		if code, out, errOut := run(t, nil, "init", numbered, "--cluster", "0"); code != ExitOK {
			t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
		}
		if code, out, errOut := run(t, nil, "validate", "--repo", numbered); code != ExitOK {
			t.Errorf("validate: exit %d\n%s%s", code, out, errOut)
		}
	})
	t.Run("refuses a cluster name that is not a DNS label", func(t *testing.T) {
		if code, _, errOut := run(t, nil, "init", t.TempDir(), "--cluster", "Dev_1"); code != ExitUsage || !strings.Contains(errOut, `--cluster "Dev_1"`) {
			t.Errorf("exit %d (%s), want %d", code, errOut, ExitUsage)
		}
	})
}

// TestQuickStart runs the README's quick start against a real control
// plane: allot init, then validate, plan, reconcile and plan again, the
// cluster reached through $KUBECONFIG as kubectl would, with --context.
func TestQuickStart(t *testing.T) {
	cp, err := harness.Start(harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	kubeconfig := filepath.Join(t.TempDir(), "config")
	// The current context is one nothing answers: only --context up reaches
	// the control plane.
	if err := cp.WriteKubeconfig(kubeconfig, "down"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kubeconfig)
	dir := t.TempDir()
	step := func(t *testing.T, wantCode int, want string, args ...string) {
		t.Helper()
		code, out, errOut := run(t, nil, args...)
		if code != wantCode || !strings.Contains(out+errOut, want) {
			t.Fatalf("allot %s: exit %d, want %d and %q\n%s%s", strings.Join(args, " "), code, wantCode, want, out, errOut)
		}
	}
	common := []string{"--repo", dir, "--context", "up", "--workdir", t.TempDir(), "--chart-cache", t.TempDir()}
	step(t, ExitOK, "wrote", "init", dir)
	step(t, ExitOK, "is valid", "validate", "--repo", dir)
	step(t, ExitPlanChanges, "dev / sandbox: would be created", append([]string{"plan"}, common...)...)
	step(t, ExitOK, "created", append([]string{"reconcile", "--once"}, common...)...)
	step(t, ExitPlanNoChanges, "dev / sandbox: unchanged", append([]string{"plan"}, common...)...)
	// A kubeconfig without a cluster name, as kubectl's --kubeconfig.
	step(t, ExitOK, "sandbox", "status", "--repo", dir, "--kubeconfig", kubeconfig, "--context", "up")
	// Without --context, the current context: nothing answers there.
	step(t, ExitPlanFailed, "127.0.0.1:1", "plan", "--repo", dir, "--request-timeout", "5s")
}

// TestClusterFlagsAreCheckedAgainstAllotYAML checks that a --kubeconfig
// name that is not a cluster, and --context or a --kubeconfig without a
// name for a repository of several clusters, are usage errors (exit 2)
// listing the clusters, before any cluster is contacted.
func TestClusterFlagsAreCheckedAgainstAllotYAML(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "allot.yaml"), "apiVersion: allot.dev/v1alpha1\nkind: Platform\nmetadata: {name: t}\nspec:\n  clusters: [{name: dev-eu-1, inCluster: true}, {name: dev-us-1, kubeconfig: {file: /nowhere}}]\n  idp: {provider: none}\n  defaultSize: small\n  sizes: {small: {quota: {pods: 10}}}\n")
	kc := filepath.Join(t.TempDir(), "kc.yaml")
	for name, tc := range map[string]struct {
		flags []string
		want  string
	}{
		"a name that is not a cluster":   {[]string{"--kubeconfig", "dev-eu-2=" + kc}, "--kubeconfig dev-eu-2=" + kc + ": no such cluster in allot.yaml; allot.yaml's clusters are dev-eu-1, dev-us-1"},
		"a file without a cluster name":  {[]string{"--kubeconfig", kc}, "without a cluster name works for a repository with one cluster; allot.yaml's clusters are dev-eu-1, dev-us-1"},
		"--context for several clusters": {[]string{"--context", "kind-dev"}, "--context works for a repository with one cluster; allot.yaml's clusters are dev-eu-1, dev-us-1"},
	} {
		for _, cmd := range []string{"plan", "reconcile", "status"} {
			t.Run(cmd+" with "+name, func(t *testing.T) {
				code, out, errOut := run(t, nil, append([]string{cmd, "--repo", dir, "--workdir", t.TempDir()}, tc.flags...)...)
				if code != ExitUsage || !strings.Contains(errOut, tc.want) {
					t.Errorf("exit %d, want %d and an error containing %q\n%s%s", code, ExitUsage, tc.want, out, errOut)
				}
			})
		}
	}
}
