package reconciler

import (
	"errors"
	"fmt"
	"sort"

	"github.com/allot-dev/allot/renderer"
)

// The IdP groups a pass syncs: those of every environment it keeps.

// ErrMassGroupRemoval means a pass would remove more than the allowed share
// of the IdP groups allot manages.
var ErrMassGroupRemoval = errors.New("the pass would remove more than the allowed share of IdP groups")

// groupsToSync is the set of groups the IdP should hold after a pass: those
// of every rendered environment, plus those of environments that were kept
// or whose deletion was held, or that live on a cluster this pass could not
// read. Removing more than the allowed share of the groups known before the
// pass is held back like a mass delete.
func (r *Reconciler) groupsToSync(in *desiredState, kept *Kept, clusters []ClusterResult) ([]renderer.Group, error) {
	want := map[string]renderer.Group{}
	for _, g := range groupsOf(in.byCluster) {
		want[g.Name] = g
	}
	previous := map[string]renderer.Group{}
	for _, c := range clusters {
		for _, rec := range c.records {
			for _, g := range rec.Groups {
				previous[g.Name] = g
			}
		}
		keepAll := c.Err != nil
		for _, e := range c.Environments {
			if keepAll || e.Action == ActionHeld || e.Action == ActionFailed {
				for _, g := range c.records[e.Environment].groups() {
					if _, ok := want[g.Name]; !ok {
						want[g.Name] = g
					}
				}
			}
		}
	}
	for _, c := range clusters {
		for _, rec := range c.records {
			if !kept.Holds(rec) {
				continue
			}
			for _, g := range rec.groups() {
				if _, ok := want[g.Name]; !ok {
					want[g.Name] = g
				}
			}
		}
	}
	removed := 0
	for name := range previous {
		if _, ok := want[name]; !ok {
			removed++
		}
	}
	if !r.AllowMassDelete && len(previous) > 0 && float64(removed) > r.maxDeleteShare()*float64(len(previous)) {
		return nil, fmt.Errorf("%w: %d of %d; run with --allow-mass-delete if that is intended", ErrMassGroupRemoval, removed, len(previous))
	}
	out := make([]renderer.Group, 0, len(want))
	for _, g := range want {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func groupsOf(byCluster map[string][]*renderer.Bundle) []renderer.Group {
	seen := map[string]bool{}
	var out []renderer.Group
	for _, bs := range byCluster {
		for _, b := range bs {
			for _, g := range b.Groups {
				if !seen[g.Name] {
					seen[g.Name] = true
					out = append(out, g)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
