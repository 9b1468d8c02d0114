package comment

import (
	"slices"

	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/schemas/budget"
)

// Report is what checking one head commit of a pull request found.
type Report struct {
	// SHA is the head commit checked.
	SHA string
	// BaseSHA is the commit of the base branch the head was checked
	// against, merged with it; empty when unknown.
	BaseSHA string
	// Files are the request files the pull request adds, changes or
	// deletes, relative to the repository root, sorted.
	Files []string
	// Environments are the environments those files name, sorted.
	Environments []string
	// Problems are validation findings, errors and warnings.
	Problems []Problem
	// Platform is the pull request's change to allot.yaml and templates/,
	// nil when it makes none.
	Platform *PlatformChange
	// Plan is what merging would change, limited to Environments; nil when
	// nothing was planned, and NotPlanned says why.
	Plan       *reconciler.Plan
	NotPlanned string
	// Costs are what the pull request's environments reserve and cost,
	// and their teams' totals once merged; nil when allot.yaml sets
	// neither prices nor budgets.
	Costs *budget.Summary
	// Err is set when the check itself could not run (the head could not be
	// fetched, for example); it is not the request's fault.
	Err string
}

// PlatformChange is the part of a pull request that changes allot.yaml or
// templates/. Those files choose clusters, credentials, the IdP and policy,
// so the requests are checked and planned with the base branch's; the change
// itself is shown as a diff, validated on its own, and reaches the clusters
// only once merged, after an approver from approvers.default approved it.
type PlatformChange struct {
	// Files are the platform files changed, sorted.
	Files []string
	// Diff is a unified diff of those files, base branch to head.
	Diff string
	// Problems are what validating the changed platform found.
	Problems []Problem
}

// Problem is one validation finding.
type Problem struct {
	File    string
	Line    int
	Message string
	Warning bool
}

// Passed reports whether the commit may be merged as far as allot's check
// is concerned: it validated, and planning found no errors.
func (r *Report) Passed() bool {
	if r == nil || r.Err != "" {
		return false
	}
	if errs, _ := countProblems(r.allProblems()); errs > 0 {
		return false
	}
	return r.Plan == nil || len(r.Plan.Errors) == 0 && r.Plan.Kept.Len() == 0
}

// allProblems are the problems of the requests and of the platform change.
func (r *Report) allProblems() []Problem {
	if r.Platform == nil {
		return r.Problems
	}
	return append(slices.Clone(r.Problems), r.Platform.Problems...)
}

// MergeStatus says where a pull request stands on the way to merging.
type MergeStatus struct {
	// Merged is set once merged; Commit is the merge commit.
	Merged bool
	Commit string
	// Waiting says what the merge waits for, in a short phrase, for example
	// "approval from an approver" or "the hold to be lifted".
	Waiting string
	// AutoMergeOff is set when allot does not merge by itself.
	AutoMergeOff bool
}

// View is everything the bot comment on a pull request shows.
type View struct {
	Report   *Report
	Approval Approval
	// Approvers (logins) and ApproverTeams ("org/team" slugs) may approve
	// this pull request.
	Approvers, ApproverTeams []string
	Author                   string
	Merge                    MergeStatus
	// Fork is set for pull requests from forks, which are validated without
	// secrets and planned only if the platform allows it.
	Fork bool
}

// Approval is where a pull request's approvals and holds stand, as the bot
// comment shows them. Logins are sorted.
type Approval struct {
	// Approved is set when at least one approver approved the head commit.
	Approved   bool
	ApprovedBy []string
	// Stale lists approvers whose standing approval was given on an older
	// commit; it does not count until they approve again.
	Stale  []string
	Held   bool
	HeldBy []string
}

// EnvKind is the type of an environment, as the ready notice explains how to
// reach it.
type EnvKind string

// The built-in environment types.
const (
	KindNamespace EnvKind = "namespace"
	KindVCluster  EnvKind = "vcluster"
	KindECS       EnvKind = "ecs"
)

// Outcome is how one environment of a merged pull request came out on one
// cluster.
type Outcome struct {
	Environment string
	Kind        EnvKind
	Cluster     string
	Namespace   string
	// Ready is set when the environment's objects applied and became ready;
	// Removed when its request was deleted and it was torn down.
	Ready   bool
	Removed bool
	// Error says what failed, when neither is set.
	Error string
	// Groups are the IdP groups that grant access.
	Groups []string
}

// Notice is the comment allot posts on a merged pull request once the
// reconcile pass that applied it has finished.
type Notice struct {
	Number   int
	Author   string
	Commit   string
	Outcomes []Outcome
}
