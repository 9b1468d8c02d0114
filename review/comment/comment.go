package comment

import (
	"fmt"
	"strconv"
	"strings"
)

// Marker is the hidden first line of the one bot comment per pull request;
// the bot finds its comment by it.
const Marker = "<!-- allot:review -->"

// MaxBody is GitHub's limit on a comment body (65,536 characters);
// the bot stays within it, counting bytes, which is stricter.
const MaxBody = 65536

// checkSummaryLimit is GitHub's limit on the summary of a check run.
const checkSummaryLimit = 65535

// MaxMessage bounds one message in a rendering (an error, a reason), and
// maxName one name, so that a single value cannot crowd out the rest.
const MaxMessage = 2000

const (
	maxName = 200
	// maxListed bounds the lists that are not the plan itself (files,
	// problems, approvers): a reader scans the first ones, and a long file
	// list must not cost the plan its diffs.
	maxListed = 50
)

const commentFooter = "<sub>Commands: `/approve` · `/approve cancel` · `/hold` · `/unhold` · `/plan` · `/help`</sub>\n"

// Render renders the bot comment: Marker first, then what checking
// the head found, the approval state, where merging stands and the
// commands. secrets are values that must never appear (tokens, the webhook
// secret, ...); they are masked everywhere in the output.
//
// The body stays within MaxBody bytes. When the whole report does
// not fit, the plan's diffs are cut first, largest first, at line
// boundaries; then plan entries list fewer objects, then shrink to their
// summary lines; only then are the other lists shortened.
func Render(v View, secrets []string) string {
	v = cleaner{secrets}.view(v)
	body := fit(MaxBody, bounds(v), func(l limits) string {
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
	summary = fit(checkSummaryLimit, bounds(View{Report: r}), func(l limits) string {
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
	errs, warns := countProblems(r.allProblems())
	var title string
	switch {
	case errs > 0:
		title = Count(errs, "validation error")
	case r.Plan == nil && len(r.Files) == 0 && len(r.Environments) == 0:
		title = "no request files changed"
	case r.Plan == nil:
		title = "validated, not planned"
	case len(r.Plan.Errors) > 0 || r.Plan.Kept.Len() > 0:
		var parts []string
		if n := len(r.Plan.Errors); n > 0 {
			parts = append(parts, Count(n, "plan error"))
		}
		if n := r.Plan.Kept.Len(); n > 0 {
			parts = append(parts, Count(n, "request")+" failed to render")
		}
		title = strings.Join(parts, ", ")
	case len(r.Plan.Entries) == 0:
		title = "nothing to change"
	default:
		envs, clusters := map[string]bool{}, map[string]bool{}
		for _, e := range r.Plan.Entries {
			envs[e.Environment], clusters[e.Cluster] = true, true
		}
		title = Count(len(envs), "environment") + " planned on " + Count(len(clusters), "cluster")
	}
	if warns > 0 {
		title += ", " + Count(warns, "warning")
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
	fmt.Fprintf(b, "**allot** checked %s%s.\n\n", Code(ShortSHA(r.SHA)), where)
	if r.Err != "" {
		fmt.Fprintf(b, "**The check could not run:** %s; comment `/plan` to try again.\n\n", Escape(r.Err))
	}
	if len(r.Files) > 0 || len(r.Environments) > 0 {
		n := min(listLimit(l), maxListed)
		fmt.Fprintf(b, "- **Environments:** %s\n- **Files:** %s\n\n",
			List(r.Environments, n, "environment", Code), List(r.Files, n, "file", Code))
	} else if r.Err == "" {
		b.WriteString("This pull request changes no request files.\n\n")
	}
	writePlatform(b, r.Platform, l)
	if r.Err == "" || len(r.Problems) > 0 {
		writeValidation(b, "#### Validation", r.Problems, l)
	}
	writePlan(b, r, fork, l)
	writeCosts(b, r.Costs, l)
}

// writePlatform writes the pull request's change to allot.yaml and
// templates/: why it is not planned, its diff and its own validation.
func writePlatform(b *strings.Builder, pc *PlatformChange, l limits) {
	if pc == nil {
		return
	}
	n := min(listLimit(l), maxListed)
	fmt.Fprintf(b, "#### Platform change\n\nThis pull request changes %s. These files choose the clusters, the credentials, the identity provider and the policy, so the requests below are validated and planned with the base branch's; this change is validated on its own and reaches the clusters only after the merge. It needs an approver from `approvers.default`.\n\n",
		List(pc.Files, n, "file", Code))
	if pc.Diff != "" {
		shown, dropped := cutLines(pc.Diff, l.diff)
		b.WriteString("<details>\n<summary>diff</summary>\n\n")
		if shown != "" {
			writeFence(b, "diff", shown)
		}
		if dropped > 0 {
			fmt.Fprintf(b, "… %s not shown\n\n", Count(dropped, "more line"))
		}
		b.WriteString("</details>\n\n")
	}
	writeValidation(b, "##### Validation of the platform change", pc.Problems, l)
}

func writeValidation(b *strings.Builder, heading string, problems []Problem, l limits) {
	b.WriteString(heading + "\n\n")
	errs, warns := countProblems(problems)
	switch {
	case len(problems) == 0:
		b.WriteString("Passed.\n\n")
		return
	case errs == 0:
		fmt.Fprintf(b, "Passed with %s:\n\n", Count(warns, "warning"))
	case warns == 0:
		fmt.Fprintf(b, "%s:\n\n", capitalize(Count(errs, "error")))
	default:
		fmt.Fprintf(b, "%s, %s:\n\n", capitalize(Count(errs, "error")), Count(warns, "warning"))
	}
	bullets(b, problems, min(listLimit(l), maxListed), "problem", func(p Problem) string {
		loc := p.File
		if p.Line > 0 {
			loc += ":" + strconv.Itoa(p.Line)
		}
		var s string
		if p.Warning {
			s = "**warning** "
		}
		if loc != "" {
			s += Code(loc) + ": "
		}
		return s + Escape(p.Message)
	})
}

func writeApproval(b *strings.Builder, v View, l limits) {
	s, n := v.Approval, min(listLimit(l), maxListed)
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
		for _, login := range v.Approvers {
			if !strings.EqualFold(login, v.Author) {
				who = append(who, "@"+Escape(login))
			}
		}
		for _, team := range v.ApproverTeams {
			who = append(who, "@"+Escape(team)+" (team)")
		}
		if len(who) == 0 {
			lines = append(lines, "needs `/approve` from an approver; `allot.yaml` on the base branch names none")
		} else {
			lines = append(lines, "needs `/approve` from one of: "+List(who, n, "approver", nil))
		}
		if v.Author != "" {
			lines = append(lines, "the author (@"+Escape(v.Author)+") cannot approve")
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
		parts = append(parts, "merged as "+Code(ShortSHA(m.Commit)))
	case m.Merged:
		parts = append(parts, "merged")
	default:
		if m.Waiting != "" {
			parts = append(parts, "waiting for "+Escape(m.Waiting))
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
	return List(logins, n, "person", func(s string) string { return "@" + Escape(s) })
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

// MarkerPrefix starts the hidden marker of every comment allot writes, by
// which it finds its own comments and never reads them as commands.
const MarkerPrefix = "<!-- allot:"

// finish masks a rendered body and puts marker before it. Masking runs on
// the text as it will be posted, so that nothing the rendering joined can
// show a secret; the marker is left alone, as the bot finds its comments by
// it. A marker in user text, which can only be inside code by now, is
// broken up with a zero-width space so that it is not taken for a marker.
func finish(marker, body string, secrets []string) string {
	body = Mask(body, secrets)
	return marker + strings.ReplaceAll(body, MarkerPrefix, "<\u200b!-- allot:")
}
