package test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/allot-dev/allot/cmd/allot/app"
	"github.com/allot-dev/allot/test/harness"
)

// TestPlanShowsIdPChanges runs allot plan and allot reconcile, as a user
// would, against a real control plane and a real SCIM server named in
// allot.yaml, with the token from an environment variable.
func TestPlanShowsIdPChanges(t *testing.T) {
	cp := ownControlPlane(t)
	ctx := context.Background()
	srv, err := harness.StartSCIMServer(harness.SCIMServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	for _, email := range []string{"dev@example.com", "pal@example.com"} {
		if _, err := srv.CreateUser(ctx, email, email); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PLAN_SCIM_TOKEN", srv.Token())
	src := &idpFolder{dir: t.TempDir()}
	src.write(t, "allot.yaml", fmt.Sprintf("apiVersion: allot.dev/v1alpha1\nkind: Platform\nmetadata: {name: t}\nspec:\n  clusters: [{name: dev, inCluster: true}]\n  idp: {provider: scim, url: %q, token: {env: PLAN_SCIM_TOKEN}}\n  defaultSize: small\n  sizes: {small: {quota: {pods: 10}}}\n", srv.URL()))
	src.write(t, "environments/web/planned.yaml", namespaceRequest("planned", "pal@example.com"))
	args := func(cmd string) []string {
		return []string{cmd, "--repo", src.dir, "--kubeconfig", "dev=" + cp.Kubeconfig, "--chart-cache", t.TempDir()}
	}
	run := func(want int, cmd string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := app.Run(app.Streams{In: strings.NewReader(""), Out: &out, Err: &errOut}, args(cmd), func(string) string { return "" }); code != want {
			t.Fatalf("allot %s: exit %d, want %d\n%s%s", cmd, code, want, out.String(), errOut.String())
		}
		return out.String()
	}
	if out := run(app.ExitPlanChanges, "plan"); !strings.Contains(out, "would create group allot-planned  add dev@example.com, pal@example.com") {
		t.Errorf("plan before the first pass:\n%s", out)
	}
	run(app.ExitOK, "reconcile")
	if out := run(app.ExitPlanNoChanges, "plan"); strings.Contains(out, "identity provider:") {
		t.Errorf("plan after the pass still has IdP changes:\n%s", out)
	}
	src.write(t, "environments/web/planned.yaml", namespaceRequest("planned", ""))
	if out := run(app.ExitPlanChanges, "plan"); !strings.Contains(out, "would change group allot-planned  remove pal@example.com") {
		t.Errorf("plan after dropping a member:\n%s", out)
	}
}

func TestPlanOneEnvironment(t *testing.T) {
	cp := ownControlPlane(t)
	repo := writeRepo(t, map[string]string{
		"allot.yaml":                  "apiVersion: allot.dev/v1alpha1\nkind: Platform\nmetadata: {name: t}\nspec:\n  clusters: [{name: dev, inCluster: true}]\n  idp: {provider: none}\n  defaultSize: small\n  sizes: {small: {quota: {pods: 10}}}\n",
		"environments/web/one.yaml":   namespaceRequest("one", ""),
		"environments/web/other.yaml": namespaceRequest("other", ""),
	})
	var stdout, stderr bytes.Buffer
	code := app.Run(app.Streams{In: strings.NewReader(""), Out: &stdout, Err: &stderr}, []string{"plan", "--repo", repo, "--environment", "one", "--kubeconfig", "dev=" + cp.Kubeconfig, "--chart-cache", t.TempDir()}, func(string) string { return "" })
	if out := stdout.String(); code != app.ExitPlanChanges || !strings.Contains(out, "dev / one: would be created") || strings.Contains(out, "other") {
		t.Errorf("plan --environment one: exit %d\n%s%s", code, out, stderr.String())
	}
	stdout.Reset()
	stderr.Reset()
	code = app.Run(app.Streams{In: strings.NewReader(""), Out: &stdout, Err: &stderr}, []string{"plan", "--repo", repo, "--environment", "onne", "--kubeconfig", "dev=" + cp.Kubeconfig, "--chart-cache", t.TempDir()}, func(string) string { return "" })
	if code != app.ExitUsage || !strings.Contains(stderr.String(), "--environment onne: no such environment") {
		t.Errorf("plan --environment onne: exit %d\n%s", code, stderr.String())
	}
}
