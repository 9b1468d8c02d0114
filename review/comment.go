package review

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/renderer"
)

// Marker is the hidden first line of the one bot comment per pull request;
// the bot finds its comment by it.
const Marker = "<!-- allot:review -->"

// MaxCommentBody is GitHub's limit on a comment body (65,536 characters);
// the bot stays within it, counting bytes, which is stricter.
const MaxCommentBody = 65536

// checkSummaryLimit is GitHub's limit on the summary of a check run.
const checkSummaryLimit = 65535

const (
	// maxName and maxMessage bound a single value, so that one name or
	// message cannot crowd out the rest.
	maxName    = 200
	maxMessage = 2000
	// maxListed bounds the lists that are not the plan itself (files,
	// problems, approvers): a reader scans the first ones, and a long file
	// list must not cost the plan its diffs.
	maxListed = 50
	// diffShare is how much of each diff an entry shown in full keeps when
	// entries must be collapsed to fit: about 40 lines.
	diffShare = 2000
	// maxReplies bounds the lines of a reply to refused commands.
	maxReplies = 20
)

const (
	commentFooter = "<sub>Commands: `/approve` · `/approve cancel` · `/hold` · `/unhold` · `/plan` · `/help`</sub>\n"
	statusHint    = "`allot status` shows the details"
)

// RenderComment renders the bot comment: Marker first, then what checking
// the head found, the approval state, where merging stands and the
// commands. secrets are values that must never appear (tokens, the webhook
// secret, ...); they are masked everywhere in the output.
//
// The body stays within MaxCommentBody bytes. When the whole report does
// not fit, the plan's diffs are cut first, largest first, at line
// boundaries; then plan entries list fewer objects, then shrink to their
// summary lines; only then are the other lists shortened.
func RenderComment(v CommentView, secrets []string) string {
	v = cleaner{secrets}.view(v)
	body := fit(MaxCommentBody, bounds(v), func(l limits) string {
		var b strings.Builder
		fmt.Fprintf(&b, "### %s\n\n", capitalize(reportTitle(v.Report)))
		writeReport(&b, v.Report, v.Fork, " (head of this pull request)", l)
		writeApproval(&b, v, l)
		writeMerge(&b, v.Merge)
		b.WriteString(commentFooter)
		return finish(Marker+"\n", b.String(), secrets)
	})
	if body == "" {
		body = finish(Marker+"\n", fmt.Sprintf("### %s\n\nThe report is too large for a comment; run `allot validate` and `allot plan` for the details.\n\n%s",
			capitalize(reportTitle(v.Report)), commentFooter), secrets)
	}
	return body
}

// RenderCheck renders the title of the check run (one line, a summary such
// as "2 environments planned on 3 clusters" or "3 validation errors") and
// its Markdown summary, which stays within GitHub's 65,535 bytes.
func RenderCheck(r *Report, secrets []string) (title, summary string) {
	r = cleaner{secrets}.report(r)
	title = Mask(capitalize(reportTitle(r)), secrets)
	summary = fit(checkSummaryLimit, bounds(CommentView{Report: r}), func(l limits) string {
		var b strings.Builder
		writeReport(&b, r, false, "", l)
		return finish("", b.String(), secrets)
	})
	if summary == "" {
		summary = "The report is too large to show here; run `allot validate` and `allot plan` for the details.\n"
	}
	return title, summary
}

// reportTitle sums up a report in one line without user text, for the
// check title and the comment heading.
func reportTitle(r *Report) string {
	if r == nil {
		return "not checked yet"
	}
	if r.Err != "" {
		return "the check could not run"
	}
	errs, warns := countProblems(r.Problems)
	var title string
	switch {
	case errs > 0:
		title = countWord(errs, "validation error")
	case r.Plan == nil && len(r.Files) == 0 && len(r.Environments) == 0:
		title = "no request files changed"
	case r.Plan == nil:
		title = "validated, not planned"
	case len(r.Plan.Errors) > 0 || len(r.Plan.Kept) > 0:
		var parts []string
		if n := len(r.Plan.Errors); n > 0 {
			parts = append(parts, countWord(n, "plan error"))
		}
		if n := len(r.Plan.Kept); n > 0 {
			parts = append(parts, countWord(n, "request")+" failed to render")
		}
		title = strings.Join(parts, ", ")
	case len(r.Plan.Entries) == 0:
		title = "nothing to change"
	default:
		envs, clusters := map[string]bool{}, map[string]bool{}
		for _, e := range r.Plan.Entries {
			envs[e.Environment], clusters[e.Cluster] = true, true
		}
		title = countWord(len(envs), "environment") + " planned on " + countWord(len(clusters), "cluster")
	}
	if warns > 0 {
		title += ", " + countWord(warns, "warning")
	}
	return title
}

// writeReport writes what checking a commit found: the commit, the request
// files, validation and plan. where follows the short SHA.
func writeReport(b *strings.Builder, r *Report, fork bool, where string, l limits) {
	if r == nil {
		b.WriteString("**allot** has not checked this pull request yet.\n\n")
		return
	}
	fmt.Fprintf(b, "**allot** checked %s%s.\n\n", mdCode(shortSHA(r.SHA)), where)
	if r.Err != "" {
		fmt.Fprintf(b, "**The check could not run:** %s; comment `/plan` to try again.\n\n", mdText(r.Err))
	}
	if len(r.Files) > 0 || len(r.Environments) > 0 {
		n := min(listLimit(l), maxListed)
		fmt.Fprintf(b, "- **Environments:** %s\n- **Files:** %s\n\n",
			inline(r.Environments, n, "environment", mdCode), inline(r.Files, n, "file", mdCode))
	} else if r.Err == "" {
		b.WriteString("This pull request changes no request files.\n\n")
	}
	writeValidation(b, r, l)
	writePlan(b, r, fork, l)
}

func writeValidation(b *strings.Builder, r *Report, l limits) {
	if r.Err != "" && len(r.Problems) == 0 {
		return
	}
	b.WriteString("#### Validation\n\n")
	errs, warns := countProblems(r.Problems)
	switch {
	case len(r.Problems) == 0:
		b.WriteString("Passed.\n\n")
		return
	case errs == 0:
		fmt.Fprintf(b, "Passed with %s:\n\n", countWord(warns, "warning"))
	case warns == 0:
		fmt.Fprintf(b, "%s:\n\n", capitalize(countWord(errs, "error")))
	default:
		fmt.Fprintf(b, "%s, %s:\n\n", capitalize(countWord(errs, "error")), countWord(warns, "warning"))
	}
	bullets(b, r.Problems, min(listLimit(l), maxListed), "problem", func(p Problem) string {
		loc := p.File
		if p.Line > 0 {
			loc += ":" + strconv.Itoa(p.Line)
		}
		var s string
		if p.Warning {
			s = "**warning** "
		}
		if loc != "" {
			s += mdCode(loc) + ": "
		}
		return s + mdText(p.Message)
	})
}

func writePlan(b *strings.Builder, r *Report, fork bool, l limits) {
	p := r.Plan
	if p == nil {
		if r.Err != "" && r.NotPlanned == "" {
			return
		}
		b.WriteString("#### Plan\n\nNot planned")
		if r.NotPlanned != "" {
			b.WriteString(": " + mdText(r.NotPlanned))
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
		bullets(b, p.Errors, listed, "error", mdText)
	}
	if len(p.Kept) > 0 {
		b.WriteString("**Failed to render; their clusters keep the last applied state:**\n\n")
		bullets(b, slices.Sorted(mapKeys(p.Kept)), listed, "request", func(k string) string {
			return mdCode(strings.TrimPrefix(k, "file:")) + ": " + mdText(p.Kept[k])
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
			b.WriteString("- " + mdText(entrySummary(e)) + "\n")
		}
		b.WriteString("\n")
	}
	if more > 0 {
		fmt.Fprintf(b, "… %s not shown; run `allot plan` for the full plan.\n\n", countWord(more, "more entry"))
	}
	writeGroupChanges(b, p.Groups, l)
}

// writeEntry writes one environment on one cluster as a collapsed block
// whose summary line says what would happen.
func writeEntry(b *strings.Builder, e reconciler.PlanEntry, l limits) {
	fmt.Fprintf(b, "<details>\n<summary>%s</summary>\n\n", mdHTML(entrySummary(e)))
	empty := true
	if e.Message != "" {
		b.WriteString(mdText(e.Message) + "\n\n")
		empty = false
	}
	var changes []reconciler.Change
	for _, ch := range e.Changes {
		if ch.Action != "unchanged" {
			changes = append(changes, ch)
		}
	}
	if len(changes) > 0 {
		shown, _ := firstN(changes, l.objects)
		bullets(b, changes, l.objects, "object", func(ch reconciler.Change) string {
			return mdText(ch.Action) + " " + mdCode(ch.Object)
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
			return mdCode(g.Name) + ": " + inline(g.Members, min(listLimit(l), maxListed), "member", mdCode)
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
	b.WriteString(mdCode(ch.Object) + ":\n\n")
	if shown != "" {
		writeFence(b, "diff", shown)
	}
	switch {
	case dropped > 0 && shown != "":
		fmt.Fprintf(b, "… %s not shown; run `allot plan` for the full diff\n\n", countWord(dropped, "more line"))
	case dropped > 0:
		fmt.Fprintf(b, "… %s not shown; run `allot plan` for the full diff\n\n", countWord(dropped, "line"))
	}
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
		s := mdText(g.Action) + " " + mdCode(g.Group)
		var parts []string
		if len(g.Add) > 0 {
			parts = append(parts, "add "+inline(g.Add, listed, "member", mdCode))
		}
		if len(g.Remove) > 0 {
			parts = append(parts, "remove "+inline(g.Remove, listed, "member", mdCode))
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
		case "create", "update", "delete":
			parts = append(parts, withCommas(counts[a])+" to "+a)
		default:
			parts = append(parts, withCommas(counts[a])+" "+a)
		}
	}
	if len(parts) == 0 {
		parts = []string{"no objects"}
	}
	return fmt.Sprintf("%s / %s: %s — %s", e.Cluster, e.Environment, e.Action, strings.Join(parts, ", "))
}

func actionRank(a string) int {
	switch a {
	case "create":
		return 0
	case "update":
		return 1
	case "delete":
		return 2
	case "unchanged":
		return 4
	}
	return 3
}

func writeApproval(b *strings.Builder, v CommentView, l limits) {
	s, n := v.State, min(listLimit(l), maxListed)
	var lines []string
	if len(s.ApprovedBy) > 0 {
		lines = append(lines, "approved by "+mentions(s.ApprovedBy, n))
	}
	if len(s.Stale) > 0 {
		lines = append(lines, mentions(s.Stale, n)+" approved an older commit; approve again")
	}
	if s.Held {
		held := "held"
		if len(s.HeldBy) > 0 {
			held += " by " + mentions(s.HeldBy, n)
		}
		lines = append(lines, held+"; an approver lifts the hold with `/unhold`")
	}
	if !s.Approved && !v.Merge.Merged {
		var who []string
		for _, login := range v.Approvers.Logins {
			if !strings.EqualFold(login, v.Author) {
				who = append(who, "@"+mdText(login))
			}
		}
		for _, team := range v.Approvers.Teams {
			who = append(who, "@"+mdText(team)+" (team)")
		}
		if len(who) == 0 {
			lines = append(lines, "needs `/approve` from an approver; `allot.yaml` on the base branch names none")
		} else {
			lines = append(lines, "needs `/approve` from one of: "+inline(who, n, "approver", nil))
		}
		if v.Author != "" {
			lines = append(lines, "the author (@"+mdText(v.Author)+") cannot approve")
		}
	}
	if len(lines) == 0 {
		return
	}
	b.WriteString("#### Approval\n\n")
	for _, line := range lines {
		b.WriteString("- " + line + "\n")
	}
	b.WriteString("\n")
}

func writeMerge(b *strings.Builder, m MergeStatus) {
	var parts []string
	switch {
	case m.Merged && m.Commit != "":
		parts = append(parts, "merged as "+mdCode(shortSHA(m.Commit)))
	case m.Merged:
		parts = append(parts, "merged")
	default:
		if m.Waiting != "" {
			parts = append(parts, "waiting for "+mdText(m.Waiting))
		}
		if m.AutoMergeOff {
			parts = append(parts, "auto-merge is off: merge by hand once approved")
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(b, "**Merge:** %s.\n\n", strings.Join(parts, "; "))
	}
}

func mentions(logins []string, n int) string {
	return inline(logins, n, "person", func(s string) string { return "@" + mdText(s) })
}

func countProblems(problems []Problem) (errs, warns int) {
	for _, p := range problems {
		if p.Warning {
			warns++
		} else {
			errs++
		}
	}
	return errs, warns
}

// NoticeMarker returns the hidden marker of the ready notice for merge
// commit sha, so that the bot posts one notice per merge commit. Only
// letters and digits of sha are kept, in lower case.
func NoticeMarker(sha string) string {
	id := strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return unicode.ToLower(r)
		}
		return -1
	}, sha)
	return "<!-- allot:notice " + clipText(id, 100) + " -->"
}

// RenderNotice renders the comment on a merged pull request that says how
// its environments came out, and how to reach the ones that are ready.
func RenderNotice(n Notice, secrets []string) string {
	marker := NoticeMarker(n.Commit) + "\n"
	n = cleaner{secrets}.notice(n)
	hi := limits{items: len(n.Outcomes)}
	for _, o := range n.Outcomes {
		hi.items = max(hi.items, len(o.Groups))
	}
	intro := "Merge commit " + mdCode(shortSHA(n.Commit)) + " is applied."
	if n.Author != "" {
		intro = "@" + mdText(n.Author) + ", merge commit " + mdCode(shortSHA(n.Commit)) + " is applied."
	}
	body := fit(MaxCommentBody, hi, func(l limits) string {
		var b strings.Builder
		fmt.Fprintf(&b, "### %s\n\n%s\n\n", noticeTitle(n.Outcomes), intro)
		shown, more := firstN(n.Outcomes, listLimit(l))
		for _, o := range shown {
			writeOutcome(&b, o, l)
		}
		if more > 0 {
			fmt.Fprintf(&b, "… %s not shown; %s.\n", countWord(more, "more environment"), statusHint)
		}
		return finish(marker, b.String(), secrets)
	})
	if body == "" {
		body = finish(marker, fmt.Sprintf("### %s\n\n%s\n\nThe details are too long for a comment; %s.\n",
			noticeTitle(n.Outcomes), intro, statusHint), secrets)
	}
	return body
}

// noticeTitle sums up outcomes: "Environment ready", "2 environments
// ready, 1 failed".
func noticeTitle(outcomes []Outcome) string {
	if len(outcomes) == 0 {
		return "Merged; no environments changed"
	}
	if len(outcomes) == 1 {
		return "Environment " + outcomeStatus(outcomes[0])
	}
	counts := map[string]int{}
	for _, o := range outcomes {
		counts[outcomeStatus(o)]++
	}
	var parts []string
	for _, status := range []string{"ready", "failed", "torn down", "not ready yet"} {
		switch n := counts[status]; {
		case n == 0:
		case len(parts) == 0:
			parts = append(parts, countWord(n, "environment")+" "+status)
		default:
			parts = append(parts, withCommas(n)+" "+status)
		}
	}
	return strings.Join(parts, ", ")
}

func outcomeStatus(o Outcome) string {
	switch {
	case o.Removed:
		return "torn down"
	case o.Error != "":
		return "failed"
	case o.Ready:
		return "ready"
	}
	return "not ready yet"
}

func writeOutcome(b *strings.Builder, o Outcome, l limits) {
	fmt.Fprintf(b, "#### %s on %s: %s\n\n", mdCode(o.Environment), mdCode(o.Cluster), outcomeStatus(o))
	switch {
	case o.Removed:
	case o.Error != "":
		fmt.Fprintf(b, "> %s\n\nFix the request in a new pull request, or ask the platform team; %s.\n\n", mdText(o.Error), statusHint)
	case o.Ready:
		writeAccess(b, o, l)
	default:
		fmt.Fprintf(b, "Applied, but not ready yet; %s.\n\n", statusHint)
	}
}

// writeAccess says where a ready environment lives and how to reach it.
// Names are quoted for the shell, so a command copied from the comment runs
// what it shows.
func writeAccess(b *strings.Builder, o Outcome, l limits) {
	var target []string
	if o.Cluster != "" {
		target = append(target, "--context "+shellQuote(o.Cluster))
	}
	if o.Namespace != "" {
		target = append(target, "--namespace "+shellQuote(o.Namespace))
	}
	kubectl := strings.Join(append([]string{"kubectl"}, target...), " ")
	where := fmt.Sprintf("namespace %s on cluster %s", mdCode(o.Namespace), mdCode(o.Cluster))
	switch o.Kind {
	case KindVCluster:
		kubeconfig := shellQuote(o.Environment + ".kubeconfig")
		fmt.Fprintf(b, "A virtual cluster in %s. Fetch its kubeconfig, then use it:\n\n", where)
		writeFence(b, "sh", fmt.Sprintf("%s get secret %s --template '{{index .data \"config\"}}' | base64 -d > %s\nkubectl --kubeconfig %s get namespaces",
			kubectl, shellQuote("vc-"+o.Environment), kubeconfig, kubeconfig))
	case KindECS:
		fmt.Fprintf(b, "The ECS cluster and services are objects in %s:\n\n", where)
		writeFence(b, "sh", kubectl+" get clusters.ecs.services.k8s.aws,services.ecs.services.k8s.aws")
	default:
		fmt.Fprintf(b, "Namespace %s on cluster %s:\n\n", mdCode(o.Namespace), mdCode(o.Cluster))
		writeFence(b, "sh", kubectl+" get all")
	}
	if len(o.Groups) > 0 {
		noun := "group"
		if len(o.Groups) > 1 {
			noun = "groups"
		}
		fmt.Fprintf(b, "Members of %s %s get access.\n\n", noun, inline(o.Groups, listLimit(l), "group", mdCode))
	}
}

// shellQuote returns s as one shell word.
func shellQuote(s string) string {
	plain := s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)) || strings.ContainsRune("._-/:@=+,", r))
	}) < 0
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// RenderHelp is the reply to /help: the commands, one line each, and who
// may use them.
func RenderHelp() string {
	return "allot reads these commands at the start of a comment line, one per line:\n\n" +
		"- `/approve`: approve the head commit; approvers only, and not the author. A new push needs a new approval.\n" +
		"- `/approve cancel`: withdraw your approval; anyone may withdraw their own.\n" +
		"- `/hold`: keep the pull request from merging; approvers only.\n" +
		"- `/unhold` or `/hold cancel`: lift every hold; approvers only.\n" +
		"- `/plan`: check and plan the head commit again; anyone.\n" +
		"- `/help`: show this list; anyone.\n\n" +
		"Approvers are the logins and teams that `allot.yaml` on the base branch names.\n"
}

// RenderRefusals is the short reply to commands that were refused or not
// understood: one line each, the same line once.
func RenderRefusals(refused []Refusal, unknown []Command) string {
	c := cleaner{}
	var lines []string
	seen := map[string]bool{}
	add := func(line string) {
		if !seen[line] {
			seen[line] = true
			lines = append(lines, line)
		}
	}
	for _, r := range refused {
		line := fmt.Sprintf("@%s: %s was not applied: %s.", mdText(c.line(r.Author, maxName)),
			mdCode("/"+c.line(string(r.Command), maxName)), mdText(c.line(r.Reason, maxMessage)))
		if r.Reason == ReasonNotApprover {
			line += " Approvers are the logins and teams that `allot.yaml` on the base branch names."
		}
		add(line)
	}
	for _, u := range unknown {
		word, args := c.line(u.Word, 100), c.line(u.Args, 100)
		switch word {
		case "/approve", "/hold":
			add(fmt.Sprintf("%s was not understood: %s takes no argument but `cancel`; `/help` lists the commands.", mdCode(word+" "+args), mdCode(word)))
		case "/unhold", "/plan", "/help":
			add(fmt.Sprintf("%s was not understood: %s takes no arguments; `/help` lists the commands.", mdCode(word+" "+args), mdCode(word)))
		default:
			add(fmt.Sprintf("%s is not an allot command; `/help` lists the commands.", mdCode(word)))
		}
	}
	shown, more := firstN(lines, maxReplies)
	if more > 0 {
		shown = append(shown, "… "+countWord(more, "more reply")+" not shown.")
	}
	return finish("", strings.Join(shown, "\n\n")+"\n", nil)
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
func bounds(v CommentView) limits {
	var hi limits
	items := func(n int) { hi.items = max(hi.items, n) }
	items(len(v.Approvers.Logins) + len(v.Approvers.Teams))
	items(max(len(v.State.ApprovedBy), len(v.State.Stale), len(v.State.HeldBy)))
	r := v.Report
	if r == nil {
		return hi
	}
	items(max(len(r.Files), len(r.Environments), len(r.Problems)))
	if p := r.Plan; p != nil {
		items(max(len(p.Entries), len(p.Errors), len(p.Kept), len(p.Groups)))
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

// finish masks a rendered body and puts marker before it. Masking runs on
// the text as it will be posted, so that nothing the rendering joined can
// show a secret; the marker is left alone, as the bot finds its comments by
// it. A marker in user text, which can only be inside code by now, is
// broken up with a zero-width space so that it is not taken for a marker.
func finish(marker, body string, secrets []string) string {
	body = Mask(body, secrets)
	return marker + strings.ReplaceAll(body, "<!-- allot:", "<\u200b!-- allot:")
}

// writeFence writes content as a fenced code block with a backtick fence
// longer than any backtick run in it, so that the content cannot close it.
func writeFence(b *strings.Builder, info, content string) {
	fence := strings.Repeat("`", max(3, longestRun(content, '`')+1))
	fmt.Fprintf(b, "%s%s\n%s\n%s\n\n", fence, info, content, fence)
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

// bullets writes a list of the first n items, formatted by f, and says how
// many it leaves out.
func bullets[T any](b *strings.Builder, items []T, n int, noun string, f func(T) string) {
	shown, more := firstN(items, n)
	for _, it := range shown {
		b.WriteString("- " + f(it) + "\n")
	}
	switch {
	case more > 0 && len(shown) > 0:
		fmt.Fprintf(b, "- … %s not shown\n", countWord(more, "more "+noun))
	case more > 0:
		fmt.Fprintf(b, "- … %s not shown\n", countWord(more, noun))
	}
	b.WriteString("\n")
}

// inline joins the first n items, formatted by f when it is not nil, with
// commas, and says how many it leaves out.
func inline(items []string, n int, noun string, f func(string) string) string {
	shown, more := firstN(items, n)
	parts := make([]string, 0, len(shown)+1)
	for _, s := range shown {
		if f != nil {
			s = f(s)
		}
		parts = append(parts, s)
	}
	switch {
	case more > 0 && len(shown) > 0:
		parts = append(parts, "and "+countWord(more, "more "+noun))
	case more > 0:
		parts = append(parts, countWord(more, noun))
	}
	return strings.Join(parts, ", ")
}

func firstN[T any](items []T, n int) ([]T, int) {
	if n < 0 || n >= len(items) {
		return items, 0
	}
	return items[:n], len(items) - n
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// mdCode renders s as an inline code span, delimited by a backtick run
// longer than any in s, so that s cannot end the span.
func mdCode(s string) string {
	fence := strings.Repeat("`", longestRun(s, '`')+1)
	if s == "" || s[0] == '`' || s[0] == ' ' || s[len(s)-1] == '`' || s[len(s)-1] == ' ' {
		s = " " + s + " "
	}
	return fence + s + fence
}

// mdText escapes s for Markdown prose: entities for the characters that
// start HTML (so that no tag, comment or marker gets through), backslashes
// for those that start other inline markup.
func mdText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '\\', '`', '*', '_', '[', ']', '~', '|', '#':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// mdHTML escapes s for text inside an HTML block, such as <summary>.
// Backticks are escaped too, in case a renderer reads Markdown there.
func mdHTML(s string) string {
	return htmlEscaper.Replace(s)
}

var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "`", "&#96;")

func longestRun(s string, c byte) int {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}

func shortSHA(sha string) string {
	if len(sha) <= 7 {
		return sha
	}
	cut := 7
	for cut > 0 && !utf8.RuneStart(sha[cut]) {
		cut--
	}
	return sha[:cut]
}

// clipText cuts s to at most n bytes at a rune boundary, marking the cut.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := max(n-len("…"), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// withCommas formats n with thousands separators: 1,234.
func withCommas(n int) string {
	s := strconv.Itoa(n)
	start := 0
	if n < 0 {
		start = 1
	}
	for i := len(s) - 3; i > start; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// countWord is n and a noun, in the plural unless n is 1.
func countWord(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "y") {
		return withCommas(n) + " " + strings.TrimSuffix(noun, "y") + "ies"
	}
	return withCommas(n) + " " + noun + "s"
}

// Mask replaces every occurrence of each secret of 4 bytes or more with
// "***", and masks PEM private key blocks and the passwords of URLs
// (https://user:password@host becomes https://user:***@host). Occurrences
// that overlap or touch are masked as one, so no part of either shows.
func Mask(text string, secrets []string) string {
	text = maskKeys(text)
	text = maskSecrets(text, secrets)
	if !strings.Contains(text, "://") {
		return text
	}
	return urlPassword.ReplaceAllString(text, "${1}***@")
}

var (
	keyBegin    = regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----`)
	keyEnd      = regexp.MustCompile(`-----END [A-Z0-9 ]*PRIVATE KEY-----`)
	urlPassword = regexp.MustCompile(`(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@:]*:)[^\s/?#@]+@`)
	// urlTail is a URL at the end of a text that may go on with a
	// password: it has a colon after the user and no host yet.
	urlTail = regexp.MustCompile(`\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@:]*:[^\s/?#@]*$`)
)

// cutRaw cuts s, not yet masked, to at most n bytes, and drops whatever
// tail might be the start of a secret or of a URL's password that the cut
// ended, as masking could no longer recognise it.
func cutRaw(s string, n int, secrets []string) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for again := true; again; {
		again = false
		for _, secret := range secrets {
			if len(secret) < 4 {
				continue
			}
			for k := min(len(secret)-1, len(s)); k > 0; k-- {
				if strings.HasSuffix(s, secret[:k]) {
					s, again = s[:len(s)-k], true
					break
				}
			}
		}
		if !strings.Contains(s, "://") {
			continue
		}
		if loc := urlTail.FindStringIndex(s); loc != nil {
			s, again = s[:loc[0]], true
		}
	}
	return s
}

// maskKeys masks the body of each PEM private key block, keeping its
// BEGIN and END lines. A block without an END line, cut off somewhere, is
// masked as far as its text looks like a key.
func maskKeys(s string) string {
	if !strings.Contains(s, "PRIVATE KEY-----") {
		return s
	}
	lastEnd := -1
	if ends := keyEnd.FindAllStringIndex(s, -1); len(ends) > 0 {
		lastEnd = ends[len(ends)-1][0]
	}
	var b strings.Builder
	pos := 0
	for {
		loc := keyBegin.FindStringIndex(s[pos:])
		if loc == nil {
			break
		}
		start, body := pos+loc[0], pos+loc[1]
		b.WriteString(s[pos:start])
		if body <= lastEnd {
			end := keyEnd.FindStringIndex(s[body:])
			b.WriteString(s[start:body])
			b.WriteString(maskKeyBody(s[body : body+end[0]]))
			b.WriteString(s[body+end[0] : body+end[1]])
			pos = body + end[1]
			continue
		}
		pos = body
		for pos < len(s) && isKeyByte(s[pos]) {
			pos++
		}
		b.WriteString("***")
	}
	b.WriteString(s[pos:])
	return b.String()
}

// maskKeyBody masks what is between a key's BEGIN and END lines, never
// making it longer, and giving the same result when masked again.
func maskKeyBody(body string) string {
	switch {
	case len(body) >= 5 && body[0] == '\n' && body[len(body)-1] == '\n':
		return "\n***\n"
	case len(body) >= 3:
		return "***"
	}
	return body
}

// isKeyByte reports whether c may be part of a PEM body as it shows in
// text: base64, headers, line breaks, and the quotes and escapes of a
// quoted string or diff.
func isKeyByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		strings.IndexByte("+/= \t\r\n\"',:\\-", c) >= 0
}

// maskSecrets replaces each run of text covered by occurrences of secrets
// with "***", until no secret occurs: joining the text around a run could
// form one again.
func maskSecrets(s string, secrets []string) string {
	for {
		var covered []bool
		for _, secret := range secrets {
			if len(secret) < 4 {
				continue
			}
			done := 0 // covered up to here by this secret
			for i := 0; ; {
				j := strings.Index(s[i:], secret)
				if j < 0 {
					break
				}
				if covered == nil {
					covered = make([]bool, len(s))
				}
				start, end := i+j, i+j+len(secret)
				for k := max(start, done); k < end; k++ {
					covered[k] = true
				}
				done, i = end, start+1
			}
		}
		if covered == nil {
			return s
		}
		var b strings.Builder
		for i := 0; i < len(s); {
			j := i
			for j < len(s) && covered[j] == covered[i] {
				j++
			}
			if covered[i] {
				b.WriteString("***")
			} else {
				b.WriteString(s[i:j])
			}
			i = j
		}
		s = b.String()
	}
}

// cleaner prepares the text of a view for rendering. Secrets are masked
// before anything is cut, so that a cut cannot leave part of a secret
// unmasked; text is made valid UTF-8, and single-line values lose their
// line breaks and control characters, which could break the layout.
type cleaner struct{ secrets []string }

// line cleans a single-line value and clips it to n bytes. Only the first
// 4n bytes are read, which leaves room for collapsed blanks; cutRaw keeps
// that cut from exposing part of a secret.
func (c cleaner) line(s string, n int) string {
	raw := cutRaw(s, 4*n, c.secrets)
	fields := strings.FieldsFunc(strings.ToValidUTF8(Mask(raw, c.secrets), "\uFFFD"), func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	})
	out := strings.Join(fields, " ")
	if len(raw) < len(s) {
		out += "…"
	}
	return clipText(out, n)
}

func (c cleaner) lines(ss []string, n int) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = c.line(s, n)
	}
	return out
}

// block cleans multi-line text, such as a diff, which is shown in a code
// block and cut later at line boundaries.
func (c cleaner) block(s string) string {
	s = strings.ToValidUTF8(Mask(s, c.secrets), "\uFFFD")
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
	return strings.TrimRight(s, "\n")
}

func (c cleaner) view(v CommentView) CommentView {
	return CommentView{
		Report: c.report(v.Report),
		State: PRState{
			Approved:   v.State.Approved,
			ApprovedBy: c.lines(v.State.ApprovedBy, maxName),
			Stale:      c.lines(v.State.Stale, maxName),
			Held:       v.State.Held,
			HeldBy:     c.lines(v.State.HeldBy, maxName),
		},
		Approvers: Approvers{Logins: c.lines(v.Approvers.Logins, maxName), Teams: c.lines(v.Approvers.Teams, maxName)},
		Author:    c.line(v.Author, maxName),
		Merge: MergeStatus{
			Merged:       v.Merge.Merged,
			Commit:       c.line(v.Merge.Commit, maxName),
			Waiting:      c.line(v.Merge.Waiting, maxMessage),
			AutoMergeOff: v.Merge.AutoMergeOff,
		},
		Fork: v.Fork,
	}
}

// report cleans a copy of r, with its problems errors first.
func (c cleaner) report(r *Report) *Report {
	if r == nil {
		return nil
	}
	out := &Report{
		SHA:          c.line(r.SHA, maxName),
		Files:        c.lines(r.Files, maxName),
		Environments: c.lines(r.Environments, maxName),
		NotPlanned:   c.line(r.NotPlanned, maxMessage),
		Err:          c.line(r.Err, maxMessage),
		Plan:         c.plan(r.Plan),
	}
	for _, p := range r.Problems {
		out.Problems = append(out.Problems, Problem{File: c.line(p.File, maxName), Line: p.Line, Message: c.line(p.Message, maxMessage), Warning: p.Warning})
	}
	slices.SortStableFunc(out.Problems, func(a, b Problem) int {
		return cmp.Compare(boolRank(a.Warning), boolRank(b.Warning))
	})
	return out
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (c cleaner) plan(p *reconciler.Plan) *reconciler.Plan {
	if p == nil {
		return nil
	}
	out := &reconciler.Plan{Commit: c.line(p.Commit, maxName), Errors: c.lines(p.Errors, maxMessage)}
	if len(p.Kept) > 0 {
		out.Kept = make(map[string]string, len(p.Kept))
		for k, v := range p.Kept {
			out.Kept[c.line(k, maxName)] = c.line(v, maxMessage)
		}
	}
	for _, e := range p.Entries {
		ce := reconciler.PlanEntry{
			Cluster:     c.line(e.Cluster, maxName),
			Environment: c.line(e.Environment, maxName),
			Action:      reconciler.Action(c.line(string(e.Action), maxName)),
			Message:     c.line(e.Message, maxMessage),
		}
		for _, ch := range e.Changes {
			ce.Changes = append(ce.Changes, reconciler.Change{Object: c.line(ch.Object, maxName), Action: c.line(ch.Action, maxName), Diff: c.block(ch.Diff)})
		}
		for _, g := range e.Groups {
			ce.Groups = append(ce.Groups, renderer.Group{Name: c.line(g.Name, maxName), Members: c.lines(g.Members, maxName)})
		}
		out.Entries = append(out.Entries, ce)
	}
	for _, g := range p.Groups {
		out.Groups = append(out.Groups, reconciler.GroupChange{Group: c.line(g.Group, maxName), Action: c.line(g.Action, maxName), Add: c.lines(g.Add, maxName), Remove: c.lines(g.Remove, maxName)})
	}
	return out
}

func (c cleaner) notice(n Notice) Notice {
	out := Notice{Number: n.Number, Author: c.line(n.Author, maxName), Commit: c.line(n.Commit, maxName)}
	for _, o := range n.Outcomes {
		out.Outcomes = append(out.Outcomes, Outcome{
			Environment: c.line(o.Environment, maxName),
			Kind:        o.Kind,
			Cluster:     c.line(o.Cluster, maxName),
			Namespace:   c.line(o.Namespace, maxName),
			Ready:       o.Ready,
			Removed:     o.Removed,
			Error:       c.line(o.Error, maxMessage),
			Groups:      c.lines(o.Groups, maxName),
		})
	}
	return out
}
