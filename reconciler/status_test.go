package reconciler

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/schemas"
)

// Issue 12: `allot status ENV` says why an environment is not ready: each
// object's readiness as the cluster holds it now, and when it expires.
func TestDescribeSaysWhatWaits(t *testing.T) {
	f := newFixture(t, "a")
	// No controller runs here: the Deployment never rolls out.
	f.r.ReadinessTimeouts = map[string]time.Duration{"namespace": time.Hour}
	f.src.write(t, "environments/web/shop.yaml", request("shop", "a", "  expires: 7d\n"+fmt.Sprintf(configAddon, "shop")))
	f.src.write(t, "addons/shop/config.yaml", configMap("settings", "one", "")+"---\n"+fmt.Sprintf(deployment, 1))
	f.pass(t)
	var cm corev1.ConfigMap
	cm.Namespace, cm.Name = "shop", "settings"
	if err := f.cps["a"].Client.Delete(context.Background(), &cm); err != nil {
		t.Fatal(err)
	}

	clusters := []schemas.Cluster{{Name: "a"}}
	got, errs := f.r.Describe(context.Background(), clusters, "shop")
	if len(errs) > 0 || len(got) != 1 {
		t.Fatalf("describe: %v, %d environments", errs, len(got))
	}
	es := got[0]
	states := map[string]ObjectStatus{}
	for _, o := range es.Objects {
		states[o.Object] = o
	}
	if o := states["Deployment/shop/web"]; o.State != "waiting" || o.Message == "" {
		t.Errorf("deployment %+v, want waiting with why", o)
	}
	if o := states["ConfigMap/shop/settings"]; o.State != "missing" {
		t.Errorf("config map %+v, want missing", o)
	}
	if o := states["ResourceQuota/shop/quota"]; o.State != "ready" {
		t.Errorf("quota %+v, want ready", o)
	}
	if es.Ready != "False" || len(es.Conditions) == 0 {
		t.Errorf("ready %q, conditions %v", es.Ready, es.Conditions)
	}
	if want := f.now.Add(7 * 24 * time.Hour); !es.Expires.Equal(want) {
		t.Errorf("expires %s, want %s (7d from when it was first applied)", es.Expires, want)
	}
	if none, errs := f.r.Describe(context.Background(), clusters, "nothing"); len(none) != 0 || len(errs) != 0 {
		t.Errorf("an unknown environment: %v, %v", none, errs)
	}
}

// Issue 12: what a pass does to an environment is an Event on its record.
func TestPassesLeaveEventsOnTheRecord(t *testing.T) {
	f := newFixture(t, "a")
	f.src.write(t, "environments/web/shop.yaml", request("shop", "a", fmt.Sprintf(configAddon, "shop")))
	f.src.write(t, "addons/shop/config.yaml", configMap("settings", "one", ""))
	f.mustPass(t)
	// Two repairs are one Event, counted twice.
	for range 2 {
		f.editSettings(t, "edited")
		f.mustPass(t)
	}
	f.src.remove(t, "environments/web/shop.yaml")
	f.r.AllowMassDelete = true
	f.mustPass(t)
	var events corev1.EventList
	if err := f.cps["a"].Client.List(context.Background(), &events, client.InNamespace(SystemNamespace)); err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, e := range events.Items {
		if e.InvolvedObject.Kind == "ConfigMap" && e.InvolvedObject.Name == "shop" {
			reasons = append(reasons, fmt.Sprintf("%s %s %d", e.Reason, e.Type, e.Count))
		}
	}
	slices.Sort(reasons)
	if want := []string{"Created Normal 1", "Deleted Normal 1", "Repaired Warning 2"}; !slices.Equal(reasons, want) {
		t.Errorf("events %v, want %v", reasons, want)
	}
}
