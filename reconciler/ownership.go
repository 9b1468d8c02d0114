package reconciler

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/fluxcd/pkg/ssa/jsondiff"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/value"

	"github.com/allot-dev/allot/renderer"
)

// Server-side apply leaves alone the fields another manager sets: a rule
// added by hand to a deny-all NetworkPolicy, or a key added to a quota,
// would survive every pass. For the objects allot owns whole
// (renderer.OwnershipWhole), such fields are drift: found from the live
// object's managed fields, and removed with an update that fails if the
// object changed since it was read.

// ownedWhole reports whether allot owns everything outside o's metadata.
func ownedWhole(o *unstructured.Unstructured) bool {
	return o.GetAnnotations()[renderer.AnnotationOwnership] == renderer.OwnershipWhole
}

// maxRepairAttempts bounds the reads and updates of one object whose
// foreign fields are removed while others keep changing it.
const maxRepairAttempts = 3

// foreignFields lists the fields of live, outside its metadata and status,
// that managers other than allot set and allot does not, as paths; ignored
// are left out.
func foreignFields(live *unstructured.Unstructured, ignored []string) ([]fieldpath.Path, error) {
	set, err := foreignSet(live.GetManagedFields())
	if err != nil {
		return nil, err
	}
	var out []fieldpath.Path
	set.Iterate(func(p fieldpath.Path) {
		ptr, ok := pointer(live.Object, p)
		if !ok || isIgnored(ptr, ignored) {
			return
		}
		out = append(out, slices.Clone(p))
	})
	return out, nil
}

// foreignSet is the set of fields, outside metadata and status, that
// managers other than allot own and allot does not.
func foreignSet(entries []metav1.ManagedFieldsEntry) (*fieldpath.Set, error) {
	mine, others := &fieldpath.Set{}, &fieldpath.Set{}
	for _, m := range entries {
		if m.Subresource != "" || m.FieldsV1 == nil {
			continue
		}
		var s fieldpath.Set
		if err := s.FromJSON(m.FieldsV1.GetRawReader()); err != nil {
			return nil, fmt.Errorf("read the managed fields of %s: %w", m.Manager, err)
		}
		if m.Manager == FieldManager {
			mine = mine.Union(&s)
		} else {
			others = others.Union(&s)
		}
	}
	out := &fieldpath.Set{}
	others.Difference(mine).Iterate(func(p fieldpath.Path) {
		if len(p) == 0 || p[0].FieldName == nil {
			return
		}
		switch *p[0].FieldName {
		case "metadata", "status", "apiVersion", "kind":
			return
		}
		out.Insert(p)
	})
	return out, nil
}

// isIgnored reports whether a JSON pointer is, or is under, one of paths.
func isIgnored(ptr string, paths []string) bool {
	for _, p := range paths {
		if p == jsondiff.IgnorePathRoot || ptr == p || strings.HasPrefix(ptr, p+"/") {
			return true
		}
	}
	return false
}

// pointer resolves a managed-fields path in obj to a JSON pointer, finding
// list items by their keys or values; ok is false when obj has no such
// field (any more).
func pointer(obj map[string]any, p fieldpath.Path) (string, bool) {
	var b strings.Builder
	var cur any = obj
	for _, pe := range p {
		switch {
		case pe.FieldName != nil:
			m, ok := cur.(map[string]any)
			if !ok {
				return "", false
			}
			if cur, ok = m[*pe.FieldName]; !ok {
				return "", false
			}
			b.WriteString("/" + escapePointer(*pe.FieldName))
		default:
			l, ok := cur.([]any)
			if !ok {
				return "", false
			}
			i := listIndex(l, pe)
			if i < 0 {
				return "", false
			}
			cur = l[i]
			fmt.Fprintf(&b, "/%d", i)
		}
	}
	return b.String(), true
}

// listIndex finds the list item a path element names, or -1.
func listIndex(l []any, pe fieldpath.PathElement) int {
	for i, item := range l {
		switch {
		case pe.Index != nil:
			if *pe.Index == i {
				return i
			}
		case pe.Value != nil:
			if value.Equals(value.NewValueInterface(item), *pe.Value) {
				return i
			}
		case pe.Key != nil:
			m, ok := item.(map[string]any)
			if !ok {
				continue
			}
			match := true
			for _, f := range *pe.Key {
				v, ok := m[f.Name]
				match = match && ok && value.Equals(value.NewValueInterface(v), f.Value)
			}
			if match {
				return i
			}
		}
	}
	return -1
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// ignoredPaths are the drift-ignore pointers that apply to o.
func ignoredPaths(o *unstructured.Unstructured, dp driftPolicy) []string {
	var out []string
	for _, rule := range dp.ignore {
		sr, err := jsondiff.NewSelectorRegex(rule.Selector)
		if err != nil || !sr.MatchUnstructured(o) {
			continue
		}
		out = append(out, rule.Paths...)
	}
	return out
}

// foreignOf reads the live copy of a whole-owned object and lists the
// fields others added to it; none when the object does not exist.
func foreignOf(ctx context.Context, cl *Cluster, o *unstructured.Unstructured, dp driftPolicy) (*unstructured.Unstructured, []fieldpath.Path, error) {
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(o.GroupVersionKind())
	if err := cl.Client.Get(ctx, client.ObjectKeyFromObject(o), live); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("read %s: %w", ssaSubject(o), err)
	}
	paths, err := foreignFields(live, ignoredPaths(o, dp))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", ssaSubject(o), err)
	}
	return live, paths, nil
}

// foreignDrift lists the whole-owned objects among objs that carry fields
// others added, as Kind/namespace/name.
func foreignDrift(ctx context.Context, cl *Cluster, objs []*unstructured.Unstructured, dp driftPolicy) ([]string, error) {
	var out []string
	for _, o := range objs {
		if !ownedWhole(o) {
			continue
		}
		_, paths, err := foreignOf(ctx, cl, o, dp)
		if err != nil {
			return out, err
		}
		if len(paths) > 0 {
			out = append(out, driftID(o))
		}
	}
	return out, nil
}

// removeForeign removes from the whole-owned objects among objs the fields
// others added, and lists the objects it changed as ssa's change set
// does ("Kind/namespace/name configured").
//
// An object the pass's live index lists without foreign fields is not
// read again.
func removeForeign(ctx context.Context, cl *Cluster, objs []*unstructured.Unstructured, dp driftPolicy, live liveIndex) ([]string, error) {
	var changed []string
	for _, o := range objs {
		if !ownedWhole(o) {
			continue
		}
		if lo, ok := live[refOf(o, "").Key()]; ok && !lo.foreign {
			continue
		}
		done, err := removeForeignFrom(ctx, cl, o, dp)
		if err != nil {
			return changed, err
		}
		if done {
			changed = append(changed, ssaSubject(o)+" configured")
		}
	}
	return changed, nil
}

// removeForeignFrom removes the foreign fields of one object, reading it
// again when someone changed it in between.
func removeForeignFrom(ctx context.Context, cl *Cluster, o *unstructured.Unstructured, dp driftPolicy) (bool, error) {
	for attempt := 1; ; attempt++ {
		live, paths, err := foreignOf(ctx, cl, o, dp)
		if err != nil || len(paths) == 0 {
			return false, err
		}
		// One at a time, each found again by its keys: a removal moves the
		// indexes of the list items after it.
		var removed []string
		for _, p := range paths {
			ptr, ok := pointer(live.Object, p)
			if !ok {
				continue
			}
			if err := jsondiff.ApplyPatchToUnstructured(live, jsondiff.GenerateRemovePatch(ptr)); err != nil {
				return false, fmt.Errorf("%s: remove %s, set by others: %w", ssaSubject(o), ptr, err)
			}
			removed = append(removed, ptr)
		}
		// The update keeps everyone's other fields and ownership; the
		// resourceVersion it carries makes it fail if the object changed.
		live.SetManagedFields(nil)
		err = cl.Client.Update(ctx, live, client.FieldOwner(FieldManager))
		switch {
		case err == nil:
			return true, nil
		case apierrors.IsConflict(err) && attempt < maxRepairAttempts:
			continue
		default:
			return false, fmt.Errorf("%s: remove fields set by others (%s): %w", ssaSubject(o), strings.Join(removed, ", "), err)
		}
	}
}

// driftID names an object as drift reports do.
func driftID(o *unstructured.Unstructured) string {
	return fmt.Sprintf("%s/%s/%s", o.GroupVersionKind().Kind, o.GetNamespace(), o.GetName())
}
