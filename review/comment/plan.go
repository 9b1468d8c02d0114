package comment

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/renderer"
)

func writePlan(b *strings.Builder, r *Report, fork bool, l limits) {
	p := r.Plan
	if p == nil {
		if r.Err != "" && r.NotPlanned == "" {
			return
		}
		b.WriteString("#### Plan\n\nNot planned")
		if r.NotPlanned != "" {
			b.WriteString(": " + Escape(r.NotPlanned))
		}
		b.WriteString("\n\n")
		if fork {
			b.WriteString("Pull requests from forks are validated without secrets.\n\n")
		}
		return
	}
	b.WriteString("#### Plan\n\n")
	listed := min(listLimit(l), maxListed)
	if len(p.Errors) > 0 {
		b.WriteString("**Could not plan everything:**\n\n")
		bullets(b, p.Errors, listed, "error", Escape)
	}
	if p.Kept.Len() > 0 {
		b.WriteString("**Failed to render; their clusters keep the last applied state:**\n\n")
		bullets(b, p.Kept.List(), listed, "request", func(kr reconciler.KeptRequest) string {
			return Code(kr.Environment+kr.File) + ": " + Escape(kr.Message)
		})
	}
	entries, more := firstN(p.Entries, listLimit(l))
	full, summed := firstN(entries, l.expanded)
	if len(p.Entries) == 0 {
		b.WriteString("Nothing to change.\n\n")
	}
	for _, e := range full {
		writeEntry(b, e, l)
	}
	if summed > 0 {
		b.WriteString("Shown as summaries to fit in a comment; run `allot plan` for the details:\n\n")
		for _, e := range entries[len(full):] {
			b.WriteString("- " + Escape(entrySummary(e)) + "\n")
		}
		b.WriteString("\n")
	}
	if more > 0 {
		fmt.Fprintf(b, "… %s not shown; run `allot plan` for the full plan.\n\n", Count(more, "more entry"))
	}
	writeGroupChanges(b, p.Groups, l)
}

// writeEntry writes one environment on one cluster as a collapsed block
// whose summary line says what would happen.
func writeEntry(b *strings.Builder, e reconciler.PlanEntry, l limits) {
	fmt.Fprintf(b, "<details>\n<summary>%s</summary>\n\n", mdHTML(entrySummary(e)))
	empty := true
	if e.Message != "" {
		b.WriteString(Escape(e.Message) + "\n\n")
		empty = false
	}
	if e.Sleep != "" {
		now := "awake now"
		if e.Asleep {
			now = "asleep now"
		}
		b.WriteString("**Sleeps:** " + Code(e.Sleep) + " (" + now + "): scaled to zero while it sleeps; `/wake` on the merged pull request wakes it early.\n\n")
		empty = false
	}
	var changes []reconciler.Change
	for _, ch := range e.Changes {
		if ch.Action != reconciler.ChangeUnchanged {
			changes = append(changes, ch)
		}
	}
	if len(changes) > 0 {
		shown, _ := firstN(changes, l.objects)
		bullets(b, changes, l.objects, "object", func(ch reconciler.Change) string {
			s := Escape(ch.Verb()) + " " + Code(ch.Object)
			switch {
			case ch.Error != "":
				s += ": " + Escape(ch.Error)
			case ch.Note != "":
				s += " (" + Escape(ch.Note) + ")"
			}
			return s
		})
		for _, ch := range shown {
			if ch.Diff != "" {
				writeDiff(b, ch, l.diff)
			}
		}
		empty = false
	}
	if len(e.Groups) > 0 {
		b.WriteString("**Groups:**\n\n")
		bullets(b, e.Groups, l.objects, "group", func(g renderer.Group) string {
			return Code(g.Name) + ": " + List(g.Members, min(listLimit(l), maxListed), "member", Code)
		})
		empty = false
	}
	if empty {
		b.WriteString("Nothing to change.\n\n")
	}
	b.WriteString("</details>\n\n")
}

// writeDiff writes the diff of one object, cut to at most limit bytes at a
// line boundary, in a fence that no backtick run in the diff can close.
func writeDiff(b *strings.Builder, ch reconciler.Change, limit int) {
	shown, dropped := cutLines(ch.Diff, limit)
	b.WriteString(Code(ch.Object) + ":\n\n")
	if shown != "" {
		writeFence(b, "diff", shown)
	}
	switch {
	case dropped > 0 && shown != "":
		fmt.Fprintf(b, "… %s not shown; run `allot plan` for the full diff\n\n", Count(dropped, "more line"))
	case dropped > 0:
		fmt.Fprintf(b, "… %s not shown; run `allot plan` for the full diff\n\n", Count(dropped, "line"))
	}
}

// cutLines returns the lines of s that fit in limit bytes, and how many
// lines it leaves out. A negative limit keeps everything.
func cutLines(s string, limit int) (string, int) {
	if limit < 0 || len(s) <= limit {
		return s, 0
	}
	kept := ""
	if i := strings.LastIndexByte(s[:limit+1], '\n'); i >= 0 {
		kept = s[:i]
	}
	lines := func(s string) int {
		if s == "" {
			return 0
		}
		return strings.Count(s, "\n") + 1
	}
	return kept, lines(s) - lines(kept)
}

func writeGroupChanges(b *strings.Builder, changes []reconciler.GroupChange, l limits) {
	var shown []reconciler.GroupChange
	for _, g := range changes {
		if g.Action != "unchanged" {
			shown = append(shown, g)
		}
	}
	if len(shown) == 0 {
		return
	}
	listed := min(listLimit(l), maxListed)
	b.WriteString("**IdP group changes:**\n\n")
	bullets(b, shown, listLimit(l), "group change", func(g reconciler.GroupChange) string {
		s := Escape(g.Verb()) + " " + Code(g.Group)
		var parts []string
		if len(g.Add) > 0 {
			parts = append(parts, "add "+List(g.Add, listed, "member", Code))
		}
		if len(g.Remove) > 0 {
			parts = append(parts, "remove "+List(g.Remove, listed, "member", Code))
		}
		if len(parts) > 0 {
			s += ": " + strings.Join(parts, "; ")
		}
		return s
	})
}

// entrySummary is the one line that stays of a plan entry however little
// room there is: "dev-eu-1 / checkout-dev: created — 4 to create, 1 to
// update". It is plain text, to be escaped for where it goes.
func entrySummary(e reconciler.PlanEntry) string {
	counts := map[string]int{}
	for _, ch := range e.Changes {
		counts[ch.Action]++
	}
	actions := slices.SortedFunc(mapKeys(counts), func(a, b string) int {
		return cmp.Or(cmp.Compare(actionRank(a), actionRank(b)), cmp.Compare(a, b))
	})
	var parts []string
	for _, a := range actions {
		switch a {
		case reconciler.ChangeCreate, reconciler.ChangeDelete:
			parts = append(parts, withCommas(counts[a])+" to "+a)
		case reconciler.ChangeUpdate:
			parts = append(parts, withCommas(counts[a])+" to change")
		default:
			parts = append(parts, withCommas(counts[a])+" "+a)
		}
	}
	if len(parts) == 0 {
		parts = []string{"no objects"}
	}
	return fmt.Sprintf("%s / %s: %s — %s", e.Cluster, e.Environment, reconciler.FutureAction(e.Action), strings.Join(parts, ", "))
}

func actionRank(a string) int {
	switch a {
	case reconciler.ChangeRejected:
		return 0
	case reconciler.ChangeCreate:
		return 1
	case reconciler.ChangeUpdate:
		return 2
	case reconciler.ChangeDelete:
		return 3
	case reconciler.ChangeUnchanged:
		return 5
	}
	return 4
}

// limits bound how much a rendering shows; a negative field shows all.
type limits struct {
	// diff is the most bytes shown of each diff.
	diff int
	// objects is the most objects and groups listed per plan entry.
	objects int
	// expanded is how many plan entries are shown in full; the others are
	// shown as summary lines.
	expanded int
	// items is the most items of any other list.
	items int
}

func listLimit(l limits) int {
	if l.items < 0 {
		return int(^uint(0) >> 1)
	}
	return l.items
}

// diffShare is how much of each diff an entry shown in full keeps when
// entries must be collapsed to fit: about 40 lines.
const diffShare = 2000

// fit renders with ever tighter limits until the result is within max
// bytes, and returns "" when even the tightest do not fit. It cuts diffs
// first, then lists fewer objects per plan entry, then shows fewer entries
// in full, giving the room that frees back to the diffs; only then does it
// shorten every list. Each step searches for the loosest limit that fits,
// up to the bound in hi. render returns the finished text, as its length
// is what counts.
func fit(max int, hi limits, render func(limits) string) string {
	var best string
	l := limits{diff: -1, objects: -1, expanded: -1, items: -1}
	try := func() bool {
		if s := render(l); len(s) <= max {
			best = s
			return true
		}
		return false
	}
	// loosest sets *limit to the largest value in [lo, up] that fits, or
	// reports that lo does not.
	loosest := func(limit *int, lo, up int) bool {
		*limit = lo
		if !try() {
			return false
		}
		for lo < up {
			mid := lo + (up-lo+1)/2
			if *limit = mid; try() {
				lo = mid
			} else {
				up = mid - 1
			}
		}
		*limit = lo
		return true
	}
	if try() || loosest(&l.diff, 0, hi.diff) {
		return best
	}
	if !loosest(&l.objects, 1, hi.objects) {
		// An entry shown in full should show some of its diffs: entries
		// are collapsed until those fit.
		l.objects, l.diff = -1, min(hi.diff, diffShare)
		if !loosest(&l.expanded, 0, hi.expanded) {
			if loosest(&l.items, 0, hi.items) {
				return best
			}
			return ""
		}
	}
	// What fewer objects or entries left free goes back to the diffs.
	loosest(&l.diff, 0, hi.diff)
	return best
}

// bounds returns the largest diff, the most objects of a plan entry and
// the longest list of a view: where the search for limits starts.
func bounds(v View) limits {
	var hi limits
	items := func(n int) { hi.items = max(hi.items, n) }
	items(len(v.Approvers) + len(v.ApproverTeams))
	items(max(len(v.Approval.ApprovedBy), len(v.Approval.Stale), len(v.Approval.HeldBy)))
	r := v.Report
	if r == nil {
		return hi
	}
	items(max(len(r.Files), len(r.Environments), len(r.Problems)))
	if p := r.Plan; p != nil {
		items(max(len(p.Entries), len(p.Errors), p.Kept.Len(), len(p.Groups)))
		for _, g := range p.Groups {
			items(max(len(g.Add), len(g.Remove)))
		}
		for _, e := range p.Entries {
			hi.objects = max(hi.objects, len(e.Changes), len(e.Groups))
			hi.expanded++
			for _, ch := range e.Changes {
				hi.diff = max(hi.diff, len(ch.Diff))
			}
			for _, g := range e.Groups {
				items(len(g.Members))
			}
		}
	}
	return hi
}
