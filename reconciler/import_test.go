package reconciler

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
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
	// Until it is imported, what goes inside is not applied: the
	// environment is not ready, whatever its host objects say.
	readyData := func() string {
		var rec corev1.ConfigMap
		if err := f.get(t, "a", &rec, SystemNamespace, "team-vc"); err != nil {
			t.Fatal(err)
		}
		return rec.Data["ready"]
	}
	if got := result(res, "a", "team-vc"); got.Ready || readyData() != "False" {
		t.Fatalf("ready before the import: result %v, record %q", got.Ready, readyData())
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
	if got := result(res, "a", "team-vc"); !got.Ready || readyData() != "True" {
		t.Errorf("not ready after the import: result %v, record %q", got.Ready, readyData())
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

// TestImportRefusesKubeconfigThatRunsCode writes, as the tenant could (it is
// admin of its namespace), an import Secret whose kubeconfig runs a program
// through an exec plugin. allot must refuse it, name the Secret, and never
// run the program.
func TestImportRefusesKubeconfigThatRunsCode(t *testing.T) {
	f := newFixture(t, "a")
	f.src.write(t, "templates/vc/template.yaml", vclusterTemplate)
	f.src.write(t, "templates/vc/inside/access.yaml", insideAccess)
	f.src.write(t, "environments/web/team-vc.yaml", "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: team-vc}\nspec: {type: vc, owner: dev@example.com, team: web, cluster: a}\n")
	f.mustPass(t)

	marker := filepath.Join(t.TempDir(), "exec-ran")
	kubeconfig := `apiVersion: v1
kind: Config
clusters: [{name: vc, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: vc, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: ["-c", "touch ` + marker + `"], interactiveMode: Never}}}]
contexts: [{name: vc, context: {cluster: vc, user: vc}}]
current-context: vc
`
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "vc-team-vc", Namespace: "team-vc"}, Data: map[string][]byte{"config": []byte(kubeconfig)}}
	if err := f.cps["a"].Client.Create(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	res := f.r.Pass(context.Background())
	got := result(res, "a", "team-vc")
	if got.Err == nil || !strings.Contains(got.Err.Error(), "exec plugin") || !strings.Contains(got.Err.Error(), "team-vc/vc-team-vc") {
		t.Errorf("error %v; want the exec plugin refused, naming the Secret\n%s", got.Err, describe(res))
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the tenant's exec plugin ran inside allot")
	}
	// Issue 15: the failed import reaches the host record, which status
	// reads, not only the pass's result.
	var record corev1.ConfigMap
	if err := f.get(t, "a", &record, SystemNamespace, "team-vc"); err != nil {
		t.Fatal(err)
	}
	if raw := record.Data["record.json"]; !strings.Contains(raw, `"type":"Ready","status":"False"`) || !strings.Contains(raw, `"reason":"ImportFailed"`) {
		t.Errorf("the host record does not say the import failed:\n%s", raw)
	}
}

func TestInlineOnly(t *testing.T) {
	for _, tc := range []struct {
		name, user, cluster, want string
	}{
		{"accepts inline credentials", "{token: abc, client-certificate-data: Zm9v, client-key-data: YmFy}", "{server: https://x, certificate-authority-data: Zm9v}", ""},
		{"refuses an exec plugin", "{exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/true}}", "{server: https://x}", "exec plugin"},
		{"refuses an auth provider", "{auth-provider: {name: oidc}}", "{server: https://x}", "auth-provider plugin"},
		{"refuses a token file", "{tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token}", "{server: https://x}", "token file"},
		{"refuses a client certificate file", "{client-certificate: /etc/allot/tls.crt}", "{server: https://x}", "client certificate file"},
		{"refuses a client key file", "{client-key: /etc/allot/tls.key}", "{server: https://x}", "client key file"},
		{"refuses a CA file", "{token: abc}", "{server: https://x, certificate-authority: /etc/ssl/ca.pem}", "certificate-authority file"},
		{"refuses a proxy", "{token: abc}", "{server: https://x, proxy-url: http://127.0.0.1:9}", "proxy-url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: " + tc.cluster + "}]\nusers: [{name: u, user: " + tc.user + "}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
			_, err := untrustedKubeconfig("vc", "kubeconfig Secret ns/vc-x key config", []byte(data), "")
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrUnsafeKubeconfig) || !strings.Contains(err.Error(), "ns/vc-x")):
				t.Fatalf("error %v; want one about %q naming the Secret", err, tc.want)
			}
		})
	}
}
