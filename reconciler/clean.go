package reconciler

import (
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/allot-dev/allot/renderer"
)

// The clean and dirty bookkeeping: which environments the drift watch
// vouches for, so that a pass needs no API call for them.

func (r *Reconciler) watcher() *watcher {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.watch == nil {
		r.watch = &watcher{
			log: r.log(),
			onDrift: func(d Drift) {
				r.markDirty(d.Cluster, d.Environment)
				r.OnDrift(d)
			},
			onStatus: func(c StatusChange) {
				r.markStatusChanged(c.Cluster, c.Environment)
				if r.OnStatusChange != nil {
					r.OnStatusChange(c)
				}
			},
		}
	}
	return r.watch
}

// markDirty makes the next pass check an environment against its cluster.
func (r *Reconciler) markDirty(cluster, env string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.clean, cluster+"/"+env)
	if r.dirty == nil {
		r.dirty = map[string]int{}
	}
	r.dirty[cluster+"/"+env]++
}

// markStatusChanged makes the next pass read an environment's readiness.
func (r *Reconciler) markStatusChanged(cluster, env string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.statusChanged == nil {
		r.statusChanged = map[string]bool{}
	}
	r.statusChanged[cluster+"/"+env] = true
}

// takeStatusChange reports whether an environment's status changed since
// it was last asked, and forgets it: a change that arrives while its
// readiness is read is kept for the next pass.
func (r *Reconciler) takeStatusChange(cluster, env string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := r.statusChanged[cluster+"/"+env]
	delete(r.statusChanged, cluster+"/"+env)
	return changed
}

// dirtyCount is the number of drift events seen for an environment.
func (r *Reconciler) dirtyCount(cluster, env string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dirty[cluster+"/"+env]
}

// Invalidate makes the next pass check every environment against its
// cluster, as the periodic full pass does.
func (r *Reconciler) Invalidate() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clean = nil
}

// isClean reports whether an environment is known to match digest.
func (r *Reconciler) isClean(cluster, env, digest string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.clean[cluster+"/"+env] == digest
}

// markClean records that an environment matched digest at the end of a
// pass during which the watch covered every kind it uses.
func (r *Reconciler) markClean(cl *Cluster, b *renderer.Bundle, synced map[schema.GroupVersionResource]bool, dirtyBefore int) {
	for _, p := range applyPhases {
		for _, o := range b.Objects[p] {
			m, err := cl.mapping(o.GroupVersionKind())
			if err != nil || !synced[m.Resource] {
				return
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dirty[cl.Name+"/"+b.Environment] != dirtyBefore {
		return // drift arrived while the pass applied
	}
	if r.clean == nil {
		r.clean = map[string]string{}
	}
	r.clean[cl.Name+"/"+b.Environment] = b.Digest
}

// StopWatching stops the drift watches a pass started.
func (r *Reconciler) StopWatching() {
	r.mu.Lock()
	w := r.watch
	r.watch = nil
	r.mu.Unlock()
	if w != nil {
		w.stopAll()
	}
}

func appliedRefs(desired map[string]*renderer.Bundle) []ObjectRef {
	var refs []ObjectRef
	for _, b := range desired {
		for _, p := range applyPhases {
			for _, o := range b.Objects[p] {
				refs = append(refs, refOf(o, p))
			}
		}
	}
	return refs
}
