package reconciler

import (
	"fmt"
	"sort"

	"github.com/allot-dev/allot/renderer"
	"github.com/allot-dev/allot/schemas"
)

// The deletion guards of one pass on one cluster: which environments go,
// and whether their deletion may happen.

// partition splits a cluster's environments into those the pass wants
// (rendered and not expired) and those it would tear down (recorded, not
// wanted, not kept after a failure), and applies the deletion guards: an
// error means nothing may be deleted on the cluster.
func (r *Reconciler) partition(bundles []*renderer.Bundle, records map[string]*Record, kept *Kept) (map[string]*renderer.Bundle, []*Record, error) {
	desired := map[string]*renderer.Bundle{}
	for _, b := range bundles {
		if !r.expired(b, records[b.Environment]) {
			desired[b.Environment] = b
		}
	}
	var gone []*Record
	for name, rec := range records {
		if _, want := desired[name]; !want && !kept.Holds(rec) {
			gone = append(gone, rec)
		}
	}
	sort.Slice(gone, func(i, j int) bool { return gone[i].Environment < gone[j].Environment })
	if r.AllowMassDelete {
		return desired, gone, nil
	}
	deletes, total := countDeletes(records, desired, gone)
	// A request kept after a failure lifts the empty-render guard only if
	// it has a record here: one broken request elsewhere, or one never
	// applied, says nothing about this cluster's environments.
	keptHere := false
	for _, rec := range records {
		keptHere = keptHere || kept.Holds(rec)
	}
	switch {
	case len(desired) == 0 && len(records) > 0 && !keptHere && len(gone) > 0:
		return desired, gone, ErrEmptyRender
	case total > 0 && float64(deletes) > r.maxDeleteShare()*float64(total):
		return desired, gone, fmt.Errorf("%w: %d of %d objects (more than %.0f%%); run with --allow-mass-delete if that is intended", ErrMassDelete, deletes, total, r.maxDeleteShare()*100)
	}
	return desired, gone, nil
}

// expired reports whether an environment's time is up: a date in the past,
// or a TTL counted from when allot first applied it.
func (r *Reconciler) expired(b *renderer.Bundle, rec *Record) bool {
	raw := b.Expires
	if raw == "" {
		return false
	}
	e, err := schemas.ParseExpiry(raw)
	if err != nil {
		return false
	}
	now := r.now()
	if !e.At.IsZero() {
		return !e.At.After(now)
	}
	return rec != nil && !rec.Created.IsZero() && !rec.Created.Add(e.TTL).After(now)
}

// countDeletes counts the objects the pass would delete and those allot
// manages on the cluster.
func countDeletes(records map[string]*Record, desired map[string]*renderer.Bundle, gone []*Record) (deletes, total int) {
	for name, rec := range records {
		total += len(rec.Objects)
		b, ok := desired[name]
		if !ok {
			continue
		}
		want := map[string]bool{}
		for _, p := range renderer.Phases() {
			for _, o := range b.Objects[p] {
				want[refOf(o, p).Key()] = true
			}
		}
		for _, o := range rec.Objects {
			if !want[o.Key()] {
				deletes++
			}
		}
	}
	for _, rec := range gone {
		deletes += len(rec.Objects)
	}
	return deletes, total
}
