package renderer

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/allot-dev/allot/schemas"
	"github.com/allot-dev/allot/test/harness"
)

// offline is an HTTP client that fails every request, so a test that
// renders a remote chart proves the chart came from the seeded cache.
var offline = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
	return nil, fmt.Errorf("the test is offline: %s", r.URL)
})}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// vclusterRenderer loads a repository holding the example's allot.yaml and
// ledger-vc request (plus files), whose vcluster type is the built-in one,
// with the real vcluster chart the template names seeded into its chart
// cache from the Go module test/tools/vcluster pins.
func vclusterRenderer(t *testing.T, files map[string]string) (*Renderer, *harness.VCluster) {
	t.Helper()
	for _, rel := range []string{"allot.yaml", "environments/payments/ledger-vc.yaml"} {
		data, err := os.ReadFile(filepath.Join(examplesDir(), rel))
		if err != nil {
			t.Fatal(err)
		}
		if _, set := files[rel]; !set {
			files[rel] = string(data)
		}
	}
	r := newRenderer(t, writeRepo(t, files))
	vc, err := vclusterRelease()
	if err != nil {
		t.Fatal(err)
	}
	var chart *schemas.HelmSource
	for _, s := range r.Repo.Templates["vcluster"].Template.Spec.Sources {
		if s.Name == "vcluster" {
			chart = s.Helm
		}
	}
	if chart == nil || chart.Repository != harness.VClusterChartRepository || chart.Chart != "vcluster" {
		t.Fatalf("the vcluster template has no vcluster chart source from %s", harness.VClusterChartRepository)
	}
	if chart.Version != vc.Version {
		t.Fatalf("the vcluster template pins chart %s, but test/tools/vcluster/go.mod pins github.com/loft-sh/vcluster v%s; move both together", chart.Version, vc.Version)
	}
	return r, vc.VCluster
}

func findObject(b *Bundle, kind, name string) *unstructured.Unstructured {
	for _, p := range Phases() {
		for _, o := range b.Objects[p] {
			if o.GetKind() == kind && o.GetName() == name {
				u, err := o.Decode()
				if err != nil {
					panic(err) // a bundle's objects are JSON it wrote
				}
				return u
			}
		}
	}
	return nil
}

// TestBuiltinVclusterTemplate renders the built-in vcluster template with
// the real vcluster chart, offline, and checks what the chart stores with
// vcluster's own config parser.
func TestBuiltinVclusterTemplate(t *testing.T) {
	r, vc := vclusterRenderer(t, map[string]string{})
	if !r.Repo.Templates["vcluster"].Builtin {
		t.Fatal("the built-in vcluster template is not in use")
	}
	// Its output is the example's golden file dev-us-1_ledger-vc.yaml.
	b := renderOne(t, r, "ledger-vc")

	secret := findObject(b, "Secret", "vc-config-ledger-vc")
	if secret == nil {
		t.Fatal("the chart's config Secret vc-config-ledger-vc is not in the bundle")
	}
	data, err := yaml.Marshal(secret.Object)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("vcluster's config parser accepts the stored config", func(t *testing.T) {
		if err := vc.CheckConfig(data); err != nil {
			t.Fatalf("vcluster refuses the config the chart stores: %v", err)
		}
	})
	t.Run("the checker refuses what the syncer would refuse", func(t *testing.T) {
		err := vc.CheckConfig([]byte("allot: {owner: dana.kim@acme.example}\n"))
		if err == nil || !strings.Contains(err.Error(), `unknown field "allot"`) {
			t.Fatalf("err = %v, want vcluster's unknown field error", err)
		}
	})
	stored, err := storedConfig(secret)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("no owner or member address is stored", func(t *testing.T) {
		if strings.Contains(stored, "acme.example") || strings.Contains(stored, "allot") {
			t.Errorf("the config Secret holds the environment's context:\n%s", stored)
		}
	})
	t.Run("the stored config holds allot's values", func(t *testing.T) {
		var cfg map[string]any
		if err := yaml.Unmarshal([]byte(stored), &cfg); err != nil {
			t.Fatal(err)
		}
		for path, want := range map[string]any{
			"exportKubeConfig.server":                 "https://ledger-vc.ledger-vc:443",
			"telemetry.enabled":                       false,
			"policies.resourceQuota.enabled":          false,
			"policies.limitRange.enabled":             false,
			"policies.networkPolicy.enabled":          false,
			"controlPlane.distro.k8s.image.tag":       "v1.33.4",
			"controlPlane.proxy.extraSANs":            []any{"ledger-vc.ledger-vc.svc"},
			"controlPlane.statefulSet.image.registry": "ghcr.io",
		} {
			got, _, _ := unstructured.NestedFieldNoCopy(cfg, strings.Split(path, ".")...)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s = %v, want %v", path, got, want)
			}
		}
	})
	t.Run("the requested Kubernetes version reaches the control plane image", func(t *testing.T) {
		sts := findObject(b, "StatefulSet", "ledger-vc")
		if sts == nil {
			t.Fatal("no StatefulSet ledger-vc")
		}
		out, _ := yaml.Marshal(sts.Object)
		for _, want := range []string{"ghcr.io/loft-sh/kubernetes:v1.33.4", "ghcr.io/loft-sh/vcluster-pro:" + vc.Version} {
			if !strings.Contains(string(out), want) {
				t.Errorf("the StatefulSet does not run %s", want)
			}
		}
	})
	t.Run("quota, limit range and network policies are allot's baseline", func(t *testing.T) {
		var got []string
		for _, o := range b.Objects[PhaseInstall] {
			switch o.GetKind() {
			case "ResourceQuota", "LimitRange", "NetworkPolicy":
				got = append(got, o.GetKind()+"/"+o.GetName())
			}
		}
		want := "NetworkPolicy/default-deny-all NetworkPolicy/vcluster-control-plane-egress NetworkPolicy/vcluster-control-plane-ingress NetworkPolicy/vcluster-workloads-to-api-server ResourceQuota/quota LimitRange/limits"
		if strings.Join(got, " ") != want {
			t.Errorf("got %s\nwant %s", strings.Join(got, " "), want)
		}
	})
	t.Run("the import reads the Secret the chart's syncer writes", func(t *testing.T) {
		if b.Import == nil || b.Import.SecretName != "vc-ledger-vc" || b.Import.SecretKey != "config" || b.Import.Server != "https://ledger-vc.ledger-vc:443" {
			t.Fatalf("import = %+v", b.Import)
		}
		sts := findObject(b, "StatefulSet", "ledger-vc")
		out, _ := yaml.Marshal(sts.Object)
		// The syncer writes its kubeconfig to vc-<release> in its namespace
		// unless exportKubeConfig.secret names another.
		if !strings.Contains(string(out), "vc-config-ledger-vc") {
			t.Error("the StatefulSet does not mount the config Secret")
		}
	})
	t.Run("the same inputs give the same digest", func(t *testing.T) {
		if again := renderOne(t, r, "ledger-vc"); again.Digest != b.Digest {
			t.Errorf("digest changed between renders: %s, then %s", b.Digest, again.Digest)
		}
	})
}

// storedConfig decodes the config.yaml of the chart's config Secret.
func storedConfig(secret *unstructured.Unstructured) (string, error) {
	enc, _, _ := unstructured.NestedString(secret.Object, "data", "config.yaml")
	if enc == "" {
		return "", errors.New("the config Secret has no data.config.yaml")
	}
	out, err := base64.StdEncoding.DecodeString(enc)
	return string(out), err
}

// TestVclusterClusterScopedRBAC shows how a platform allows the chart's own
// ClusterRole and ClusterRoleBinding, which options such as node sync need:
// refused by the built-in template with a message that says how, allowed by
// a template that lists exactly the chart's names, and only those.
func TestVclusterClusterScopedRBAC(t *testing.T) {
	nodeSync := "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: ledger-vc}\nspec:\n  type: vcluster\n  owner: dana.kim@acme.example\n  team: payments\n  cluster: dev-us-1\n  values: {chartValues: {sync: {fromHost: {nodes: {enabled: true}}}}}\n"
	t.Run("refused by default, with the way to allow it", func(t *testing.T) {
		r, _ := vclusterRenderer(t, map[string]string{"environments/payments/ledger-vc.yaml": nodeSync})
		targets, errs := r.Targets()
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		_, err := r.Render(context.Background(), targets[0])
		want := "ClusterRole/vc-ledger-vc-v-ledger-vc: not allowed for an environment: it is a cluster-scoped object; to allow this one object, the template must list ClusterRole.rbac.authorization.k8s.io/vc-$(name)-v-$(name) in clusterScopedObjects"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("err = %v\nwant it to contain %s", err, want)
		}
	})
	t.Run("allowed by name in a template override", func(t *testing.T) {
		builtin, err := os.ReadFile(filepath.Join("..", "environments", "vcluster", "template.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		override := strings.Replace(string(builtin), "  sources:\n", "  clusterScopedObjects:\n    - ClusterRole.rbac.authorization.k8s.io/vc-$(name)-v-$(namespace)\n    - ClusterRoleBinding.rbac.authorization.k8s.io/vc-$(name)-v-$(namespace)\n  sources:\n", 1)
		files := map[string]string{"environments/payments/ledger-vc.yaml": nodeSync, "templates/vcluster/template.yaml": override}
		for _, rel := range []string{"inside/Chart.yaml", "inside/templates/access.yaml", "network/Chart.yaml", "network/templates/networkpolicies.yaml"} {
			data, err := os.ReadFile(filepath.Join("..", "environments", "vcluster", rel))
			if err != nil {
				t.Fatal(err)
			}
			files["templates/vcluster/"+rel] = string(data)
		}
		r, _ := vclusterRenderer(t, files)
		if r.Repo.Templates["vcluster"].Builtin {
			t.Fatal("the override is not in use")
		}
		b := renderOne(t, r, "ledger-vc")
		role := findObject(b, "ClusterRole", "vc-ledger-vc-v-ledger-vc")
		binding := findObject(b, "ClusterRoleBinding", "vc-ledger-vc-v-ledger-vc")
		if role == nil || binding == nil || role.GetNamespace() != "" {
			t.Fatalf("the chart's ClusterRole and ClusterRoleBinding are not in the bundle (%v, %v)", role, binding)
		}
		rules := fmt.Sprint(role.Object["rules"])
		if !strings.Contains(rules, "nodes") {
			t.Errorf("the ClusterRole does not grant node access: %s", rules)
		}

		t.Run("but no other cluster-scoped object", func(t *testing.T) {
			r.Repo.Templates["vcluster"].Template.Spec.ClusterScopedObjects = []string{"ClusterRole.rbac.authorization.k8s.io/vc-$(name)-v-$(namespace)"}
			targets, _ := r.Targets()
			_, err := r.Render(context.Background(), targets[0])
			if err == nil || !strings.Contains(err.Error(), "ClusterRoleBinding/vc-ledger-vc-v-ledger-vc: not allowed") {
				t.Fatalf("err = %v, want the ClusterRoleBinding refused", err)
			}
		})
	})
}

func TestParameterValues(t *testing.T) {
	r, _ := vclusterRenderer(t, map[string]string{})
	r.Repo.Environments[0].Environment.Spec.Values["kubernetesVersion"] = "1.29"
	targets, _ := r.Targets()
	_, err := r.Render(context.Background(), targets[0])
	if err == nil || !strings.Contains(err.Error(), `spec.values.kubernetesVersion is "1.29", which the template does not know; use one of 1.30, 1.31, 1.32, 1.33, 1.34, 1.35, 1.36`) {
		t.Fatalf("err = %v", err)
	}
	delete(r.Repo.Environments[0].Environment.Spec.Values, "kubernetesVersion")
	b := renderOne(t, r, "ledger-vc")
	stored, err := storedConfig(findObject(b, "Secret", "vc-config-ledger-vc"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stored, "tag: v1.36.0") {
		t.Error("without kubernetesVersion the chart's default distro tag v1.36.0 is not kept")
	}
}

// TestVclusterNetworkPolicyOptions: where allot runs and where the API
// server is come from the template's options.
func TestVclusterNetworkPolicyOptions(t *testing.T) {
	r, _ := vclusterRenderer(t, map[string]string{})
	opts := r.Repo.Templates["vcluster"].Template.Spec.Options
	opts["allotPeers"] = []any{map[string]any{"ipBlock": map[string]any{"cidr": "10.1.2.0/24"}}}
	opts["apiServer"] = map[string]any{"ports": []any{8443}, "to": []any{map[string]any{"ipBlock": map[string]any{"cidr": "192.0.2.10/32"}}}}
	b := renderOne(t, r, "ledger-vc")
	ingress, _ := yaml.Marshal(findObject(b, "NetworkPolicy", "vcluster-control-plane-ingress").Object["spec"])
	if !strings.Contains(string(ingress), "cidr: 10.1.2.0/24") || strings.Contains(string(ingress), "allot-system") {
		t.Errorf("ingress does not come from options.allotPeers:\n%s", ingress)
	}
	egress, _ := yaml.Marshal(findObject(b, "NetworkPolicy", "vcluster-control-plane-egress").Object["spec"])
	if !strings.Contains(string(egress), "cidr: 192.0.2.10/32") || !strings.Contains(string(egress), "port: 8443") || strings.Contains(string(egress), "port: 6443") {
		t.Errorf("egress does not follow options.apiServer:\n%s", egress)
	}
}
