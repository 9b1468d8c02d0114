package reconciler

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/renderer"
)

// canApplyFresh reports whether objects can take the fresh path: nothing
// that others in the same phase must wait for, such as a
// CustomResourceDefinition.
func canApplyFresh(objs []*renderer.Object) bool {
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" || o.GetKind() == "APIService" {
			return false
		}
	}
	return true
}

// applyFresh applies the objects of an environment allot has never applied
// (no record): there is nothing to compare, so each object is one
// server-side apply of its JSON as rendered, instead of ssa's dry run, read
// and apply. Namespaces go first; the rest follow concurrently. What each
// answer showed of its object goes into seen, so that neither readiness
// nor the next pass's check need read it again.
func applyFresh(ctx context.Context, cl *Cluster, objs []*renderer.Object, seen liveIndex) (*ssa.ChangeSet, error) {
	cs := ssa.NewChangeSet()
	var first, rest []*renderer.Object
	for _, o := range objs {
		if isNamespace(o) {
			first = append(first, o)
		} else {
			rest = append(rest, o)
		}
	}
	var mu sync.Mutex
	var errs []error
	apply := func(o *renderer.Object) {
		// The answer, the object as stored, is decoded into obj; the request
		// names it.
		obj := &unstructured.Unstructured{}
		obj.SetGroupVersionKind(o.GroupVersionKind())
		obj.SetNamespace(o.GetNamespace())
		obj.SetName(o.GetName())
		err := cl.Client.Patch(ctx, obj, client.RawPatch(types.ApplyPatchType, o.JSON()), client.ForceOwnership, client.FieldOwner(FieldManager))
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ssaSubject(o), err))
			return
		}
		seen[refOf(o, "").Key()] = observed(obj)
		cs.Add(ssa.ChangeSetEntry{ObjMetadata: object.ObjMetadata{Namespace: o.GetNamespace(), Name: o.GetName(), GroupKind: o.GroupVersionKind().GroupKind()}, GroupVersion: o.GroupVersionKind().GroupVersion().String(), Subject: ssaSubject(o), Action: ssa.CreatedAction})
	}
	for _, o := range first {
		apply(o)
	}
	if len(errs) > 0 {
		return cs, errors.Join(errs...)
	}
	sem := make(chan struct{}, freshApplyConcurrency)
	var wg sync.WaitGroup
	for _, o := range rest {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			apply(o)
		}()
	}
	wg.Wait()
	return cs, errors.Join(errs...)
}

func ssaSubject(o renderer.Meta) string {
	if o.GetNamespace() == "" {
		return o.GetKind() + "/" + o.GetName()
	}
	return o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
}
