package test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/cmd/allot/app"
	"github.com/allot-dev/allot/test/harness"
)

// TestDeployManifestsGrantEnough applies examples/deploy/allot.yaml and then
// reconciles the example's namespace environments as allot's service
// account, by impersonation: the least-privilege ClusterRole must be enough,
// and must not grant cluster-wide rights.
func TestDeployManifestsGrantEnough(t *testing.T) {
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
