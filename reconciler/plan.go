package reconciler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/allot-dev/allot/reconciler/idp"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/allot-dev/allot/renderer"
)

// ChangePreDelete is the action of an object of the preDelete phase: it is
// applied when the environment is torn down, before anything is deleted.
const ChangePreDelete = "run at teardown"

// The actions of a Change. They name what a pass would do; a plan's text
// says them in the future tense (Change.Verb).
const (
	ChangeCreate    = "create"
	ChangeUpdate    = "update"
	ChangeDelete    = "delete"
	ChangeUnchanged = "unchanged"
	// ChangeRejected is an object the API server refuses in a dry run:
	// the pass would fail on it. Change.Error holds the server's message.
	ChangeRejected = "rejected"
)

// Verb says a change in the future tense, as a plan speaks:
// "would create".
func (c Change) Verb() string { return futureVerb(c.Action) }

func futureVerb(action string) string {
	switch action {
	case ChangeUpdate:
		return "would change"
	case ChangeCreate, ChangeDelete, ChangePreDelete:
		return "would " + action
	}
	return action
}

// FutureAction says what a plan entry's action would be, in the future
// tense: "would be created".
func FutureAction(a Action) string {
	switch a {
	case ActionCreated, ActionUpdated:
		return "would be " + string(a)
	case ActionDeleted:
		return "would be torn down"
	case ActionFailed:
		return "would fail"
	}
	return string(a)
}

// Change is what a plan would do to one object.
type Change struct {
	Object string `json:"object"`
	// Action is create, update, delete, unchanged, rejected or
	// ChangePreDelete.
	Action string `json:"action"`
	// Diff shows an update as a unified diff of the object's YAML, live
	// against the dry run's result, with Secret data masked.
	Diff string `json:"diff,omitempty"`
	// Error is the API server's message for a rejected object.
	Error string `json:"error,omitempty"`
	// Note says what the plan could not check, such as a custom resource
	// whose definition the pass creates first.
	Note string `json:"note,omitempty"`
}

// PlanEntry is what a plan would do to one environment on one cluster.
type PlanEntry struct {
	Cluster     string           `json:"cluster"`
	Environment string           `json:"environment"`
	Action      Action           `json:"action"`
	Changes     []Change         `json:"changes,omitempty"`
	Groups      []renderer.Group `json:"groups,omitempty"`
	Message     string           `json:"message,omitempty"`
	// Sleep is the schedule the environment sleeps on, as a person reads
	// it, and Asleep whether it would be asleep now.
	Sleep  string `json:"sleep,omitempty"`
	Asleep bool   `json:"asleep,omitempty"`
}

// Plan is what a pass would do, computed with server-side dry runs and
// without writing anything.
type Plan struct {
	Commit  string      `json:"commit"`
	Entries []PlanEntry `json:"entries"`
	// Kept are the requests that failed to validate or render.
	Kept Kept `json:"kept"`
	// Errors are clusters that could not be planned, and guards that would
	// stop the pass.
	Errors []string `json:"errors,omitempty"`
	// Groups are the identity-provider changes, when the provider can plan.
	Groups []GroupChange `json:"groups,omitempty"`
}

// HasChanges reports whether the pass would change anything: an object, an
// environment or an IdP group.
func (p *Plan) HasChanges() bool {
	for _, e := range p.Entries {
		if e.Action != ActionUnchanged {
			return true
		}
		for _, c := range e.Changes {
			if c.Action != ChangeUnchanged {
				return true
			}
		}
	}
	for _, g := range p.Groups {
		if g.Action != ChangeUnchanged {
			return true
		}
	}
	return false
}

// GroupChange is what a pass would do to one IdP group.
type GroupChange = idp.GroupChange

// GroupPlanner knows how to tell what SyncGroups would change without
// changing it; idp.Syncer is one.
type GroupPlanner interface {
	PlanGroups(ctx context.Context, want []renderer.Group) ([]GroupChange, []error, error)
}

// Plan computes what a pass would do.
func (r *Reconciler) Plan(ctx context.Context) (*Plan, error) { return r.PlanOnly(ctx, nil) }

// PlanOnly computes what a pass would do to the environments only accepts;
// nil accepts every one. Server-side dry runs are made for those alone,
// so a pull request that touches one environment is planned quickly in a
// repository of thousands. The deletion guards still weigh every
// environment.
func (r *Reconciler) PlanOnly(ctx context.Context, only func(env string) bool) (*Plan, error) {
	plan := &Plan{}
	// As a pass does: the render cache's files are written before it ends.
	defer r.renderCache().Wait()
	state, err := r.prepare(ctx, &plan.Kept)
	if err != nil {
		return nil, err
	}
	plan.Commit = state.commit
	for _, entry := range state.clusters {
		cl, err := r.cluster(ctx, entry)
		if err != nil {
			plan.Errors = append(plan.Errors, err.Error())
			continue
		}
		records, err := inventory{client: cl.Client}.list(ctx)
		if err != nil {
			plan.Errors = append(plan.Errors, fmt.Sprintf("cluster %s: %v", entry.Name, err))
			continue
		}
		desired, gone, guard := r.partition(state.byCluster[entry.Name], records, &plan.Kept)
		// Planned as a pass would apply it: asleep when it sleeps now.
		sleep := r.planSleep(desired, records)
		if notes, err := (inventory{client: cl.Client}).notes(ctx); err != nil {
			guard = errors.Join(guard, err)
		} else {
			guard = r.passGuards(ctx, state, notes, records, desired, gone, guard)
		}
		if guard != nil {
			plan.Errors = append(plan.Errors, fmt.Sprintf("cluster %s: %v", entry.Name, guard))
		}
		for _, b := range sortedBundles(desired) {
			if only == nil || only(b.Environment) {
				pe := r.planEnvironment(ctx, cl, b, records[b.Environment])
				if st := sleep[b.Environment]; st != nil {
					pe.Sleep, pe.Asleep = st.Schedule, st.Asleep
				}
				plan.Errors = append(plan.Errors, entryErrors(pe)...)
				plan.Entries = append(plan.Entries, pe)
			}
		}
		for _, rec := range gone {
			if only != nil && !only(rec.Environment) {
				continue
			}
			pe := PlanEntry{Cluster: entry.Name, Environment: rec.Environment, Action: ActionDeleted, Groups: rec.Groups}
			for _, o := range rec.PreDelete {
				u := unstructured.Unstructured{Object: o}
				id := renderer.ObjectID(&u)
				pe.Changes = append(pe.Changes, Change{Object: id, Action: ChangePreDelete, Diff: added(id, o)})
			}
			for _, o := range reversePhases(rec.Objects) {
				pe.Changes = append(pe.Changes, Change{Object: o.String(), Action: ChangeDelete})
			}
			plan.Entries = append(plan.Entries, pe)
		}
	}
	if err := r.planGroups(ctx, state, plan); err != nil {
		plan.Errors = append(plan.Errors, err.Error())
	}
	sort.SliceStable(plan.Entries, func(i, j int) bool {
		a, b := plan.Entries[i], plan.Entries[j]
		if a.Cluster != b.Cluster {
			return a.Cluster < b.Cluster
		}
		return a.Environment < b.Environment
	})
	return plan, nil
}

// entryErrors are the errors a plan entry adds to its plan: each object
// the API server rejects, naming it and with the server's message, or why
// the environment cannot be applied at all.
func entryErrors(pe PlanEntry) []string {
	var errs []string
	for _, ch := range pe.Changes {
		if ch.Action == ChangeRejected {
			errs = append(errs, fmt.Sprintf("cluster %s: environment %s: %s: rejected by the API server: %s", pe.Cluster, pe.Environment, ch.Object, ch.Error))
		}
	}
	if len(errs) == 0 && pe.Action == ActionFailed {
		errs = append(errs, fmt.Sprintf("cluster %s: environment %s: %s", pe.Cluster, pe.Environment, pe.Message))
	}
	return errs
}

func objectCount(n int) string {
	if n == 1 {
		return "1 object"
	}
	return fmt.Sprintf("%d objects", n)
}

func (r *Reconciler) planEnvironment(ctx context.Context, cl *Cluster, b *renderer.Bundle, rec *Record) PlanEntry {
	pe := PlanEntry{Cluster: cl.Name, Environment: b.Environment, Action: ActionUnchanged, Groups: b.Groups}
	if rec == nil {
		pe.Action = ActionCreated
	}
	if err := preflight(ctx, cl, b, rec); err != nil {
		pe.Action, pe.Message = ActionFailed, err.Error()
		return pe
	}
	want := map[string]bool{}
	scope := scopeOf(b)
	rejected := 0
	for _, p := range applyPhases {
		objs, err := renderer.DecodeAll(b.Objects[p])
		if err != nil {
			pe.Action, pe.Message = ActionFailed, err.Error()
			return pe
		}
		for _, o := range objs {
			want[refOf(o, p).Key()] = true
			ch := dryRunChange(ctx, cl, o, scope)
			switch {
			case ch.Action == ChangeRejected:
				rejected++
			case ch.Action != ChangeUnchanged && pe.Action == ActionUnchanged:
				pe.Action = ActionUpdated
			}
			pe.Changes = append(pe.Changes, ch)
		}
	}
	pre, err := preDeleteObjects(b)
	if err != nil {
		pe.Action, pe.Message = ActionFailed, err.Error()
		return pe
	}
	if len(pre) > 0 && (rec == nil || !equalObjects(pre, rec.PreDelete)) {
		// What runs at teardown is reviewed when it is set, not when it
		// runs: list it whenever it is new or changed.
		for i, o := range b.Objects[renderer.PhasePreDelete] {
			id := renderer.ObjectID(o)
			pe.Changes = append(pe.Changes, Change{Object: id, Action: ChangePreDelete, Diff: added(id, pre[i])})
		}
		if pe.Action == ActionUnchanged {
			pe.Action = ActionUpdated
		}
	}
	if rec != nil {
		for _, o := range reversePhases(rec.Objects) {
			if !want[o.Key()] {
				pe.Changes = append(pe.Changes, Change{Object: o.String(), Action: ChangeDelete})
				pe.Action = ActionUpdated
			}
		}
	}
	if rejected > 0 {
		pe.Action, pe.Message = ActionFailed, fmt.Sprintf("the API server rejects %s in a dry run; the pass would fail", objectCount(rejected))
	}
	return pe
}

// equalObjects reports whether two lists of objects are the same, as JSON
// sees them.
func equalObjects(a, b []map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, errX := json.Marshal(a[i])
		y, errY := json.Marshal(b[i])
		if errX != nil || errY != nil || !bytes.Equal(x, y) {
			return false
		}
	}
	return true
}

// planGroups adds the IdP changes of the desired state to the plan.
func (r *Reconciler) planGroups(ctx context.Context, state *desiredState, plan *Plan) error {
	syncer := r.Groups
	if syncer == nil && r.GroupsFor != nil {
		var err error
		if syncer, err = r.GroupsFor(state.platform.IdentityProvider); err != nil {
			return fmt.Errorf("IdP: %w", err)
		}
	}
	planner, ok := syncer.(GroupPlanner)
	if !ok {
		return nil
	}
	changes, problems, err := planner.PlanGroups(ctx, groupsOf(state.byCluster))
	if err != nil {
		return fmt.Errorf("IdP: %w", err)
	}
	plan.Groups = changes
	for _, p := range problems {
		plan.Errors = append(plan.Errors, "IdP: "+p.Error())
	}
	return nil
}
