package test

import (
	"context"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/internal/testfs"
	"github.com/allot-dev/allot/test/harness"
)

const vclusterPlatform = `apiVersion: allot.dev/v1alpha1
kind: Platform
metadata: {name: acme}
spec:
  clusters:
    - name: dev-us-1
      labels: {allot.dev/vcluster-host: "true"}
      inCluster: true
  idp: {provider: none}
  defaultSize: small
  sizes:
    small:
      quota: {requests.cpu: "2", requests.memory: 4Gi, limits.cpu: "4", limits.memory: 8Gi, pods: 20}
      limitRange:
        defaultRequest: {cpu: 100m, memory: 128Mi}
        default: {cpu: 500m, memory: 512Mi}
  policy:
    allowedOwnerDomains: [acme.example]
`

const vclusterRequest = `apiVersion: allot.dev/v1alpha1
kind: Environment
metadata: {name: team-vc}
spec:
  type: vcluster
  owner: dana.kim@acme.example
  team: payments
  cluster: dev-us-1
  values: {kubernetesVersion: "1.33"}
`

// vclusterRepo writes a requests repository with one request of the
// built-in vcluster type, and a chart cache seeded with the real vcluster
// chart the built-in template names, from the Go module
// test/tools/vcluster pins; nothing is downloaded while rendering.
func vclusterRepo(t *testing.T) (repo, cache string, vc *harness.VCluster) {
	t.Helper()
	vc, err := harness.VClusterRelease()
	if err != nil {
		t.Fatal(err)
	}
	repo = testfs.Dir(t, map[string]string{"allot.yaml": vclusterPlatform, "environments/payments/team-vc.yaml": vclusterRequest})
	cache = t.TempDir()
	if err := harness.SeedVClusterChart(cache); err != nil {
		t.Fatal(err)
	}
	return repo, cache, vc
}

// TestVclusterOnARealControlPlane renders a request of the built-in
// vcluster type with the real chart, applies the host objects to a real
// API server with strict field validation, checks the config the chart
// stored there with vcluster's own parser, and then imports the vcluster
// through a kubeconfig Secret written as vcluster writes it, with a second
// control plane playing the vcluster.
func TestVclusterOnARealControlPlane(t *testing.T) {
	repo, cache, vc := vclusterRepo(t)

	manifests := allot(t, "render", "--repo", repo, "--cluster", "dev-us-1", "--chart-cache", cache)
	out := kubectl(t, manifests, "apply", "--server-side", "--field-manager", "allot", "--validate=strict", "-f", "-")
	for _, want := range []string{"statefulset.apps/team-vc serverside-applied", "secret/vc-config-team-vc serverside-applied", "networkpolicy.networking.k8s.io/vcluster-control-plane-ingress serverside-applied"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl apply did not print %q:\n%s", want, out)
		}
	}
	stored := kubectl(t, "", "get", "secret", "--namespace", "team-vc", "vc-config-team-vc", "-o", "yaml")
	if err := vc.CheckConfig([]byte(stored)); err != nil {
		t.Fatalf("vcluster refuses the config stored in the cluster: %v", err)
	}
	if strings.Contains(stored, "dana.kim") {
		t.Error("the owner's address is in the config Secret")
	}

	t.Run("the import reads the Secret vcluster writes", func(t *testing.T) {
		inner, err := harness.Start(harness.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = inner.Stop() }()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		go harness.RunWorkloadStatus(ctx, cp.Client, 200*time.Millisecond)

		secret, err := harness.VClusterKubeconfigSecret(inner, "team-vc", "team-vc", inner.Config.Host)
		if err != nil {
			t.Fatal(err)
		}
		if err := cp.Client.Create(ctx, secret); err != nil {
			t.Fatal(err)
		}
		allot(t, "reconcile", "--once", "--repo", repo, "--chart-cache", cache, "--use-kubeconfig-server", "--no-idp", "--kubeconfig", "dev-us-1="+cp.Kubeconfig)

		var crb rbacv1.ClusterRoleBinding
		if err := inner.Client.Get(ctx, client.ObjectKey{Name: "allot-environment-admin"}, &crb); err != nil {
			t.Fatalf("the inside bundle was not applied to the vcluster: %v", err)
		}
		if len(crb.Subjects) != 1 || crb.Subjects[0].Kind != "User" || crb.Subjects[0].Name != "dana.kim@acme.example" || crb.RoleRef.Name != "cluster-admin" {
			t.Errorf("ClusterRoleBinding inside = %+v", crb)
		}
		status := allot(t, "status", "--repo", repo, "--chart-cache", cache, "--kubeconfig", "dev-us-1="+cp.Kubeconfig)
		if !strings.Contains(status, "team-vc") {
			t.Errorf("allot status does not list team-vc:\n%s", status)
		}
	})
}
