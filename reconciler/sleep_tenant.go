package reconciler

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/renderer"
)

// AnnotationSleepReplicas is the annotation allot writes on a tenant's
// Deployment or StatefulSet when it scales it to zero for the sleep: the
// replicas it had, restored at the wake.
const AnnotationSleepReplicas = "allot.dev/replicas-before-sleep"

// MaxRestoredReplicas bounds the replicas a wake restores from
// AnnotationSleepReplicas. The tenant can write that annotation: a value
// above the bound, or one that is not a number, is not restored (the
// workload stays at zero for the tenant to scale) and the pass says so.
const MaxRestoredReplicas = 100

// Bounds of the tenant workloads read per namespace and kind.
const (
	tenantPageSize     = 250
	maxTenantWorkloads = 2000
)

// sleepFieldManager is the field manager of the sleep's scaling.
const sleepFieldManager = "allot-sleep"

var workloadKinds = []schema.GroupVersionKind{
	{Group: "apps", Version: "v1", Kind: "Deployment"},
	{Group: "apps", Version: "v1", Kind: "StatefulSet"},
}

// tenantWorkloads lists the Deployments and StatefulSets in the
// environment's namespaces that its bundle does not render: the tenant's
// own. fn is called with each.
func tenantWorkloads(ctx context.Context, cl *Cluster, b *renderer.Bundle, fn func(*unstructured.Unstructured) error) error {
	rendered := map[string]bool{}
	var namespaces []string
	for _, objs := range b.Objects {
		for _, o := range objs {
			rendered[refOf(o, "").Key()] = true
			if o.GetKind() == "Namespace" && o.GroupVersionKind().Group == "" && !slices.Contains(namespaces, o.GetName()) {
				namespaces = append(namespaces, o.GetName())
			}
		}
	}
	if b.Namespace != "" && !slices.Contains(namespaces, b.Namespace) {
		namespaces = append(namespaces, b.Namespace)
	}
	slices.Sort(namespaces)
	for _, ns := range namespaces {
		for _, gvk := range workloadKinds {
			seen, cont := 0, ""
			for {
				list := &unstructured.UnstructuredList{}
				list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
				if err := cl.Client.List(ctx, list, client.InNamespace(ns), client.Limit(tenantPageSize), client.Continue(cont)); err != nil {
					return fmt.Errorf("list %ss in %s: %w", gvk.Kind, ns, err)
				}
				for i := range list.Items {
					o := &list.Items[i]
					if rendered[refOf(o, "").Key()] {
						continue
					}
					if err := fn(o); err != nil {
						return err
					}
				}
				seen += len(list.Items)
				if cont = list.GetContinue(); cont == "" {
					break
				}
				if seen >= maxTenantWorkloads {
					return fmt.Errorf("namespace %s holds more than %d %ss; allot scales at most that many", ns, maxTenantWorkloads, gvk.Kind)
				}
			}
		}
	}
	return nil
}

// replicasOf is spec.replicas, 1 when unset as the API server defaults it.
func replicasOf(o *unstructured.Unstructured) int64 {
	n, found, err := unstructured.NestedInt64(o.Object, "spec", "replicas")
	if err != nil || !found {
		return 1
	}
	return n
}

// scaleTenantDown scales the tenant's workloads to zero, noting the
// replicas each had unless an earlier pass of this sleep already did: a
// hand edit during the sleep is scaled back down and the wake restores
// what the workload had before it slept.
func scaleTenantDown(ctx context.Context, cl *Cluster, b *renderer.Bundle) error {
	return tenantWorkloads(ctx, cl, b, func(o *unstructured.Unstructured) error {
		n := replicasOf(o)
		if n == 0 {
			return nil
		}
		patch := map[string]any{"spec": map[string]any{"replicas": 0}}
		if _, noted := o.GetAnnotations()[AnnotationSleepReplicas]; !noted {
			patch["metadata"] = map[string]any{"annotations": map[string]any{AnnotationSleepReplicas: strconv.FormatInt(n, 10)}}
		}
		return patchWorkload(ctx, cl, o, patch)
	})
}

// restoreTenant gives the tenant's workloads back the replicas noted at
// the sleep, and removes the note. It returns what it could not restore.
func restoreTenant(ctx context.Context, cl *Cluster, b *renderer.Bundle) ([]string, error) {
	var skipped []string
	err := tenantWorkloads(ctx, cl, b, func(o *unstructured.Unstructured) error {
		raw, noted := o.GetAnnotations()[AnnotationSleepReplicas]
		if !noted {
			return nil
		}
		patch := map[string]any{"metadata": map[string]any{"annotations": map[string]any{AnnotationSleepReplicas: nil}}}
		n, err := strconv.ParseInt(raw, 10, 32)
		switch {
		case err != nil || n < 0 || n > MaxRestoredReplicas:
			skipped = append(skipped, fmt.Sprintf("%s/%s/%s not restored: annotation %s is %.20q, not 0 to %d; scale it yourself", o.GetKind(), o.GetNamespace(), o.GetName(), AnnotationSleepReplicas, raw, MaxRestoredReplicas))
		case replicasOf(o) == 0:
			// Someone who scaled it during the sleep keeps their number.
			patch["spec"] = map[string]any{"replicas": n}
		}
		return patchWorkload(ctx, cl, o, patch)
	})
	return skipped, err
}

func patchWorkload(ctx context.Context, cl *Cluster, o *unstructured.Unstructured, patch map[string]any) error {
	data, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	target := &unstructured.Unstructured{}
	target.SetGroupVersionKind(o.GroupVersionKind())
	target.SetNamespace(o.GetNamespace())
	target.SetName(o.GetName())
	if err := cl.Client.Patch(ctx, target, client.RawPatch(types.MergePatchType, data), client.FieldOwner(sleepFieldManager)); err != nil {
		return fmt.Errorf("scale %s/%s/%s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), err)
	}
	return nil
}
