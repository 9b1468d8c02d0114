package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/allot-dev/allot/environments"
	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/reconciler/source"
	"github.com/allot-dev/allot/review"
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
	if err := overlay(merged, base.Dir, head.Dir, requestChanges); err != nil {
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
	policy := review.PolicyFrom(spec, slices.Compact(teams), onlyRequests(req.Files, report.Files))
	// What is planned is the base platform with the pull request's other
	// changes: when those are all requests, only their environments can
	// change, so only they are planned.
	requestsOnly := onlyRequests(requestChanges, report.Files)

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
	report.Problems = reviewProblems(problems)
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
		report.Plan = onlyTouched(plan, touched, requestsOnly)
	}
	return report, policy, nil
}

// platformChange shows and validates the pull request's changes to
// allot.yaml and templates/ on their own: the base branch with every
// change of the pull request on top, loaded and checked by the
// repository-wide rules, without rendering (rendering could fetch charts
// from repositories the change itself allows).
func (c *prChecker) platformChange(work, base, head string, all, platform []string) (*review.PlatformChange, error) {
	proposed := filepath.Join(work, "proposed")
	if err := overlay(proposed, base, head, all); err != nil {
		return nil, err
	}
	pc := &review.PlatformChange{Files: platform}
	diff, err := platformDiff(base, head, platform)
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
	pc.Problems = reviewProblems(own)
	return pc, nil
}

// maxDiffInput bounds what is read of each side of a platform file for its
// diff; the comment shows far less.
const maxDiffInput = 1 << 20

// platformDiff is a unified diff of the platform files between the base
// branch and the pull request's head.
func platformDiff(base, head string, files []string) (string, error) {
	var b strings.Builder
	for _, f := range files {
		before, err := readBounded(base, f)
		if err != nil {
			return "", err
		}
		after, err := readBounded(head, f)
		if err != nil {
			return "", err
		}
		from, to := "a/"+f, "b/"+f
		if before == nil {
			from = "/dev/null"
		}
		if after == nil {
			to = "/dev/null"
		}
		d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: difflib.SplitLines(string(before)), B: difflib.SplitLines(string(after)),
			FromFile: from, ToFile: to, Context: 3,
		})
		if err != nil {
			return "", err
		}
		b.WriteString(d)
	}
	return b.String(), nil
}

// readBounded reads a file of a working copy through os.Root, so that no
// link leads out of it; a missing file reads as nil.
func readBounded(dir, rel string) ([]byte, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(filepath.FromSlash(rel))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxDiffInput+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxDiffInput {
		return []byte(fmt.Sprintf("(%s is larger than %d bytes; not shown)\n", rel, maxDiffInput)), nil
	}
	return data, nil
}

// reviewProblems turns validation findings into the report's problems.
func reviewProblems(ps []schemas.Problem) []review.Problem {
	var out []review.Problem
	for _, p := range ps {
		out = append(out, review.Problem{File: p.File, Line: p.Line, Message: p.Message, Warning: p.Severity != schemas.SeverityError})
	}
	return out
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
	out := &reconciler.Plan{Commit: plan.Commit, Errors: plan.Errors}
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
	out.Kept = plan.Kept.Filter(func(kr reconciler.KeptRequest) bool {
		name := kr.Environment
		if name == "" {
			name, _ = requestName(kr.File)
		}
		return touched[name] || !requestsOnly
	})
	return out
}

// overlay makes dir the base working copy with the changed files taken
// from head: copied where head has them, removed where it has not. Only
// regular files and symbolic links are copied (a link stays a link, for
// the loader to refuse); git's own folder is left out. Every read and
// write goes through os.Root, so no link in either working copy, however
// chained, leads a copy or a removal outside its folder.
func overlay(dir, base, head string, changed []string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	dst, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer dst.Close()
	src, err := os.OpenRoot(base)
	if err != nil {
		return err
	}
	defer src.Close()
	err = fs.WalkDir(src.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return fs.SkipDir
		}
		if p == "." {
			return nil
		}
		return copyEntry(dst, src, p, d)
	})
	if err != nil {
		return fmt.Errorf("copy the base branch: %w", err)
	}
	pr, err := os.OpenRoot(head)
	if err != nil {
		return err
	}
	defer pr.Close()
	for _, f := range changed {
		if !filepath.IsLocal(filepath.FromSlash(f)) || path.Clean(f) != f || f == ".git" || strings.HasPrefix(f, ".git/") {
			return fmt.Errorf("pull request file %q is not a path inside the repository", f)
		}
		rel := filepath.FromSlash(f)
		info, err := pr.Lstat(rel)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := dst.RemoveAll(rel); err != nil {
				return fmt.Errorf("remove %s as the pull request does: %w", f, err)
			}
			continue
		case err != nil:
			return fmt.Errorf("pull request file %s: %w", f, err)
		}
		if err := dst.RemoveAll(rel); err != nil {
			return fmt.Errorf("replace %s with the pull request's: %w", f, err)
		}
		if err := copyEntry(dst, pr, f, fs.FileInfoToDirEntry(info)); err != nil {
			return fmt.Errorf("copy %s from the pull request: %w", f, err)
		}
	}
	return nil
}

// copyEntry copies one folder (made empty), regular file or symbolic link
// from src to dst, both rooted; rel is slash-separated.
func copyEntry(dst, src *os.Root, rel string, d fs.DirEntry) error {
	name := filepath.FromSlash(rel)
	switch {
	case d.IsDir():
		return dst.MkdirAll(name, 0o755)
	case d.Type()&fs.ModeSymlink != 0:
		target, err := src.Readlink(name)
		if err != nil {
			return err
		}
		if err := dst.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return err
		}
		return dst.Symlink(target, name)
	case !d.Type().IsRegular():
		return nil
	}
	in, err := src.Open(name)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := dst.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	out, err := dst.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
