package test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/cmd/allot/app"
	"github.com/allot-dev/allot/test/harness"
)

var cp *harness.ControlPlane

func TestMain(m *testing.M) {
	var err error
	cp, err = harness.Start(harness.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := cp.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop control plane:", err)
	}
	os.Exit(code)
}

// allot runs the allot command in-process and returns its stdout.
func allot(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	code := app.Run(app.Streams{In: strings.NewReader(""), Out: &out, Err: &errOut}, args, func(string) string { return "" })
	if code != app.ExitOK {
		t.Fatalf("allot %s: exit %d\n%s", strings.Join(args, " "), code, errOut.String())
	}
	return out.String()
}

func kubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	return kubectlOn(t, cp.Kubeconfig, stdin, args...)
}

func kubectlOn(t *testing.T, kubeconfig, stdin string, args ...string) string {
	t.Helper()
	dir, err := harness.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(dir, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestRenderOutputAppliesWithKubectl pipes `allot render` into the real
// kubectl apply --server-side, as the README says a user can.
func TestRenderOutputAppliesWithKubectl(t *testing.T) {
	repo := filepath.Join("..", "examples", "requests")
	cache := t.TempDir()
	if err := harness.SeedVClusterChart(cache); err != nil {
		t.Fatal(err)
	}
	for _, cluster := range []string{"dev-eu-1", "dev-us-1"} {
		manifests := allot(t, "render", "--repo", repo, "--cluster", cluster, "--chart-cache", cache)
		out := kubectl(t, manifests, "apply", "--server-side", "--field-manager", "allot", "-f", "-")
		if !strings.Contains(out, "serverside-applied") {
			t.Fatalf("kubectl apply printed:\n%s", out)
		}
	}
	ctx := context.Background()
	var quota corev1.ResourceQuota
	if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: "checkout-dev", Name: "quota"}, &quota); err != nil {
		t.Fatal(err)
	}
	if got := quota.Spec.Hard.Pods().String(); got != "50" {
		t.Errorf("checkout-dev quota pods = %s, want 50 (size medium)", got)
	}
	var rb rbacv1.RoleBinding
	if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: "search-sandbox", Name: "environment-admin"}, &rb); err != nil {
		t.Fatal(err)
	}
	if len(rb.Subjects) != 1 || rb.Subjects[0].Kind != "Group" || rb.Subjects[0].Name != "allot-search-sandbox" {
		t.Errorf("search-sandbox RoleBinding subjects = %+v, want the group allot-search-sandbox", rb.Subjects)
	}
	var ns corev1.Namespace
	if err := cp.Client.Get(ctx, client.ObjectKey{Name: "ledger-vc"}, &ns); err != nil {
		t.Fatal(err)
	}
	if ns.Labels["allot.dev/managed-by"] != "allot" || ns.Labels["allot.dev/environment"] != "ledger-vc" {
		t.Errorf("ledger-vc namespace labels = %v", ns.Labels)
	}
	// The preDelete job is not applied with the rest.
	out := kubectl(t, "", "get", "jobs", "-n", "ledger-vc", "-o", "name")
	if strings.Contains(out, "cleanup") {
		t.Errorf("the preDelete job was applied:\n%s", out)
	}

	t.Run("a second apply changes nothing", func(t *testing.T) {
		manifests := allot(t, "render", "--repo", repo, "--cluster", "dev-eu-1", "--chart-cache", cache)
		out := kubectl(t, manifests, "diff", "--server-side", "--field-manager", "allot", "-f", "-")
		// Pod Security warnings (the namespaces warn at restricted) are
		// not differences.
		var diff []string
		for _, line := range strings.Split(out, "\n") {
			if !strings.HasPrefix(line, "Warning: ") {
				diff = append(diff, line)
			}
		}
		if out = strings.Join(diff, "\n"); strings.TrimSpace(out) != "" {
			t.Errorf("kubectl diff after apply:\n%s", out)
		}
	})
}

func mustQuantity(t *testing.T, s string) resource.Quantity {
	t.Helper()
	q, err := resource.ParseQuantity(s)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// ownControlPlane starts a control plane for one test, so that tests which
// reconcile do not see each other's environments.
func ownControlPlane(t *testing.T) *harness.ControlPlane {
	t.Helper()
	own, err := harness.Start(harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = own.Stop() })
	return own
}
