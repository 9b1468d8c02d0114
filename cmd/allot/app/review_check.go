package app

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/allot-dev/allot/environments"
	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/reconciler/source"
	"github.com/allot-dev/allot/review"
	"github.com/allot-dev/allot/review/comment"
	"github.com/allot-dev/allot/schemas"
	"github.com/allot-dev/allot/schemas/budget"
	"github.com/allot-dev/allot/schemas/load"
	"github.com/allot-dev/allot/schemas/validate"
)

// prChecker checks pull-request heads: it fetches the head and the base
// branch, lays the pull request's changes over the base, validates that,
// and plans it against the clusters.
type prChecker struct {
	opts ReconcileOptions
	// dir holds a working copy per pull request.
	dir   string
	token string
	log   *slog.Logger
}

var _ review.Checker = (*prChecker)(nil)

// Check validates and plans a pull request's changes on top of its base
// branch.
//
// Nothing the pull request writes may choose what allot's credentials
// reach: allot.yaml and templates/ (clusters, the IdP, policy, templates)
// are always taken from the base branch for validating and planning the
// requests. A change to them is shown as a diff and validated on its own,
// and reaches the clusters only after it is merged.
func (c *prChecker) Check(ctx context.Context, req review.CheckRequest) (*comment.Report, review.Policy, error) {
	pr := req.PR
	work := filepath.Join(c.dir, "pr-"+strconv.Itoa(pr.Number))
	head, err := c.fetch(ctx, "", fmt.Sprintf("refs/pull/%d/head", pr.Number), filepath.Join(work, "head"))
	if err != nil {
		return nil, review.Policy{}, err
	}
	if !strings.EqualFold(head.Commit, pr.HeadSHA) {
		return nil, review.Policy{}, fmt.Errorf("the head moved to %.7s while allot fetched %.7s; the push that moved it starts a new check", head.Commit, pr.HeadSHA)
	}
	base, err := c.fetch(ctx, pr.BaseRef, "", filepath.Join(work, "base"))
	if err != nil {
		return nil, review.Policy{}, err
	}
	var requestChanges, platformChanges []string
	for _, f := range req.Files {
		if load.IsPlatformFile(f) {
			platformChanges = append(platformChanges, f)
		} else {
			requestChanges = append(requestChanges, f)
		}
	}
	// What merging would give, as far as the requests go: the base branch
	// as it is now with the pull request's other changes on top. A request
	// file belongs to one environment, so this is what GitHub's merge makes
	// of the requests.
	merged := filepath.Join(work, "merged")
	if err := review.Overlay(merged, base.Dir, head.Dir, requestChanges); err != nil {
		return nil, review.Policy{}, err
	}
	opts := load.Options{Builtin: environments.Templates()}
	mergedRepo, err := load.Load(merged, opts)
	if err != nil {
		return nil, review.Policy{}, err
	}
	baseRepo, err := load.Load(base.Dir, opts)
	if err != nil {
		return nil, review.Policy{}, err
	}

	changed := map[string]bool{}
	for _, f := range requestChanges {
		changed[f] = true
	}
	report := &comment.Report{SHA: head.Commit, BaseSHA: base.Commit}
	var teams []string
	touched := map[string]bool{}
	for _, repo := range []*load.Repository{mergedRepo, baseRepo} {
		for _, ef := range repo.Environments {
			if !changed[ef.Doc.File] || touched[ef.Environment.Metadata.Name] {
				continue
			}
			touched[ef.Environment.Metadata.Name] = true
			report.Files = append(report.Files, ef.Doc.File)
			report.Environments = append(report.Environments, ef.Environment.Metadata.Name)
			teams = append(teams, ef.Environment.Spec.Team)
		}
	}
	slices.Sort(report.Files)
	slices.Sort(report.Environments)
	slices.Sort(teams)
	var spec *schemas.PlatformSpec
	if baseRepo.Platform != nil {
		spec = &baseRepo.Platform.Platform.Spec
	}
	policy := review.PolicyFrom(spec, slices.Compact(teams), review.RequestsOnly(req.Files, report.Files))
	// What is planned is the base platform with the pull request's other
	// changes: when those are all requests, only their environments can
	// change, so only they are planned.
	requestsOnly := review.RequestsOnly(requestChanges, report.Files)

	if len(platformChanges) > 0 {
		if report.Platform, err = c.platformChange(work, base.Dir, head.Dir, req.Files, platformChanges); err != nil {
			return nil, policy, err
		}
	}

	selected := selectChanged(changed)
	problems := validate.Repository(mergedRepo, validate.Options{Selected: selected})
	rendered, err := renderProblems(ctx, mergedRepo, problems, selected, c.opts.ChartCache)
	if err != nil {
		return nil, policy, err
	}
	problems = append(problems, rendered...)
	report.Problems = review.ProblemsOf(problems)
	report.Costs = budget.Summarize(mergedRepo, report.Environments, budget.Options{Now: time.Now()})

	switch {
	case req.Fork && !policy.PlanForks:
		report.NotPlanned = "pull requests from forks are validated without secrets and not planned against the clusters (review.planForks in allot.yaml)"
	case validate.Failed(problems):
		report.NotPlanned = "fix the validation errors first"
	default:
		var only func(string) bool
		if requestsOnly {
			only = func(env string) bool { return touched[env] }
		}
		plan, err := c.plan(ctx, merged, only)
		if err != nil {
			return nil, policy, err
		}
		report.Plan = review.OnlyTouched(plan, touched, requestsOnly)
	}
	return report, policy, nil
}

// platformChange shows and validates the pull request's changes to
// allot.yaml and templates/ on their own: the base branch with every
// change of the pull request on top, loaded and checked by the
// repository-wide rules, without rendering (rendering could fetch charts
// from repositories the change itself allows).
func (c *prChecker) platformChange(work, base, head string, all, platform []string) (*comment.PlatformChange, error) {
	proposed := filepath.Join(work, "proposed")
	if err := review.Overlay(proposed, base, head, all); err != nil {
		return nil, err
	}
	pc := &comment.PlatformChange{Files: platform}
	diff, err := review.PlatformDiff(base, head, platform)
	if err != nil {
		return nil, err
	}
	pc.Diff = diff
	repo, err := load.Load(proposed, load.Options{Builtin: environments.Templates()})
	if err != nil {
		return nil, err
	}
	var own []schemas.Problem
	for _, p := range validate.Repository(repo, validate.Options{Selected: func(*load.EnvironmentFile) bool { return false }}) {
		if load.IsPlatformFile(p.File) {
			own = append(own, p)
		}
	}
	pc.Problems = review.ProblemsOf(own)
	return pc, nil
}

// fetch fetches a branch of the requests repository, or ref when set,
// into dir.
func (c *prChecker) fetch(ctx context.Context, branch, ref, dir string) (*source.Snapshot, error) {
	cfg := c.opts.gitConfig(c.token)
	cfg.Branch, cfg.Ref, cfg.Dir = branch, ref, dir
	g, err := source.New(cfg)
	if err != nil {
		return nil, err
	}
	return g.Fetch(ctx)
}

// plan plans the checked-out head against the clusters, as `allot plan`
// would, for the environments only accepts (nil: all of them).
func (c *prChecker) plan(ctx context.Context, dir string, only func(string) bool) (*reconciler.Plan, error) {
	o := c.opts
	o.Repo = dir
	r, err := newReconciler(o, c.log)
	if err != nil {
		return nil, err
	}
	defer r.StopWatching()
	return r.PlanOnly(ctx, only)
}
