package comment

import (
	"cmp"
	"slices"
	"strings"
	"unicode"

	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/renderer"
	"github.com/allot-dev/allot/schemas/budget"
)

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
	return Clip(out, n)
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

func (c cleaner) view(v View) View {
	return View{
		Report: c.report(v.Report),
		Approval: Approval{
			Approved:   v.Approval.Approved,
			ApprovedBy: c.lines(v.Approval.ApprovedBy, maxName),
			Stale:      c.lines(v.Approval.Stale, maxName),
			Held:       v.Approval.Held,
			HeldBy:     c.lines(v.Approval.HeldBy, maxName),
		},
		Approvers:     c.lines(v.Approvers, maxName),
		ApproverTeams: c.lines(v.ApproverTeams, maxName),
		Author:        c.line(v.Author, maxName),
		Merge: MergeStatus{
			Merged:       v.Merge.Merged,
			Commit:       c.line(v.Merge.Commit, maxName),
			Waiting:      c.line(v.Merge.Waiting, MaxMessage),
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
		NotPlanned:   c.line(r.NotPlanned, MaxMessage),
		Err:          c.line(r.Err, MaxMessage),
		Plan:         c.plan(r.Plan),
		Costs:        c.costs(r.Costs),
	}
	out.Problems = c.problems(r.Problems)
	if pc := r.Platform; pc != nil {
		out.Platform = &PlatformChange{Files: c.lines(pc.Files, maxName), Diff: c.block(pc.Diff), Problems: c.problems(pc.Problems)}
	}
	return out
}

// costs cleans a copy of s: the names in it come from requests.
func (c cleaner) costs(s *budget.Summary) *budget.Summary {
	if s == nil {
		return nil
	}
	out := &budget.Summary{Prices: s.Prices}
	for _, r := range s.Environments {
		r.Environment, r.Team, r.Type, r.File = c.line(r.Environment, maxName), c.line(r.Team, maxName), c.line(r.Type, maxName), c.line(r.File, maxName)
		out.Environments = append(out.Environments, r)
	}
	for _, t := range s.Teams {
		ct := *t
		ct.Name, ct.Files = c.line(t.Name, maxName), c.lines(t.Files, maxName)
		out.Teams = append(out.Teams, &ct)
	}
	return out
}

// problems cleans a copy of ps, errors first.
func (c cleaner) problems(ps []Problem) []Problem {
	var out []Problem
	for _, p := range ps {
		out = append(out, Problem{File: c.line(p.File, maxName), Line: p.Line, Message: c.line(p.Message, MaxMessage), Warning: p.Warning})
	}
	slices.SortStableFunc(out, func(a, b Problem) int {
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
	out := &reconciler.Plan{Commit: c.line(p.Commit, maxName), Errors: c.lines(p.Errors, MaxMessage)}
	out.Kept = p.Kept.Map(func(kr reconciler.KeptRequest) reconciler.KeptRequest {
		return reconciler.KeptRequest{Environment: c.line(kr.Environment, maxName), File: c.line(kr.File, maxName), Message: c.line(kr.Message, MaxMessage)}
	})
	for _, e := range p.Entries {
		ce := reconciler.PlanEntry{
			Cluster:     c.line(e.Cluster, maxName),
			Environment: c.line(e.Environment, maxName),
			Action:      reconciler.Action(c.line(string(e.Action), maxName)),
			Message:     c.line(e.Message, MaxMessage),
			Sleep:       c.line(e.Sleep, MaxMessage),
			Asleep:      e.Asleep,
		}
		for _, ch := range e.Changes {
			ce.Changes = append(ce.Changes, reconciler.Change{Object: c.line(ch.Object, maxName), Action: c.line(ch.Action, maxName), Diff: c.block(ch.Diff), Error: c.line(ch.Error, MaxMessage), Note: c.line(ch.Note, MaxMessage)})
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
			Error:       c.line(o.Error, MaxMessage),
			Groups:      c.lines(o.Groups, maxName),
		})
	}
	return out
}
