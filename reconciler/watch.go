package reconciler

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"

	"github.com/allot-dev/allot/renderer"
)

// Drift is a change made outside allot to an object allot manages.
type Drift struct {
	Cluster string
	// Environment is the object's allot.dev/environment label.
	Environment string
	Object      string
	// Deleted is true when the object was deleted.
	Deleted bool
}

// StatusChange is a change to the status of an object allot manages, whose
// readiness may have changed with it.
type StatusChange struct {
	Cluster string
	// Environment is the object's allot.dev/environment label.
	Environment string
	Object      string
}

// watcher watches, per cluster, the kinds allot applied there, through
// metadata-only informers filtered by allot's label, and reports changes
// that allot did not make itself, and changes of status.
type watcher struct {
	log     *slog.Logger
	onDrift func(Drift)
	// onStatus is called for a change of status alone: same generation,
	// labels and annotations, and a new resourceVersion.
	onStatus  func(StatusChange)
	mu        sync.Mutex
	byCluster map[string]*clusterWatch
}

type clusterWatch struct {
	// synced holds the resources whose informers have listed everything,
	// so that no event of theirs can be missed any more.
	synced   map[schema.GroupVersionResource]bool
	ctx      context.Context
	client   metadata.Interface
	watching map[schema.GroupVersionResource]bool
	// failing holds each resource's last list or watch error.
	failing map[schema.GroupVersionResource]error
	stop    context.CancelFunc
	// records caches the cluster's inventory records; after its watch
	// failed, a new one starts no sooner than recordsRetry.
	records      *recordCache
	recordsRetry time.Time
}

// recordsRetryAfter is how long passes list a cluster's records after the
// watch on them failed, before a new one is started.
const recordsRetryAfter = time.Minute

// watch makes sure the kinds of refs are watched on cl. It returns why
// drift detection does not work on the cluster, if it does not: the watch
// could not start, or its last list or watch failed (the informers keep
// retrying); nil once it works.
func (w *watcher) watch(ctx context.Context, cl *Cluster, refs []ObjectRef) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	cw, ok := w.byCluster[cl.Name]
	if !ok {
		mc, err := metadata.NewForConfig(cl.Config)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrWatch, err)
		}
		// The watches outlive the pass that starts them; StopWatching ends them.
		wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		cw = &clusterWatch{
			ctx:      wctx,
			client:   mc,
			watching: map[schema.GroupVersionResource]bool{},
			synced:   map[schema.GroupVersionResource]bool{},
			failing:  map[schema.GroupVersionResource]error{},
			stop:     cancel,
		}
		if w.byCluster == nil {
			w.byCluster = map[string]*clusterWatch{}
		}
		w.byCluster[cl.Name] = cw
	}
	w.startRecords(cl, cw)
	// A fleet's objects are of a few kinds: each is mapped once, not once
	// per object (a mapping allocates, and every pass calls watch).
	kinds := map[schema.GroupVersionKind]bool{}
	for _, ref := range refs {
		if kinds[ref.GVK()] {
			continue
		}
		kinds[ref.GVK()] = true
		mapping, err := cl.Mapper.RESTMapping(ref.GVK().GroupKind(), ref.Version)
		if err != nil || cw.watching[mapping.Resource] {
			continue
		}
		cw.watching[mapping.Resource] = true
		// No index: drift detection looks objects up by event, never by
		// namespace, and an index of every namespace costs memory.
		inf := metadatainformer.NewFilteredMetadataInformer(cw.client, mapping.Resource, metav1.NamespaceAll, 0, cache.Indexers{}, managedByAllot).Informer()
		resource := mapping.Resource
		_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
			w.mu.Lock()
			cw.failing[resource] = err
			w.mu.Unlock()
			cache.DefaultWatchErrorHandler(ctx, r, err)
		})
		// Keep only what drift detection reads: managed fields are most of
		// an object's metadata, and only their newest manager matters;
		// labels and annotations are only compared.
		_ = inf.SetTransform(slimMetadata)
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			UpdateFunc: func(oldObj, newObj any) {
				o, ok1 := oldObj.(*watchedObject)
				n, ok2 := newObj.(*watchedObject)
				if !ok1 || !ok2 {
					return
				}
				id := mapping.GroupVersionKind.Kind + "/" + n.Namespace + "/" + n.Name
				switch {
				case changedByOthers(o, n):
					w.onDrift(Drift{Cluster: cl.Name, Environment: n.env, Object: id})
				case readsStatus(mapping.GroupVersionKind.GroupKind()) && statusChanged(o, n):
					w.onStatus(StatusChange{Cluster: cl.Name, Environment: n.env, Object: id})
				}
			},
			DeleteFunc: func(obj any) {
				if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
					obj = tomb.Obj
				}
				// A delete cannot say who made it; allot's own deletes happen
				// during passes, and the pass they trigger finds nothing to do.
				m, ok := obj.(*watchedObject)
				if !ok {
					return
				}
				w.onDrift(Drift{Cluster: cl.Name, Environment: m.env, Object: mapping.GroupVersionKind.Kind + "/" + m.Namespace + "/" + m.Name, Deleted: true})
			},
		})
		gvr := mapping.Resource
		go inf.RunWithContext(cw.ctx)
		go func() {
			if cache.WaitForCacheSync(cw.ctx.Done(), inf.HasSynced) {
				w.mu.Lock()
				cw.synced[gvr] = true
				w.mu.Unlock()
			}
		}()
	}
	return cw.problem()
}

// managedByAllot narrows the drift watch to the objects allot manages.
func managedByAllot(o *metav1.ListOptions) {
	o.LabelSelector = renderer.LabelManagedBy + "=" + renderer.ManagedByValue
}

// startRecords starts the cluster's records cache, unless one runs or
// the last one failed less than recordsRetryAfter ago. w.mu is held.
func (w *watcher) startRecords(cl *Cluster, cw *clusterWatch) {
	if (cw.records != nil && !cw.records.failed()) || time.Now().Before(cw.recordsRetry) {
		return
	}
	records, err := startRecordCache(cw.ctx, cl.Config, func(err error) {
		w.mu.Lock()
		cw.recordsRetry = time.Now().Add(recordsRetryAfter)
		w.mu.Unlock()
		logRecordsFailed(w.log, cl.Name, err)
	})
	if err != nil {
		cw.recordsRetry = time.Now().Add(recordsRetryAfter)
		logRecordsFailed(w.log, cl.Name, err)
		return
	}
	cw.records = records
}

// recordsOf returns a cluster's records cache; nil when it has none.
func (w *watcher) recordsOf(cluster string) *recordCache {
	w.mu.Lock()
	defer w.mu.Unlock()
	if cw, ok := w.byCluster[cluster]; ok {
		return cw.records
	}
	return nil
}

// ErrWatch means drift detection does not work on a cluster; full passes
// still find drift.
var ErrWatch = errors.New("the drift watch does not work")

// problem is why the cluster's watch does not work, if it does not: a
// resource that never listed, with its last error. (After a first list, the
// informers retry by themselves; a connection that fails is dropped, and
// its watch with it, by the pass that sees it fail.)
func (cw *clusterWatch) problem() error {
	var errs []error
	for gvr, err := range cw.failing {
		if !cw.synced[gvr] {
			errs = append(errs, fmt.Errorf("%s: %w", gvr.Resource, err))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return fmt.Errorf("%w: %w", ErrWatch, errors.Join(errs...))
}

// syncedKinds returns the resources of a cluster whose informers are synced.
func (w *watcher) syncedKinds(cluster string) map[schema.GroupVersionResource]bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[schema.GroupVersionResource]bool{}
	if cw, ok := w.byCluster[cluster]; ok {
		for k := range cw.synced {
			out[k] = true
		}
	}
	return out
}

// allSynced reports, per watched cluster, whether every kind it watches
// has listed everything, so that no change to them can be missed any more.
func (w *watcher) allSynced() map[string]bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]bool, len(w.byCluster))
	for name, cw := range w.byCluster {
		done := true
		for gvr := range cw.watching {
			done = done && cw.synced[gvr]
		}
		out[name] = done
	}
	return out
}

// stopCluster stops a cluster's informers; the next watch call starts
// them again, on the connection it is given.
func (w *watcher) stopCluster(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if cw, ok := w.byCluster[name]; ok {
		cw.records.close()
		cw.stop()
		delete(w.byCluster, name)
	}
}

// stopAll stops every informer.
func (w *watcher) stopAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, cw := range w.byCluster {
		cw.records.close()
		cw.stop()
	}
	w.byCluster = nil
}

// changedByOthers reports an update to what allot applies — the spec (by
// generation), or metadata for kinds without one — whose newest field
// manager is not allot.
func changedByOthers(o, n *watchedObject) bool {
	if o.ResourceVersion == n.ResourceVersion {
		return false
	}
	specChanged := n.Generation != o.Generation ||
		(n.Generation == 0) ||
		o.labels != n.labels || o.annotations != n.annotations
	return specChanged && n.lastManager != FieldManager
}

// statusChanged reports an update that left what allot applies alone:
// for kinds with a generation, the same generation, labels and
// annotations under a new resourceVersion is a change of status.
func statusChanged(o, n *watchedObject) bool {
	return o.ResourceVersion != n.ResourceVersion && n.Generation != 0 && n.Generation == o.Generation &&
		o.labels == n.labels && o.annotations == n.annotations
}

// watchedObject is what the drift watch keeps of an object: its names,
// resourceVersion and generation, its environment, digests of its labels
// and of its annotations, and its newest field manager. Kept as metadata
// (maps of labels and annotations, managed fields), a fleet's objects were
// the largest part of serve's heap.
type watchedObject struct {
	// ObjectMeta holds the name, namespace, resourceVersion and generation
	// alone; the informer keys objects by it.
	metav1.ObjectMeta
	env                 string
	labels, annotations mapDigest
	lastManager         string
}

// mapDigest digests a map of labels or annotations: equal digests are
// equal maps, even against someone who chooses the maps to collide.
type mapDigest [16]byte

func digestMap(m map[string]string) mapDigest {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	h := sha256.New()
	for _, k := range keys {
		// Lengths first: no two maps write the same bytes.
		var n [16]byte
		binary.BigEndian.PutUint64(n[:8], uint64(len(k)))
		binary.BigEndian.PutUint64(n[8:], uint64(len(m[k])))
		h.Write(n[:])
		h.Write([]byte(k))
		h.Write([]byte(m[k]))
	}
	var d mapDigest
	copy(d[:], h.Sum(nil))
	return d
}

// slimMetadata turns an object's metadata into what the watch keeps of it,
// before the informer caches it.
func slimMetadata(obj any) (any, error) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		// Already slim, or a tombstone.
		return obj, nil
	}
	last := lastManager(m.ManagedFields)
	if last == FieldManager {
		// One string for all of allot's objects.
		last = FieldManager
	}
	return &watchedObject{
		ObjectMeta:  metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, ResourceVersion: m.ResourceVersion, Generation: m.Generation},
		env:         m.Labels[renderer.LabelEnvironment],
		labels:      digestMap(m.Labels),
		annotations: digestMap(m.Annotations),
		lastManager: last,
	}, nil
}

// lastManager is the field manager of the newest managed-fields entry.
// Managed-fields times have a resolution of one second, so allot's repair
// and another manager's edit made in the same second tie: then the other
// manager counts as the newest, whatever the order of the entries, so
// that the edit is seen as drift. (A needless repair is a no-op apply; a
// missed one leaves the drift until the next full pass.)
func lastManager(fields []metav1.ManagedFieldsEntry) string {
	var newest time.Time
	manager := ""
	for _, f := range fields {
		// A controller writing status changes nothing allot applies.
		if f.Time == nil || f.Subresource == "status" {
			continue
		}
		t := f.Time.Time
		switch {
		case manager == "" || t.After(newest):
			newest, manager = t, f.Manager
		case t.Equal(newest) && manager == FieldManager && f.Manager != FieldManager:
			manager = f.Manager
		}
	}
	return manager
}

// WatchSynced reports, per cluster the drift watch runs on (allot serve),
// whether it has listed every kind it watches there; until it has, a
// change may be found only by the next full pass.
func (r *Reconciler) WatchSynced() map[string]bool {
	r.mu.Lock()
	w := r.watch
	r.mu.Unlock()
	if w == nil {
		return nil
	}
	return w.allSynced()
}
