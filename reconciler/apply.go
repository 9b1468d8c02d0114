package reconciler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fluxcd/pkg/ssa"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/allot-dev/allot/renderer"
)

// Action is what a pass did to one environment on one cluster.
type Action string

// Actions of a pass.
const (
	ActionCreated   Action = "created"
	ActionUpdated   Action = "updated"
	ActionUnchanged Action = "unchanged"
	ActionRepaired  Action = "repaired"
	// ActionDrifted means drift was found and, in warn mode, left alone.
	ActionDrifted Action = "drifted"
	ActionDeleted Action = "deleted"
	ActionFailed  Action = "failed"
	// ActionKept means the request failed to render and its last applied
	// state was left alone.
	ActionKept Action = "kept"
	// ActionHeld means deletions were held back by a guard.
	ActionHeld Action = "held"
)

// EnvResult is the outcome of one environment on one cluster.
type EnvResult struct {
	Environment string
	Cluster     string
	// Type and Namespace are the request's type and the environment's
	// namespace on Cluster; empty for environments torn down.
	Type      string
	Namespace string
	// Groups name the IdP groups that grant access to the environment.
	Groups []string
	Action Action
	// Ready is set when every object of the environment is ready.
	Ready   bool
	Applied int // objects created or changed
	// Changed lists the objects created or changed, as "Kind/ns/name
	// created", also when the pass failed part way.
	Changed []string
	Pruned  int // objects deleted
	// Message says more, such as what the environment waits for.
	Message string
	// Asleep is set for an environment asleep on its schedule; SleepUntil
	// is when it next wakes, or, awake, next sleeps (zero for never).
	Asleep     bool
	SleepUntil time.Time
	// Deadline, for an environment that is not ready, is when it fails
	// if it is still not ready then; a pass after it tells.
	Deadline time.Time
	// Expired is set on a teardown because the request's time was up,
	// rather than because its file left the repository.
	Expired bool
	Err     error

	// record is the environment's record as its pass left it, for the
	// notices that follow the pass.
	record *Record
}

// applyPhases are applied in this order; preDelete waits for teardown.
var applyPhases = []renderer.Phase{renderer.PhaseInit, renderer.PhaseInstall, renderer.PhasePostInstall}

// applyEnvironment applies one bundle to its cluster and prunes what left
// it. The intent is written before anything is applied, listing old and new
// objects, so that a crash in between never leaves an object allot does not
// know about; the rest of what the apply learns is left on e for the end of
// the environment's pass to write.
func (r *Reconciler) applyEnvironment(ctx context.Context, cp *clusterPass, b *renderer.Bundle, e *envRecord) EnvResult {
	cl, commit, allowPrune, dp := cp.cl, cp.commit, cp.allowPrune, cp.dp
	res := bundleResult(b, cl.Name)
	rec := e.rec
	now := r.now()
	desired := map[string]ObjectRef{}
	var refs []ObjectRef
	for _, p := range renderer.Phases() {
		for _, o := range b.Objects[p] {
			ref := refOf(o, p)
			if p != renderer.PhasePreDelete {
				desired[ref.Key()] = ref
				refs = append(refs, ref)
			}
		}
	}
	isNew := rec == nil
	if isNew {
		rec = &Record{Environment: b.Environment, Cluster: cl.Name, Created: now, Origin: commit}
	}
	var stale []ObjectRef
	for _, o := range rec.Objects {
		if _, ok := desired[o.Key()]; !ok {
			stale = append(stale, o)
		}
	}
	unchangedDigest := !isNew && rec.Digest == b.Digest && len(stale) == 0 && rec.LastError == ""
	if unchangedDigest && dp.mode == DriftWarn {
		return r.reportDrift(ctx, cl, e, b, res, dp)
	}

	if !unchangedDigest {
		// Never take over what exists and is not the environment's, nor
		// apply a kind with another scope than allowed.
		err := preflight(ctx, cl, b, rec)
		switch {
		case err != nil && isNew:
			// Nothing was applied, so there is nothing to record.
			res.Action, res.Err = ActionFailed, err
			return res
		case err != nil:
			return r.fail(e, res, preflightReason(err), err)
		}
	}
	var preDelete []map[string]any
	if !unchangedDigest {
		var err error
		preDelete, err = preDeleteObjects(b)
		switch {
		case err != nil && isNew:
			res.Action, res.Err = ActionFailed, err
			return res
		case err != nil:
			return r.fail(e, res, ReasonApplyFailed, err)
		}
	}
	e.rec = rec

	// Intent first: the union of what is there and what is coming.
	if !unchangedDigest {
		rec.File, rec.Groups, rec.PreDelete, rec.Expires = b.File, b.Groups, preDelete, b.Expires
		rec.Objects = union(rec.Objects, refs)
		rec.setCondition(ConditionProgressing, metav1.ConditionTrue, ReasonApplying, "applying commit "+short(commit), now)
		if err := e.writeNow(ctx, now); err != nil {
			res.Action, res.Err = ActionFailed, err
			return res
		}
	}

	var changes []string
	// seen is what this pass's answers showed of the objects it applied.
	seen := liveIndex{}
	for i, p := range applyPhases {
		if len(b.Objects[p]) == 0 {
			continue
		}
		var cs *ssa.ChangeSet
		var objs []*unstructured.Unstructured
		var err error
		if isNew && canApplyFresh(b.Objects[p]) {
			// Sent as rendered: nothing to decode.
			cs, err = applyFresh(ctx, cl, b.Objects[p], seen)
		} else {
			// The bundle keeps its objects as JSON: the phase's are decoded
			// for its apply, and dropped after it.
			if objs, err = renderer.DecodeAll(b.Objects[p]); err != nil {
				return r.fail(e, res, ReasonApplyFailed, fmt.Errorf("apply phase %s: %w", p, err))
			}
			opts := ssa.DefaultApplyOptions()
			opts.DriftIgnoreRules = dp.ignore
			// Namespaces and CRDs are applied first and waited for; poll
			// often. ssa's wait cannot be cancelled: bound it like a
			// request, so that a cluster that went away stalls the pass no
			// longer than that.
			opts.WaitInterval = r.waitInterval()
			opts.WaitTimeout = r.requestTimeout()
			cs, err = cl.Manager.ApplyAllStaged(ctx, copies(objs), opts)
		}
		changes = append(changes, changedObjects(cs)...)
		if err == nil && !isNew {
			// What others added to objects allot owns whole survives
			// server-side apply: remove it.
			var removed []string
			removed, err = removeForeign(ctx, cl, objs, dp, cp.live)
			changes = mergeChanges(changes, removed)
		}
		reason := ReasonApplyFailed
		if err != nil {
			err = fmt.Errorf("apply phase %s: %w", p, err)
		} else if hasLater(b, i) {
			// The next phase may need these objects: wait for them.
			if err = waitReady(ctx, r, cl, b.Objects[p], r.readinessTimeout(b), seen); err != nil {
				reason = readinessReason(err)
				err = fmt.Errorf("phase %s did not become ready: %w", p, err)
			}
		}
		if err != nil {
			res.Applied, res.Changed, rec.Changed = len(changes), changes, recordedChanges(changes)
			return r.fail(e, res, reason, err)
		}
		rec.Phase = p
	}
	res.Applied, res.Changed = len(changes), changes

	if len(stale) > 0 {
		if !allowPrune {
			res.Action = ActionHeld
			rec.Changed = recordedChanges(changes)
			rec.markWaiting(ReasonDeletionHeld, fmt.Sprintf("%d objects left the bundle but deletions are held by the deletion guards", len(stale)), now)
			e.touch(now)
			return res
		}
		n, err := r.deleteObjects(ctx, cl, b.Environment, reversePhases(stale))
		res.Pruned = n
		if err != nil {
			rec.Changed = recordedChanges(changes)
			return r.fail(e, res, ReasonPruneFailed, fmt.Errorf("prune: %w", err))
		}
	}

	switch {
	case isNew:
		res.Action = ActionCreated
	case unchangedDigest && len(changes) > 0:
		res.Action = ActionRepaired
	case unchangedDigest:
		res.Action = ActionUnchanged
	default:
		res.Action = ActionUpdated
	}
	if unchangedDigest && len(changes) == 0 {
		// Nothing changed and nothing drifted: write nothing, unless the
		// environment's readiness changed since.
		return r.refreshReadiness(ctx, cl, e, b, res)
	}
	if rec.Digest != b.Digest {
		// A new desired state: its readiness timeout starts now.
		rec.WaitingSince = time.Time{}
	}
	// What an answer showed is what a full check would find now: the next
	// pass may vouch for the object from a list.
	for i, ref := range refs {
		if lo, ok := seen[ref.Key()]; ok && !lo.foreign && !lo.deleting {
			refs[i].Owned = lo.owned
		}
	}
	rec.Objects, rec.Digest, rec.Commit, rec.LastError, rec.Changed = refs, b.Digest, commit, "", recordedChanges(changes)
	s := bundleReadiness(ctx, cl, b, seen)
	_, notReady := markReadiness(rec, s, r.readinessTimeout(b), now)
	if res.Action == ActionRepaired {
		rec.setCondition(ConditionDrifted, metav1.ConditionFalse, ReasonRepaired, fmt.Sprintf("%d objects repaired", len(changes)), now)
	}
	e.touch(now)
	return readinessResult(res, s, notReady, rec.WaitingSince.Add(r.readinessTimeout(b)))
}

// refreshReadiness reads an applied environment's readiness again; the
// record changes only when that changed.
func (r *Reconciler) refreshReadiness(ctx context.Context, cl *Cluster, e *envRecord, b *renderer.Bundle, res EnvResult) EnvResult {
	return r.noteReadiness(e, b, res, bundleReadiness(ctx, cl, b, nil))
}

// noteReadiness records an environment's readiness s; the record changes
// only when that changed it.
func (r *Reconciler) noteReadiness(e *envRecord, b *renderer.Bundle, res EnvResult, s setReadiness) EnvResult {
	now := r.now()
	changed, notReady := markReadiness(e.rec, s, r.readinessTimeout(b), now)
	if changed {
		e.touch(now)
	}
	return readinessResult(res, s, notReady, e.rec.WaitingSince.Add(r.readinessTimeout(b)))
}

// readinessResult completes an environment's result with its readiness:
// notReady is set when it failed for it, and deadline is when it fails if
// it is still not ready then.
func readinessResult(res EnvResult, s setReadiness, notReady error, deadline time.Time) EnvResult {
	if res.Err != nil {
		return res
	}
	if notReady != nil {
		res.Action, res.Err = ActionFailed, notReady
		return res
	}
	res.Ready = s.ready()
	if !res.Ready {
		res.Message = cmp.Or(res.Message, s.message())
		res.Deadline = deadline
	}
	return res
}

// reportDrift is the pass of an unchanged environment on a cluster in warn
// mode: it finds drift and records it, reads readiness again, and changes
// nothing else.
func (r *Reconciler) reportDrift(ctx context.Context, cl *Cluster, e *envRecord, b *renderer.Bundle, res EnvResult, dp driftPolicy) EnvResult {
	rec := e.rec
	objs, err := renderer.DecodeAll(bundleObjects(b))
	if err != nil {
		res.Action, res.Err = ActionFailed, fmt.Errorf("find drift: %w", err)
		return res
	}
	ids, err := drifted(ctx, cl, objs, dp)
	if err != nil {
		res.Action, res.Err = ActionFailed, fmt.Errorf("find drift: %w", err)
		return res
	}
	now := r.now()
	res.Action = ActionUnchanged
	was := rec.condition(ConditionDrifted) == metav1.ConditionTrue
	write := true
	switch {
	case len(ids) > 0:
		res.Action = ActionDrifted
		res.Message = "drifted: " + strings.Join(ids, ", ")
		rec.setCondition(ConditionDrifted, metav1.ConditionTrue, ReasonDriftFound, res.Message, now)
	case was:
		rec.setCondition(ConditionDrifted, metav1.ConditionFalse, ReasonNoDrift, "", now)
	default:
		write = false
	}
	s := bundleReadiness(ctx, cl, b, nil)
	changed, notReady := markReadiness(rec, s, r.readinessTimeout(b), now)
	if write || changed {
		e.touch(now)
	}
	return readinessResult(res, s, notReady, rec.WaitingSince.Add(r.readinessTimeout(b)))
}

// fail records on e why an environment failed, keeping its inventory,
// which still lists every object that may exist. It is the one place a
// failure reaches the record's conditions; the pass writes the record at
// its end.
func (r *Reconciler) fail(e *envRecord, res EnvResult, reason string, err error) EnvResult {
	now := r.now()
	e.rec.markFailed(reason, err, now)
	e.touch(now)
	res.Action, res.Err = ActionFailed, err
	return res
}

// preflightReason is the condition reason of a preflight error.
func preflightReason(err error) string {
	if errors.Is(err, ErrScope) {
		return ReasonScope
	}
	return ReasonConflict
}

// readinessReason is the condition reason of a readiness error.
func readinessReason(err error) string {
	if errors.Is(err, ErrObjectFailed) {
		return ReasonObjectFailed
	}
	if errors.Is(err, ErrNotReady) {
		return ReasonReadinessTimeout
	}
	return ReasonApplyFailed
}

// teardown removes an environment: its preDelete phase runs, then its
// objects are deleted in reverse phase order, then its record.
func (r *Reconciler) teardown(ctx context.Context, cl *Cluster, inv inventory, rec *Record) EnvResult {
	res := EnvResult{Environment: rec.Environment, Cluster: cl.Name, Action: ActionDeleted, Groups: groupNames(rec.Groups)}
	e := &envRecord{inv: inv, rec: rec}
	var preDelete []*unstructured.Unstructured
	for _, o := range rec.PreDelete {
		preDelete = append(preDelete, &unstructured.Unstructured{Object: o})
	}
	if len(preDelete) > 0 {
		for _, o := range preDelete {
			rec.Objects = union(rec.Objects, []ObjectRef{refOf(o, renderer.PhasePreDelete)})
		}
		// Intent first, as for an apply.
		if err := e.writeNow(ctx, r.now()); err != nil {
			res.Action, res.Err = ActionFailed, err
			return res
		}
		_, err := cl.Manager.ApplyAllStaged(ctx, copies(preDelete), ssa.DefaultApplyOptions())
		if err == nil {
			err = waitReady(ctx, r, cl, preDelete, r.teardownTimeout(), nil)
		}
		if err != nil {
			// A preDelete hook that fails must not keep the environment
			// forever; record it and go on, as Helm does with a timeout.
			res.Err = fmt.Errorf("preDelete phase: %w", err)
		}
	}
	n, err := r.deleteObjects(ctx, cl, rec.Environment, reversePhases(rec.Objects))
	res.Pruned = n
	if err != nil {
		return e.save(ctx, r.fail(e, res, ReasonPruneFailed, fmt.Errorf("teardown: %w", err)))
	}
	if err := inv.remove(ctx, rec.Environment); err != nil {
		res.Action, res.Err = ActionFailed, err
	}
	return res
}

// deleteObjects deletes the listed objects in order, but only those that
// exist, carry allot's labels and belong to env. It returns how many it
// deleted.
func (r *Reconciler) deleteObjects(ctx context.Context, cl *Cluster, env string, refs []ObjectRef) (int, error) {
	var errs []error
	n := 0
	for _, ref := range refs {
		obj := ref.Unstructured()
		err := cl.Client.Get(ctx, keyOf(ref), obj)
		if apierrors.IsNotFound(err) || isNoMatch(err) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("read %s: %w", ref, err))
			continue
		}
		l := obj.GetLabels()
		if l[renderer.LabelManagedBy] != renderer.ManagedByValue || l[renderer.LabelEnvironment] != env {
			// Someone else owns it now; never delete what allot did not make.
			continue
		}
		if obj.GetDeletionTimestamp() != nil {
			continue
		}
		if err := cl.Client.Delete(ctx, obj, propagationBackground()); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete %s: %w", ref, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// hasLater reports whether a phase after applyPhases[i] has objects, which
// is when phase i must be ready before going on.
func hasLater(b *renderer.Bundle, i int) bool {
	for _, p := range applyPhases[i+1:] {
		if len(b.Objects[p]) > 0 {
			return true
		}
	}
	return false
}

func preDeleteObjects(b *renderer.Bundle) ([]map[string]any, error) {
	objs, err := renderer.DecodeAll(b.Objects[renderer.PhasePreDelete])
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	for _, o := range objs {
		out = append(out, o.Object)
	}
	return out, nil
}

// copies deep-copies objects: ssa changes what it is given.
func copies(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		out[i] = o.DeepCopy()
	}
	return out
}

// changedObjects lists the objects a change set created or changed.
func changedObjects(cs *ssa.ChangeSet) []string {
	if cs == nil {
		return nil
	}
	var out []string
	for _, e := range cs.Entries {
		if e.Action == ssa.CreatedAction || e.Action == ssa.ConfiguredAction {
			out = append(out, e.Subject+" "+string(e.Action))
		}
	}
	return out
}

// mergeChanges adds to changes the entries of more whose objects it does
// not list yet.
func mergeChanges(changes, more []string) []string {
	for _, c := range more {
		subject, _, _ := strings.Cut(c, " ")
		if !slices.ContainsFunc(changes, func(have string) bool { return strings.HasPrefix(have, subject+" ") }) {
			changes = append(changes, c)
		}
	}
	return changes
}

// union returns a plus what of b is not in a.
func union(a, b []ObjectRef) []ObjectRef {
	seen := map[string]bool{}
	out := make([]ObjectRef, 0, len(a)+len(b))
	for _, lists := range [][]ObjectRef{a, b} {
		for _, r := range lists {
			if !seen[r.Key()] {
				seen[r.Key()] = true
				out = append(out, r)
			}
		}
	}
	return out
}

// reversePhases orders refs for deletion: postInstall first, init last, and
// namespaces after everything in them.
func reversePhases(refs []ObjectRef) []ObjectRef {
	order := map[renderer.Phase]int{renderer.PhasePreDelete: 0, renderer.PhasePostInstall: 1, renderer.PhaseInstall: 2, renderer.PhaseInit: 3}
	out := append([]ObjectRef(nil), refs...)
	rank := func(r ObjectRef) int {
		n := order[r.Phase] * 2
		if r.Kind == "Namespace" && r.Group == "" {
			n += 10
		}
		return n
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && rank(out[j]) < rank(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}

// bundleResult starts the result of applying b.
func bundleResult(b *renderer.Bundle, cluster string) EnvResult {
	return EnvResult{Environment: b.Environment, Cluster: cluster, Type: b.Type, Namespace: b.Namespace, Groups: groupNames(b.Groups)}
}

func groupNames(groups []renderer.Group) []string {
	var names []string
	for _, g := range groups {
		names = append(names, g.Name)
	}
	return names
}

// maxRecordedChanges bounds the changes a record lists, which share its
// ConfigMap's 1 MiB with the objects.
const maxRecordedChanges = 200

// recordedChanges is what a record keeps of a pass's changes.
func recordedChanges(changes []string) []string {
	if len(changes) <= maxRecordedChanges {
		return changes
	}
	out := append([]string(nil), changes[:maxRecordedChanges]...)
	return append(out, fmt.Sprintf("… and %d more", len(changes)-maxRecordedChanges))
}
