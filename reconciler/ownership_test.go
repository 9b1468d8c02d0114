package reconciler

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const limitedPlatformYAML = platformYAML + `    limited:
      quota: {pods: 10, requests.cpu: "2"}
      limitRange:
        default: {cpu: 500m}
`

// forceApply server-side applies obj as manager, taking fields from allot.
func (f *fixture) forceApply(t *testing.T, manager string, obj map[string]any) {
	t.Helper()
	u := &unstructured.Unstructured{Object: obj}
	if err := f.cps["a"].Client.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(u), client.ForceOwnership, client.FieldOwner(manager)); err != nil {
		t.Fatalf("apply as %s: %v", manager, err)
	}
}

// update reads obj, changes it with edit and writes it back as kubectl
// edit does (an update, not an apply).
func (f *fixture) update(t *testing.T, obj client.Object, ns, name string, edit func()) {
	t.Helper()
	if err := f.get(t, "a", obj, ns, name); err != nil {
		t.Fatal(err)
	}
	edit()
	if err := f.cps["a"].Client.Update(context.Background(), obj, client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
}

// handEdit is a change made by hand while allot is not running, and how
// to tell whether it is still there.
type handEdit struct {
	name string
	edit func(t *testing.T)
	// check says what is wrong while the edit stands, "" once repaired.
	check func(t *testing.T) string
}

// repairs makes each edit, checks that it took, runs a pass, checks that
// the pass undid it, and then runs after; repaired checks the pass itself.
func (f *fixture) repairs(t *testing.T, edits []handEdit, repaired func(*testing.T, *PassResult), after func(*testing.T)) {
	t.Helper()
	for _, e := range edits {
		t.Run(e.name, func(t *testing.T) {
			e.edit(t)
			if e.check(t) == "" {
				t.Fatal("the edit did not take: the test proves nothing")
			}
			res := f.mustPass(t)
			repaired(t, res)
			if msg := e.check(t); msg != "" {
				t.Errorf("not repaired: %s\n%s", msg, describe(res))
			}
			after(t)
		})
	}
}

// Issue 16: fields allot never sets are drift on the objects it owns whole,
// and a pass removes them, however they were added.
func TestFieldsAddedToTheBaselineAreRemoved(t *testing.T) {
	f := newFixture(t, "a")
	f.src.write(t, "allot.yaml", limitedPlatformYAML)
	f.src.write(t, "environments/web/shop.yaml", request("shop", "a", "  size: limited\n"+fmt.Sprintf(configAddon, "shop")))
	f.src.write(t, "addons/shop/config.yaml", configMap("settings", "one", ""))
	f.mustPass(t)

	// Each edit is made while allot is not running; the next pass, with no
	// drift watch, must undo it.
	edits := []handEdit{{
		name: "deny-all made allow-all by a forced apply",
		edit: func(t *testing.T) {
			f.forceApply(t, "admin", map[string]any{
				"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
				"metadata": map[string]any{"name": "default-deny-all", "namespace": "shop"},
				"spec":     map[string]any{"ingress": []any{map[string]any{}}, "egress": []any{map[string]any{}}},
			})
		},
		check: func(t *testing.T) string {
			var np networkingv1.NetworkPolicy
			if err := f.get(t, "a", &np, "shop", "default-deny-all"); err != nil {
				t.Fatal(err)
			}
			if len(np.Spec.Ingress)+len(np.Spec.Egress) > 0 || len(np.Spec.PolicyTypes) != 2 {
				return fmt.Sprintf("policy spec %+v, want deny-all", np.Spec)
			}
			return ""
		},
	}, {
		name: "deny-all narrowed to some pods by kubectl edit",
		edit: func(t *testing.T) {
			var np networkingv1.NetworkPolicy
			f.update(t, &np, "shop", "default-deny-all", func() {
				np.Spec.PodSelector.MatchLabels = map[string]string{"app": "none"}
				np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{}}
			})
		},
		check: func(t *testing.T) string {
			var np networkingv1.NetworkPolicy
			if err := f.get(t, "a", &np, "shop", "default-deny-all"); err != nil {
				t.Fatal(err)
			}
			if len(np.Spec.PodSelector.MatchLabels) > 0 || len(np.Spec.Ingress) > 0 {
				return fmt.Sprintf("policy spec %+v, want deny-all on every pod", np.Spec)
			}
			return ""
		},
	}, {
		name: "a key added to the quota",
		edit: func(t *testing.T) {
			var q corev1.ResourceQuota
			f.update(t, &q, "shop", "quota", func() {
				q.Spec.Hard[corev1.ResourceLimitsCPU] = resource.MustParse("1000")
			})
		},
		check: func(t *testing.T) string {
			var q corev1.ResourceQuota
			if err := f.get(t, "a", &q, "shop", "quota"); err != nil {
				t.Fatal(err)
			}
			if _, ok := q.Spec.Hard[corev1.ResourceLimitsCPU]; ok || q.Spec.Hard.Pods().Value() != 10 || len(q.Spec.Hard) != 2 {
				return fmt.Sprintf("quota hard %v, want pods 10 and requests.cpu 2 only", q.Spec.Hard)
			}
			return ""
		},
	}, {
		name: "a key added to the quota by another field manager's apply",
		edit: func(t *testing.T) {
			f.forceApply(t, "admin", map[string]any{
				"apiVersion": "v1", "kind": "ResourceQuota",
				"metadata": map[string]any{"name": "quota", "namespace": "shop"},
				"spec":     map[string]any{"hard": map[string]any{"limits.memory": "1Ti", "pods": "1000"}},
			})
		},
		check: func(t *testing.T) string {
			var q corev1.ResourceQuota
			if err := f.get(t, "a", &q, "shop", "quota"); err != nil {
				t.Fatal(err)
			}
			if _, ok := q.Spec.Hard[corev1.ResourceLimitsMemory]; ok || q.Spec.Hard.Pods().Value() != 10 {
				return fmt.Sprintf("quota hard %v, want pods 10 and no limits.memory", q.Spec.Hard)
			}
			return ""
		},
	}, {
		name: "a limit added to the limit range",
		edit: func(t *testing.T) {
			var lr corev1.LimitRange
			f.update(t, &lr, "shop", "limits", func() {
				lr.Spec.Limits[0].Max = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100")}
			})
		},
		check: func(t *testing.T) string {
			var lr corev1.LimitRange
			if err := f.get(t, "a", &lr, "shop", "limits"); err != nil {
				t.Fatal(err)
			}
			if len(lr.Spec.Limits) != 1 || lr.Spec.Limits[0].Max != nil {
				return fmt.Sprintf("limits %+v, want the default only", lr.Spec.Limits)
			}
			return ""
		},
	}, {
		name: "a subject added to the role binding",
		edit: func(t *testing.T) {
			var rb rbacv1.RoleBinding
			f.update(t, &rb, "shop", "environment-admin", func() {
				rb.Subjects = append(rb.Subjects, rbacv1.Subject{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "intruder@example.com"})
			})
		},
		check: func(t *testing.T) string {
			var rb rbacv1.RoleBinding
			if err := f.get(t, "a", &rb, "shop", "environment-admin"); err != nil {
				t.Fatal(err)
			}
			for _, s := range rb.Subjects {
				if s.Name == "intruder@example.com" {
					return fmt.Sprintf("subjects %+v still grant the intruder", rb.Subjects)
				}
			}
			return ""
		},
	}}
	f.repairs(t, edits, func(t *testing.T, res *PassResult) {
		if got := action(res, "a", "shop"); got != ActionRepaired {
			t.Errorf("action %s, want repaired\n%s", got, describe(res))
		}
	}, func(t *testing.T) {
		// Repaired for good: the next pass finds nothing to do.
		res := f.mustPass(t)
		if got := action(res, "a", "shop"); got != ActionUnchanged {
			t.Errorf("second pass: action %s, want unchanged\n%s", got, describe(res))
		}
	})

	t.Run("an object allot does not own whole keeps what others add", func(t *testing.T) {
		var cm corev1.ConfigMap
		f.update(t, &cm, "shop", "settings", func() { cm.Data["extra"] = "theirs" })
		res := f.mustPass(t)
		if got := action(res, "a", "shop"); got != ActionUnchanged {
			t.Errorf("action %s, want unchanged", got)
		}
		if err := f.get(t, "a", &cm, "shop", "settings"); err != nil {
			t.Fatal(err)
		}
		if cm.Data["extra"] != "theirs" || cm.Data["value"] != "one" {
			t.Errorf("data %v, want allot's value and theirs", cm.Data)
		}
	})
}

// In warn mode, fields others added to the baseline are reported as drift
// and left alone.
func TestFieldsAddedToTheBaselineAreReportedInWarnMode(t *testing.T) {
	f := newFixture(t, "a")
	f.src.write(t, "allot.yaml", strings.Replace(platformYAML, "{name: a, labels", "{name: a, drift: warn, labels", 1))
	f.src.write(t, "environments/web/shop.yaml", request("shop", "a", ""))
	f.mustPass(t)
	f.forceApply(t, "admin", map[string]any{
		"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
		"metadata": map[string]any{"name": "default-deny-all", "namespace": "shop"},
		"spec":     map[string]any{"podSelector": map[string]any{"matchLabels": map[string]any{"app": "none"}}},
	})
	res := f.mustPass(t)
	if e := result(res, "a", "shop"); e.Action != ActionDrifted || !strings.Contains(e.Message, "NetworkPolicy/shop/default-deny-all") {
		t.Errorf("result %+v, want drift on the deny-all policy", e)
	}
	var np networkingv1.NetworkPolicy
	if err := f.get(t, "a", &np, "shop", "default-deny-all"); err != nil {
		t.Fatal(err)
	}
	if np.Spec.PodSelector.MatchLabels["app"] != "none" {
		t.Errorf("pod selector %v: warn mode repaired the drift", np.Spec.PodSelector)
	}
}

// A drift-ignore rule lets another manager own a field of a whole-owned
// object.
func TestIgnoredFieldsOfTheBaselineAreLeftAlone(t *testing.T) {
	f := newFixture(t, "a")
	f.src.write(t, "allot.yaml", platformYAML+"  drift:\n    ignore:\n      - paths: [/spec/hard/limits.cpu]\n        target: {kind: ResourceQuota}\n")
	f.src.write(t, "environments/web/shop.yaml", request("shop", "a", ""))
	f.mustPass(t)
	var q corev1.ResourceQuota
	f.update(t, &q, "shop", "quota", func() { q.Spec.Hard[corev1.ResourceLimitsCPU] = resource.MustParse("8") })
	res := f.mustPass(t)
	if got := action(res, "a", "shop"); got != ActionUnchanged {
		t.Errorf("action %s, want unchanged\n%s", got, describe(res))
	}
	if err := f.get(t, "a", &q, "shop", "quota"); err != nil {
		t.Fatal(err)
	}
	if _, ok := q.Spec.Hard[corev1.ResourceLimitsCPU]; !ok {
		t.Errorf("quota hard %v: the ignored key was removed", q.Spec.Hard)
	}
}
