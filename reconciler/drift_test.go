package reconciler

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func (f *fixture) editSettings(t *testing.T, value string) {
	t.Helper()
	var cm corev1.ConfigMap
	if err := f.get(t, "a", &cm, "shop", "settings"); err != nil {
		t.Fatal(err)
	}
	cm.Data["value"] = value
	if err := f.cps["a"].Client.Update(context.Background(), &cm, client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) settings(t *testing.T) string {
	t.Helper()
	var cm corev1.ConfigMap
	if err := f.get(t, "a", &cm, "shop", "settings"); err != nil {
		t.Fatal(err)
	}
	return cm.Data["value"]
}

func TestDriftModes(t *testing.T) {
	t.Run("warn reports drift and leaves it", func(t *testing.T) {
		f := newFixture(t, "a")
		f.src.write(t, "allot.yaml", strings.Replace(platformYAML, "{name: a, labels", "{name: a, drift: warn, labels", 1))
		f.src.write(t, "environments/web/shop.yaml", request("shop", "a", fmt.Sprintf(configAddon, "shop")))
		f.src.write(t, "addons/shop/config.yaml", configMap("settings", "one", ""))
		f.mustPass(t)
		f.editSettings(t, "edited")
		res := f.mustPass(t)
		if e := result(res, "a", "shop"); e.Action != ActionDrifted || e.Message != "drifted: ConfigMap/shop/settings" {
			t.Errorf("result %+v, want drifted on the config map", e)
		}
		if got := f.settings(t); got != "edited" {
			t.Errorf("value %q: warn mode repaired the drift", got)
		}
		var record corev1.ConfigMap
		if err := f.get(t, "a", &record, SystemNamespace, "shop"); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(record.Data["record.json"], `"type":"Drifted","status":"True"`) {
			t.Errorf("the record does not say Drifted: %s", record.Data["record.json"])
		}
		// A change to the request is still applied in warn mode.
		f.src.write(t, "addons/shop/config.yaml", configMap("settings", "two", ""))
		f.mustPass(t)
		if got := f.settings(t); got != "two" {
			t.Errorf("value %q after a change in git, want two", got)
		}
	})
	t.Run("ignored fields are left to whoever owns them", func(t *testing.T) {
		f := newFixture(t, "a")
		f.src.write(t, "allot.yaml", platformYAML+"  drift:\n    ignore:\n      - paths: [/data/value]\n        target: {kind: ConfigMap, name: settings}\n")
		f.src.write(t, "environments/web/shop.yaml", request("shop", "a", fmt.Sprintf(configAddon, "shop")))
		f.src.write(t, "addons/shop/config.yaml", configMap("settings", "one", "")+"---\n"+configMap("other", "one", ""))
		f.mustPass(t)
		f.editSettings(t, "owned elsewhere")
		res := f.mustPass(t)
		if got := action(res, "a", "shop"); got != ActionUnchanged {
			t.Errorf("action %s, want unchanged", got)
		}
		if got := f.settings(t); got != "owned elsewhere" {
			t.Errorf("value %q: the ignored field was overwritten", got)
		}
	})
}

func TestDriftIsSeenBetweenPasses(t *testing.T) {
	f := newFixture(t, "a")
	events := make(chan Drift, 16)
	f.r.OnDrift = func(d Drift) { events <- d }
	defer f.r.StopWatching()
	f.src.write(t, "environments/web/shop.yaml", request("shop", "a", fmt.Sprintf(configAddon, "shop")))
	f.src.write(t, "addons/shop/config.yaml", configMap("settings", "one", ""))
	f.mustPass(t)
	// Pass again once the informers have synced: with the watch covering
	// every kind, the environment is then known to be clean and later
	// passes skip it, until drift says otherwise.
	for deadline := time.Now().Add(30 * time.Second); !f.r.isClean("a", "shop", firstDigest(t, f)); {
		if time.Now().After(deadline) {
			t.Fatal("the environment is not marked clean after watched passes")
		}
		f.mustPass(t)
	}
	for len(events) > 0 {
		<-events
	}
	f.editSettings(t, "edited")
	select {
	case d := <-events:
		if d.Cluster != "a" || d.Object != "ConfigMap/shop/settings" {
			t.Errorf("drift %+v, want ConfigMap/shop/settings on a", d)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no drift reported for a hand edit")
	}
	res := f.mustPass(t)
	if got := action(res, "a", "shop"); got != ActionRepaired {
		t.Errorf("action %s after the drift, want repaired", got)
	}
	if got := f.settings(t); got != "one" {
		t.Errorf("value %q after the pass, want one", got)
	}
}

func firstDigest(t *testing.T, f *fixture) string {
	t.Helper()
	var record corev1.ConfigMap
	if err := f.get(t, "a", &record, SystemNamespace, "shop"); err != nil {
		t.Fatal(err)
	}
	return record.Data["digest"]
}

func TestLastManagerTies(t *testing.T) {
	at := func(sec int) *metav1.Time {
		v := metav1.NewTime(time.Date(2026, 12, 1, 12, 0, sec, 0, time.UTC))
		return &v
	}
	entry := func(manager string, sec int) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationApply, Time: at(sec)}
	}
	for _, tc := range []struct {
		name   string
		fields []metav1.ManagedFieldsEntry
		want   string
	}{
		{"allot newest", []metav1.ManagedFieldsEntry{entry("admin", 1), entry(FieldManager, 2)}, FieldManager},
		{"another manager newest", []metav1.ManagedFieldsEntry{entry(FieldManager, 1), entry("admin", 2)}, "admin"},
		// Issue 16: a forced apply by "admin" in the second of allot's repair.
		{"a tie with a manager listed first", []metav1.ManagedFieldsEntry{entry("admin", 2), entry(FieldManager, 2)}, "admin"},
		{"a tie with a manager listed last", []metav1.ManagedFieldsEntry{entry(FieldManager, 2), entry("kubectl-edit", 2)}, "kubectl-edit"},
		{"allot alone", []metav1.ManagedFieldsEntry{entry(FieldManager, 2)}, FieldManager},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := lastManager(tc.fields); got != tc.want {
				t.Errorf("lastManager = %q, want %q", got, tc.want)
			}
		})
	}
}
