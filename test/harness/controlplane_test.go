package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/utils"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var shared *ControlPlane

func TestMain(m *testing.M) {
	var err error
	shared, err = Start(Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := shared.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop control plane:", err)
	}
	os.Exit(code)
}

var nextID atomic.Int64

// namespaceName returns a fresh namespace name per test.
func namespaceName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, nextID.Add(1))
}

func manager(cp *ControlPlane) *ssa.ResourceManager {
	poller := polling.NewStatusPoller(cp.Client, cp.Mapper, polling.Options{})
	return ssa.NewResourceManager(cp.Client, poller, ssa.Owner{Field: "allot", Group: "allot.dev"})
}

// bundle is a small environment: a namespace with a quota and a config map.
func bundle(t *testing.T, ns string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := utils.ReadObjects(strings.NewReader(fmt.Sprintf(`
apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
  labels:
    allot.dev/managed-by: allot
---
apiVersion: v1
kind: ResourceQuota
metadata:
  name: quota
  namespace: %[1]s
spec:
  hard:
    pods: "20"
    requests.cpu: "2"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: %[1]s
data:
  LOG_LEVEL: debug
`, ns)))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func apply(t *testing.T, cp *ControlPlane, objs []*unstructured.Unstructured) *ssa.ChangeSet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs, err := manager(cp).ApplyAllStaged(ctx, objs, ssa.DefaultApplyOptions())
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return cs
}

func actions(cs *ssa.ChangeSet) map[string]ssa.Action {
	out := map[string]ssa.Action{}
	for _, e := range cs.Entries {
		out[e.Subject] = e.Action
	}
	return out
}

func TestServerSideApply(t *testing.T) {
	t.Run("creates objects and reads them back", func(t *testing.T) {
		ns := namespaceName("apply")
		cs := apply(t, shared, bundle(t, ns))
		want := map[string]ssa.Action{
			"Namespace/" + ns:                ssa.CreatedAction,
			"ResourceQuota/" + ns + "/quota": ssa.CreatedAction,
			"ConfigMap/" + ns + "/settings":  ssa.CreatedAction,
		}
		if diff := cmp.Diff(want, actions(cs)); diff != "" {
			t.Fatalf("change set (-want +got):\n%s", diff)
		}
		var cm corev1.ConfigMap
		if err := shared.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "settings"}, &cm); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]string{"LOG_LEVEL": "debug"}, cm.Data); diff != "" {
			t.Errorf("config map data (-want +got):\n%s", diff)
		}
		managers := map[string]bool{}
		for _, f := range cm.ManagedFields {
			managers[f.Manager] = true
		}
		if !managers["allot"] {
			t.Errorf("config map field managers = %v, want allot among them", managers)
		}
		var quota corev1.ResourceQuota
		if err := shared.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "quota"}, &quota); err != nil {
			t.Fatal(err)
		}
		if got := quota.Spec.Hard.Pods().String(); got != "20" {
			t.Errorf("quota pods = %s, want 20", got)
		}
	})

	t.Run("does not change unchanged objects", func(t *testing.T) {
		ns := namespaceName("unchanged")
		apply(t, shared, bundle(t, ns))
		cs := apply(t, shared, bundle(t, ns))
		for subject, action := range actions(cs) {
			if action != ssa.UnchangedAction {
				t.Errorf("%s: %s on the second apply, want unchanged", subject, action)
			}
		}
	})

	t.Run("repairs a changed field", func(t *testing.T) {
		ns := namespaceName("drift")
		apply(t, shared, bundle(t, ns))
		ctx := context.Background()
		var cm corev1.ConfigMap
		if err := shared.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "settings"}, &cm); err != nil {
			t.Fatal(err)
		}
		cm.Data["LOG_LEVEL"] = "error"
		if err := shared.Client.Update(ctx, &cm, client.FieldOwner("kubectl-edit")); err != nil {
			t.Fatal(err)
		}
		cs := apply(t, shared, bundle(t, ns))
		if got := actions(cs)["ConfigMap/"+ns+"/settings"]; got != ssa.ConfiguredAction {
			t.Errorf("config map action = %s, want configured", got)
		}
		if err := shared.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "settings"}, &cm); err != nil {
			t.Fatal(err)
		}
		if cm.Data["LOG_LEVEL"] != "debug" {
			t.Errorf("LOG_LEVEL = %q after the repair, want debug", cm.Data["LOG_LEVEL"])
		}
	})
}

func TestKubectlReadsWhatWasApplied(t *testing.T) {
	dir, err := AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	ns := namespaceName("kubectl")
	apply(t, shared, bundle(t, ns))
	out, err := exec.Command(filepath.Join(dir, "kubectl"), "--kubeconfig", shared.Kubeconfig,
		"get", "configmap", "settings", "-n", ns, "-o", "jsonpath={.data.LOG_LEVEL}").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl: %v\n%s", err, out)
	}
	if string(out) != "debug" {
		t.Errorf("kubectl read %q, want debug", out)
	}
}

func TestSeveralControlPlanesAreIndependent(t *testing.T) {
	cps, err := StartN(2, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, cp := range cps {
			if err := cp.Stop(); err != nil {
				t.Error(err)
			}
		}
	})
	apply(t, cps[0], bundle(t, "only-on-first"))
	ctx := context.Background()
	var ns corev1.Namespace
	if err := cps[0].Client.Get(ctx, client.ObjectKey{Name: "only-on-first"}, &ns); err != nil {
		t.Fatalf("first control plane: %v", err)
	}
	err = cps[1].Client.Get(ctx, client.ObjectKey{Name: "only-on-first"}, &ns)
	if !apierrors.IsNotFound(err) {
		t.Fatalf("second control plane: got %v, want not found", err)
	}
}
