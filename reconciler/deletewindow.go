package reconciler

import (
	"context"
	"fmt"
	"time"

	"github.com/allot-dev/allot/renderer"
)

// passGuards adds to partition's verdict the guards that look beyond one
// pass: the history guard and the window guard.
func (r *Reconciler) passGuards(ctx context.Context, in *desiredState, notes clusterNotes, records map[string]*Record, desired map[string]*renderer.Bundle, gone []*Record, guard error) error {
	if guard != nil {
		return guard
	}
	deletes, total := countDeletes(records, desired, gone)
	if err := r.historyGuard(ctx, in, notes.LastCommit, deletes); err != nil {
		return err
	}
	return r.windowGuard(notes, deletes, total)
}

// deletedSince sums the deletions noted after since.
func deletedSince(notes []deletion, since time.Time) int {
	n := 0
	for _, d := range notes {
		if d.At.After(since) {
			n += d.Objects
		}
	}
	return n
}

// windowGuard holds a cluster's deletions when, with those of the passes
// within the window, more than the allowed share of what the cluster held
// at its start would be gone: two passes deleting 45% each are one mass
// delete. --allow-mass-delete lifts it.
func (r *Reconciler) windowGuard(notes clusterNotes, deletes, total int) error {
	window := r.deleteWindow()
	if deletes == 0 || window <= 0 || r.AllowMassDelete {
		return nil
	}
	earlier := deletedSince(notes.Deletions, r.now().Add(-window))
	if earlier == 0 {
		return nil
	}
	held := total + earlier
	if float64(deletes+earlier) > r.maxDeleteShare()*float64(held) {
		return fmt.Errorf("%w: %d objects after %d in the last %s, of the %d allot managed then (more than %.0f%%); run with --allow-mass-delete if that is intended",
			ErrMassDelete, deletes, earlier, window, held, r.maxDeleteShare()*100)
	}
	return nil
}

// noteDeletions adds a pass's deletions to the notes, keeping only those
// within the window.
func (r *Reconciler) noteDeletions(notes []deletion, deleted int) []deletion {
	since := r.now().Add(-r.deleteWindow())
	var out []deletion
	for _, d := range notes {
		if d.At.After(since) {
			out = append(out, d)
		}
	}
	if deleted > 0 {
		out = append(out, deletion{At: r.now().UTC().Truncate(time.Second), Objects: deleted})
	}
	return out
}
