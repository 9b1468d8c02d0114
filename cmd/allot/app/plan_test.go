package app

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/test/harness"
)

const planPlatform = `apiVersion: allot.dev/v1alpha1
kind: Platform
metadata: {name: t}
spec:
  clusters: [{name: dev, inCluster: true}]
  idp: {provider: none}
  defaultSize: small
  sizes:
    small: {quota: {pods: 10}}
    large: {quota: {pods: 100}}
`

func planRequest(size, addon string) string {
	return fmt.Sprintf("apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: one}\nspec:\n  type: namespace\n  owner: dev@example.com\n  team: web\n  cluster: dev\n  size: %s\n%s", size, addon)
}

const webDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: -1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
`

// TestPlanExitCodesAndWhatItRead runs allot plan as a script would,
// against a real control plane, on a requests repository in a git work
// tree: exit 0 when nothing would change, 1 when something would, 2 on an
// error (an object the API server rejects, a bad flag); the first line
// says the commit read, or that the working tree is dirty.
func TestPlanExitCodesAndWhatItRead(t *testing.T) {
	cp, err := harness.Start(harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	repo, err := harness.NewGitRepo(t.TempDir(), t.TempDir(), "main")
	if err != nil {
		t.Fatal(err)
	}
	write := func(rel, content string) {
		t.Helper()
		if err := repo.WriteFile(rel, content); err != nil {
			t.Fatal(err)
		}
	}
	write("allot.yaml", planPlatform)
	write("environments/web/one.yaml", planRequest("small", ""))
	head, err := repo.Commit("first")
	if err != nil {
		t.Fatal(err)
	}
	args := func(cmd string, extra ...string) []string {
		return append([]string{cmd, "--repo", repo.Work, "--kubeconfig", "dev=" + cp.Kubeconfig, "--chart-cache", t.TempDir(), "--workdir", t.TempDir()}, extra...)
	}
	plan := func(t *testing.T, wantCode int, want ...string) string {
		t.Helper()
		code, out, errOut := run(t, nil, args("plan")...)
		t.Logf("allot plan: exit %d\n%s", code, out)
		if code != wantCode {
			t.Errorf("exit %d, want %d\n%s%s", code, wantCode, out, errOut)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("the plan does not say %q:\n%s", w, out)
			}
		}
		return out
	}

	t.Run("changes exit 1 and name the commit", func(t *testing.T) {
		out := plan(t, ExitPlanChanges, "plan of commit "+head+"\n", "dev / one: would be created\n", "  would create Namespace/one\n", "  would create ResourceQuota/one/quota\n")
		if strings.Contains(out, "\x1b[") {
			t.Errorf("colour in output that is not a terminal:\n%q", out)
		}
	})
	if code, out, errOut := run(t, nil, args("reconcile")...); code != ExitOK {
		t.Fatalf("reconcile: exit %d\n%s%s", code, out, errOut)
	}
	t.Run("no changes exit 0", func(t *testing.T) {
		plan(t, ExitPlanNoChanges, "plan of commit "+head+"\n", "dev / one: unchanged\n")
	})
	t.Run("a dirty working tree says so and shows the diff", func(t *testing.T) {
		write("environments/web/one.yaml", planRequest("large", ""))
		plan(t, ExitPlanChanges, "plan of working tree (dirty)\n", "dev / one: would be updated\n",
			"  would change ResourceQuota/one/quota\n",
			"      --- live/ResourceQuota/one/quota\n      +++ planned/ResourceQuota/one/quota\n",
			"      -    pods: \"10\"\n      +    pods: \"100\"\n")
	})
	t.Run("an object the API server rejects exits 2", func(t *testing.T) {
		write("environments/web/one.yaml", planRequest("small", "  addons:\n    - name: web\n      manifests: {path: addons/web}\n"))
		write("addons/web/deployment.yaml", webDeployment)
		plan(t, ExitPlanFailed,
			"dev / one: would fail\n",
			"  rejected Deployment/one/web: Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0 (Invalid)\n",
			"error: cluster dev: environment one: Deployment/one/web: rejected by the API server: ")
	})
	t.Run("a bad flag exits 2", func(t *testing.T) {
		if code, _, _ := run(t, nil, args("plan", "--no-such-flag")...); code != ExitPlanFailed {
			t.Errorf("exit %d, want %d", code, ExitPlanFailed)
		}
	})
	t.Run("an unreadable repository exits 2", func(t *testing.T) {
		code, _, errOut := run(t, nil, "plan", "--repo", t.TempDir()+"/missing", "--kubeconfig", "dev="+cp.Kubeconfig)
		if code != ExitPlanFailed {
			t.Errorf("exit %d, want %d\n%s", code, ExitPlanFailed, errOut)
		}
	})
}

func TestPlanDiffIsColouredOnlyOnATerminal(t *testing.T) {
	plan := &reconciler.Plan{Commit: "abc", Entries: []reconciler.PlanEntry{{Cluster: "dev", Environment: "one", Action: reconciler.ActionUpdated,
		Changes: []reconciler.Change{{Object: "ConfigMap/one/a", Action: reconciler.ChangeUpdate, Diff: "--- live/ConfigMap/one/a\n+++ planned/ConfigMap/one/a\n@@ -1 +1 @@\n-a: b\n+a: c\n"}}}}}
	var plain, coloured bytes.Buffer
	writePlan(&plain, plan, false)
	writePlan(&coloured, plan, true)
	if strings.Contains(plain.String(), "\x1b[") {
		t.Errorf("colour without a terminal:\n%q", plain.String())
	}
	for _, want := range []string{"      --- live/ConfigMap/one/a\n", "\x1b[31m-a: b\x1b[0m\n", "\x1b[32m+a: c\x1b[0m\n"} {
		if !strings.Contains(coloured.String(), want) {
			t.Errorf("coloured output lacks %q:\n%q", want, coloured.String())
		}
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) || isTerminal(&plain) {
		t.Error("a file or a buffer is taken for a terminal")
	}
}
