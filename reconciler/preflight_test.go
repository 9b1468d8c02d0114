package reconciler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/allot-dev/allot/test/harness"
)

func TestExistingNamespaceIsNotTakenOver(t *testing.T) {
	f := newFixture(t, "a")
	ctx := context.Background()
	existing := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "cert-manager", Labels: map[string]string{"app": "cert-manager"}}}
	if err := f.cps["a"].Client.Create(ctx, existing); err != nil {
		t.Fatal(err)
	}
	f.src.write(t, "environments/web/cert-manager.yaml", request("cert-manager", "a", ""))
	f.src.write(t, "environments/web/shop.yaml", request("shop", "a", ""))

	t.Run("plan reports the conflict", func(t *testing.T) {
		plan, err := f.r.Plan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var entry PlanEntry
		for _, e := range plan.Entries {
			if e.Environment == "cert-manager" {
				entry = e
			}
		}
		if entry.Action != ActionFailed || !strings.Contains(entry.Message, "Namespace/cert-manager exists and was not created by allot") {
			t.Errorf("plan entry %+v, want failed with the conflict", entry)
		}
		if !strings.Contains(strings.Join(plan.Errors, "\n"), "environment cert-manager") {
			t.Errorf("plan errors %q do not name the conflict", plan.Errors)
		}
	})
	t.Run("reconcile refuses it and changes nothing", func(t *testing.T) {
		res := f.pass(t)
		e := result(res, "a", "cert-manager")
		if e.Action != ActionFailed || !errors.Is(e.Err, ErrConflict) || !strings.Contains(e.Err.Error(), "Namespace/cert-manager") {
			t.Fatalf("action %s err %v, want a conflict\n%s", e.Action, e.Err, describe(res))
		}
		if action(res, "a", "shop") != ActionCreated {
			t.Errorf("the other environment was not created\n%s", describe(res))
		}
		var ns corev1.Namespace
		if err := f.get(t, "a", &ns, "", "cert-manager"); err != nil {
			t.Fatal(err)
		}
		if _, labelled := ns.Labels["allot.dev/managed-by"]; labelled || ns.Labels["app"] != "cert-manager" {
			t.Errorf("the namespace was changed: labels %v", ns.Labels)
		}
		var quota corev1.ResourceQuota
		if f.exists(t, "a", &quota, "cert-manager", "quota") {
			t.Error("a quota was created in the namespace allot does not own")
		}
		var record corev1.ConfigMap
		if f.exists(t, "a", &record, SystemNamespace, "cert-manager") {
			t.Error("a record was written for the refused environment")
		}
	})
	t.Run("an object of another environment is a conflict too", func(t *testing.T) {
		f.src.remove(t, "environments/web/cert-manager.yaml")
		f.src.write(t, "environments/web/shop.yaml", request("shop", "a", "  addons:\n    - name: config\n      manifests: {path: addons/shop}\n"))
		f.src.write(t, "addons/shop/config.yaml", configMap("settings", "v", ""))
		f.mustPass(t)
		// An object labelled for another environment, read as if the
		// environment had no record yet.
		var cm corev1.ConfigMap
		if err := f.get(t, "a", &cm, "shop", "settings"); err != nil {
			t.Fatal(err)
		}
		cm.Labels["allot.dev/environment"] = "other"
		if err := f.cps["a"].Client.Update(ctx, &cm); err != nil {
			t.Fatal(err)
		}
		cl, err := f.r.ClusterFor(ctx, f.r.Platform().Clusters[0])
		if err != nil {
			t.Fatal(err)
		}
		state, err := f.r.prepare(ctx, &Kept{})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range state.byCluster["a"] {
			if b.Environment != "shop" {
				continue
			}
			found, err := conflicts(ctx, cl, b, nil)
			if err != nil || len(found) != 1 || !strings.Contains(strings.Join(found, "\n"), `ConfigMap/shop/settings belongs to environment "other"`) {
				t.Errorf("conflicts %q %v, want only the config map", found, err)
			}
		}
	})
}

func TestClusterScopedKindUnknownToTheRendererIsRefused(t *testing.T) {
	f := newFixture(t, "a")
	ctx := context.Background()
	issuer := schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "ClusterIssuer"}
	if err := harness.InstallCRDs(ctx, f.cps["a"].Client, false, issuer); err != nil {
		t.Fatal(err)
	}
	f.src.write(t, "environments/web/shop.yaml", request("shop", "a", fmt.Sprintf(configAddon, "shop")))
	f.src.write(t, "addons/shop/issuer.yaml", "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: everyone}\nspec: {selfSigned: {}}\n")

	plan, err := f.r.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Entries) != 1 || plan.Entries[0].Action != ActionFailed || !strings.Contains(plan.Entries[0].Message, "ClusterIssuer/shop/everyone is cluster-scoped on cluster a") {
		t.Errorf("plan %+v, want the cluster-scoped kind refused", plan.Entries)
	}
	res := f.pass(t)
	e := result(res, "a", "shop")
	if e.Action != ActionFailed || !errors.Is(e.Err, ErrScope) || !strings.Contains(e.Err.Error(), "ClusterIssuer.cert-manager.io") {
		t.Fatalf("action %s err %v, want the scope refused\n%s", e.Action, e.Err, describe(res))
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(issuer)
	if err := f.get(t, "a", u, "", "everyone"); !apierrors.IsNotFound(err) {
		t.Errorf("the ClusterIssuer was created cluster-wide (err %v)", err)
	}
}
