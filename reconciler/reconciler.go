package reconciler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"k8s.io/client-go/rest"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/renderer"
	"github.com/allot-dev/allot/renderer/sources"
	"github.com/allot-dev/allot/schemas"
	"github.com/allot-dev/allot/schemas/load"
	"github.com/allot-dev/allot/schemas/validate"
)

// DefaultMaxDeleteShare is the share of a cluster's managed objects one pass
// may delete before it stops and asks for --allow-mass-delete.
const DefaultMaxDeleteShare = 0.5

// Snapshot is the requests repository at one commit, checked out in Dir.
type Snapshot struct {
	Dir    string
	Commit string
	// Immutable says Commit names exactly these files (a git commit), so a
	// pass at the same commit may reuse the last render. A folder read as
	// it is on disk is not immutable.
	Immutable bool
	// Descends, when the source knows history, reports whether Commit
	// descends from ancestor (or is it); nil for a folder.
	Descends func(ctx context.Context, ancestor string) (bool, error)
}

// Source knows how to fetch the requests repository.
type Source interface {
	Fetch(ctx context.Context) (Snapshot, error)
}

// GroupSyncer knows how to make an identity provider hold the environments'
// groups. want is every group a rendered or kept environment needs; groups
// allot created that are not in want may be removed.
type GroupSyncer interface {
	SyncGroups(ctx context.Context, want []renderer.Group) error
}

// Errors that stop a pass before anything is changed.
var (
	// ErrSourceUnreadable means the repository could not be fetched or read.
	ErrSourceUnreadable = errors.New("the requests repository cannot be read")
	// ErrPlatformInvalid means allot.yaml has problems.
	ErrPlatformInvalid = errors.New("allot.yaml is not valid")
	// ErrEmptyRender means a cluster would lose every environment.
	ErrEmptyRender = errors.New("no environment renders for a cluster that has some; refusing to delete them all")
	// ErrMassDelete means a pass would delete more than the allowed share.
	ErrMassDelete = errors.New("the pass would delete more than the allowed share of managed objects")
)

// Reconciler makes clusters match the requests repository. Its fields are its
// dependencies and settings; main and tests fill them alike.
type Reconciler struct {
	Source    Source
	Connector *Connector
	// Builtin holds the built-in templates.
	Builtin fs.FS
	// ChartCache keeps remote charts between passes.
	ChartCache string
	// Groups syncs IdP groups; nil for provider none.
	Groups GroupSyncer
	// GroupsFor, when set, builds the GroupSyncer from allot.yaml's idp
	// section at each pass (nil syncer for provider none), so that a change
	// of provider in git takes effect. Groups, when set, wins.
	GroupsFor func(*schemas.IdentityProvider) (GroupSyncer, error)
	// HelmSandbox, when set, renders the charts of add-ons and of the
	// repository's own templates in a child process with bounded memory
	// and time (sources.Sandbox); nil renders them in process.
	HelmSandbox *sources.Sandbox
	// OnlyClusters limits the pass to these clusters (agent mode); empty
	// means all.
	OnlyClusters []string
	// MaxDeleteShare is the share of managed objects a pass may delete per
	// cluster; zero means DefaultMaxDeleteShare.
	MaxDeleteShare float64
	// AllowMassDelete lifts the empty-render, mass-delete and
	// history-rewrite guards for one pass.
	AllowMassDelete bool
	// DeleteWindow is how far back the window guard counts deletions
	// against MaxDeleteShare; zero means DefaultDeleteWindow, negative
	// turns it off.
	DeleteWindow time.Duration
	// AllowHistoryRewrite lifts only the guard that holds deletions when
	// the branch's commit does not descend from the one last applied.
	AllowHistoryRewrite bool
	// Concurrency bounds how many environments are applied at once per
	// cluster; zero means 4. The API server, not allot, is the bottleneck:
	// more only raises allot's memory.
	Concurrency int
	// ReadinessTimeouts bounds waits between phases, by environment type.
	ReadinessTimeouts map[string]time.Duration
	TeardownTimeout   time.Duration
	// RequestTimeout bounds each request to a cluster, watches excepted;
	// zero means the package's RequestTimeout.
	RequestTimeout time.Duration
	// UseKubeconfigServer keeps the server address of an imported cluster's
	// kubeconfig instead of the template's in-cluster address, for running
	// allot outside the host cluster.
	UseKubeconfigServer bool
	WaitInterval        time.Duration
	Now                 func() time.Time
	Log                 *slog.Logger

	// OnDrift, when set, is called for every change made outside allot to
	// an object allot manages; a pass starts watching the kinds it applied.
	OnDrift func(Drift)
	// OnStatusChange, when set, is called when the status of an object
	// allot manages changes, so that its environment's readiness can be
	// read again by a pass; it needs OnDrift, which starts the watch.
	OnStatusChange func(StatusChange)
	// OnEnvironment, when set, is called with each environment's result
	// as soon as it is final, so that a caller can show a pass as it
	// goes; calls come from several goroutines at once.
	OnEnvironment func(EnvResult)

	mu       sync.Mutex
	clusters map[string]*Cluster
	// platform is allot.yaml of the last pass.
	platform *schemas.PlatformSpec
	// last is the render of the last immutable commit, reused while the
	// commit does not change.
	last     *desiredState
	lastKept map[string]string
	watch    *watcher
	// clean maps cluster/environment to the digest last applied with no
	// drift seen since, while the drift watch covers all its kinds; such
	// an environment needs no API call in a pass.
	clean map[string]string
	// dirty counts drift events per cluster/environment, so that an event
	// that arrives while a pass applies is not forgotten by markClean.
	dirty map[string]int
	// statusChanged holds the cluster/environments whose objects' status
	// changed since their readiness was last read: the next pass reads it
	// again even when the watch vouches for their objects.
	statusChanged map[string]bool
}

// PassResult is what one pass did.
type PassResult struct {
	Commit   string
	Clusters []ClusterResult
	// Kept lists requests that failed to validate or render; their clusters
	// keep the last applied state.
	Kept map[string]string
	Err  error
}

// ClusterResult is what a pass did on one cluster.
type ClusterResult struct {
	Name         string
	Environments []EnvResult
	Err          error
	// WatchErr says why the drift watch does not work on the cluster, if
	// it does not (allot serve); the pass itself is not failed by it.
	WatchErr error
	// records are the inventory records the pass started from.
	records map[string]*Record
}

// Failed reports whether anything in the pass failed.
func (p *PassResult) Failed() bool {
	if p.Err != nil || len(p.Kept) > 0 {
		return true
	}
	for _, c := range p.Clusters {
		if c.Err != nil {
			return true
		}
		for _, e := range c.Environments {
			if e.Err != nil {
				return true
			}
		}
	}
	return false
}

// NextDeadline is the earliest time an environment of the pass that is
// not ready yet fails, if it is still not ready then; zero when none waits.
func (p *PassResult) NextDeadline() time.Time {
	var next time.Time
	for _, c := range p.Clusters {
		for _, e := range c.Environments {
			if !e.Deadline.IsZero() && (next.IsZero() || e.Deadline.Before(next)) {
				next = e.Deadline
			}
		}
	}
	return next
}

// Pass runs one reconcile pass: fetch, load and validate, render, then per
// cluster apply, prune and tear down.
func (r *Reconciler) Pass(ctx context.Context) *PassResult {
	res := &PassResult{Kept: map[string]string{}}
	in, err := r.prepare(ctx, res.Kept)
	if in != nil {
		res.Commit = in.commit
	}
	if err != nil {
		res.Err = err
		return res
	}
	var wg sync.WaitGroup
	res.Clusters = make([]ClusterResult, len(in.clusters))
	for i, cl := range in.clusters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res.Clusters[i] = r.reconcileCluster(ctx, cl, in, res.Kept, driftPolicyFor(in.platform, cl))
		}()
	}
	wg.Wait()
	syncer := r.Groups
	if syncer == nil && r.GroupsFor != nil {
		var err error
		if syncer, err = r.GroupsFor(in.platform.IdentityProvider); err != nil {
			res.Err = fmt.Errorf("IdP: %w", err)
			return res
		}
	}
	if syncer != nil {
		want, err := r.groupsToSync(in, res)
		if err == nil {
			err = syncer.SyncGroups(ctx, want)
		}
		if err != nil {
			res.Err = fmt.Errorf("sync IdP groups: %w", err)
		}
	}
	return res
}

// ErrMassGroupRemoval means a pass would remove more than the allowed share
// of the IdP groups allot manages.
var ErrMassGroupRemoval = errors.New("the pass would remove more than the allowed share of IdP groups")

// groupsToSync is the set of groups the IdP should hold after a pass: those
// of every rendered environment, plus those of environments that were kept
// or whose deletion was held, or that live on a cluster this pass could not
// read. Removing more than the allowed share of the groups known before the
// pass is held back like a mass delete.
func (r *Reconciler) groupsToSync(in *desiredState, res *PassResult) ([]renderer.Group, error) {
	want := map[string]renderer.Group{}
	for _, g := range groupsOf(in.byCluster) {
		want[g.Name] = g
	}
	previous := map[string]renderer.Group{}
	for _, c := range res.Clusters {
		for _, rec := range c.records {
			for _, g := range rec.Groups {
				previous[g.Name] = g
			}
		}
		keepAll := c.Err != nil
		for _, e := range c.Environments {
			if keepAll || e.Action == ActionHeld || e.Action == ActionFailed {
				for _, g := range c.records[e.Environment].groups() {
					if _, ok := want[g.Name]; !ok {
						want[g.Name] = g
					}
				}
			}
		}
	}
	for _, c := range res.Clusters {
		for _, rec := range c.records {
			if !keptRecord(rec, res.Kept) {
				continue
			}
			for _, g := range rec.groups() {
				if _, ok := want[g.Name]; !ok {
					want[g.Name] = g
				}
			}
		}
	}
	removed := 0
	for name := range previous {
		if _, ok := want[name]; !ok {
			removed++
		}
	}
	if !r.AllowMassDelete && len(previous) > 0 && float64(removed) > r.maxDeleteShare()*float64(len(previous)) {
		return nil, fmt.Errorf("%w: %d of %d; run with --allow-mass-delete if that is intended", ErrMassGroupRemoval, removed, len(previous))
	}
	out := make([]renderer.Group, 0, len(want))
	for _, g := range want {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

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
}

// prepare fetches, loads, validates and renders. Requests that fail are
// recorded in kept; an error means nothing may be changed.
func (r *Reconciler) prepare(ctx context.Context, kept map[string]string) (*desiredState, error) {
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
func (r *Reconciler) cachedState(snap Snapshot, kept map[string]string) *desiredState {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !snap.Immutable || r.last == nil || r.last.commit != snap.Commit {
		return nil
	}
	for k, v := range r.lastKept {
		kept[k] = v
	}
	return r.last
}

func (r *Reconciler) rememberState(state *desiredState, kept map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = state
	r.lastKept = map[string]string{}
	for k, v := range kept {
		r.lastKept[k] = v
	}
}

// render loads, validates and renders one snapshot.
func (r *Reconciler) render(ctx context.Context, snap Snapshot, kept map[string]string) (*desiredState, error) {
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
	r.mu.Lock()
	r.platform = state.platform
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
			kept[t.Env.Environment.Metadata.Name] = msg
			continue
		}
		todo = append(todo, t)
	}
	for file, msg := range broken {
		if ef, loaded := loadedFile(repo, file); loaded {
			kept[ef.Environment.Metadata.Name] = msg
		} else {
			// A request that does not even load cannot be named; keep every
			// environment whose record points at this file.
			kept["file:"+file] = msg
		}
	}
	for _, rr := range rend.RenderAll(ctx, todo) {
		if rr.Err != nil {
			kept[rr.Target.Env.Environment.Metadata.Name] = rr.Err.Error()
			continue
		}
		state.byCluster[rr.Target.Cluster.Name] = append(state.byCluster[rr.Target.Cluster.Name], rr.Bundle)
	}
	state.clusters = r.selectedClusters(repo.Platform.Platform.Spec.Clusters)
	return state, nil
}

// reconcileCluster applies the bundles placed on one cluster, prunes, and
// tears down environments that left it, within the guards.
func (r *Reconciler) reconcileCluster(ctx context.Context, entry schemas.Cluster, in *desiredState, kept map[string]string, dp driftPolicy) ClusterResult {
	res := ClusterResult{Name: entry.Name}
	bundles, commit := in.byCluster[entry.Name], in.commit
	cl, err := r.cluster(ctx, entry)
	if err != nil {
		res.Err = err
		return res
	}
	inv := inventory{client: cl.Client}
	if err := inv.ensureNamespace(ctx); err != nil {
		res.Err = err
		r.forget(entry.Name)
		return res
	}
	records, err := inv.list(ctx)
	if err != nil {
		res.Err = err
		r.forget(entry.Name)
		return res
	}
	res.records = records

	desired, gone, guard := r.partition(bundles, records, kept)
	notes, err := inv.notes(ctx)
	if err != nil {
		res.Err = err
		r.forget(entry.Name)
		return res
	}
	guard = r.passGuards(ctx, in, notes, records, desired, gone, guard)
	after := notes
	if !errors.Is(guard, ErrHistoryRewritten) && isCommitHash(commit) {
		// The history is what it was: the next pass compares with this one.
		after.LastCommit = commit
	}
	allowDeletes := guard == nil
	res.Err = guard

	// What the cluster holds of the unchanged environments, one metadata
	// list per kind, so that those it vouches for need no dry run.
	var live liveIndex
	// Environments the drift watch vouches for need no list either.
	watched := func(b *renderer.Bundle) bool { return r.isClean(cl.Name, b.Environment, b.Digest) }
	if kinds := candidateKinds(desired, records, watched); len(kinds) > 0 {
		if live, err = listLive(ctx, cl, kinds); err != nil {
			r.log().Warn("listing what the cluster holds failed; checking each environment in full", "cluster", cl.Name, "error", err)
			live = nil
		}
	}

	cp := &clusterPass{cl: cl, inv: inv, commit: commit, allowPrune: allowDeletes, dp: dp, live: live}

	// Kinds the drift watch had fully listed before this pass began: no
	// change to them during the pass can go unseen.
	var synced map[schema.GroupVersionResource]bool
	if r.OnDrift != nil {
		synced = r.watcher().syncedKinds(cl.Name)
	}
	results := make([]EnvResult, 0, len(desired)+len(gone))
	var mu sync.Mutex
	// Once the cluster cannot be reached, stop: one line for the cluster,
	// not one error per environment.
	var brk breaker
	keep := func(er EnvResult) {
		brk.record(er.Err)
		mu.Lock()
		results = append(results, er)
		mu.Unlock()
		// One that could not reach the cluster waits for the end of the
		// pass: it may become part of the cluster's one line.
		if !isConnectionError(er.Err) {
			r.recordEvent(ctx, cl, er)
			if r.OnEnvironment != nil {
				r.OnEnvironment(er)
			}
		}
	}
	sem := make(chan struct{}, r.concurrency())
	var wg sync.WaitGroup
	for _, b := range sortedBundles(desired) {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if brk.open() {
				return
			}
			rec := records[b.Environment]
			if rec != nil && rec.Digest == b.Digest && rec.condition(ConditionReady) == metav1.ConditionTrue && r.isClean(cl.Name, b.Environment, b.Digest) && b.Import == nil {
				res := bundleResult(b, cl.Name)
				res.Action, res.Ready = ActionUnchanged, true
				if r.takeStatusChange(cl.Name, b.Environment) {
					// Nothing to apply, but readiness may have changed.
					res = r.refreshReadiness(ctx, cl, inv, b, rec, res)
				}
				keep(res)
				return
			}
			r.takeStatusChange(cl.Name, b.Environment)
			dirtyBefore := r.dirtyCount(cl.Name, b.Environment)
			if live != nil && rec != nil && rec.Digest == b.Digest && rec.LastError == "" && b.Import == nil &&
				rec.condition(ConditionDrifted) != metav1.ConditionTrue && live.vouches(b, rec) {
				// Nothing allot applies changed: read readiness only.
				res := bundleResult(b, cl.Name)
				res.Action = ActionUnchanged
				res = r.noteReadiness(ctx, inv, b, rec, res, live.readiness(b))
				if res.Err == nil && len(synced) > 0 {
					r.markClean(cl, b, synced, dirtyBefore)
				}
				keep(res)
				return
			}
			er := r.applyEnvironment(ctx, cp, b, rec)
			if er.Err == nil && er.Action == ActionUnchanged && live != nil && rec != nil && live.note(rec) {
				// A full check found nothing to do: note what the cluster
				// showed, so that the next pass needs none.
				if err := inv.write(ctx, rec); err != nil {
					er.Action, er.Err = ActionFailed, err
				}
			}
			if er.Err == nil && b.Import != nil {
				er = r.applyImport(ctx, cl, inv, b, commit, er)
			}
			if er.Err == nil && len(synced) > 0 && (er.Action == ActionUnchanged || er.Action == ActionRepaired || er.Action == ActionUpdated || er.Action == ActionCreated) {
				r.markClean(cl, b, synced, dirtyBefore)
			}
			keep(er)
		}()
	}
	wg.Wait()
	for _, rec := range gone {
		switch {
		case !allowDeletes:
			held := EnvResult{Environment: rec.Environment, Cluster: cl.Name, Action: ActionHeld}
			results = append(results, held)
			r.recordEvent(ctx, cl, held)
			if r.OnEnvironment != nil {
				r.OnEnvironment(held)
			}
		case !brk.open():
			keep(r.teardown(ctx, cl, inv, rec))
		}
	}
	sort.Slice(results, func(i, j int) bool { return results[i].Environment < results[j].Environment })
	results, unreachable := brk.summarize(results)
	res.Environments = results

	deleted := 0
	for _, e := range results {
		deleted += e.Pruned
	}
	after.Deletions = r.noteDeletions(notes.Deletions, deleted)
	if unreachable == nil {
		if err := inv.setNotes(ctx, notes, after); err != nil {
			res.Err = errors.Join(res.Err, err)
		}
	}
	if err := unreachable; err != nil {
		res.Err = errors.Join(res.Err, err)
		// The connection may be what broke: the next pass makes a new one.
		r.forget(entry.Name)
		r.log().Error("cluster unreachable", "cluster", cl.Name, "error", err)
	} else if r.OnDrift != nil {
		if err := r.watcher().watch(ctx, cl, appliedRefs(desired)); err != nil {
			// Full passes still find drift; say that the watch does not.
			res.WatchErr = err
			r.log().Warn("drift watch not working; drift is found by full passes only", "cluster", cl.Name, "error", err)
		}
	}
	for _, e := range results {
		if e.Err != nil {
			r.log().Error("environment failed", "cluster", cl.Name, "environment", e.Environment, "error", e.Err)
		}
	}
	return res
}

func (r *Reconciler) watcher() *watcher {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.watch == nil {
		r.watch = &watcher{
			onDrift: func(d Drift) {
				r.markDirty(d.Cluster, d.Environment)
				r.OnDrift(d)
			},
			onStatus: func(c StatusChange) {
				r.markStatusChanged(c.Cluster, c.Environment)
				if r.OnStatusChange != nil {
					r.OnStatusChange(c)
				}
			},
		}
	}
	return r.watch
}

// markDirty makes the next pass check an environment against its cluster.
func (r *Reconciler) markDirty(cluster, env string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.clean, cluster+"/"+env)
	if r.dirty == nil {
		r.dirty = map[string]int{}
	}
	r.dirty[cluster+"/"+env]++
}

// markStatusChanged makes the next pass read an environment's readiness.
func (r *Reconciler) markStatusChanged(cluster, env string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.statusChanged == nil {
		r.statusChanged = map[string]bool{}
	}
	r.statusChanged[cluster+"/"+env] = true
}

// takeStatusChange reports whether an environment's status changed since
// it was last asked, and forgets it: a change that arrives while its
// readiness is read is kept for the next pass.
func (r *Reconciler) takeStatusChange(cluster, env string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := r.statusChanged[cluster+"/"+env]
	delete(r.statusChanged, cluster+"/"+env)
	return changed
}

// dirtyCount is the number of drift events seen for an environment.
func (r *Reconciler) dirtyCount(cluster, env string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dirty[cluster+"/"+env]
}

// Invalidate makes the next pass check every environment against its
// cluster, as the periodic full pass does.
func (r *Reconciler) Invalidate() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clean = nil
}

// isClean reports whether an environment is known to match digest.
func (r *Reconciler) isClean(cluster, env, digest string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.clean[cluster+"/"+env] == digest
}

// markClean records that an environment matched digest at the end of a
// pass during which the watch covered every kind it uses.
func (r *Reconciler) markClean(cl *Cluster, b *renderer.Bundle, synced map[schema.GroupVersionResource]bool, dirtyBefore int) {
	for _, p := range applyPhases {
		for _, o := range b.Objects[p] {
			gvk := o.GroupVersionKind()
			m, err := cl.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil || !synced[m.Resource] {
				return
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dirty[cl.Name+"/"+b.Environment] != dirtyBefore {
		return // drift arrived while the pass applied
	}
	if r.clean == nil {
		r.clean = map[string]string{}
	}
	r.clean[cl.Name+"/"+b.Environment] = b.Digest
}

// StopWatching stops the drift watches a pass started.
func (r *Reconciler) StopWatching() {
	r.mu.Lock()
	w := r.watch
	r.watch = nil
	r.mu.Unlock()
	if w != nil {
		w.stopAll()
	}
}

func appliedRefs(desired map[string]*renderer.Bundle) []ObjectRef {
	var refs []ObjectRef
	for _, b := range desired {
		for _, p := range applyPhases {
			for _, o := range b.Objects[p] {
				refs = append(refs, refOf(o, p))
			}
		}
	}
	return refs
}

// partition splits a cluster's environments into those the pass wants
// (rendered and not expired) and those it would tear down (recorded, not
// wanted, not kept after a failure), and applies the deletion guards: an
// error means nothing may be deleted on the cluster.
func (r *Reconciler) partition(bundles []*renderer.Bundle, records map[string]*Record, kept map[string]string) (map[string]*renderer.Bundle, []*Record, error) {
	desired := map[string]*renderer.Bundle{}
	for _, b := range bundles {
		if !r.expired(b, records[b.Environment]) {
			desired[b.Environment] = b
		}
	}
	var gone []*Record
	for name, rec := range records {
		if _, want := desired[name]; !want && !keptRecord(rec, kept) {
			gone = append(gone, rec)
		}
	}
	sort.Slice(gone, func(i, j int) bool { return gone[i].Environment < gone[j].Environment })
	if r.AllowMassDelete {
		return desired, gone, nil
	}
	deletes, total := countDeletes(records, desired, gone)
	// A request kept after a failure lifts the empty-render guard only if
	// it has a record here: one broken request elsewhere, or one never
	// applied, says nothing about this cluster's environments.
	keptHere := false
	for _, rec := range records {
		keptHere = keptHere || keptRecord(rec, kept)
	}
	switch {
	case len(desired) == 0 && len(records) > 0 && !keptHere && len(gone) > 0:
		return desired, gone, ErrEmptyRender
	case total > 0 && float64(deletes) > r.maxDeleteShare()*float64(total):
		return desired, gone, fmt.Errorf("%w: %d of %d objects (more than %.0f%%); run with --allow-mass-delete if that is intended", ErrMassDelete, deletes, total, r.maxDeleteShare()*100)
	}
	return desired, gone, nil
}

// expired reports whether an environment's time is up: a date in the past,
// or a TTL counted from when allot first applied it.
func (r *Reconciler) expired(b *renderer.Bundle, rec *Record) bool {
	raw := b.Expires
	if raw == "" {
		return false
	}
	e, err := schemas.ParseExpiry(raw)
	if err != nil {
		return false
	}
	now := r.now()
	if !e.At.IsZero() {
		return !e.At.After(now)
	}
	return rec != nil && !rec.Created.IsZero() && !rec.Created.Add(e.TTL).After(now)
}

// countDeletes counts the objects the pass would delete and those allot
// manages on the cluster.
func countDeletes(records map[string]*Record, desired map[string]*renderer.Bundle, gone []*Record) (deletes, total int) {
	for name, rec := range records {
		total += len(rec.Objects)
		b, ok := desired[name]
		if !ok {
			continue
		}
		want := map[string]bool{}
		for _, p := range renderer.Phases() {
			for _, o := range b.Objects[p] {
				want[refOf(o, p).Key()] = true
			}
		}
		for _, o := range rec.Objects {
			if !want[o.Key()] {
				deletes++
			}
		}
	}
	for _, rec := range gone {
		deletes += len(rec.Objects)
	}
	return deletes, total
}

func keptRecord(rec *Record, kept map[string]string) bool {
	if _, ok := kept[rec.Environment]; ok {
		return true
	}
	_, ok := kept["file:"+rec.File]
	return ok
}

// Platform returns allot.yaml as the last pass read it, or nil before one.
func (r *Reconciler) Platform() *schemas.PlatformSpec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.platform
}

// ClusterFor returns the connection to a cluster, made once and reused.
func (r *Reconciler) ClusterFor(ctx context.Context, entry schemas.Cluster) (*Cluster, error) {
	return r.cluster(ctx, entry)
}

func (r *Reconciler) cluster(ctx context.Context, entry schemas.Cluster) (*Cluster, error) {
	cfg, err := r.Connector.Config(ctx, entry)
	if err != nil {
		return nil, err
	}
	return r.connection(entry.Name, cfg)
}

// connection returns the connection to a cluster, made once and reused
// while its address and credentials stay the same. When they change (a
// rotated kubeconfig, a new token), the old connection is dropped, and so
// is the cluster's drift watch, which the next pass starts on the new one.
func (r *Reconciler) connection(name string, cfg *rest.Config) (*Cluster, error) {
	key := name + "@" + configFingerprint(cfg)
	r.mu.Lock()
	c, ok := r.clusters[key]
	r.mu.Unlock()
	if ok {
		return c, nil
	}
	c, err := newCluster(name, cfg, r.requestTimeout())
	if err != nil {
		return nil, err
	}
	replaced := r.forget(name)
	r.mu.Lock()
	if r.clusters == nil {
		r.clusters = map[string]*Cluster{}
	}
	r.clusters[key] = c
	r.mu.Unlock()
	if replaced {
		r.log().Info("cluster connection renewed: its address or credentials changed", "cluster", name)
	}
	return c, nil
}

// configFingerprint digests what a connection depends on.
func configFingerprint(cfg *rest.Config) string {
	h := sha256.New()
	for _, part := range []string{cfg.Host, cfg.APIPath, string(cfg.CAData), cfg.CAFile, string(cfg.CertData), cfg.CertFile, string(cfg.KeyData), cfg.KeyFile,
		cfg.BearerToken, cfg.BearerTokenFile, cfg.Username, cfg.Password, cfg.ServerName, fmt.Sprint(cfg.Insecure), fmt.Sprintf("%+v", cfg.ExecProvider), fmt.Sprintf("%+v", cfg.AuthProvider)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// forget drops a cluster's cached connections and its drift watch, so the
// next pass reconnects and watches anew; it reports whether there was a
// connection to drop. Environments the watch vouched for are checked again.
func (r *Reconciler) forget(name string) bool {
	r.mu.Lock()
	dropped := false
	for k := range r.clusters {
		if k == name || strings.HasPrefix(k, name+"@") {
			delete(r.clusters, k)
			dropped = true
		}
	}
	for k := range r.clean {
		if strings.HasPrefix(k, name+"/") {
			delete(r.clean, k)
		}
	}
	w := r.watch
	r.mu.Unlock()
	if w != nil {
		w.stopCluster(name)
	}
	return dropped
}

func (r *Reconciler) selectedClusters(all []schemas.Cluster) []schemas.Cluster {
	if len(r.OnlyClusters) == 0 {
		return all
	}
	var out []schemas.Cluster
	for _, c := range all {
		for _, name := range r.OnlyClusters {
			if c.Name == name {
				out = append(out, c)
			}
		}
	}
	return out
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

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reconciler) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (r *Reconciler) maxDeleteShare() float64 {
	if r.MaxDeleteShare > 0 {
		return r.MaxDeleteShare
	}
	return DefaultMaxDeleteShare
}

func (r *Reconciler) concurrency() int {
	if r.Concurrency > 0 {
		return r.Concurrency
	}
	return 4
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

func groupsOf(byCluster map[string][]*renderer.Bundle) []renderer.Group {
	seen := map[string]bool{}
	var out []renderer.Group
	for _, bs := range byCluster {
		for _, b := range bs {
			for _, g := range b.Groups {
				if !seen[g.Name] {
					seen[g.Name] = true
					out = append(out, g)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func keyOf(ref ObjectRef) client.ObjectKey {
	return client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}
}

func isNoMatch(err error) bool { return err != nil && meta.IsNoMatchError(err) }

func propagationBackground() client.DeleteOption {
	p := metav1.DeletePropagationBackground
	return client.PropagationPolicy(p)
}
