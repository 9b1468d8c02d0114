package reconciler

import (
	"context"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/allot-dev/allot/renderer"
	"github.com/allot-dev/allot/renderer/sources"
	"github.com/allot-dev/allot/schemas"
	"github.com/allot-dev/allot/schemas/budget"
	"github.com/allot-dev/allot/schemas/load"
	"github.com/allot-dev/allot/schemas/validate"
)

// The desired state of a pass: the repository fetched, validated and
// rendered once per commit, and what failed to render kept.

// desiredState is what a pass wants: the bundles per cluster, rendered from
// one commit.
type desiredState struct {
	commit    string
	platform  *schemas.PlatformSpec
	clusters  []schemas.Cluster
	byCluster map[string][]*renderer.Bundle
	// ancestry tells whether commit descends from others; nil when the
	// source does not know history.
	ancestry *ancestry
	// teams are what each team's environments reserve and cost.
	teams map[string]*budget.Team
	// rendered and renderCached count the renders made and those taken
	// from the render cache.
	rendered, renderCached int
}

// prepare fetches, loads, validates and renders. Requests that fail are
// recorded in kept; an error means nothing may be changed.
func (r *Reconciler) prepare(ctx context.Context, kept *Kept) (*desiredState, error) {
	snap, err := r.Source.Fetch(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSourceUnreadable, err)
	}
	if cached := r.cachedState(snap, kept); cached != nil {
		return cached, nil
	}
	state, err := r.render(ctx, snap, kept)
	if err == nil && snap.Immutable {
		r.rememberState(state, kept)
	}
	return state, err
}

// cachedState returns the last render when the commit is the same
// immutable one, filling kept as that pass did.
func (r *Reconciler) cachedState(snap Snapshot, kept *Kept) *desiredState {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !snap.Immutable || r.last == nil || r.last.commit != snap.Commit {
		return nil
	}
	kept.Merge(&r.lastKept)
	// Nothing is rendered this time: every bundle is the last render's.
	state := *r.last
	state.rendered, state.renderCached = 0, r.last.rendered+r.last.renderCached
	return &state
}

func (r *Reconciler) rememberState(state *desiredState, kept *Kept) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = state
	r.lastKept = Kept{}
	r.lastKept.Merge(kept)
}

// render loads, validates and renders one snapshot.
func (r *Reconciler) render(ctx context.Context, snap Snapshot, kept *Kept) (*desiredState, error) {
	state := &desiredState{commit: snap.Commit, byCluster: map[string][]*renderer.Bundle{}}
	if snap.Descends != nil {
		state.ancestry = &ancestry{descends: snap.Descends}
	}
	repo, err := load.Load(snap.Dir, load.Options{Builtin: r.Builtin})
	if err != nil {
		return state, fmt.Errorf("%w: %w", ErrSourceUnreadable, err)
	}
	problems := validate.Repository(repo, validate.Options{Now: r.now()})
	if repo.Platform == nil || validate.Failed(validate.In(problems, load.PlatformPath)) {
		return state, fmt.Errorf("%w: %s", ErrPlatformInvalid, firstProblem(problems, load.PlatformPath))
	}
	r.rememberTimeouts(repo)
	state.platform = &repo.Platform.Platform.Spec
	state.teams = budget.Teams(repo, budget.Options{Now: r.now()})
	r.mu.Lock()
	r.platform = state.platform
	r.requests = requestsByFile(repo)
	r.mu.Unlock()
	broken := brokenRequests(problems)

	root, err := os.OpenRoot(snap.Dir)
	if err != nil {
		return state, fmt.Errorf("%w: %w", ErrSourceUnreadable, err)
	}
	defer root.Close()
	rend := &renderer.Renderer{Repo: repo, RepoFS: root.FS(), Builtin: r.Builtin, Helm: &sources.Helm{CacheDir: r.ChartCache, Sandbox: r.HelmSandbox}}
	targets, _ := rend.Targets()
	var todo []renderer.Target
	for _, t := range targets {
		if msg, bad := broken[t.Env.Doc.File]; bad {
			kept.AddEnvironment(t.Env.Environment.Metadata.Name, msg)
			continue
		}
		todo = append(todo, t)
	}
	for file, msg := range broken {
		if ef, loaded := loadedFile(repo, file); loaded {
			kept.AddEnvironment(ef.Environment.Metadata.Name, msg)
		} else {
			// A request that does not even load cannot be named; keep every
			// environment whose record points at this file.
			kept.AddFile(file, msg)
		}
	}
	rendered, cached := r.renderAll(ctx, rend, snap.Dir, repo, todo)
	state.rendered, state.renderCached = len(rendered)-cached, cached
	bundles := make([]*renderer.Bundle, 0, len(rendered))
	for _, rr := range rendered {
		if rr.Bundle != nil {
			bundles = append(bundles, rr.Bundle)
		}
	}
	renderer.LogWarnings(r.log(), bundles)
	for _, rr := range rendered {
		if rr.Err != nil {
			kept.AddEnvironment(rr.Target.Env.Environment.Metadata.Name, rr.Err.Error())
			continue
		}
		state.byCluster[rr.Target.Cluster.Name] = append(state.byCluster[rr.Target.Cluster.Name], rr.Bundle)
	}
	state.clusters = r.selectedClusters(repo.Platform.Platform.Spec.Clusters)
	return state, nil
}

// renderAll renders targets, taking from the render cache what an earlier
// render made of the same inputs and keeping there what it renders.
// It returns the results in the order of targets, and how many came from
// the cache.
func (r *Reconciler) renderAll(ctx context.Context, rend *renderer.Renderer, dir string, repo *load.Repository, targets []renderer.Target) ([]renderer.Result, int) {
	cache := r.renderCache()
	keys, err := cache.Keys(dir, repo, targets)
	if err != nil {
		r.log().Warn("the render cache cannot digest the repository; rendering everything", "error", err)
		keys = nil
	}
	results := make([]renderer.Result, len(targets))
	var todo []renderer.Target
	var at []int
	for i, t := range targets {
		if keys != nil {
			if b := cache.Get(keys[i]); b != nil {
				results[i] = renderer.Result{Target: t, Bundle: b}
				continue
			}
		}
		todo = append(todo, t)
		at = append(at, i)
	}
	for j, res := range rend.RenderAll(ctx, todo) {
		i := at[j]
		results[i] = res
		if keys != nil && res.Err == nil {
			cache.Put(keys[i], res.Bundle)
		}
	}
	cache.Done()
	return results, len(targets) - len(todo)
}

// renderCache is the cache of rendered bundles, in memory and, with
// RenderCache set, on disk.
func (r *Reconciler) renderCache() *renderer.Cache {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.renders == nil {
		r.renders = &renderer.Cache{Dir: r.RenderCache}
	}
	return r.renders
}

func (r *Reconciler) rememberTimeouts(repo *load.Repository) {
	if r.ReadinessTimeouts == nil {
		r.ReadinessTimeouts = map[string]time.Duration{}
	}
	for name, tf := range repo.Templates {
		if d, err := time.ParseDuration(tf.Template.Spec.ReadinessTimeout); err == nil {
			r.ReadinessTimeouts[name] = d
		}
	}
}

// brokenRequests maps request files with validation errors to the first one.
// Expiry problems do not count: an expired request is torn down, not kept.
func brokenRequests(problems []schemas.Problem) map[string]string {
	out := map[string]string{}
	for _, p := range problems {
		if p.Severity != schemas.SeverityError || p.File == load.PlatformPath || p.Rule == schemas.RuleExpires {
			continue
		}
		if _, seen := out[p.File]; !seen {
			out[p.File] = p.String()
		}
	}
	return out
}

func loadedFile(repo *load.Repository, file string) (*load.EnvironmentFile, bool) {
	for _, ef := range repo.Environments {
		if ef.Doc.File == file {
			return ef, true
		}
	}
	return nil, false
}

func firstProblem(ps []schemas.Problem, file string) string {
	for _, p := range ps {
		if p.File == file {
			return p.String()
		}
	}
	return "no allot.yaml"
}

func sortedBundles(m map[string]*renderer.Bundle) []*renderer.Bundle {
	out := make([]*renderer.Bundle, 0, len(m))
	for _, b := range m {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Environment < out[j].Environment })
	return out
}
