package review

import (
	"fmt"
	"strconv"
	"strings"
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
)

const commentFooter = "<sub>Commands: `/approve` · `/approve cancel` · `/hold` · `/unhold` · `/plan` · `/help`</sub>\n"

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
	errs, warns := countProblems(r.allProblems())
	var title string
	switch {
	case errs > 0:
		title = countWord(errs, "validation error")
	case r.Plan == nil && len(r.Files) == 0 && len(r.Environments) == 0:
		title = "no request files changed"
	case r.Plan == nil:
		title = "validated, not planned"
	case len(r.Plan.Errors) > 0 || r.Plan.Kept.Len() > 0:
		var parts []string
		if n := len(r.Plan.Errors); n > 0 {
			parts = append(parts, countWord(n, "plan error"))
		}
		if n := r.Plan.Kept.Len(); n > 0 {
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
		inline(pc.Files, n, "file", mdCode))
	if pc.Diff != "" {
		shown, dropped := cutLines(pc.Diff, l.diff)
		b.WriteString("<details>\n<summary>diff</summary>\n\n")
		if shown != "" {
			writeFence(b, "diff", shown)
		}
		if dropped > 0 {
			fmt.Fprintf(b, "… %s not shown\n\n", countWord(dropped, "more line"))
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
		fmt.Fprintf(b, "Passed with %s:\n\n", countWord(warns, "warning"))
	case warns == 0:
		fmt.Fprintf(b, "%s:\n\n", capitalize(countWord(errs, "error")))
	default:
		fmt.Fprintf(b, "%s, %s:\n\n", capitalize(countWord(errs, "error")), countWord(warns, "warning"))
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
			s += mdCode(loc) + ": "
		}
		return s + mdText(p.Message)
	})
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

// finish masks a rendered body and puts marker before it. Masking runs on
// the text as it will be posted, so that nothing the rendering joined can
// show a secret; the marker is left alone, as the bot finds its comments by
// it. A marker in user text, which can only be inside code by now, is
// broken up with a zero-width space so that it is not taken for a marker.
func finish(marker, body string, secrets []string) string {
	body = Mask(body, secrets)
	return marker + strings.ReplaceAll(body, "<!-- allot:", "<\u200b!-- allot:")
}
