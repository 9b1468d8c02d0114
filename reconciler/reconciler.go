package reconciler

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/renderer"
	"github.com/allot-dev/allot/renderer/sources"
	"github.com/allot-dev/allot/schemas"
	"github.com/allot-dev/allot/schemas/budget"
)

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
	// RenderCache, when set, keeps rendered bundles on disk, so that a
	// later process renders only what changed; they are kept in memory
	// between passes either way (renderer.Cache).
	RenderCache string
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
	// Gate, when set, narrows each pass further to the clusters this
	// replica holds now, and ends its work on one as soon as it loses it
	// (replicas that share the fleet); nil works on every cluster.
	Gate ClusterGate
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
	// requests are the requests of the last pass, by file.
	requests map[string]schemas.Environment
	// last is the render of the last immutable commit, reused while the
	// commit does not change.
	last     *desiredState
	lastKept Kept
	renders  *renderer.Cache
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
	Kept Kept
	// Teams are what each team's environments reserve and cost at the
	// commit the pass read, by team; nil when it read none.
	Teams map[string]*budget.Team
	Err   error
	// Platform is allot.yaml as the pass read it; nil when the pass
	// stopped before.
	Platform *schemas.PlatformSpec
	// Rendered counts the environments the pass rendered, and RenderCached
	// those it took from the render cache, since nothing their render reads
	// changed.
	Rendered, RenderCached int
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
	if p.Err != nil || p.Kept.Len() > 0 {
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
	return p.earliest(func(e EnvResult) time.Time { return e.Deadline })
}

// NextSleepChange is the earliest time an environment of the pass falls
// asleep or wakes on its schedule; zero when none has one.
func (p *PassResult) NextSleepChange() time.Time {
	return p.earliest(func(e EnvResult) time.Time { return e.SleepUntil })
}

// earliest is the earliest non-zero time of the pass's environments.
func (p *PassResult) earliest(at func(EnvResult) time.Time) time.Time {
	var next time.Time
	for _, c := range p.Clusters {
		for _, e := range c.Environments {
			if t := at(e); !t.IsZero() && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
	}
	return next
}

// Pass runs one reconcile pass: fetch, load and validate, render, then per
// cluster apply, prune and tear down.
func (r *Reconciler) Pass(ctx context.Context) *PassResult {
	res := &PassResult{}
	// The render cache writes its files while the pass applies; a process
	// that exits after the pass finds them written.
	defer r.renderCache().Wait()
	in, err := r.prepare(ctx, &res.Kept)
	if in != nil {
		res.Commit, res.Teams, res.Platform = in.commit, in.teams, in.platform
		res.Rendered, res.RenderCached = in.rendered, in.renderCached
	}
	if err != nil {
		res.Err = err
		return res
	}
	held := r.enterClusters(ctx, in.clusters)
	var wg sync.WaitGroup
	res.Clusters = make([]ClusterResult, len(held))
	givenUp := make([]bool, len(held))
	for i, cl := range held {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res.Clusters[i] = r.reconcileCluster(cl.ctx, cl.entry, in, &res.Kept, driftPolicyFor(in.platform, cl.entry))
			givenUp[i] = cl.ctx.Err() != nil && ctx.Err() == nil
			cl.done()
		}()
	}
	wg.Wait()
	// A cluster this replica gave up during the pass is another's now: what
	// the cancelled work left is not a failure of this pass.
	worked := res.Clusters[:0]
	for i, c := range res.Clusters {
		if givenUp[i] {
			r.log().Info("stopped working on a cluster this replica no longer holds", "cluster", c.Name)
			continue
		}
		worked = append(worked, c)
	}
	res.Clusters = worked
	syncer := r.Groups
	if syncer == nil && r.GroupsFor != nil {
		var err error
		if syncer, err = r.GroupsFor(in.platform.IdentityProvider); err != nil {
			res.Err = fmt.Errorf("IdP: %w", err)
			return res
		}
	}
	switch {
	case syncer == nil:
	case r.Gate != nil:
		r.syncSharedGroups(ctx, syncer, in, res)
	default:
		r.syncGroups(ctx, syncer, in, res, res.Clusters)
	}
	return res
}

// syncGroups makes the identity provider hold the groups of the pass;
// clusters are what the pass knows of the clusters' records.
func (r *Reconciler) syncGroups(ctx context.Context, syncer GroupSyncer, in *desiredState, res *PassResult, clusters []ClusterResult) {
	want, err := r.groupsToSync(in, &res.Kept, clusters)
	if err == nil {
		err = syncer.SyncGroups(ctx, want)
	}
	if err != nil {
		res.Err = fmt.Errorf("sync IdP groups: %w", err)
	}
}

// reconcileCluster applies the bundles placed on one cluster, prunes, and
// tears down environments that left it, within the guards.
func (r *Reconciler) reconcileCluster(ctx context.Context, entry schemas.Cluster, in *desiredState, kept *Kept, dp driftPolicy) ClusterResult {
	res := ClusterResult{Name: entry.Name}
	bundles, commit := in.byCluster[entry.Name], in.commit
	cl, err := r.cluster(ctx, entry)
	if err != nil {
		res.Err = err
		return res
	}
	cl.forgetMappings()
	inv := inventory{client: cl.Client, records: r.recordCache(cl.Name)}
	notes, err := inv.ensureNamespace(ctx)
	if err != nil {
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
	sleep := r.planSleep(desired, records)
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
			keep(r.passEnvironment(ctx, cp, b, records[b.Environment], sleep[b.Environment], synced))
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
			er := r.teardown(ctx, cl, inv, rec)
			er.Expired = er.Action == ActionDeleted && slices.ContainsFunc(bundles, func(b *renderer.Bundle) bool { return b.Environment == rec.Environment })
			keep(er)
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

// Platform returns allot.yaml as the last pass read it, or nil before one.
func (r *Reconciler) Platform() *schemas.PlatformSpec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.platform
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

func keyOf(ref ObjectRef) client.ObjectKey {
	return client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}
}

func isNoMatch(err error) bool { return err != nil && meta.IsNoMatchError(err) }

func propagationBackground() client.DeleteOption {
	p := metav1.DeletePropagationBackground
	return client.PropagationPolicy(p)
}
