package reconciler

import (
	"testing"
	"time"
)

// recordWrites counts the server-side applies of ConfigMaps cluster a has
// served: in these tests, only records are ConfigMaps allot applies.
func (f *fixture) recordWrites(t *testing.T) int {
	t.Helper()
	return f.requests(t, `resource="configmaps"`, `verb="APPLY"`)
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
