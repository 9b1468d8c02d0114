package reconciler

import (
	"context"
	"errors"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/allot-dev/allot/renderer"
)

// envRecord is one environment's record through its pass. The steps of the
// pass (apply, readiness, drift, import, sleep) change rec and say so with
// touch; save writes it once, at the end. Only the intent, written before
// anything is applied, goes out at once (writeNow): a crash between the
// write and the apply must never leave an object allot does not know about.
type envRecord struct {
	inv inventory
	// rec is nil for an environment that has no record yet and got none,
	// such as a new one whose preflight failed before anything was applied.
	rec   *Record
	dirty bool
}

// touch notes that rec changed at now and must be written.
func (e *envRecord) touch(now time.Time) {
	e.rec.Updated = now
	e.dirty = true
}

// writeNow writes rec at once, touched at now.
func (e *envRecord) writeNow(ctx context.Context, now time.Time) error {
	e.touch(now)
	if err := e.inv.write(ctx, e.rec); err != nil {
		return err
	}
	e.dirty = false
	return nil
}

// save writes rec if a step changed it since it was last written, and
// completes res: a record that cannot be written fails the environment,
// since the next pass would read a record that does not say what was done.
func (e *envRecord) save(ctx context.Context, res EnvResult) EnvResult {
	res.record = e.rec
	if e.rec == nil || !e.dirty {
		return res
	}
	if err := e.inv.write(ctx, e.rec); err != nil {
		res.Action, res.Err, res.Ready = ActionFailed, errors.Join(res.Err, err), false
		return res
	}
	e.dirty = false
	return res
}

// passEnvironment is one environment's pass on a cluster, from its record
// rec (nil for a new one): it applies what changed, or only reads
// readiness when the drift watch or the live lists vouch that nothing
// allot applies changed, then imports and settles its sleep st, and writes
// the record once, at the end, with what each step learnt. Kinds in synced
// were fully listed by the drift watch before the pass began: an
// environment the pass found as desired is clean from then on.
func (r *Reconciler) passEnvironment(ctx context.Context, cp *clusterPass, b *renderer.Bundle, rec *Record, st *SleepState, synced map[schema.GroupVersionResource]bool) EnvResult {
	cl, live := cp.cl, cp.live
	e := &envRecord{inv: cp.inv, rec: rec}
	if rec != nil && rec.Digest == b.Digest && rec.condition(ConditionReady) == metav1.ConditionTrue && r.isClean(cl.Name, b.Environment, b.Digest) && b.Import == nil {
		// The drift watch saw nothing change since the last pass.
		res := bundleResult(b, cl.Name)
		res.Action, res.Ready = ActionUnchanged, true
		if r.takeStatusChange(cl.Name, b.Environment) {
			// Nothing to apply, but readiness may have changed.
			res = r.refreshReadiness(ctx, cl, e, b, res)
		}
		return e.save(ctx, r.settleSleep(ctx, cl, e, b, st, res))
	}
	r.takeStatusChange(cl.Name, b.Environment)
	dirtyBefore := r.dirtyCount(cl.Name, b.Environment)
	var res EnvResult
	if live != nil && rec != nil && rec.Digest == b.Digest && rec.LastError == "" && b.Import == nil &&
		rec.condition(ConditionDrifted) != metav1.ConditionTrue && live.vouches(b, rec) {
		// Nothing allot applies changed: read readiness only.
		res = bundleResult(b, cl.Name)
		res.Action = ActionUnchanged
		res = r.noteReadiness(e, b, res, live.readiness(b))
	} else {
		res = r.applyEnvironment(ctx, cp, b, e)
		if res.Err == nil && res.Action == ActionUnchanged && live != nil && rec != nil && live.note(rec) {
			// A full check found nothing to do: note what the cluster
			// showed, so that the next pass needs none.
			e.dirty = true
		}
		if res.Err == nil && b.Import != nil {
			res = r.applyImport(ctx, cl, e, b, cp.commit, res)
		}
	}
	res = e.save(ctx, r.settleSleep(ctx, cl, e, b, st, res))
	if res.Err == nil && len(synced) > 0 && slices.Contains(cleanActions, res.Action) {
		r.markClean(cl, b, synced, dirtyBefore)
	}
	return res
}

// cleanActions leave an environment as its bundle says: the drift watch
// vouches for it until it sees a change.
var cleanActions = []Action{ActionUnchanged, ActionRepaired, ActionUpdated, ActionCreated}
