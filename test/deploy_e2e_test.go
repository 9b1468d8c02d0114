package test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/cmd/allot/app"
	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/reconciler/fleet"
	"github.com/allot-dev/allot/test/harness"
)

// TestDeployManifestsGrantEnough applies examples/deploy/allot.yaml and then
// reconciles the example's namespace environments as allot's service
// account, by impersonation: the least-privilege ClusterRole must be enough,
// and must not grant cluster-wide rights.
func TestDeployManifestsGrantEnough(t *testing.T) {
	_, asAllot := deployAsAllot(t)
	cache := t.TempDir()
	if err := harness.SeedVClusterChart(cache); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := app.Run(app.Streams{In: strings.NewReader(""), Out: &out, Err: &errOut}, []string{
		"reconcile", "--once", "--repo", filepath.Join("..", "examples", "requests"), "--cluster", "dev-eu-1",
		"--kubeconfig", "dev-eu-1=" + asAllot, "--chart-cache", cache, "--no-idp",
	}, func(string) string { return "" })
	if code != app.ExitOK {
		t.Fatalf("reconcile as allot's service account: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	for _, env := range []string{"checkout-dev", "search-sandbox"} {
		if !strings.Contains(out.String(), env) || !strings.Contains(out.String(), "created") {
			t.Errorf("%s not created:\n%s", env, out.String())
		}
	}

	// And the same identity cannot take over the cluster.
	impersonated, err := clientcmd.BuildConfigFromFlags("", asAllot)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(impersonated, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "grab"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: "User", Name: "eve"}},
	}
	if err := c.Create(context.Background(), crb); !apierrors.IsForbidden(err) {
		t.Errorf("allot's service account created a ClusterRoleBinding (err %v); the ClusterRole grants too much", err)
	}
}

// deployAsAllot applies examples/deploy/allot.yaml to a control plane of
// its own and returns a kubeconfig that acts as allot's service account.
func deployAsAllot(t *testing.T) (*harness.ControlPlane, string) {
	t.Helper()
	cp := ownControlPlane(t)
	manifests, err := os.ReadFile(filepath.Join("..", "examples", "deploy", "allot.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	kubectlOn(t, cp.Kubeconfig, string(manifests), "apply", "--server-side", "-f", "-")

	cfg, err := clientcmd.LoadFromFile(cp.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, user := range cfg.AuthInfos {
		user.Impersonate = "system:serviceaccount:allot-system:allot"
		user.ImpersonateGroups = []string{"system:serviceaccounts", "system:serviceaccounts:allot-system", "system:authenticated"}
	}
	asAllot := filepath.Join(t.TempDir(), "as-allot")
	if err := clientcmd.WriteToFile(*cfg, asAllot); err != nil {
		t.Fatal(err)
	}
	return cp, asAllot
}

// TestDeployManifestsLetReplicasShareTheFleet runs allot serve
// --share-clusters as the example's service account: its Role is enough to
// keep a membership Lease, take a cluster's Lease, and on the way out give
// the cluster up and delete the membership Lease.
func TestDeployManifestsLetReplicasShareTheFleet(t *testing.T) {
	cp, asAllot := deployAsAllot(t)
	cache := t.TempDir()
	if err := harness.SeedVClusterChart(cache); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var logs harness.SyncBuffer
	go func() {
		done <- app.Serve(ctx, app.Streams{In: strings.NewReader(""), Out: io.Discard, Err: &logs}, app.ServeOptions{
			ReconcileOptions: app.ReconcileOptions{
				Repo: filepath.Join("..", "examples", "requests"), Clusters: []string{"dev-eu-1"},
				Kubeconfigs: map[string]string{"dev-eu-1": asAllot}, ChartCache: cache, SkipIdentityProvider: true,
				MaxDeleteShare: 0.5, Interval: time.Hour,
			},
			Listen: "127.0.0.1:0", Debounce: 100 * time.Millisecond, HomeKubeconfig: asAllot,
			Share: app.ShareOptions{Enabled: true, LeaseDuration: 2 * time.Second, RenewDeadline: time.Second, RetryPeriod: 250 * time.Millisecond},
		})
	}()
	leaseName := fleet.LeaseName("dev-eu-1")
	holder := func() string {
		var l coordinationv1.Lease
		if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: reconciler.SystemNamespace, Name: leaseName}, &l); err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	eventually(t, 60*time.Second, "the cluster's Lease held and checkout-dev applied", func() bool {
		var ns corev1.Namespace
		return holder() != "" && cp.Client.Get(ctx, client.ObjectKey{Name: "checkout-dev"}, &ns) == nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, logs.String())
	}
	if h := holder(); h != "" {
		t.Errorf("the cluster's Lease is still held by %s after serve stopped", h)
	}
	var leases coordinationv1.LeaseList
	if err := cp.Client.List(context.Background(), &leases, client.InNamespace(reconciler.SystemNamespace)); err != nil {
		t.Fatal(err)
	}
	for _, l := range leases.Items {
		if strings.HasPrefix(l.Name, "allot-replica-") {
			t.Errorf("the membership Lease %s was left behind\n%s", l.Name, logs.String())
		}
	}
	if strings.Contains(logs.String(), "forbidden") {
		t.Errorf("the service account was refused something:\n%s", logs.String())
	}
}
