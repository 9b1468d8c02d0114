package harness

import (
	"context"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// RunACKStatus stands in for the AWS Controllers for Kubernetes a test
// control plane lacks: until ctx ends it marks every object of an ACK kind
// (a CRD in a *.services.k8s.aws group) as the controllers do once the AWS
// resource exists, with the condition ACK.ResourceSynced=True, through the
// status subresource.
func RunACKStatus(ctx context.Context, c client.Client, every time.Duration) {
	repeat(ctx, every, func() { markACK(ctx, c) })
}

func markACK(ctx context.Context, c client.Client) {
	var crds apiextensionsv1.CustomResourceDefinitionList
	if c.List(ctx, &crds) != nil {
		return
	}
	for _, crd := range crds.Items {
		if !strings.HasSuffix(crd.Spec.Group, ".services.k8s.aws") {
			continue
		}
		for _, v := range crd.Spec.Versions {
			if !v.Served || v.Subresources == nil || v.Subresources.Status == nil {
				continue
			}
			var list unstructured.UnstructuredList
			list.SetGroupVersionKind(schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.ListKind})
			if c.List(ctx, &list) != nil {
				continue
			}
			for i := range list.Items {
				o := &list.Items[i]
				if synced(o) {
					continue
				}
				conds := []any{map[string]any{"type": "ACK.ResourceSynced", "status": "True", "message": "Resource synced successfully", "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}}
				_ = unstructured.SetNestedSlice(o.Object, conds, "status", "conditions")
				_ = c.Status().Update(ctx, o)
			}
		}
	}
}

func synced(o *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "ACK.ResourceSynced" && m["status"] == "True" {
			return true
		}
	}
	return false
}
