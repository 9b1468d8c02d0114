package reconciler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/test/harness"
)

// Issue 13: when a cluster's credentials change, its drift watch restarts
// on the new connection; the old one may go away without drift going
// unseen.
func TestDriftWatchFollowsNewCredentials(t *testing.T) {
	f, proxy, _ := proxiedFixture(t, 1)
	events := make(chan Drift, 64)
	f.r.OnDrift = func(d Drift) { events <- d }
	defer f.r.StopWatching()
	f.mustPass(t)
	oldRecords := f.r.recordCache("a")
	// The kubeconfig changes (the cluster is now reached directly), and
	// the old way in goes away.
	f.r.Connector.Kubeconfigs["a"] = f.cps["a"].Kubeconfig
	f.mustPass(t)
	proxy.Cut()
	// The records cache restarts with the watch, on the new connection.
	if oldRecords == nil || !oldRecords.failed() {
		t.Error("the records cache of the old connection is still read")
	}
	f.cachedRecords(t)
	for len(events) > 0 {
		<-events
	}
	// The new watch lists; wait for it to report the environment's kinds
	// as synced, then edit.
	deadline := time.Now().Add(30 * time.Second)
	for len(f.r.watcher().syncedKinds("a")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the drift watch did not start again on the new connection")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var cm corev1.ConfigMap
	f.update(t, &cm, "env00", "settings", func() { cm.Data["value"] = "edited" })
	select {
	case d := <-events:
		if d.Object != "ConfigMap/env00/settings" {
			t.Errorf("drift %+v, want ConfigMap/env00/settings", d)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no drift reported after the credentials changed: the watch still runs on the old connection")
	}
}

// Issue 13: a drift watch that cannot list a kind says so on the cluster's
// result instead of drift detection silently turning off.
func TestDriftWatchThatCannotListSaysSo(t *testing.T) {
	f := newFixture(t, "a")
	ctx := context.Background()
	admin := f.cps["a"].Client
	// A user who may do all a namespace environment needs, but may list
	// config maps only in allot-system, where the records are.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	all := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	must(admin.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "allot-no-configmap-watch"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"namespaces", "resourcequotas", "limitranges"}, Verbs: all},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}, Verbs: all},
		{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"rolebindings"}, Verbs: all},
		{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"clusterroles"}, Verbs: []string{"bind"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "create", "update", "patch", "delete"}},
	}}))
	must(admin.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "allot-no-configmap-watch"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "allot-no-configmap-watch"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "allot-restricted"}}}))
	must(admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: SystemNamespace}}))
	must(admin.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "records", Namespace: SystemNamespace}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"list"}},
	}}))
	must(admin.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "records", Namespace: SystemNamespace},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "records"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "allot-restricted"}}}))
	kubeconfig, err := f.cps["a"].UserKubeconfig("allot-restricted", nil)
	must(err)
	f.r.Connector.Kubeconfigs["a"] = kubeconfig
	f.r.OnDrift = func(Drift) {}
	defer f.r.StopWatching()
	f.src.write(t, "environments/web/shop.yaml", request("shop", "a", fmt.Sprintf(configAddon, "shop")))
	f.src.write(t, "addons/shop/config.yaml", configMap("settings", "one", ""))

	deadline := time.Now().Add(30 * time.Second)
	for {
		res := f.mustPass(t)
		if err := res.Clusters[0].WatchErr; err != nil {
			if !errors.Is(err, ErrWatch) || !strings.Contains(err.Error(), "configmaps") || !strings.Contains(err.Error(), "forbidden") {
				t.Errorf("watch error %v, want the config maps' forbidden list named", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no pass said that the drift watch cannot list config maps")
		}
		time.Sleep(200 * time.Millisecond)
	}
	var cm corev1.ConfigMap
	if err := admin.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "settings"}, &cm); err != nil {
		t.Fatalf("the environment was not applied with the restricted user: %v", err)
	}
	// The user may list the records but not watch them: the records cache
	// gives up, and passes list them as before.
	waitFor(t, "the records cache gives up", func() bool {
		c := f.r.recordCache("a")
		return c != nil && c.failed()
	})
	before := f.recordLists(t)
	f.mustPass(t)
	if f.recordLists(t) == before {
		t.Error("a pass read records from a cache whose watch failed")
	}
}

// BenchmarkWatchOfAPass measures what keeping the drift watch costs each
// pass of 1,000 namespace environments once it runs: the pass hands it
// every object it applied.
func BenchmarkWatchOfAPass(b *testing.B) {
	cp, err := harness.Start(harness.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cp.Stop() }()
	cl, err := NewCluster("a", cp.Config)
	if err != nil {
		b.Fatal(err)
	}
	kinds := []ObjectRef{
		{Version: "v1", Kind: "ResourceQuota"}, {Version: "v1", Kind: "LimitRange"},
		{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"}, {Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding"},
	}
	var refs []ObjectRef
	for i := range 1000 {
		ns := fmt.Sprintf("env-%d", i)
		refs = append(refs, ObjectRef{Version: "v1", Kind: "Namespace", Name: ns})
		for _, k := range kinds {
			k.Namespace, k.Name = ns, "x"
			refs = append(refs, k)
		}
	}
	w := &watcher{log: slog.New(slog.DiscardHandler), onDrift: func(Drift) {}, onStatus: func(StatusChange) {}}
	defer w.stopAll()
	ctx := context.Background()
	_ = w.watch(ctx, cl, refs)
	b.ReportAllocs()
	for b.Loop() {
		_ = w.watch(ctx, cl, refs)
	}
}
