package comment_test

import (
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/renderer"
	"github.com/allot-dev/allot/review"
	"github.com/allot-dev/allot/review/comment"

	"github.com/allot-dev/allot/internal/testfs"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// testSecrets are masked in every rendering of these tests.
var testSecrets = []string{"ghs_SeCrEtToKeN1234567890", "whsec-0123456789abcdef"}

const configMapDiff = `--- live/ConfigMap/payments-dev/settings
+++ planned/ConfigMap/payments-dev/settings
@@ -1,6 +1,6 @@
 apiVersion: v1
 data:
-  LOG_LEVEL: info
+  LOG_LEVEL: debug
 kind: ConfigMap
 metadata:
   labels:
`

// rejectedReport is a plan the API server refuses part of: the check goes
// red with the object and the server's message.
func rejectedReport() *comment.Report {
	r := sampleReport()
	r.Plan.Entries[0].Action = reconciler.ActionFailed
	r.Plan.Entries[0].Message = "the API server rejects 1 object in a dry run; the pass would fail"
	r.Plan.Entries[0].Changes[3] = reconciler.Change{Object: "ResourceQuota/checkout-dev/default", Action: reconciler.ChangeRejected,
		Error: `ResourceQuota "default" is invalid: spec.hard[request.cpu]: Invalid value: "request.cpu": must be a standard resource for quota (Invalid)`}
	r.Plan.Errors = []string{`cluster dev-eu-1: environment checkout-dev: ResourceQuota/checkout-dev/default: rejected by the API server: ResourceQuota "default" is invalid: spec.hard[request.cpu]: Invalid value: "request.cpu": must be a standard resource for quota (Invalid)`}
	return r
}

func samplePlan() *reconciler.Plan {
	return &reconciler.Plan{
		Commit: "abc1234def5678",
		Entries: []reconciler.PlanEntry{
			{
				Cluster: "dev-eu-1", Environment: "checkout-dev", Action: reconciler.ActionCreated,
				Changes: []reconciler.Change{
					{Object: "Namespace/checkout-dev", Action: "create"},
					{Object: "ServiceAccount/checkout-dev/deployer", Action: "create"},
					{Object: "RoleBinding/checkout-dev/admins", Action: "create"},
					{Object: "ResourceQuota/checkout-dev/default", Action: "create"},
				},
				Groups: []renderer.Group{{Name: "checkout-dev-admins", Members: []string{"alice@example.com", "bob@example.com"}}},
			},
			{
				Cluster: "dev-us-1", Environment: "payments-dev", Action: reconciler.ActionUpdated,
				Changes: []reconciler.Change{
					{Object: "Namespace/payments-dev", Action: "unchanged"},
					{Object: "ConfigMap/payments-dev/settings", Action: "update", Diff: configMapDiff},
					{Object: "ServiceAccount/payments-dev/deployer", Action: "unchanged"},
					{Object: "Secret/payments-dev/legacy", Action: "delete"},
				},
			},
			{Cluster: "dev-us-1", Environment: "search-dev", Action: reconciler.ActionUnchanged,
				Changes: []reconciler.Change{{Object: "Namespace/search-dev", Action: "unchanged"}}},
		},
		Groups: []reconciler.GroupChange{
			{Group: "checkout-dev-admins", Action: "create", Add: []string{"alice@example.com", "bob@example.com"}},
			{Group: "payments-dev-admins", Action: "update", Add: []string{"dave@example.com"}, Remove: []string{"eve@example.com"}},
			{Group: "search-dev-admins", Action: "unchanged"},
		},
	}
}

func sampleReport() *comment.Report {
	return &comment.Report{
		SHA:          "abc1234def5678abc1234def5678abc1234def56",
		Files:        []string{"requests/checkout-dev.yaml", "requests/payments-dev.yaml", "requests/search-dev.yaml"},
		Environments: []string{"checkout-dev", "payments-dev", "search-dev"},
		Plan:         samplePlan(),
	}
}

// sampleApprovers and sampleTeams may approve the sample pull requests.
var sampleApprovers, sampleTeams = []string{"alice", "carol"}, []string{"acme/platform"}

func TestRenderCommentGolden(t *testing.T) {
	tests := []struct {
		name string
		view comment.View
	}{
		{
			name: "passed-with-plan",
			view: comment.View{
				Report: sampleReport(), Approvers: sampleApprovers, ApproverTeams: sampleTeams, Author: "alice",
				Merge: comment.MergeStatus{Waiting: "approval from an approver"},
			},
		},
		{
			name: "validation-errors",
			view: comment.View{
				Report: &comment.Report{
					SHA:          "0123456789abcdef",
					Files:        []string{"requests/checkout-dev.yaml"},
					Environments: []string{"checkout-dev"},
					Problems: []comment.Problem{
						{File: "requests/checkout-dev.yaml", Line: 3, Message: "spec.ttl is deprecated; use spec.expires", Warning: true},
						{File: "requests/checkout-dev.yaml", Line: 7, Message: "spec.owner: must be a team, not `alice`"},
						{File: "requests/checkout-dev.yaml", Line: 12, Message: "spec.quota.cpu: 64 is more than the limit <16>"},
					},
					NotPlanned: "validation failed",
				},
				Approvers: sampleApprovers, ApproverTeams: sampleTeams, Author: "bob",
				Merge: comment.MergeStatus{Waiting: "allot's check to pass"},
			},
		},
		{
			name: "fork-not-planned",
			view: comment.View{
				Report: &comment.Report{
					SHA: "fedcba9876543210", Files: []string{"requests/search-dev.yaml"}, Environments: []string{"search-dev"},
					NotPlanned: "pull requests from forks are not planned on this platform",
				},
				Approvers: sampleApprovers, ApproverTeams: sampleTeams, Author: "mallory", Fork: true,
				Merge: comment.MergeStatus{Waiting: "approval from an approver"},
			},
		},
		{
			name: "approved-merged",
			view: comment.View{
				Report:    sampleReport(),
				Approval:  comment.Approval{Approved: true, ApprovedBy: []string{"carol"}},
				Approvers: sampleApprovers, ApproverTeams: sampleTeams, Author: "alice",
				Merge: comment.MergeStatus{Merged: true, Commit: "99aa88bb77cc66dd55ee44ff33aa22bb11cc00dd"},
			},
		},
		{
			name: "held",
			view: comment.View{
				Report:    sampleReport(),
				Approval:  comment.Approval{Stale: []string{"carol"}, Held: true, HeldBy: []string{"dave"}},
				Approvers: sampleApprovers, ApproverTeams: sampleTeams, Author: "alice",
				Merge: comment.MergeStatus{Waiting: "the hold to be lifted", AutoMergeOff: true},
			},
		},
		{
			name: "plan-rejected",
			view: comment.View{
				Report: rejectedReport(), Approvers: sampleApprovers, ApproverTeams: sampleTeams, Author: "alice",
				Merge: comment.MergeStatus{Waiting: "allot's check to pass"},
			},
		},
		{
			name: "check-could-not-run",
			view: comment.View{
				Report:    &comment.Report{SHA: "1111111222222233333", Err: "fetch https://x-access-token:" + testSecrets[0] + "@github.com/acme/requests: timeout"},
				Approvers: sampleApprovers, ApproverTeams: sampleTeams, Author: "alice",
				Merge: comment.MergeStatus{Waiting: "allot's check to pass"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := comment.Render(tt.view, testSecrets)
			checkRendered(t, got, comment.Marker)
			golden(t, "comment-"+tt.name, got)
		})
	}
}

func TestRenderCheck(t *testing.T) {
	withPlan := func(mod func(*comment.Report)) *comment.Report {
		r := sampleReport()
		mod(r)
		return r
	}
	tests := []struct {
		name      string
		report    *comment.Report
		wantTitle string
	}{
		{"counts environments and clusters of a plan", sampleReport(), "3 environments planned on 2 clusters"},
		{"counts validation errors, and warnings after them", &comment.Report{SHA: "a", Problems: []comment.Problem{{Message: "x"}, {Message: "y"}, {Message: "z", Warning: true}}}, "2 validation errors, 1 warning"},
		{"says when the check could not run", &comment.Report{SHA: "a", Err: "boom"}, "The check could not run"},
		{"says a report was not planned", &comment.Report{SHA: "a", Files: []string{"f"}, NotPlanned: "fork"}, "Validated, not planned"},
		{"says no request files changed", &comment.Report{SHA: "a"}, "No request files changed"},
		{"counts plan errors and requests that failed to render", withPlan(func(r *comment.Report) {
			r.Plan.Errors = []string{"cluster dev-eu-1: unreachable"}
			r.Plan.Kept = reconciler.KeptOf(reconciler.KeptRequest{File: "requests/a.yaml", Message: "render: boom"}, reconciler.KeptRequest{Environment: "b", Message: "x"})
		}), "1 plan error, 2 requests failed to render"},
		{"says an object the API server rejects is a plan error", rejectedReport(), "1 plan error"},
		{"says when a plan changes nothing", withPlan(func(r *comment.Report) { r.Plan.Entries = nil }), "Nothing to change"},
		{"says it has not checked yet without a report", nil, "Not checked yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			title, summary := comment.RenderCheck(tt.report, testSecrets)
			if diff := cmp.Diff(tt.wantTitle, title); diff != "" {
				t.Errorf("title (-want +got):\n%s", diff)
			}
			checkRendered(t, summary, "")
		})
	}
	t.Run("summary", func(t *testing.T) {
		_, summary := comment.RenderCheck(sampleReport(), testSecrets)
		golden(t, "check-summary", summary)
	})
}

// adversarialViews are views built to break the size limit or the layout.
func adversarialViews() map[string]comment.View {
	line := func(n int, s string) string { return strings.Repeat(s, n/len(s)+1)[:n] }
	entry := func(i int, changes ...reconciler.Change) reconciler.PlanEntry {
		return reconciler.PlanEntry{Cluster: fmt.Sprintf("cluster-%d", i%7), Environment: fmt.Sprintf("env-%05d", i), Action: reconciler.ActionUpdated, Changes: changes}
	}
	withPlan := func(entries ...reconciler.PlanEntry) comment.View {
		r := sampleReport()
		r.Plan = &reconciler.Plan{Entries: entries}
		return comment.View{Report: r, Approvers: sampleApprovers, ApproverTeams: sampleTeams, Author: "alice"}
	}
	views := map[string]comment.View{}

	views["a 1 MB diff line"] = withPlan(entry(1, reconciler.Change{Object: "ConfigMap/a/b", Action: "update", Diff: line(1<<20, "x")}))
	views["a 1 MB diff of short lines"] = withPlan(entry(1, reconciler.Change{Object: "ConfigMap/a/b", Action: "update", Diff: line(1<<20, "+ \"value\"\n")}))
	views["multi-byte diffs"] = withPlan(
		entry(1, reconciler.Change{Object: "ConfigMap/a/b", Action: "update", Diff: line(300000, "ünïcødé 😀\n")}),
		entry(2, reconciler.Change{Object: "ConfigMap/a/c", Action: "update", Diff: line(300000, "😀")}),
	)

	var many []reconciler.PlanEntry
	for i := range 10000 {
		many = append(many, entry(i, reconciler.Change{Object: "ConfigMap/x/settings", Action: "update", Diff: configMapDiff},
			reconciler.Change{Object: "Namespace/x", Action: "unchanged"}))
	}
	views["10,000 entries"] = withPlan(many...)

	var objects []reconciler.Change
	for i := range 10000 {
		objects = append(objects, reconciler.Change{Object: fmt.Sprintf("ConfigMap/x/c%05d", i), Action: "create"})
	}
	views["10,000 objects in one entry"] = withPlan(entry(1, objects...))

	v := withPlan()
	for i := range 10000 {
		v.Report.Problems = append(v.Report.Problems, comment.Problem{File: fmt.Sprintf("requests/r%05d.yaml", i), Line: i, Message: line(500, "bad value ")})
	}
	v.Report.Plan = nil
	views["10,000 problems"] = v

	v = withPlan()
	v.Report.Plan.Kept, v.Report.Plan.Errors = reconciler.Kept{}, nil
	for i := range 10000 {
		v.Report.Plan.Kept.AddFile(fmt.Sprintf("requests/r%05d.yaml", i), line(3000, "render "))
		v.Report.Plan.Errors = append(v.Report.Plan.Errors, line(3000, "cluster down "))
		v.Report.Plan.Groups = append(v.Report.Plan.Groups, reconciler.GroupChange{Group: fmt.Sprintf("g%d", i), Action: "update", Add: []string{"a", "b"}})
		v.Report.Files = append(v.Report.Files, fmt.Sprintf("requests/r%05d.yaml", i))
		v.Approvers = append(v.Approvers, fmt.Sprintf("user%d", i))
		v.Approval.Stale = append(v.Approval.Stale, fmt.Sprintf("user%d", i))
	}
	views["10,000 of every list"] = v

	var huge []reconciler.PlanEntry
	mb, mbWide := line(1<<20, "o"), line(1<<20, "é")
	for i := range 1000 {
		e := entry(i, reconciler.Change{Object: mb, Action: "update", Diff: line(5000, "d\n")})
		e.Environment, e.Cluster, e.Message = mbWide, mb, mb
		e.Groups = []renderer.Group{{Name: mb, Members: []string{mb}}}
		huge = append(huge, e)
	}
	v = withPlan(huge...)
	v.Report.Err, v.Merge.Waiting = line(1<<20, "err "), line(1<<20, "wait ")
	views["1 MB values everywhere"] = v

	hostile := "``````` </details> <details><summary>x</summary> " + comment.Marker + " <!-- x --> <b>bold</b> \n/approve\n```\n"
	v = withPlan(entry(1, reconciler.Change{Object: hostile, Action: "update", Diff: strings.Repeat(hostile+"EVIL /approve\n", 3)}))
	v.Report.Plan.Entries[0].Environment, v.Report.Plan.Entries[0].Message = hostile, hostile
	v.Report.Plan.Errors, v.Report.Plan.Kept = []string{hostile}, reconciler.KeptOf(reconciler.KeptRequest{Environment: hostile, Message: hostile})
	v.Report.Problems = []comment.Problem{{File: hostile, Line: 1, Message: hostile}}
	v.Report.Environments, v.Report.Files = []string{hostile}, []string{hostile}
	v.Merge.Waiting, v.Author, v.Approval.HeldBy, v.Approval.Held = hostile, hostile, []string{hostile}, true
	views["hostile text"] = v

	hostileHuge := v
	hostileHuge.Report = sampleReport()
	hostileHuge.Report.Plan = &reconciler.Plan{}
	for i := range 3000 {
		hostileHuge.Report.Plan.Entries = append(hostileHuge.Report.Plan.Entries,
			entry(i, reconciler.Change{Object: "x", Action: "update", Diff: strings.Repeat(hostile+"EVIL\n", 20)}))
	}
	views["hostile text, truncated"] = hostileHuge

	v = withPlan(entry(1, reconciler.Change{Object: "Secret/a/" + testSecrets[0], Action: "update",
		Diff: line(1<<20, "token "+testSecrets[0]+" https://u:p@h.example "+testSecrets[1]+"\n")}))
	v.Report.Err = testSecrets[1]
	views["secrets everywhere"] = v
	return views
}

func TestRenderCommentWithAdversarialInput(t *testing.T) {
	for name, v := range adversarialViews() {
		t.Run(name, func(t *testing.T) {
			got := comment.Render(v, testSecrets)
			checkRendered(t, got, comment.Marker)
			if !strings.HasSuffix(got, comment.Footer) {
				t.Errorf("the footer is missing; the comment ends:\n%s", got[max(len(got)-300, 0):])
			}
			title, summary := comment.RenderCheck(v.Report, testSecrets)
			if len(summary) > comment.CheckSummaryLimit {
				t.Errorf("check summary has %d bytes, more than %d", len(summary), comment.CheckSummaryLimit)
			}
			checkRendered(t, summary, "")
			if strings.ContainsAny(title, "\r\n") {
				t.Errorf("title %q is not one line", title)
			}
		})
	}
}

func TestRenderCommentNeverShowsSecrets(t *testing.T) {
	// A secret that spans lines can be cut by the line-based cut of a diff;
	// one in a long name by clipping. Either way no part of it may show.
	const split = "first-half-Zq81\nsecond-half-Zq81"
	secrets := append([]string{split}, testSecrets...)
	for _, pad := range []int{0, 1, 7, 100, 4093, 65000} {
		t.Run(fmt.Sprintf("after %d bytes", pad), func(t *testing.T) {
			diff := strings.Repeat("x", pad) + "\n" + strings.Repeat("+ "+split+" "+testSecrets[0]+"\n", 8000)
			r := sampleReport()
			r.Plan.Entries[1].Changes[1].Diff = diff
			r.Plan.Entries[1].Environment = strings.Repeat("e", comment.MaxName-10-pad%7) + testSecrets[1]
			got := comment.Render(comment.View{Report: r, Author: testSecrets[0]}, secrets)
			_, summary := comment.RenderCheck(r, secrets)
			for _, out := range []string{got, summary} {
				for _, leak := range []string{"first-half", "second-half", testSecrets[0][:8], testSecrets[1][:8]} {
					if strings.Contains(out, leak) {
						t.Errorf("output shows %q", leak)
					}
				}
			}
			checkRendered(t, got, comment.Marker)
		})
	}
	t.Run("when only the start of a long value is read", func(t *testing.T) {
		// Blanks collapse, so what follows them moves to the front.
		blanks := strings.Repeat(" ", 4*comment.MaxName-10)
		r := sampleReport()
		r.Environments = []string{blanks + testSecrets[0], blanks[12:] + "https://bot:pw-Hidden-Value-123@github.com"}
		got := comment.Render(comment.View{Report: r}, testSecrets)
		for _, leak := range []string{testSecrets[0][:8], "pw-Hidden"} {
			if strings.Contains(got, leak) {
				t.Errorf("output shows %q", leak)
			}
		}
	})
	t.Run("in a notice", func(t *testing.T) {
		n := comment.Notice{Author: "alice", Commit: "abc", Outcomes: []comment.Outcome{
			{Environment: testSecrets[0], Cluster: "c", Error: "https://u:" + testSecrets[1] + "@host failed"},
		}}
		got := comment.RenderNotice(n, testSecrets)
		for _, s := range testSecrets {
			if strings.Contains(got, s[:8]) {
				t.Errorf("notice shows %q:\n%s", s[:8], got)
			}
		}
	})
}

// checkRendered checks what must hold of everything the bot posts: within
// GitHub's limit, valid UTF-8, the marker (if any) first and only once,
// fences closed, <details> balanced, no HTML but allot's own, no command
// the bot would act on, and no test secret.
func checkRendered(t *testing.T, md, marker string) {
	t.Helper()
	if len(md) > comment.MaxBody {
		t.Errorf("%d bytes, more than %d", len(md), comment.MaxBody)
	}
	if !utf8.ValidString(md) {
		t.Error("not valid UTF-8")
	}
	if marker != "" && (!strings.HasPrefix(md, marker+"\n") || strings.Count(md, marker) != 1) {
		t.Errorf("marker %q is not first and only once (%d times)", marker, strings.Count(md, marker))
	}
	if n := strings.Count(md, "<!-- allot:"); n != min(len(marker), 1) {
		t.Errorf("%d allot markers, want %d", n, min(len(marker), 1))
	}
	if err := checkMarkdown(strings.TrimPrefix(md, marker)); err != nil {
		t.Error(err)
	}
	if cmds := review.ParseCommands(md); len(cmds) > 0 {
		t.Errorf("the bot would read its own text as commands: %+v", cmds)
	}
	for _, s := range testSecrets {
		if strings.Contains(md, s) {
			t.Errorf("shows secret %q", s)
		}
	}
}

// checkMarkdown finds fenced code blocks the way CommonMark does and checks
// that each is closed, that lines with EVIL are inside one, and that
// outside code (blocks and spans) the only HTML is <details>, <summary>
// and <sub>, with every <details> closed.
func checkMarkdown(md string) error {
	var fence string
	depth := 0
	for n, line := range strings.Split(md, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		indented := len(line)-len(trimmed) > 3
		if fence != "" {
			run := leadRun(trimmed, fence[0])
			if !indented && len(run) >= len(fence) && strings.TrimRight(trimmed[len(run):], " \t") == "" {
				fence = ""
			}
			continue
		}
		if run := leadRun(trimmed, '`'); !indented && len(run) >= 3 && !strings.Contains(trimmed[len(run):], "`") {
			fence = run
			continue
		}
		if run := leadRun(trimmed, '~'); !indented && len(run) >= 3 {
			fence = run
			continue
		}
		if strings.Contains(line, "EVIL") {
			return fmt.Errorf("line %d is outside code: %q", n+1, line)
		}
		text := stripCodeSpans(line)
		for i := strings.IndexByte(text, '<'); i >= 0; i = strings.IndexByte(text, '<') {
			text = text[i:]
			tag := ""
			for _, t := range []string{"<details>", "</details>", "<summary>", "</summary>", "<sub>", "</sub>"} {
				if strings.HasPrefix(text, t) {
					tag = t
				}
			}
			switch tag {
			case "":
				return fmt.Errorf("line %d has HTML outside code: %q", n+1, line)
			case "<details>":
				depth++
			case "</details>":
				depth--
			}
			if depth < 0 {
				return fmt.Errorf("line %d closes a <details> that is not open", n+1)
			}
			text = text[len(tag):]
		}
	}
	if fence != "" {
		return fmt.Errorf("fence %s is not closed", fence)
	}
	if depth != 0 {
		return fmt.Errorf("%d <details> not closed", depth)
	}
	return nil
}

// stripCodeSpans removes the inline code spans of a line: a backtick run
// that a backslash does not escape, up to the next run of the same length.
func stripCodeSpans(line string) string {
	var b strings.Builder
	for i := 0; i < len(line); {
		switch {
		case line[i] == '\\' && i+1 < len(line):
			b.WriteString(line[i : i+2])
			i += 2
			continue
		case line[i] != '`':
			b.WriteByte(line[i])
			i++
			continue
		}
		open := leadRun(line[i:], '`')
		j := i + len(open)
		closed := false
		for j < len(line) {
			if line[j] != '`' {
				j++
				continue
			}
			run := leadRun(line[j:], '`')
			j += len(run)
			if len(run) == len(open) {
				closed = true
				break
			}
		}
		if !closed {
			b.WriteString(open)
			i += len(open)
			continue
		}
		i = j
	}
	return b.String()
}

func leadRun(s string, c byte) string {
	i := 0
	for i < len(s) && s[i] == c {
		i++
	}
	return s[:i]
}

// golden compares got with testdata/comment/name.md, or rewrites that
// file with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	testfs.Golden(t, filepath.Join("testdata", name+".md"), []byte(got), *update)
}

// TestARejectedObjectFailsTheCheck: an object the API server rejects in
// the plan's dry run turns the check red, and its summary names the
// object with the server's message.
func TestARejectedObjectFailsTheCheck(t *testing.T) {
	r := rejectedReport()
	if r.Passed() {
		t.Error("a report whose plan has a rejected object passed")
	}
	_, summary := comment.RenderCheck(r, testSecrets)
	for _, want := range []string{"rejected `ResourceQuota/checkout-dev/default`", "must be a standard resource for quota"} {
		if !strings.Contains(summary, want) {
			t.Errorf("the check summary lacks %q:\n%s", want, summary)
		}
	}
}
