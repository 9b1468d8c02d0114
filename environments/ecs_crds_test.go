package environments_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
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

	"github.com/allot-dev/allot/renderer"
	"github.com/allot-dev/allot/test/harness"
)

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
