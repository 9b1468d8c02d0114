package reconciler

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/renderer"
)

// A pass checks an environment whose request did not change without a dry
// run per object when the cluster vouches for it: one metadata-only list
// per kind gives each object's managed fields, and if allot's entry (for
// an object allot owns whole, every manager's) is what it was when a full
// check last found nothing to do, nothing was changed that allot applies.
// A field allot sets that someone edits, applies over or removes moves out
// of allot's entry; a deleted object or a removed label drops out of the
// list; a field added to a whole-owned object adds to another manager's
// entry. Status changes touch none of them.

// listPageSize bounds one page of a metadata list.
const listPageSize = 500

// clusterPass is what one pass knows about one cluster while it applies
// the cluster's environments.
type clusterPass struct {
	cl     *Cluster
	inv    inventory
	commit string
	// allowPrune is false while a guard holds the cluster's deletions.
	allowPrune bool
	dp         driftPolicy
	// live is what the cluster held when the pass began; nil when it was
	// not listed.
	live liveIndex
}

// liveObject is what a pass keeps of one object allot manages.
type liveObject struct {
	env      string
	owned    string
	deleting bool
	// foreign, for an object allot owns whole, says that others set fields
	// of it that allot does not.
	foreign bool
	// readiness, for kinds whose readiness depends on their status, which
	// are listed whole.
	readiness objectReadiness
}

// liveIndex maps ObjectRef.Key to what a pass listed.
type liveIndex map[string]liveObject

// listLive lists, by allot's label, every object of the given kinds on cl:
// metadata only, or whole for kinds whose readiness is read from their
// status. Pages are bounded; only a few fields of each object are kept.
func listLive(ctx context.Context, cl *Cluster, gvks []schema.GroupVersionKind) (liveIndex, error) {
	idx := liveIndex{}
	for _, gvk := range gvks {
		whole := readsStatus(gvk.GroupKind())
		cont := ""
		for {
			var list client.ObjectList
			if whole {
				l := &unstructured.UnstructuredList{}
				l.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
				list = l
			} else {
				l := &metav1.PartialObjectMetadataList{}
				l.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
				list = l
			}
			opts := []client.ListOption{client.MatchingLabels{renderer.LabelManagedBy: renderer.ManagedByValue}, client.Limit(listPageSize)}
			if cont != "" {
				opts = append(opts, client.Continue(cont))
			}
			if err := cl.Client.List(ctx, list, opts...); err != nil {
				return nil, fmt.Errorf("list %s: %w", gvk.Kind, err)
			}
			key := func(o metav1.Object) string {
				return ObjectRef{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: o.GetNamespace(), Name: o.GetName()}.Key()
			}
			switch l := list.(type) {
			case *unstructured.UnstructuredList:
				for i := range l.Items {
					idx[key(&l.Items[i])] = observed(&l.Items[i])
				}
			case *metav1.PartialObjectMetadataList:
				for i := range l.Items {
					idx[key(&l.Items[i])] = observedMetadata(&l.Items[i])
				}
			}
			if cont = list.GetContinue(); cont == "" {
				break
			}
		}
	}
	return idx, nil
}

// observed is what a pass keeps of an object as the cluster showed it,
// whole: its metadata's, and its readiness when that is read from its
// status.
func observed(o *unstructured.Unstructured) liveObject {
	lo := observedMetadata(o)
	if readsStatus(o.GroupVersionKind().GroupKind()) {
		lo.readiness = readinessOf(o)
	}
	return lo
}

// observedMetadata is what a pass keeps of an object from its metadata.
func observedMetadata(o metav1.Object) liveObject {
	whole := o.GetAnnotations()[renderer.AnnotationOwnership] == renderer.OwnershipWhole
	lo := liveObject{
		env:      o.GetLabels()[renderer.LabelEnvironment],
		owned:    ownedDigest(o.GetManagedFields(), whole),
		deleting: o.GetDeletionTimestamp() != nil,
	}
	if whole && othersManage(o.GetManagedFields()) {
		// Unreadable managed fields count as foreign: the object is then
		// read whole.
		set, err := foreignSet(o.GetManagedFields())
		lo.foreign = err != nil || !set.Empty()
	}
	return lo
}

// othersManage reports whether a manager other than allot owns fields of
// an object outside its subresources. When none does, nothing can be
// foreign, and no field set need be read.
func othersManage(entries []metav1.ManagedFieldsEntry) bool {
	for _, e := range entries {
		if e.Subresource == "" && e.FieldsV1 != nil && e.Manager != FieldManager {
			return true
		}
	}
	return false
}

// readiness is the readiness of a bundle's objects as listed, as
// readObjects would read it one by one.
func (idx liveIndex) readiness(b *renderer.Bundle) setReadiness {
	var s setReadiness
	for _, o := range bundleObjects(b) {
		if !readsStatus(o.GroupVersionKind().GroupKind()) {
			continue
		}
		id := renderer.ObjectID(o)
		live, ok := idx[refOf(o, "").Key()]
		if !ok {
			s.waiting = append(s.waiting, id+" (not found)")
			continue
		}
		s.add(id, live.readiness)
	}
	return s
}

// ownedDigest digests the managed-fields entries that say what allot
// applied still holds: allot's own, or, for an object allot owns whole,
// everyone's. Status and times are left out.
func ownedDigest(entries []metav1.ManagedFieldsEntry, whole bool) string {
	var kept []metav1.ManagedFieldsEntry
	for _, e := range entries {
		if e.Subresource != "" || (!whole && e.Manager != FieldManager) {
			continue
		}
		kept = append(kept, e)
	}
	if len(kept) == 0 {
		return ""
	}
	slices.SortFunc(kept, func(a, b metav1.ManagedFieldsEntry) int {
		return cmp.Or(cmp.Compare(a.Manager, b.Manager), cmp.Compare(string(a.Operation), string(b.Operation)))
	})
	h := sha256.New()
	for _, e := range kept {
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00", e.Manager, e.Operation, e.APIVersion)
		if e.FieldsV1 != nil {
			h.Write(e.FieldsV1.GetRawBytes())
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// vouches reports whether the cluster shows that nothing allot applies of
// an unchanged environment changed since a full check found it clean:
// every object of the record is listed, labelled for the environment, not
// being deleted, with the managed fields the record noted.
func (idx liveIndex) vouches(b *renderer.Bundle, rec *Record) bool {
	want := 0
	for _, p := range applyPhases {
		want += len(b.Objects[p])
	}
	if len(rec.Objects) != want {
		return false
	}
	for _, ref := range rec.Objects {
		live, ok := idx[ref.Key()]
		if !ok || ref.Owned == "" || live.owned != ref.Owned || live.env != b.Environment || live.deleting {
			return false
		}
	}
	return true
}

// note records on rec's objects their managed fields as listed, after a
// full check found nothing to change; it reports whether that changed the
// record.
func (idx liveIndex) note(rec *Record) bool {
	changed := false
	for i, ref := range rec.Objects {
		live, ok := idx[ref.Key()]
		owned := ""
		if ok && !live.deleting {
			owned = live.owned
		}
		if ref.Owned != owned {
			rec.Objects[i].Owned = owned
			changed = true
		}
	}
	return changed
}

// candidateKinds lists the kinds of the environments a pass may check
// through the live index: those whose request did not change, but not
// those the drift watch already vouches for (skip).
//
// A list reads every object of its kind allot manages on the cluster, so
// for fewer than minListed environments checking them in full is cheaper:
// then no kind is listed.
func candidateKinds(bundles map[string]*renderer.Bundle, records map[string]*Record, skip func(*renderer.Bundle) bool) []schema.GroupVersionKind {
	seen := map[schema.GroupVersionKind]bool{}
	var out []schema.GroupVersionKind
	candidates := 0
	for name, b := range bundles {
		rec := records[name]
		if rec == nil || rec.Digest != b.Digest || rec.LastError != "" || b.Import != nil || skip(b) {
			continue
		}
		candidates++
		for _, ref := range rec.Objects {
			if gvk := ref.GVK(); !seen[gvk] {
				seen[gvk] = true
				out = append(out, gvk)
			}
		}
	}
	if candidates < minListed {
		return nil
	}
	slices.SortFunc(out, func(a, b schema.GroupVersionKind) int { return cmp.Compare(a.String(), b.String()) })
	return out
}

// minListed is how many unchanged environments make listing their kinds
// cheaper than a dry run of each of their objects.
const minListed = 8
