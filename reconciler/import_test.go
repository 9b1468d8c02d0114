package reconciler

import (
	"context"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const vclusterTemplate = `apiVersion: allot.dev/v1alpha1
kind: EnvironmentTemplate
metadata: {name: vc}
spec:
  clusterSelector: {matchLabels: {allot.dev/vcluster-host: "true"}}
  allowedClusterRoles: [admin]
  sources:
    - {name: baseline, template: namespace}
  import:
    clusterScopedKinds: [ClusterRoleBinding.rbac.authorization.k8s.io]
    sources:
      - {name: access, manifests: {path: inside}}
`

const insideAccess = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: environment-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: dev@example.com}]
`

// TestVclusterImport plays the vcluster with a second control plane: once
// the kubeconfig Secret appears on the host, allot applies the inside bundle
// to it and keeps an inventory there.
func TestVclusterImport(t *testing.T) {
	f := newFixture(t, "a", "vc")
	f.r.OnlyClusters = []string{"a"}
	f.r.UseKubeconfigServer = true
	f.src.write(t, "templates/vc/template.yaml", vclusterTemplate)
	f.src.write(t, "templates/vc/inside/access.yaml", insideAccess)
	f.src.write(t, "environments/web/team-vc.yaml", "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: team-vc}\nspec: {type: vc, owner: dev@example.com, team: web, cluster: a}\n")

	res := f.mustPass(t)
	if msg := result(res, "a", "team-vc").Message; msg != "waiting for the kubeconfig Secret team-vc/vc-team-vc" {
		t.Fatalf("message %q before the Secret exists\n%s", msg, describe(res))
	}

	kubeconfig, err := os.ReadFile(f.cps["vc"].Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "vc-team-vc", Namespace: "team-vc"}, Data: map[string][]byte{"config": kubeconfig}}
	if err := f.cps["a"].Client.Create(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	res = f.mustPass(t)
	if msg := result(res, "a", "team-vc").Message; msg != "imported a/team-vc: created" {
		t.Fatalf("message %q after the Secret appeared\n%s", msg, describe(res))
	}
	var crb rbacv1.ClusterRoleBinding
	if err := f.get(t, "vc", &crb, "", "environment-admin"); err != nil {
		t.Fatalf("the inside bundle is not in the vcluster: %v", err)
	}
	var record corev1.ConfigMap
	if err := f.get(t, "vc", &record, SystemNamespace, "team-vc"); err != nil {
		t.Fatalf("no inventory inside the vcluster: %v", err)
	}
	if f.exists(t, "a", &crb, "", "environment-admin") {
		t.Error("the inside bundle was applied to the host")
	}
	res = f.mustPass(t)
	if msg := result(res, "a", "team-vc").Message; msg != "imported a/team-vc: unchanged" {
		t.Errorf("message %q on a no-op pass", msg)
	}
}
