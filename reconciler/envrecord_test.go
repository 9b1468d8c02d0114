package reconciler

import (
	"testing"
	"time"
)

// recordWrites counts the server-side applies of ConfigMaps cluster a has
// served: in these tests, only records are ConfigMaps allot applies.
func (f *fixture) recordWrites(t *testing.T) int {
	t.Helper()
	return f.apiRequests(t, "a", `resource="configmaps"`, `verb="APPLY"`)
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
