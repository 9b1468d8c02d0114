package reconciler

import (
	"context"
	"maps"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// recordWrites counts the writes of ConfigMaps cluster a has served: in
// these tests, only records are ConfigMaps allot writes.
func (f *fixture) recordWrites(t *testing.T) int {
	t.Helper()
	n := 0
	for _, verb := range recordWriteVerbs {
		n += f.recordRequests(t, verb)
	}
	return n
}

// recordWriteVerbs are the API server's verbs of a write.
var recordWriteVerbs = []string{"POST", "PUT", "APPLY", "PATCH"}

func (f *fixture) recordRequests(t *testing.T, verb string) int {
	t.Helper()
	return f.requests(t, `resource="configmaps"`, `verb="`+verb+`"`)
}

// recordVerbs counts record writes by verb from before.
func (f *fixture) recordVerbs(t *testing.T, before map[string]int) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, verb := range recordWriteVerbs {
		if n := f.recordRequests(t, verb) - before[verb]; n != 0 || before == nil {
			out[verb] = n
		}
	}
	return out
}

// Issue 13: a record is written in one cheap request, a create or a
// replace at the version allot last saw, never a server-side apply, unless
// the ConfigMap changed since (a wake) or holds what others wrote there:
// then server-side apply keeps what they wrote.
func TestRecordWritesAreCreatesAndReplaces(t *testing.T) {
	f := newFixture(t, "a")
	f.now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) // awake
	f.src.write(t, "environments/web/shop.yaml", request("shop", "a", nightly))
	before := f.recordVerbs(t, nil)
	f.mustPass(t)
	if got, want := f.recordVerbs(t, before), map[string]int{"POST": 1, "PUT": 1}; !maps.Equal(got, want) {
		t.Fatalf("creating an environment wrote its record with %v; want %v (the intent created, then replaced)", got, want)
	}
	before = f.recordVerbs(t, nil)
	f.src.write(t, "environments/web/shop.yaml", request("shop", "a", nightly+"  size: large\n"))
	f.mustPass(t)
	if got, want := f.recordVerbs(t, before), map[string]int{"PUT": 2}; !maps.Equal(got, want) {
		t.Fatalf("changing an environment wrote its record with %v; want %v", got, want)
	}

	ctx := context.Background()
	inv := inventory{client: f.cps["a"].Client}
	// A wake written after the pass read the record: the replace is
	// refused for its version, and the apply keeps the wake.
	rec := f.record(t, "shop")
	f.wake(t, "shop", Wake{By: "someone", At: f.now})
	rec.LastError = "after the wake"
	before = f.recordVerbs(t, nil)
	if err := inv.write(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if got, want := f.recordVerbs(t, before), map[string]int{"PUT": 1, "APPLY": 1}; !maps.Equal(got, want) {
		t.Errorf("writing a record a wake changed since it was read: %v; want %v", got, want)
	}
	got := f.record(t, "shop")
	if got.Wake == nil || got.Wake.By != "someone" || got.LastError != "after the wake" {
		t.Fatalf("after writing over a wake: wake %+v, lastError %q; want the wake kept and the record written", got.Wake, got.LastError)
	}
	// Read with the wake, the record is replaced with it.
	got.LastError = "with the wake"
	before = f.recordVerbs(t, nil)
	if err := inv.write(ctx, got); err != nil {
		t.Fatal(err)
	}
	if n := f.recordVerbs(t, before)["PUT"]; n != 1 {
		t.Errorf("writing a record read with its wake made %d replaces; want 1", n)
	}
	if again := f.record(t, "shop"); again.Wake == nil || again.LastError != "with the wake" {
		t.Fatalf("after replacing a record that has a wake: wake %+v, lastError %q", again.Wake, again.LastError)
	}

	// Rights to create and patch records, but not to update them, as
	// earlier versions needed: the replace is refused, and the apply
	// writes the record.
	admin := f.cps["a"].Client
	if err := admin.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "records-patch", Namespace: SystemNamespace}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "create", "patch"}},
	}}); err != nil {
		t.Fatal(err)
	}
	if err := admin.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "records-patch", Namespace: SystemNamespace},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "records-patch"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "records-patcher"}}}); err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := f.cps["a"].UserKubeconfig("records-patcher", nil)
	if err != nil {
		t.Fatal(err)
	}
	patcher, err := NewCluster("a", userConfig(t, kubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	limited := inventory{client: patcher.Client}
	plainRec := f.record(t, "shop")
	plainRec.LastError = "patched"
	if err := limited.write(ctx, plainRec); err != nil {
		t.Fatalf("a record that may not be updated: %v", err)
	}
	newRec := *plainRec
	newRec.Environment, newRec.stored = "only-patched", nil
	if err := limited.write(ctx, &newRec); err != nil {
		t.Fatalf("a new record that may not be updated: %v", err)
	}
	if got := f.record(t, "shop"); got.LastError != "patched" {
		t.Fatalf("a record written without the update verb: lastError %q, wake %+v; want written, the wake kept", got.LastError, got.Wake)
	}
	if got := f.record(t, "only-patched"); got.LastError != "patched" {
		t.Fatalf("a new record written without the update verb: lastError %q", got.LastError)
	}

	// Someone annotates the record: a replace would drop the annotation,
	// so it is applied, and the annotation stays.
	var cm corev1.ConfigMap
	key := client.ObjectKey{Namespace: SystemNamespace, Name: "shop"}
	if err := f.cps["a"].Client.Get(ctx, key, &cm); err != nil {
		t.Fatal(err)
	}
	cm.Annotations = map[string]string{"example.com/note": "kept"}
	if err := f.cps["a"].Client.Update(ctx, &cm); err != nil {
		t.Fatal(err)
	}
	rec = f.record(t, "shop")
	before = f.recordVerbs(t, nil)
	if err := inv.write(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if got, want := f.recordVerbs(t, before), map[string]int{"APPLY": 1}; !maps.Equal(got, want) {
		t.Errorf("writing an annotated record: %v; want %v", got, want)
	}
	if err := f.cps["a"].Client.Get(ctx, key, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Annotations["example.com/note"] != "kept" || cm.Data[wakeKey] == "" {
		t.Fatalf("after writing an annotated record: annotations %v, wake %q; want both kept", cm.Annotations, cm.Data[wakeKey])
	}

	// A record that exists though the pass took it for new (its list
	// failed): the create is refused, and the apply writes it.
	fresh := *rec
	fresh.stored = nil
	fresh.LastError = "taken for new"
	if err := inv.write(ctx, &fresh); err != nil {
		t.Fatal(err)
	}
	if got := f.record(t, "shop"); got.LastError != "taken for new" {
		t.Fatalf("a record taken for new was not written: lastError %q", got.LastError)
	}
}

// Issue 15: an environment's pass writes its record once at its end, after
// the intent it writes before applying; the steps after the apply
// (readiness, the live lists' note, sleep) add to that one write.
func TestAPassWritesTheRecordOnceAfterTheIntent(t *testing.T) {
	f := newFixture(t, "a")
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC) // a Monday
	f.now = day.Add(21 * time.Hour)                      // asleep
	f.src.write(t, "environments/web/shop.yaml", request("shop", "a", nightly))

	before := f.recordWrites(t)
	res := f.mustPass(t)
	if got := result(res, "a", "shop"); got.Action != ActionCreated || !got.Asleep {
		t.Fatalf("first pass: %+v; want created and asleep", got)
	}
	// The intent, then everything else: applied, ready, asleep.
	if n := f.recordWrites(t) - before; n != 2 {
		t.Fatalf("creating an environment that sleeps wrote its record %d times; want 2 (the intent, then the end of its pass)", n)
	}
	rec := f.record(t, "shop")
	if rec.Sleep == nil || !rec.Sleep.Asleep || rec.Digest == "" || rec.LastError != "" {
		t.Fatalf("record after the pass: sleep %+v, digest %q, lastError %q; want asleep, applied, no error", rec.Sleep, rec.Digest, rec.LastError)
	}

	// It wakes: the apply of the awake bundle and the sleep's end are one
	// write after the intent.
	f.now = day.Add(32 * time.Hour)
	before = f.recordWrites(t)
	res = f.mustPass(t)
	if got := result(res, "a", "shop"); got.Action != ActionUpdated || got.Asleep {
		t.Fatalf("wake pass: %+v; want updated and awake", got)
	}
	if n := f.recordWrites(t) - before; n != 2 {
		t.Fatalf("waking wrote the record %d times; want 2", n)
	}

	// Nothing changed: nothing is written.
	before = f.recordWrites(t)
	f.mustPass(t)
	if n := f.recordWrites(t) - before; n != 0 {
		t.Fatalf("a pass with nothing to do wrote the record %d times; want 0", n)
	}
}

// Issue 13: a pass renders only the environments whose inputs changed; a
// later process with the same render cache folder renders none of them,
// and what it applies is what a render would give.
func TestAPassRendersOnlyWhatChanged(t *testing.T) {
	f := newFixture(t, "a")
	f.r.RenderCache = t.TempDir()
	for _, n := range []string{"one", "two", "three"} {
		f.src.write(t, "environments/web/"+n+".yaml", request(n, "a", ""))
	}
	res := f.mustPass(t)
	if res.Rendered != 3 || res.RenderCached != 0 {
		t.Fatalf("first pass rendered %d, %d from the cache; want 3 and 0", res.Rendered, res.RenderCached)
	}
	f.src.write(t, "environments/web/two.yaml", request("two", "a", "  size: large\n"))
	res = f.mustPass(t)
	if res.Rendered != 1 || res.RenderCached != 2 || action(res, "a", "two") != ActionUpdated {
		t.Fatalf("after one request changed: rendered %d, %d from the cache, two %s; want 1, 2, updated", res.Rendered, res.RenderCached, action(res, "a", "two"))
	}

	// A new process, as a cron run of `allot reconcile` is.
	was := f.r
	f.r = &Reconciler{
		Source: was.Source, Connector: was.Connector, Builtin: was.Builtin, ChartCache: was.ChartCache, RenderCache: was.RenderCache,
		OnlyClusters: was.OnlyClusters, WaitInterval: was.WaitInterval, TeardownTimeout: was.TeardownTimeout, Now: was.Now,
	}
	res = f.mustPass(t)
	if res.Rendered != 0 || res.RenderCached != 3 {
		t.Fatalf("a new process rendered %d, %d from the cache; want 0 and 3", res.Rendered, res.RenderCached)
	}
	for _, n := range []string{"one", "two", "three"} {
		if a := action(res, "a", n); a != ActionUnchanged {
			t.Fatalf("%s from the cache: %s; want unchanged", n, a)
		}
	}

	// allot.yaml is read by every render: all render again.
	f.src.write(t, "allot.yaml", platformYAML+"    medium: {quota: {pods: 50}}\n")
	res = f.mustPass(t)
	if res.Rendered != 3 || res.RenderCached != 0 {
		t.Fatalf("after allot.yaml changed: rendered %d, %d from the cache; want 3 and 0", res.Rendered, res.RenderCached)
	}
}

// userConfig reads a user's kubeconfig file.
func userConfig(t *testing.T, kubeconfig string) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
