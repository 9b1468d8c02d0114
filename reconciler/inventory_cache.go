package reconciler

import (
	"context"
	"log/slog"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"k8s.io/apimachinery/pkg/watch"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/allot-dev/allot/renderer"
)

// recordCache keeps one cluster's inventory records as a watch on
// allot-system shows them, so that a pass of allot serve reads them from
// memory instead of listing them. It keeps each record parsed, never the
// ConfigMap. What allot itself writes is seen at once, before the watch
// shows it (read your writes); what others write (allot wake from
// another process, a record edited or deleted by hand) is seen by the
// passes that start once the watch has delivered it, moments later.
type recordCache struct {
	informer cache.SharedIndexInformer
	stop     context.CancelFunc

	mu sync.Mutex
	// written holds what allot wrote or removed, by ConfigMap name, until
	// the watch shows it or something newer.
	written map[string]recordWrite
	// unusable is set when the watch failed or the cache was stopped: the
	// cache is not read again, and the drift watch starts a new one.
	unusable bool
}

// cachedRecord is what the informer keeps of a record ConfigMap: its name
// and resourceVersion, and its record, parsed once (or why it cannot be).
type cachedRecord struct {
	metav1.ObjectMeta
	record *Record
	err    error
}

// recordWrite is a record allot wrote (entry) or removed (entry nil) at
// or after resourceVersion rv.
type recordWrite struct {
	rv    string
	entry *cachedRecord
}

// startRecordCache starts watching the inventory records of the cluster
// cfg reaches; onFail is told once if the watch fails.
func startRecordCache(ctx context.Context, cfg *rest.Config, onFail func(error)) (*recordCache, error) {
	cfg = rest.CopyConfig(cfg)
	// Records are ConfigMaps, which the API server sends in protobuf: less
	// to decode than JSON.
	cfg.ContentType, cfg.AcceptContentTypes = runtime.ContentTypeProtobuf, runtime.ContentTypeProtobuf+","+runtime.ContentTypeJSON
	core, err := corev1client.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	selector := LabelInventory + "=true"
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = selector
			return core.ConfigMaps(SystemNamespace).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector
			return core.ConfigMaps(SystemNamespace).Watch(ctx, o)
		},
	}
	c := &recordCache{
		informer: cache.NewSharedIndexInformerWithOptions(lw, &corev1.ConfigMap{}, cache.SharedIndexInformerOptions{ObjectDescription: "inventory records"}),
		written:  map[string]recordWrite{},
	}
	if err := c.informer.SetTransform(toCachedRecord); err != nil {
		return nil, err
	}
	if err := c.informer.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
		// After a failed watch the informer lists again, and the records
		// it holds meanwhile may be old: passes list them until a new
		// cache has synced.
		if c.fail() {
			c.stop()
			onFail(err)
		}
		cache.DefaultWatchErrorHandler(ctx, r, err)
	}); err != nil {
		return nil, err
	}
	if _, err := c.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.seen(obj, false) },
		UpdateFunc: func(_, obj any) { c.seen(obj, false) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			c.seen(obj, true)
		},
	}); err != nil {
		return nil, err
	}
	ctx, c.stop = context.WithCancel(ctx)
	go c.informer.RunWithContext(ctx)
	return c, nil
}

// toCachedRecord is the informer's transform: a record ConfigMap becomes
// its parsed record.
func toCachedRecord(obj any) (any, error) {
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return obj, nil
	}
	return cachedRecordOf(cm), nil
}

func cachedRecordOf(cm *corev1.ConfigMap) *cachedRecord {
	e := &cachedRecord{ObjectMeta: metav1.ObjectMeta{Name: cm.Name, Namespace: cm.Namespace, ResourceVersion: cm.ResourceVersion}}
	e.record, e.err = readRecord(cm)
	return e
}

// fail makes the cache unusable; it reports whether it was usable.
func (c *recordCache) fail() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	was := !c.unusable
	c.unusable = true
	return was
}

// close stops the cache's watch.
func (c *recordCache) close() {
	if c == nil {
		return
	}
	c.fail()
	c.stop()
}

// failed reports whether the cache is no longer read.
func (c *recordCache) failed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unusable
}

// records returns the records by environment, and whether the cache could
// answer: false before its first list, after its watch failed, or when a
// resourceVersion cannot be compared; the caller then lists.
func (c *recordCache) records() (map[string]*Record, bool, error) {
	if c == nil || !c.informer.HasSynced() {
		return nil, false, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.unusable {
		return nil, false, nil
	}
	entries := map[string]*cachedRecord{}
	for _, obj := range c.informer.GetStore().List() {
		if e, ok := obj.(*cachedRecord); ok {
			entries[e.Name] = e
		}
	}
	// allot's own writes win over what the watch has not caught up with.
	for name, w := range c.written {
		if cur, ok := entries[name]; ok {
			cmp, err := resourceversion.CompareResourceVersion(cur.ResourceVersion, w.rv)
			if err != nil {
				return nil, false, nil
			}
			if cmp > 0 || (cmp == 0 && w.entry != nil) {
				continue
			}
		}
		if w.entry == nil {
			delete(entries, name)
		} else {
			entries[name] = w.entry
		}
	}
	out := make(map[string]*Record, len(entries))
	for _, e := range entries {
		if e.err != nil {
			return nil, true, e.err
		}
		// A pass changes the records it is given; the cache's stay as the
		// cluster holds them.
		rec := e.record.deepCopy()
		out[rec.Environment] = rec
	}
	return out, true, nil
}

// wrote notes a record allot wrote, as the API server answered the write.
func (c *recordCache) wrote(cm *corev1.ConfigMap) {
	if c == nil || cm.ResourceVersion == "" {
		return
	}
	e := cachedRecordOf(cm)
	c.mu.Lock()
	defer c.mu.Unlock()
	// Two writers (a pass, /wake) may hear back out of order: the newer
	// version stays.
	if w, ok := c.written[cm.Name]; ok {
		if cmp, err := resourceversion.CompareResourceVersion(cm.ResourceVersion, w.rv); err == nil && cmp < 0 {
			return
		}
	}
	c.written[cm.Name] = recordWrite{rv: cm.ResourceVersion, entry: e}
}

// removed notes a record allot deleted: the watch's copies of it up to the
// last resourceVersion allot knew are gone.
func (c *recordCache) removed(name string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rv := "0"
	if w, ok := c.written[name]; ok {
		rv = w.rv
	}
	if obj, ok, _ := c.informer.GetStore().GetByKey(SystemNamespace + "/" + name); ok {
		if e, ok := obj.(*cachedRecord); ok {
			if cmp, err := resourceversion.CompareResourceVersion(e.ResourceVersion, rv); err == nil && cmp > 0 {
				rv = e.ResourceVersion
			}
		}
	}
	c.written[name] = recordWrite{rv: rv}
}

// seen drops what allot wrote of a record once the watch shows it, or
// something newer: a later version, or a deletion after it.
func (c *recordCache) seen(obj any, deleted bool) {
	e, ok := obj.(*cachedRecord)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	w, ok := c.written[e.Name]
	if !ok {
		return
	}
	cmp, err := resourceversion.CompareResourceVersion(e.ResourceVersion, w.rv)
	if err == nil && (cmp > 0 || (cmp == 0 && w.entry != nil && !deleted)) {
		delete(c.written, e.Name)
	}
}

// recordCache returns the records cache the drift watch keeps for a
// cluster, nil when there is none (no watch: allot reconcile, plan).
func (r *Reconciler) recordCache(cluster string) *recordCache {
	if r.OnDrift == nil {
		return nil
	}
	return r.watcher().recordsOf(cluster)
}

// logRecordsFailed says that passes list a cluster's records again.
func logRecordsFailed(log *slog.Logger, cluster string, err error) {
	log.Warn("the watch on inventory records failed; passes list them until it has listed again", "cluster", cluster, "error", err)
}

// deepCopy copies a record, so that changing the copy leaves r alone.
func (r *Record) deepCopy() *Record {
	c := *r
	c.Objects = slices.Clone(r.Objects)
	if r.PreDelete != nil {
		c.PreDelete = make([]map[string]any, len(r.PreDelete))
		for i, o := range r.PreDelete {
			c.PreDelete[i] = runtime.DeepCopyJSON(o)
		}
	}
	if r.Groups != nil {
		c.Groups = make([]renderer.Group, len(r.Groups))
		for i, g := range r.Groups {
			c.Groups[i] = renderer.Group{Name: g.Name, Members: slices.Clone(g.Members)}
		}
	}
	c.Conditions = slices.Clone(r.Conditions)
	c.Changed = slices.Clone(r.Changed)
	if r.Sleep != nil {
		s := *r.Sleep
		c.Sleep = &s
	}
	if r.Wake != nil {
		w := *r.Wake
		c.Wake = &w
	}
	return &c
}
