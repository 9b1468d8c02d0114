package reconciler

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: %d
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
`

func quotaObject(key string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: extra}\nspec: {hard: {%s: \"1\"}}\n", key)
}

// TestPlanRejectsWhatTheAPIServerRefuses: every object a plan would create
// or change goes through a server-side dry run, and one the API server
// refuses is an error naming the object and carrying the server's message,
// whether it exists (a change), is new in an existing namespace, or is new
// in a namespace the pass creates first.
func TestPlanRejectsWhatTheAPIServerRefuses(t *testing.T) {
	f := newFixture(t, "a")
	f.src.write(t, "environments/web/shop.yaml", request("shop", "a", fmt.Sprintf(configAddon, "shop")))
	f.src.write(t, "addons/shop/config.yaml", quotaObject("requests.cpu")+"---\n"+fmt.Sprintf(deployment, 1))
	f.mustPass(t)

	// A key the API server refuses in an object that exists, a negative
	// replica count in one that exists, and a new environment whose
	// namespace does not exist yet, with the same mistakes and a good
	// object.
	f.src.write(t, "addons/shop/config.yaml", quotaObject("request.cpu")+"---\n"+fmt.Sprintf(deployment, -1))
	f.src.write(t, "environments/web/fresh.yaml", request("fresh", "a", fmt.Sprintf(configAddon, "fresh")))
	f.src.write(t, "addons/fresh/config.yaml", quotaObject("request.cpu")+"---\n"+fmt.Sprintf(deployment, -1)+"---\n"+configMap("settings", "v", ""))
	plan, err := f.r.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ env, object, message string }{
		{"shop", "ResourceQuota/shop/extra", "must be a standard resource for quota"},
		{"shop", "Deployment/shop/web", "must be greater than or equal to 0"},
		{"fresh", "ResourceQuota/fresh/extra", "must be a standard resource for quota"},
		{"fresh", "Deployment/fresh/web", "must be greater than or equal to 0"},
	} {
		t.Run(tc.object, func(t *testing.T) {
			e := findEntry(plan, tc.env)
			if e.Action != ActionFailed {
				t.Errorf("%s: %s, want failed", tc.env, e.Action)
			}
			if c := findChange(e, tc.object); c.Action != ChangeRejected || !strings.Contains(c.Error, tc.message) {
				t.Errorf("change = %+v, want rejected with %q", c, tc.message)
			}
			found := false
			for _, msg := range plan.Errors {
				found = found || strings.Contains(msg, tc.object) && strings.Contains(msg, tc.message)
			}
			if !found {
				t.Errorf("no plan error names %s with the server's message; errors:\n%s", tc.object, strings.Join(plan.Errors, "\n"))
			}
		})
	}
	fresh := findEntry(plan, "fresh")
	if c := findChange(fresh, "ConfigMap/fresh/settings"); c.Action != ChangeCreate || c.Error != "" {
		t.Errorf("a good object in a new namespace: %+v, want create", c)
	}
	if c := findChange(fresh, "Namespace/fresh"); c.Action != ChangeCreate {
		t.Errorf("the new namespace: %+v, want create", c)
	}
	// The dry runs in a stand-in namespace wrote nothing there.
	for _, ns := range []string{SystemNamespace, "default"} {
		var q corev1.ResourceQuota
		if f.exists(t, "a", &q, ns, "extra") {
			t.Errorf("the plan left ResourceQuota/%s/extra behind", ns)
		}
	}

	t.Run("a plan that the server accepts has no errors", func(t *testing.T) {
		f.src.write(t, "addons/shop/config.yaml", quotaObject("requests.memory")+"---\n"+fmt.Sprintf(deployment, 2))
		f.src.write(t, "addons/fresh/config.yaml", configMap("settings", "v", ""))
		plan, err := f.r.Plan(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(plan.Errors) > 0 {
			t.Errorf("errors: %v", plan.Errors)
		}
		if c := findChange(findEntry(plan, "shop"), "Deployment/shop/web"); c.Action != ChangeUpdate || !strings.Contains(c.Diff, "-  replicas: 1\n+  replicas: 2\n") {
			t.Errorf("deployment = %+v", c)
		}
	})

	t.Run("what only the stand-in namespace refuses is a note, not an error", func(t *testing.T) {
		for _, ns := range []string{SystemNamespace, "default"} {
			q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "no-deployments", Namespace: ns},
				Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"count/deployments.apps": resource.MustParse("0")}}}
			if err := f.cps["a"].Client.Create(context.Background(), q); err != nil {
				t.Fatal(err)
			}
			// No controller manager runs to count what is used; say it.
			q.Status = corev1.ResourceQuotaStatus{Hard: q.Spec.Hard, Used: corev1.ResourceList{"count/deployments.apps": resource.MustParse("0")}}
			if err := f.cps["a"].Client.Status().Update(context.Background(), q); err != nil {
				t.Fatal(err)
			}
		}
		f.src.write(t, "addons/fresh/config.yaml", fmt.Sprintf(deployment, 1))
		plan, err := f.r.Plan(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		c := findChange(findEntry(plan, "fresh"), "Deployment/fresh/web")
		if c.Action != ChangeCreate || c.Error != "" || !strings.Contains(c.Note, "exceeded quota") {
			t.Errorf("deployment = %+v, want create with a note of the stand-in's quota", c)
		}
		for _, e := range plan.Errors {
			if strings.Contains(e, "fresh") {
				t.Errorf("plan error: %s", e)
			}
		}
	})
}

const widgetCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`

// TestPlanOfKindsTheClusterDoesNotServe: a custom resource whose
// definition the same pass creates cannot be dry run, and says so; one of
// a kind nothing defines is rejected.
func TestPlanOfKindsTheClusterDoesNotServe(t *testing.T) {
	f := newFixture(t, "a")
	f.src.write(t, "allot.yaml", platformYAML+"  policy: {addons: {allowedClusterScopedKinds: [CustomResourceDefinition.apiextensions.k8s.io]}}\n")
	f.src.write(t, "environments/web/shop.yaml", request("shop", "a", fmt.Sprintf(configAddon, "shop")))
	f.src.write(t, "addons/shop/config.yaml", widgetCRD+"---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n---\napiVersion: nothing.example.com/v1\nkind: Gadget\nmetadata: {name: g}\n")
	plan, err := f.r.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e := findEntry(plan, "shop")
	if c := findChange(e, "CustomResourceDefinition/widgets.example.com"); c.Action != ChangeCreate || c.Error != "" {
		t.Errorf("the definition: %+v, want create", c)
	}
	if c := findChange(e, "Widget/shop/w"); c.Action != ChangeCreate || !strings.Contains(c.Note, "CustomResourceDefinition is created by this pass first") {
		t.Errorf("the custom resource of a new definition: %+v, want create with a note", c)
	}
	if c := findChange(e, "Gadget/shop/g"); c.Action != ChangeRejected || !strings.Contains(c.Error, "the cluster does not serve this kind") {
		t.Errorf("a kind nothing defines: %+v, want rejected", c)
	}
}
