package reconciler

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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
// server-side apply instead of ssa's dry run, read and apply. Namespaces go
// first; the rest follow concurrently. What each answer showed of its
// object goes into seen, so that neither readiness nor the next pass's
// check need read it again.
func applyFresh(ctx context.Context, cl *Cluster, objs []*unstructured.Unstructured, seen liveIndex) (*ssa.ChangeSet, error) {
	cs := ssa.NewChangeSet()
	var first, rest []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "Namespace" && o.GroupVersionKind().Group == "" {
			first = append(first, o)
		} else {
			rest = append(rest, o)
		}
	}
	var mu sync.Mutex
	var errs []error
	apply := func(o *unstructured.Unstructured) {
		obj := o.DeepCopy()
		err := cl.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.ForceOwnership, client.FieldOwner(FieldManager))
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ssaSubject(o), err))
			return
		}
		seen[refOf(o, "").Key()] = observed(obj)
		cs.Add(ssa.ChangeSetEntry{ObjMetadata: object.UnstructuredToObjMetadata(o), GroupVersion: o.GroupVersionKind().GroupVersion().String(), Subject: ssaSubject(o), Action: ssa.CreatedAction})
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

func ssaSubject(o *unstructured.Unstructured) string {
	if o.GetNamespace() == "" {
		return o.GetKind() + "/" + o.GetName()
	}
	return o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
}
