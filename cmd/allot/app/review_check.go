package app

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/allot-dev/allot/environments"
	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/reconciler/source"
	"github.com/allot-dev/allot/review"
	"github.com/allot-dev/allot/schemas"
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
func (c *prChecker) Check(ctx context.Context, req review.CheckRequest) (*review.Report, review.Policy, error) {
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
	// What merging would give: the base branch as it is now with the pull
	// request's changes on top. A request file belongs to one environment,
	// so this is what GitHub's merge makes of the requests.
	merged := filepath.Join(work, "merged")
	if err := overlay(merged, base.Dir, head.Dir, req.Files); err != nil {
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
	for _, f := range req.Files {
		changed[f] = true
	}
	report := &review.Report{SHA: head.Commit, BaseSHA: base.Commit}
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
	policy := review.PolicyFrom(spec, slices.Compact(teams))

	selected := selectChanged(changed)
	problems := validate.Repository(mergedRepo, validate.Options{Selected: selected})
	rendered, err := renderProblems(ctx, mergedRepo, problems, selected, c.opts.ChartCache)
	if err != nil {
		return nil, policy, err
	}
	problems = append(problems, rendered...)
	for _, p := range problems {
		report.Problems = append(report.Problems, review.Problem{File: p.File, Line: p.Line, Message: p.Message, Warning: p.Severity != schemas.SeverityError})
	}

	switch {
	case req.Fork && !policy.PlanForks:
		report.NotPlanned = "pull requests from forks are validated without secrets and not planned against the clusters (review.planForks in allot.yaml)"
	case validate.Failed(problems):
		report.NotPlanned = "fix the validation errors first"
	default:
		requestsOnly := onlyRequests(req.Files, report.Files)
		var only func(string) bool
		if requestsOnly {
			only = func(env string) bool { return touched[env] }
		}
		plan, err := c.plan(ctx, merged, only)
		if err != nil {
			return nil, policy, err
		}
		report.Plan = onlyTouched(plan, touched, requestsOnly)
	}
	return report, policy, nil
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

// onlyRequests reports whether every changed file is a request file: then
// the rest of the repository is as on the base branch, and its plan is
// left out.
func onlyRequests(changed, requests []string) bool {
	for _, f := range changed {
		if !slices.Contains(requests, f) {
			return false
		}
	}
	return true
}

// onlyTouched keeps the parts of a plan about the touched environments,
// and, when more than requests changed, every entry that changes anything.
// Errors stay: a guard that would stop the pass concerns every pull
// request.
func onlyTouched(plan *reconciler.Plan, touched map[string]bool, requestsOnly bool) *reconciler.Plan {
	out := &reconciler.Plan{Commit: plan.Commit, Errors: plan.Errors, Kept: map[string]string{}}
	groups := map[string]bool{}
	for _, e := range plan.Entries {
		changes := slices.ContainsFunc(e.Changes, func(c reconciler.Change) bool { return c.Action != "unchanged" })
		if touched[e.Environment] || !requestsOnly && (changes || e.Action != reconciler.ActionUnchanged) {
			out.Entries = append(out.Entries, e)
			for _, g := range e.Groups {
				groups[g.Name] = true
			}
		}
	}
	for _, g := range plan.Groups {
		if groups[g.Group] {
			out.Groups = append(out.Groups, g)
		}
	}
	for k, v := range plan.Kept {
		// Kept is keyed by environment, or by "file:" and the path of a
		// request too broken to name one.
		name := k
		if f, ok := strings.CutPrefix(k, "file:"); ok {
			name, _ = requestName(f)
		}
		if touched[name] || !requestsOnly {
			out.Kept[k] = v
		}
	}
	return out
}

// overlay makes dir the base working copy with the changed files taken
// from head: copied where head has them, removed where it has not. Only
// regular files and symbolic links are copied (a link stays a link, for
// the loader to refuse); git's own folder is left out.
func overlay(dir, base, head string, changed []string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(base, p)
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		return copyEntry(filepath.Join(dir, rel), p, d)
	})
	if err != nil {
		return fmt.Errorf("copy the base branch: %w", err)
	}
	for _, f := range changed {
		if !filepath.IsLocal(filepath.FromSlash(f)) || strings.HasPrefix(f, ".git/") {
			return fmt.Errorf("pull request file %q is not a path inside the repository", f)
		}
		src, dst := filepath.Join(head, filepath.FromSlash(f)), filepath.Join(dir, filepath.FromSlash(f))
		info, err := os.Lstat(src)
		switch {
		case os.IsNotExist(err):
			if err := os.RemoveAll(dst); err != nil {
				return err
			}
			continue
		case err != nil:
			return err
		}
		if err := os.RemoveAll(dst); err != nil {
			return err
		}
		if err := copyEntry(dst, src, fs.FileInfoToDirEntry(info)); err != nil {
			return fmt.Errorf("copy %s from the pull request: %w", f, err)
		}
	}
	return nil
}

// copyEntry copies one folder (made empty), regular file or symbolic link.
func copyEntry(dst, src string, d fs.DirEntry) error {
	switch {
	case d.IsDir():
		return os.MkdirAll(dst, 0o755)
	case d.Type()&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.Symlink(target, dst)
	case !d.Type().IsRegular():
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
