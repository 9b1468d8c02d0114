package renderer

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/allot-dev/allot/environments"
	"github.com/allot-dev/allot/renderer/sources"
	"github.com/allot-dev/allot/schemas/load"
	"github.com/allot-dev/allot/test/harness"

	"github.com/allot-dev/allot/internal/testfs"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// newRenderer loads the requests repository at dir and returns a renderer
// for it with a private chart cache.
func newRenderer(t testing.TB, dir string) *Renderer {
	t.Helper()
	repo, err := load.Load(dir, load.Options{Builtin: environments.Templates()})
	if err != nil {
		t.Fatal(err)
	}
	if len(repo.Problems) > 0 {
		t.Fatalf("loading %s: %v", dir, repo.Problems)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = root.Close() })
	h := &sources.Helm{CacheDir: t.TempDir(), HTTP: offline}
	if err := seedVCluster(h); err != nil {
		t.Fatal(err)
	}
	return &Renderer{Repo: repo, RepoFS: root.FS(), Builtin: environments.Templates(), Helm: h}
}

// vclusterRelease is the real vcluster chart the built-in vcluster
// template names, packaged once for the package's tests.
var vclusterRelease = sync.OnceValues(func() (*vclusterChart, error) {
	vc, err := harness.VClusterRelease()
	if err != nil {
		return nil, err
	}
	archive, err := vc.ChartArchive()
	return &vclusterChart{VCluster: vc, archive: archive}, err
})

type vclusterChart struct {
	*harness.VCluster
	archive []byte
}

// seedVCluster puts the real vcluster chart into h's cache as the chart
// the built-in vcluster template names, so that renders need no network
// (h.HTTP refuses every request).
func seedVCluster(h *sources.Helm) error {
	vc, err := vclusterRelease()
	if err != nil {
		return err
	}
	return h.Seed(sources.Chart{Repository: harness.VClusterChartRepository, Name: "vcluster", Version: vc.Version}, vc.archive)
}

func examplesDir() string { return filepath.Join("..", "examples", "requests") }

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	testfs.Golden(t, filepath.Join("testdata", "golden", name), got, *update)
}

func encode(t testing.TB, b *Bundle) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteBundle(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func renderOne(t *testing.T, r *Renderer, env string) *Bundle {
	t.Helper()
	targets, errs := r.Targets()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, tg := range targets {
		if tg.Env.Environment.Metadata.Name == env {
			b, err := r.Render(context.Background(), tg)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("no target for %s", env)
	return nil
}

// TestExamplesMatchGoldenFiles renders every example request: each type
// (namespace, vcluster with import, ecs) and each source kind (a local Helm
// chart with hooks, a Kustomize overlay with both kinds of patch, plain
// manifests), with the per-cluster overrides of allot.yaml.
func TestExamplesMatchGoldenFiles(t *testing.T) {
	r := newRenderer(t, examplesDir())
	targets, errs := r.Targets()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, res := range r.RenderAll(context.Background(), targets) {
		name := res.Target.Cluster.Name + "_" + res.Target.Env.Environment.Metadata.Name + ".yaml"
		t.Run(name, func(t *testing.T) {
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			golden(t, name, encode(t, res.Bundle))
		})
	}
}

func TestBundleContents(t *testing.T) {
	r := newRenderer(t, examplesDir())

	t.Run("every object carries allot's labels", func(t *testing.T) {
		b := renderOne(t, r, "checkout-dev")
		for _, p := range Phases() {
			for _, o := range b.Objects[p] {
				l := findObject(b, o.GetKind(), o.GetName()).GetLabels()
				if l[LabelEnvironment] != "checkout-dev" || l[LabelManagedBy] != ManagedByValue {
					t.Errorf("%s labels %v", ObjectID(o), l)
				}
			}
		}
	})
	t.Run("a vcluster is imported through its kubeconfig Secret", func(t *testing.T) {
		b := renderOne(t, r, "ledger-vc")
		if b.Import == nil {
			t.Fatal("no import")
		}
		got := fmt.Sprintf("%s/%s#%s %s %d", b.Import.SecretNamespace, b.Import.SecretName, b.Import.SecretKey, b.Import.Server, b.Import.Bundle.Count())
		if want := "ledger-vc/vc-ledger-vc#config https://ledger-vc.ledger-vc:443 1"; got != want {
			t.Errorf("import = %s, want %s", got, want)
		}
	})
	t.Run("the IdP group holds owner and members", func(t *testing.T) {
		b := renderOne(t, r, "search-sandbox")
		want := []Group{{Name: "allot-search-sandbox", Members: []string{"li.wei@acme.example", "omar.haddad@acme.example", "sam.ortiz@acme.example"}}}
		if diff := cmp.Diff(want, b.Groups); diff != "" {
			t.Errorf("groups (-want +got):\n%s", diff)
		}
	})
	t.Run("the cluster's overrides are applied and change the digest", func(t *testing.T) {
		b := renderOne(t, r, "relevance-vc")
		var found bool
		for _, o := range b.Objects[PhaseInstall] {
			if o.GetKind() == "ResourceQuota" {
				hard, _, _ := unstructured.NestedString(findObject(b, o.GetKind(), o.GetName()).Object, "spec", "hard", "services.loadbalancers")
				found = hard == "0"
			}
		}
		if !found {
			t.Error("the dev-us-1 override did not set services.loadbalancers on the quota")
		}
		r.Repo.Platform.Platform.Spec.Clusters[1].Overrides = nil
		defer func() { r.Repo = newRenderer(t, examplesDir()).Repo }()
		if again := renderOne(t, r, "relevance-vc"); again.Digest == b.Digest {
			t.Error("the digest did not change without the override")
		}
	})
}

func TestVariants(t *testing.T) {
	t.Run("ecs through Crossplane", func(t *testing.T) {
		r := newRenderer(t, examplesDir())
		r.Repo.Templates["ecs"].Template.Spec.Options["provider"] = "crossplane"
		b := renderOne(t, r, "payments-ecs")
		golden(t, "variant_payments-ecs-crossplane.yaml", encode(t, b))
	})
	t.Run("namespace with locally managed users", func(t *testing.T) {
		r := newRenderer(t, examplesDir())
		r.Repo.Platform.Platform.Spec.IdentityProvider = nil
		b := renderOne(t, r, "search-sandbox")
		if len(b.Groups) != 0 {
			t.Errorf("groups %v with provider none", b.Groups)
		}
		golden(t, "variant_search-sandbox-local-users.yaml", encode(t, b))
	})
}

// TestRenderingIsDeterministic renders every example twice, in different
// orders and with different concurrency, and wants the same bytes and digests.
func TestRenderingIsDeterministic(t *testing.T) {
	render := func(concurrency int, shuffle bool) map[string]string {
		r := newRenderer(t, examplesDir())
		r.Concurrency = concurrency
		targets, errs := r.Targets()
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		if shuffle {
			rand.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
		}
		out := map[string]string{}
		for _, res := range r.RenderAll(context.Background(), targets) {
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			out[res.Bundle.Cluster+"/"+res.Bundle.Environment] = res.Bundle.Digest + "\n" + string(encode(t, res.Bundle))
		}
		return out
	}
	first := render(1, false)
	second := render(8, true)
	if len(first) != 6 {
		t.Fatalf("rendered %d bundles, want 6", len(first))
	}
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("renders differ (-first +second):\n%s", diff)
	}
}

// TestTenancy renders hostile add-ons from testdata/hostile: each must be
// refused with the request's file, the add-on and the object in the message.
func TestTenancy(t *testing.T) {
	r := newRenderer(t, filepath.Join("testdata", "hostile"))
	for _, tc := range []struct{ env, want string }{
		{"cluster-admin", `environments/web/cluster-admin.yaml: add-on "payload": ClusterRoleBinding/take-over: not allowed for an environment: it is a ClusterRoleBinding`},
		{"other-namespace", `environments/web/other-namespace.yaml: add-on "payload": ConfigMap/kube-system/coredns: not allowed for an environment: it is in namespace kube-system`},
		{"webhook", `environments/web/webhook.yaml: add-on "payload": ValidatingWebhookConfiguration/spy: not allowed for an environment: it is an admission webhook`},
		{"crd", `environments/web/crd.yaml: add-on "payload": CustomResourceDefinition/widgets.acme.example: not allowed for an environment: it is a CustomResourceDefinition`},
		{"role-escalation", `environments/web/role-escalation.yaml: add-on "payload": RoleBinding/role-escalation/escalate: not allowed for an environment: it binds ClusterRole cluster-admin, but the template allows only admin, edit, view`},
		{"foreign-namespace", `environments/web/foreign-namespace.yaml: add-on "payload": Namespace/payments-prod: not allowed for an environment: an environment may create only its own namespace, foreign-namespace`},
		{"bad-phase", `environments/web/bad-phase.yaml: add-on "payload": ConfigMap/bad-phase/early: annotation allot.dev/phase: "first" is not a phase`},
		{"duplicate", `environments/web/duplicate.yaml: add-on "payload": RoleBinding/duplicate/environment-admin: is rendered twice, also by template namespace, source "baseline"`},
	} {
		t.Run(tc.env, func(t *testing.T) {
			targets, _ := r.Targets()
			for _, tg := range targets {
				if tg.Env.Environment.Metadata.Name != tc.env {
					continue
				}
				_, err := r.Render(context.Background(), tg)
				if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
					t.Fatalf("err = %v\nwant it to start with %s", err, tc.want)
				}
				var re *Error
				if !errors.As(err, &re) || re.Addon != "payload" {
					t.Errorf("err is not a renderer.Error naming the add-on: %#v", err)
				}
				return
			}
			t.Fatalf("no target %s", tc.env)
		})
	}

	t.Run("the policy can allow a cluster-scoped kind", func(t *testing.T) {
		r := newRenderer(t, filepath.Join("testdata", "hostile"))
		r.Repo.Platform.Platform.Spec.Policy.Addons.AllowedClusterScopedKinds = []string{"CustomResourceDefinition.apiextensions.k8s.io"}
		b := renderOne(t, r, "crd")
		var found bool
		for _, o := range b.Objects[PhaseInstall] {
			found = found || (o.GetKind() == "CustomResourceDefinition" && o.GetNamespace() == "")
		}
		if !found {
			t.Error("the allowed CRD is not in the bundle")
		}
	})
}
