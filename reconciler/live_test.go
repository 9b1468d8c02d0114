package reconciler

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/renderer"
)

// dryRuns reads from the API server's own metrics how many dry-run
// requests it has served so far.
func (f *fixture) dryRuns(t *testing.T) int {
	t.Helper()
	return f.requests(t, `dry_run="All"`)
}

// requests reads from the API server's own metrics how many requests it
// has served so far whose labels hold every one of labels.
func (f *fixture) requests(t *testing.T, labels ...string) int {
	t.Helper()
	n, err := f.cps["a"].Requests(context.Background(), labels...)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Issue 13: a pass over environments whose requests did not change reads
// what the cluster holds (one list per kind) instead of dry-running every
// object, and still finds every kind of drift, with no watch running.
func TestNoOpPassReadsInsteadOfDryRunning(t *testing.T) {
	f := newFixture(t, "a")
	// Enough environments that listing their kinds is the cheaper check
	// (minListed).
	names := []string{"one", "two", "three", "four", "five", "six", "seven", "eight"}
	for _, n := range names {
		f.src.write(t, "environments/web/"+n+".yaml", request(n, "a", fmt.Sprintf(configAddon, "shared")))
	}
	f.src.write(t, "addons/shared/config.yaml", configMap("settings", "one", ""))
	reads := func(t *testing.T) int { return f.requests(t, `verb="GET"`, `resource="namespaces"`) }
	readsBefore := reads(t)
	f.mustPass(t)
	// Creating reads no object back: each apply's answer shows its object
	// ready, and notes what the next pass vouches with, so that from then
	// on a pass needs no dry run. Only the preflight reads each namespace,
	// to refuse one allot did not create, and allot-system's is read once.
	if got, want := reads(t)-readsBefore, len(names)+1; got > want {
		t.Errorf("creating %d environments read namespaces %d times, want at most %d", len(names), got, want)
	}
	noOp := func(t *testing.T) {
		t.Helper()
		before := f.dryRuns(t)
		res := f.mustPass(t)
		for _, n := range names {
			if e := result(res, "a", n); e.Action != ActionUnchanged || !e.Ready {
				t.Errorf("%s: %s ready %v, want unchanged and ready", n, e.Action, e.Ready)
			}
		}
		if got := f.dryRuns(t) - before; got != 0 {
			t.Errorf("a pass with nothing to do made %d dry-run requests, want none", got)
		}
	}
	noOp(t)

	value := func(t *testing.T, ns string) string {
		t.Helper()
		var cm corev1.ConfigMap
		if err := f.get(t, "a", &cm, ns, "settings"); err != nil {
			t.Fatal(err)
		}
		return cm.Data["value"]
	}
	edits := []handEdit{{
		name: "kubectl edit (an update)",
		edit: func(t *testing.T) {
			var cm corev1.ConfigMap
			f.update(t, &cm, "one", "settings", func() { cm.Data["value"] = "edited" })
		},
		check: func(t *testing.T) string {
			if v := value(t, "one"); v != "one" {
				return "value " + v
			}
			return ""
		},
	}, {
		name: "a server-side apply by another field manager",
		edit: func(t *testing.T) {
			f.forceApply(t, "admin", map[string]any{
				"apiVersion": "v1", "kind": "ConfigMap",
				"metadata": map[string]any{"name": "settings", "namespace": "two"},
				"data":     map[string]any{"value": "theirs"},
			})
		},
		check: func(t *testing.T) string {
			if v := value(t, "two"); v != "one" {
				return "value " + v
			}
			return ""
		},
	}, {
		name: "a deletion",
		edit: func(t *testing.T) {
			cm := &corev1.ConfigMap{}
			cm.Namespace, cm.Name = "three", "settings"
			if err := f.cps["a"].Client.Delete(context.Background(), cm); err != nil {
				t.Fatal(err)
			}
		},
		check: func(t *testing.T) string {
			var cm corev1.ConfigMap
			if err := f.get(t, "a", &cm, "three", "settings"); err != nil {
				return err.Error()
			}
			return ""
		},
	}, {
		name: "a field added to a whole-owned object by another field manager",
		edit: func(t *testing.T) {
			f.forceApply(t, "admin", map[string]any{
				"apiVersion": "v1", "kind": "ResourceQuota",
				"metadata": map[string]any{"name": "quota", "namespace": "four"},
				"spec":     map[string]any{"hard": map[string]any{"services.loadbalancers": "5"}},
			})
		},
		check: func(t *testing.T) string {
			var q corev1.ResourceQuota
			if err := f.get(t, "a", &q, "four", "quota"); err != nil {
				t.Fatal(err)
			}
			if v, ok := q.Spec.Hard["services.loadbalancers"]; ok {
				return "hard services.loadbalancers " + v.String()
			}
			return ""
		},
	}, {
		name: "a label removed",
		edit: func(t *testing.T) {
			var cm corev1.ConfigMap
			f.update(t, &cm, "one", "settings", func() { delete(cm.Labels, renderer.LabelEnvironment) })
		},
		check: func(t *testing.T) string {
			var cm corev1.ConfigMap
			if err := f.get(t, "a", &cm, "one", "settings"); err != nil {
				t.Fatal(err)
			}
			if cm.Labels[renderer.LabelEnvironment] != "one" {
				return fmt.Sprintf("labels %v", cm.Labels)
			}
			return ""
		},
	}}
	f.repairs(t, edits, func(*testing.T, *PassResult) {}, func(t *testing.T) {
		// The pass after a repair checks in full once more, then none.
		f.mustPass(t)
		noOp(t)
	})

	t.Run("a change of status alone costs no dry run", func(t *testing.T) {
		var q corev1.ResourceQuota
		if err := f.get(t, "a", &q, "one", "quota"); err != nil {
			t.Fatal(err)
		}
		q.Status.Hard = q.Spec.Hard
		q.Status.Used = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("3")}
		if err := f.cps["a"].Client.Status().Update(context.Background(), &q, client.FieldOwner("resourcequota-controller")); err != nil {
			t.Fatal(err)
		}
		noOp(t)
	})
}
