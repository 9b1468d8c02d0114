package reconciler

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/fluxcd/pkg/ssa"
	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/allot-dev/allot/renderer"
)

// ChangePreDelete is the action of an object of the preDelete phase: it is
// applied when the environment is torn down, before anything is deleted.
const ChangePreDelete = "run at teardown"

// Change is what a plan would do to one object.
type Change struct {
	Object string `json:"object"`
	// Action is create, update, delete or unchanged.
	Action string `json:"action"`
	// Diff shows an update, with Secret values masked.
	Diff string `json:"diff,omitempty"`
}

// PlanEntry is what a plan would do to one environment on one cluster.
type PlanEntry struct {
	Cluster     string           `json:"cluster"`
	Environment string           `json:"environment"`
	Action      Action           `json:"action"`
	Changes     []Change         `json:"changes,omitempty"`
	Groups      []renderer.Group `json:"groups,omitempty"`
	Message     string           `json:"message,omitempty"`
}

// Plan is what a pass would do, computed with server-side dry runs and
// without writing anything.
type Plan struct {
	Commit  string            `json:"commit"`
	Entries []PlanEntry       `json:"entries"`
	Kept    map[string]string `json:"kept,omitempty"`
	// Errors are clusters that could not be planned, and guards that would
	// stop the pass.
	Errors []string `json:"errors,omitempty"`
	// Groups are the identity-provider changes, when the provider can plan.
	Groups []GroupChange `json:"groups,omitempty"`
}

// GroupChange is what a pass would do to one IdP group.
type GroupChange struct {
	Group  string   `json:"group"`
	Action string   `json:"action"`
	Add    []string `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
}

// GroupPlanner knows how to tell what SyncGroups would change without
// changing it.
type GroupPlanner interface {
	PlanGroupChanges(ctx context.Context, want []renderer.Group) ([]GroupChange, []error, error)
}

// Plan computes what a pass would do.
func (r *Reconciler) Plan(ctx context.Context) (*Plan, error) { return r.PlanOnly(ctx, nil) }

// PlanOnly computes what a pass would do to the environments only accepts;
// nil accepts every one. Server-side dry runs are made for those alone,
// so a pull request that touches one environment is planned quickly in a
// repository of thousands. The deletion guards still weigh every
// environment.
func (r *Reconciler) PlanOnly(ctx context.Context, only func(env string) bool) (*Plan, error) {
	plan := &Plan{Kept: map[string]string{}}
	state, err := r.prepare(ctx, plan.Kept)
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
		desired, gone, guard := r.partition(state.byCluster[entry.Name], records, plan.Kept)
		if guard != nil {
			plan.Errors = append(plan.Errors, fmt.Sprintf("cluster %s: %v", entry.Name, guard))
		}
		for _, b := range sortedBundles(desired) {
			if only == nil || only(b.Environment) {
				pe := r.planEnvironment(ctx, cl, b, records[b.Environment])
				if pe.Action == ActionFailed {
					plan.Errors = append(plan.Errors, fmt.Sprintf("cluster %s: environment %s: %s", entry.Name, b.Environment, pe.Message))
				}
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
				pe.Changes = append(pe.Changes, Change{Object: renderer.ObjectID(&u), Action: ChangePreDelete, Diff: added(o)})
			}
			for _, o := range reversePhases(rec.Objects) {
				pe.Changes = append(pe.Changes, Change{Object: o.String(), Action: "delete"})
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
	for _, p := range applyPhases {
		for _, o := range b.Objects[p] {
			want[refOf(o, p).Key()] = true
			ch := Change{Object: renderer.ObjectID(o), Action: "unchanged"}
			entry, live, dry, err := cl.Manager.Diff(ctx, o.DeepCopy(), ssa.DefaultDiffOptions())
			switch {
			case err != nil:
				// An object whose namespace does not exist yet cannot be dry
				// run; it will be created.
				ch.Action = "create"
			case entry.Action == ssa.CreatedAction:
				ch.Action = "create"
			case entry.Action == ssa.ConfiguredAction:
				ch.Action = "update"
				ch.Diff = diff(live, dry)
			}
			if ch.Action != "unchanged" && pe.Action == ActionUnchanged {
				pe.Action = ActionUpdated
			}
			pe.Changes = append(pe.Changes, ch)
		}
	}
	if pre := preDeleteObjects(b); len(pre) > 0 && (rec == nil || !equalObjects(pre, rec.PreDelete)) {
		// What runs at teardown is reviewed when it is set, not when it
		// runs: list it whenever it is new or changed.
		for _, o := range b.Objects[renderer.PhasePreDelete] {
			pe.Changes = append(pe.Changes, Change{Object: renderer.ObjectID(o), Action: ChangePreDelete, Diff: added(o.Object)})
		}
		if pe.Action == ActionUnchanged {
			pe.Action = ActionUpdated
		}
	}
	if rec != nil {
		for _, o := range reversePhases(rec.Objects) {
			if !want[o.Key()] {
				pe.Changes = append(pe.Changes, Change{Object: o.String(), Action: "delete"})
				pe.Action = ActionUpdated
			}
		}
	}
	return pe
}

// diff shows how an object would change, as YAML lines, without managed
// fields and with Secret values masked: a changed value shows only that it
// changed.
func diff(live, dry *unstructured.Unstructured) string {
	clean := func(u *unstructured.Unstructured) *unstructured.Unstructured {
		if u == nil {
			return &unstructured.Unstructured{Object: map[string]any{}}
		}
		c := u.DeepCopy()
		for _, f := range []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"} {
			unstructured.RemoveNestedField(c.Object, "metadata", f)
		}
		return c
	}
	a, b := clean(live), clean(dry)
	maskSecrets(a, b)
	text := func(u *unstructured.Unstructured) []string {
		data, err := yaml.Marshal(u.Object)
		if err != nil {
			return []string{err.Error()}
		}
		return strings.Split(string(data), "\n")
	}
	return cmp.Diff(text(a), text(b))
}

// added shows a whole object as the added lines of a diff, Secret values
// masked.
func added(obj map[string]any) string {
	u := &unstructured.Unstructured{Object: obj}
	c := u.DeepCopy()
	maskSecrets(&unstructured.Unstructured{Object: map[string]any{}}, c)
	data, err := yaml.Marshal(c.Object)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	for i, l := range lines {
		lines[i] = "+" + l
	}
	return strings.Join(lines, "\n")
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

// maskSecrets replaces the values of a Secret in both versions so that a
// plan never shows them, marking the ones that change.
func maskSecrets(live, dry *unstructured.Unstructured) {
	if dry.GetKind() != "Secret" || dry.GroupVersionKind().Group != "" {
		return
	}
	for _, field := range []string{"data", "stringData"} {
		old, _, _ := unstructured.NestedMap(live.Object, field)
		updated, _, _ := unstructured.NestedMap(dry.Object, field)
		for k := range old {
			old[k] = "***"
		}
		for k, v := range updated {
			if prev, ok := liveValue(live, field, k); ok && fmt.Sprint(prev) == fmt.Sprint(v) {
				updated[k] = "***"
			} else {
				updated[k] = "*** (changed)"
			}
		}
		if old != nil {
			_ = unstructured.SetNestedMap(live.Object, old, field)
		}
		if updated != nil {
			_ = unstructured.SetNestedMap(dry.Object, updated, field)
		}
	}
}

func liveValue(u *unstructured.Unstructured, field, key string) (any, bool) {
	m, ok, _ := unstructured.NestedMap(u.Object, field)
	if !ok {
		return nil, false
	}
	v, ok := m[key]
	return v, ok
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
	changes, problems, err := planner.PlanGroupChanges(ctx, groupsOf(state.byCluster))
	if err != nil {
		return fmt.Errorf("IdP: %w", err)
	}
	plan.Groups = changes
	for _, p := range problems {
		plan.Errors = append(plan.Errors, "IdP: "+p.Error())
	}
	return nil
}
