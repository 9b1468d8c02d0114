package reconciler

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/renderer"
	"github.com/allot-dev/allot/test/harness"
)

// recordLists counts the lists of config maps the API server has served:
// inventory records are config maps.
func (f *fixture) recordLists(t *testing.T) int {
	t.Helper()
	return f.requests(t, `verb="LIST"`, `resource="configmaps"`)
}

// waitFor polls cond until it holds, failing the test after 30 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return cond(), nil
	})
	if err != nil {
		t.Fatalf("%s: not within 30 s", what)
	}
}

// cachedRecords waits until serve's records cache of cluster a answers,
// and returns what it holds.
func (f *fixture) cachedRecords(t *testing.T) map[string]*Record {
	t.Helper()
	var got map[string]*Record
	waitFor(t, "the records cache answers", func() bool {
		records, ok, err := f.r.recordCache("a").records()
		if err != nil {
			t.Fatal(err)
		}
		got = records
		return ok
	})
	return got
}

// Issue 13: once the watch on allot-system has listed the records, serve's
// passes read them from it: no pass lists them, and what they read is what
// a list gives.
func TestServePassesReadRecordsFromTheWatch(t *testing.T) {
	f := newFixture(t, "a")
	f.r.OnDrift = func(Drift) {}
	defer f.r.StopWatching()
	for _, name := range []string{"one", "two", "three"} {
		f.src.write(t, "environments/web/"+name+".yaml", request(name, "a", nightly))
	}
	before := f.recordLists(t)
	f.mustPass(t)
	if f.recordLists(t) == before {
		t.Fatal("the first pass, before any watch, listed no config maps: the count sees nothing")
	}
	// An early wake, kept beside record.json, is part of what is read.
	f.wake(t, "two", Wake{By: "someone", At: f.now})
	waitFor(t, "the cache holds the wake", func() bool { return f.cachedRecords(t)["two"].Wake != nil })
	if diff := cmp.Diff(f.listRecords(t), f.cachedRecords(t), cmp.AllowUnexported(Record{}, storedRecord{})); diff != "" {
		t.Errorf("the cache holds other records than a list gives (-listed +cached):\n%s", diff)
	}

	before = f.recordLists(t)
	for range 3 {
		res := f.mustPass(t)
		if n := len(res.Clusters[0].Environments); n != 3 {
			t.Fatalf("%d environments in a pass, want 3\n%s", n, describe(res))
		}
	}
	if n := f.recordLists(t) - before; n != 0 {
		t.Errorf("%d lists of config maps in three passes after the watch listed the records, want none", n)
	}

	t.Run("passes list again once the watch is stopped", func(t *testing.T) {
		f.r.StopWatching()
		before := f.recordLists(t)
		f.mustPass(t)
		if f.recordLists(t) == before {
			t.Error("a pass without the watch read records from a stopped cache")
		}
	})
}

// listRecords lists the records of cluster a, as allot reconcile does.
func (f *fixture) listRecords(t *testing.T) map[string]*Record {
	t.Helper()
	records, err := inventory{client: f.cps["a"].Client}.list(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return records
}

// Issue 13: records others change — a wake from another allot process, a
// record edited or deleted by hand — are seen by the pass after the watch
// brings them, as a list would see them.
func TestServePassesSeeRecordsOthersChange(t *testing.T) {
	f := newFixture(t, "a")
	f.r.OnDrift = func(Drift) {}
	defer f.r.StopWatching()
	f.src.write(t, "environments/web/shop.yaml", request("shop", "a", nightly))
	f.src.write(t, "environments/web/mall.yaml", request("mall", "a", ""))
	night := time.Date(2026, 11, 23, 21, 0, 0, 0, time.UTC)
	f.now = night
	f.mustPass(t)
	f.cachedRecords(t)
	waitWatchSynced(t, f, "mall")
	f.mustPass(t)
	ctx := context.Background()
	admin := f.cps["a"].Client

	t.Run("a wake by allot wake, another process", func(t *testing.T) {
		other := &Reconciler{Connector: &Connector{Kubeconfigs: map[string]string{"a": f.cps["a"].Kubeconfig}}, OnlyClusters: []string{"a"}, Now: func() time.Time { return night }}
		if _, errs := other.Wake(ctx, f.r.Platform().Clusters, "shop", Wake{By: "allot wake", At: night}); len(errs) > 0 {
			t.Fatal(errs)
		}
		waitFor(t, "the cache holds the wake", func() bool { return f.cachedRecords(t)["shop"].Wake != nil })
		res := f.mustPass(t)
		if e := result(res, "a", "shop"); e.Asleep {
			t.Errorf("shop still asleep after the wake: %+v", e)
		}
	})

	t.Run("a record edited by hand", func(t *testing.T) {
		rec := f.record(t, "mall")
		want := rec.Digest
		rec.Digest = "edited"
		raw, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		patch, _ := json.Marshal(map[string]any{"data": map[string]string{recordKey: string(raw)}})
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "mall", Namespace: SystemNamespace}}
		if err := admin.Patch(ctx, cm, client.RawPatch(types.MergePatchType, patch), client.FieldOwner("kubectl-edit")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the cache holds the edit", func() bool { return f.cachedRecords(t)["mall"].Digest == "edited" })
		f.mustPass(t)
		if got := f.record(t, "mall").Digest; got != want {
			t.Errorf("record digest %q after the pass, want %q: the pass did not see the edit", got, want)
		}
	})

	t.Run("a record deleted by hand", func(t *testing.T) {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "mall", Namespace: SystemNamespace}}
		if err := admin.Delete(ctx, cm); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the cache drops the record", func() bool { return f.cachedRecords(t)["mall"] == nil })
		res := f.mustPass(t)
		if got := action(res, "a", "mall"); got == ActionUnchanged {
			t.Errorf("mall %s after its record was deleted", got)
		}
		if f.listRecords(t)["mall"] == nil {
			t.Error("the pass did not write mall's record again: it did not see it deleted")
		}
	})
}

// Issue 13: a record allot writes or removes is what the cache answers at
// once, before the watch brings the change, and after it.
func TestRecordCacheReadsItsOwnWrites(t *testing.T) {
	f := newFixture(t, "a")
	cp := f.cps["a"]
	ctx := context.Background()
	if err := cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: SystemNamespace}}); err != nil {
		t.Fatal(err)
	}
	// The watch goes through a proxy that can hold it back; writes do not.
	u, err := url.Parse(cp.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := harness.StartFaultProxy(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	cfg := rest.CopyConfig(cp.Config)
	cfg.Host = "https://" + proxy.Addr
	failed := make(chan error, 1)
	records, err := startRecordCache(ctx, cfg, func(err error) { failed <- err })
	if err != nil {
		t.Fatal(err)
	}
	defer records.close()
	answer := func() map[string]*Record {
		t.Helper()
		got, ok, err := records.records()
		if err != nil || !ok {
			t.Fatalf("the cache did not answer: %v %v", ok, err)
		}
		return got
	}
	waitFor(t, "the cache synced", func() bool { _, ok, _ := records.records(); return ok })
	inv := inventory{client: cp.Client, records: records}
	digest := func(env string) string {
		if r := answer()[env]; r != nil {
			return r.Digest
		}
		return "(none)"
	}

	proxy.Freeze()
	write := func(d string) {
		t.Helper()
		if err := inv.write(ctx, &Record{Environment: "shop", Digest: d, Objects: []ObjectRef{{Kind: "Namespace", Version: "v1", Name: "shop"}}}); err != nil {
			t.Fatal(err)
		}
	}
	write("one")
	if got := digest("shop"); got != "one" {
		t.Errorf("digest %s right after the write, want one", got)
	}
	write("two")
	if got := digest("shop"); got != "two" {
		t.Errorf("digest %s right after the second write, want two", got)
	}
	if err := inv.remove(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if got := digest("shop"); got != "(none)" {
		t.Errorf("digest %s right after the remove, want none", got)
	}
	write("three")
	// A pass changes what it reads; the cache does not change with it.
	answer()["shop"].Digest = "changed by a pass"
	if got := digest("shop"); got != "three" {
		t.Errorf("digest %s right after writing again, want three", got)
	}

	proxy.Thaw()
	waitFor(t, "the watch brings allot's writes", func() bool {
		records.mu.Lock()
		defer records.mu.Unlock()
		return len(records.written) == 0
	})
	if got := digest("shop"); got != "three" {
		t.Errorf("digest %s once the watch caught up, want three", got)
	}
	// Two writers that hear back out of order (a pass's write, a wake's
	// patch): the newer version is what is read.
	for _, w := range []struct{ rv, digest string }{{"900000001", "new"}, {"900000000", "old"}} {
		records.wrote(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "late", Namespace: SystemNamespace, ResourceVersion: w.rv},
			Data: map[string]string{recordKey: `{"environment": "late", "digest": "` + w.digest + `"}`}})
	}
	if got := digest("late"); got != "new" {
		t.Errorf("digest %s after writes heard back out of order, want the newer one's", got)
	}
	// What others do is seen through the watch.
	if err := cp.Client.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: SystemNamespace}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cache sees the record deleted", func() bool { return digest("shop") == "(none)" })
	select {
	case err := <-failed:
		t.Errorf("the watch failed: %v", err)
	default:
	}
}

// The records cache hands out copies: every field of a Record that refers
// to memory must be copied by deepCopy.
func TestRecordDeepCopyCopiesEveryField(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 11, 23, 21, 0, 0, 0, time.UTC))
	orig := func() *Record {
		return &Record{
			Environment: "shop", File: "f", Cluster: "a", Commit: "c", Digest: "d", Phase: renderer.PhaseInstall,
			Objects:      []ObjectRef{{Kind: "Namespace", Version: "v1", Name: "shop"}},
			PreDelete:    []map[string]any{{"kind": "Job", "spec": map[string]any{"list": []any{"x"}}}},
			Groups:       []renderer.Group{{Name: "g", Members: []string{"m"}}},
			Conditions:   []metav1.Condition{{Type: ConditionReady, Status: metav1.ConditionTrue, LastTransitionTime: now}},
			LastError:    "e",
			Changed:      []string{"x"},
			WaitingSince: now.Time, Expires: "2026-12-01", Origin: "o", Created: now.Time, Updated: now.Time,
			Sleep: &SleepState{Schedule: "s", Asleep: true},
			Wake:  &Wake{By: "b"},
			// Never changed, only replaced: the copy may share it.
			stored: &storedRecord{resourceVersion: "1", wake: "{}", plain: true},
		}
	}
	// A field added to Record without a line here, and in deepCopy when
	// it refers to memory, fails the test.
	if n := reflect.TypeFor[Record]().NumField(); n != 20 {
		t.Fatalf("Record has %d fields, this test knows 20: teach deepCopy and this test the new ones", n)
	}
	r := orig()
	c := r.deepCopy()
	if diff := cmp.Diff(r, c, cmp.AllowUnexported(Record{}, storedRecord{})); diff != "" {
		t.Fatalf("the copy differs (-orig +copy):\n%s", diff)
	}
	c.Objects[0].Name = "x"
	c.PreDelete[0]["spec"].(map[string]any)["list"].([]any)[0] = "y"
	c.Groups[0].Members[0] = "x"
	c.Conditions[0].Reason = "x"
	c.Changed[0] = "y"
	c.Sleep.Asleep = false
	c.Wake.By = "x"
	if diff := cmp.Diff(orig(), r, cmp.AllowUnexported(Record{}, storedRecord{})); diff != "" {
		t.Errorf("changing the copy changed the original (-want +got):\n%s", diff)
	}
}

// A pass without the cache lists records a page at a time, and reads
// every page: more records than fit one page all come back.
func TestRecordsAreListedInPages(t *testing.T) {
	f := newFixture(t, "a")
	cp := f.cps["a"]
	ctx := context.Background()
	if err := cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: SystemNamespace}}); err != nil {
		t.Fatal(err)
	}
	inv := inventory{client: cp.Client}
	n := 2*recordPageSize + 1
	for i := range n {
		if err := inv.write(ctx, &Record{Environment: fmt.Sprintf("env-%d", i), Cluster: "a", Digest: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	lists := f.requests(t, `verb="LIST"`, `resource="configmaps"`)
	records, err := inv.list(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != n {
		t.Fatalf("listed %d records, want %d", len(records), n)
	}
	for i := range n {
		if r := records[fmt.Sprintf("env-%d", i)]; r == nil || r.Digest != fmt.Sprint(i) {
			t.Fatalf("record env-%d: %+v", i, r)
		}
	}
	if got := f.requests(t, `verb="LIST"`, `resource="configmaps"`) - lists; got != 3 {
		t.Errorf("%d records took %d lists, want 3 pages of at most %d", n, got, recordPageSize)
	}
}
