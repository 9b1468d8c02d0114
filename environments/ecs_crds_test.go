package environments_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/allot-dev/allot/renderer"
	"github.com/allot-dev/allot/test/harness"
)

var updateCRDs = flag.Bool("update-crds", false, "rewrite testdata/crds from the upstream CRDs (see upstreamDirs)")

// cp is the package's control plane; it holds the project's trimmed CRDs.
var cp *harness.ControlPlane

func TestMain(m *testing.M) {
	flag.Parse()
	var err error
	if cp, err = harness.Start(harness.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := cp.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop control plane:", err)
	}
	os.Exit(code)
}

// upstreamDirs returns the folders holding the controllers' own CRDs:
// ALLOT_UPSTREAM_CRDS (a path list), else the development fixtures beside
// the repository (../shared/fixtures/upstream-crds and
// ../shared/fixtures/upstream-crds-extra), if they exist. A fresh clone has
// none; the project's tests then rely on testdata/crds alone.
func upstreamDirs(t *testing.T) []string {
	t.Helper()
	if v := os.Getenv("ALLOT_UPSTREAM_CRDS"); v != "" {
		return filepath.SplitList(v)
	}
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, d := range []string{"upstream-crds", "upstream-crds-extra"} {
		p := filepath.Join(root, "..", "shared", "fixtures", d)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			dirs = append(dirs, p)
		}
	}
	return dirs
}

// groupKind is a CRD's Kind.group, as clusterScopedKinds spells it.
func groupKind(crd map[string]any) string {
	names, _ := crd["spec"].(map[string]any)["names"].(map[string]any)
	return fmt.Sprintf("%v.%v", names["kind"], crd["spec"].(map[string]any)["group"])
}

// readCRDs reads every CRD under dirs, keyed by Kind.group, with the file
// it came from. Two controllers may ship the same CRD; the first is kept.
func readCRDs(dirs []string) (map[string]map[string]any, map[string]string, error) {
	crds, files := map[string]map[string]any{}, map[string]string{}
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
				return err
			}
			if _, err := harness.ReadCRDFile(p); err != nil {
				if strings.Contains(err.Error(), "want CustomResourceDefinition") {
					return nil
				}
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			crd := map[string]any{}
			if err := yaml.Unmarshal(data, &crd); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			if gk := groupKind(crd); files[gk] == "" {
				crds[gk], files[gk] = crd, p
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	return crds, files, nil
}

// rendered returns every object the ecs fixtures render, by Kind.group.
func rendered(t *testing.T) map[string][]*unstructured.Unstructured {
	t.Helper()
	out := map[string][]*unstructured.Unstructured{}
	for _, b := range renderECS(t) {
		for _, o := range objects(b) {
			if o.GroupVersionKind().Group == "" {
				continue
			}
			gk := o.GetKind() + "." + o.GroupVersionKind().Group
			out[gk] = append(out[gk], o)
		}
	}
	return out
}

// crdFile is the name of a trimmed CRD in testdata/crds.
func crdFile(crd map[string]any) string {
	return crd["metadata"].(map[string]any)["name"].(string) + ".yaml"
}

// origin says where an upstream CRD comes from, for the trimmed file's header.
func origin(gk string) string {
	switch {
	case strings.HasSuffix(gk, ".ec2.services.k8s.aws"):
		return "aws-controllers-k8s/ec2-controller v1.20.0, helm/crds/"
	case strings.HasSuffix(gk, ".ecs.services.k8s.aws"):
		return "aws-controllers-k8s/ecs-controller v1.2.1, helm/crds/"
	case strings.HasSuffix(gk, ".upbound.io"):
		return "upbound/provider-aws v1.4.0-rc.0, package/crds/"
	}
	return "unknown"
}

// TestECSObjectsApplyStrictly server-side applies every rendered object of
// both providers, with strict field validation, to a control plane holding
// the project's CRDs, and, when they are here, to one holding the
// controllers' own.
func TestECSObjectsApplyStrictly(t *testing.T) {
	bundles := renderECS(t)
	t.Run("project CRDs", func(t *testing.T) {
		paths, err := filepath.Glob(filepath.Join(crdDir, "*.yaml"))
		if err != nil || len(paths) == 0 {
			t.Fatalf("no CRDs in %s (%v)", crdDir, err)
		}
		ctx := testContext(t)
		if err := harness.InstallCRDFiles(ctx, cp.Client, paths...); err != nil {
			t.Fatal(err)
		}
		// As allot's service account with examples/deploy's ClusterRole,
		// which must grant what both providers' stacks need.
		applyAll(ctx, t, asAllot(ctx, t), bundles)
		t.Run("a field the CRD does not declare is refused", func(t *testing.T) {
			svc := find(t, bundles["web-ack"], "Service", "web-ack").DeepCopy()
			nc, _, _ := unstructured.NestedMap(svc.Object, "spec", "networkConfiguration")
			nc["awsvpcConfiguration"] = nc["awsVPCConfiguration"]
			delete(nc, "awsVPCConfiguration")
			_ = unstructured.SetNestedMap(svc.Object, nc, "spec", "networkConfiguration")
			err := apply(ctx, cp.Client, svc)
			if err == nil || !strings.Contains(err.Error(), "awsvpcConfiguration") {
				t.Fatalf("apply with awsvpcConfiguration: %v, want an error that names the field", err)
			}
		})
	})

}

// asAllot applies examples/deploy/allot.yaml to cp and returns a client that
// acts as the service account it deploys allot with.
func asAllot(ctx context.Context, t *testing.T) client.Client {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "examples", "deploy", "allot.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		o := &unstructured.Unstructured{}
		if err := dec.Decode(&o.Object); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("examples/deploy/allot.yaml: %v", err)
		}
		if len(o.Object) == 0 {
			continue
		}
		if err := apply(ctx, cp.Client, o); err != nil {
			t.Fatalf("examples/deploy/allot.yaml: apply %s: %v", renderer.ObjectID(o), err)
		}
	}
	cfg := rest.CopyConfig(cp.Config)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:allot-system:allot",
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:allot-system", "system:authenticated"},
	}
	c, err := client.New(cfg, client.Options{Mapper: cp.Mapper})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// apply server-side applies one object as allot does, refusing fields the
// schema does not declare.
func apply(ctx context.Context, c client.Client, o *unstructured.Unstructured) error {
	data, err := json.Marshal(o.Object)
	if err != nil {
		return err
	}
	return c.Patch(ctx, o.DeepCopy(), client.RawPatch(types.ApplyPatchType, data),
		client.FieldOwner("allot"), client.ForceOwnership, client.FieldValidation("Strict"))
}

// applyAll applies every bundle, Namespaces first, and checks that the API
// server stored every field as it was sent.
func applyAll(ctx context.Context, t *testing.T, c client.Client, bundles map[string]*renderer.Bundle) {
	t.Helper()
	var names []string
	for n := range bundles {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		objs := objects(bundles[n])
		sort.SliceStable(objs, func(i, j int) bool { return objs[i].GetKind() == "Namespace" && objs[j].GetKind() != "Namespace" })
		for _, o := range objs {
			id := renderer.ObjectID(o)
			if err := apply(ctx, c, o); err != nil {
				t.Errorf("%s: apply %s: %v", n, id, err)
				continue
			}
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(o.GroupVersionKind())
			if err := c.Get(ctx, client.ObjectKeyFromObject(o), got); err != nil {
				t.Errorf("%s: get %s: %v", n, id, err)
				continue
			}
			if err := contains(got.Object["spec"], o.Object["spec"], "spec"); err != nil {
				t.Errorf("%s: %s was not stored as applied: %v", n, id, err)
			}
		}
	}
}

// contains reports where want has a field that got lacks or holds
// differently; got may hold more (defaults).
func contains(got, want any, path string) error {
	switch w := want.(type) {
	case nil:
		return nil
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: got %T, want an object", path, got)
		}
		for k, v := range w {
			if err := contains(g[k], v, path+"."+k); err != nil {
				return err
			}
		}
		return nil
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("%s: got %v, want %v", path, got, want)
		}
		var errs []error
		for i := range w {
			errs = append(errs, contains(g[i], w[i], fmt.Sprintf("%s[%d]", path, i)))
		}
		return errors.Join(errs...)
	}
	if !reflect.DeepEqual(normalize(got), normalize(want)) {
		return fmt.Errorf("%s: got %v, want %v", path, got, want)
	}
	return nil
}

// normalize makes numbers comparable whatever decoder produced them.
func normalize(v any) any {
	switch n := v.(type) {
	case int64:
		return float64(n)
	case int:
		return float64(n)
	}
	return v
}
