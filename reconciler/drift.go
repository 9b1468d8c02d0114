package reconciler

import (
	"context"
	"fmt"
	"slices"

	"github.com/fluxcd/pkg/ssa/jsondiff"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/allot-dev/allot/schemas"
)

// Drift modes of a cluster.
const (
	DriftEnforce = "enforce"
	DriftWarn    = "warn"
)

// driftPolicy is how one cluster treats drift.
type driftPolicy struct {
	mode   string
	ignore []jsondiff.IgnoreRule
}

func driftPolicyFor(p *schemas.PlatformSpec, c schemas.Cluster) driftPolicy {
	dp := driftPolicy{mode: p.DriftMode(c)}
	for _, ig := range p.Drift.Ignore {
		rule := jsondiff.IgnoreRule{Paths: ig.Paths}
		if t := ig.Target; t != nil {
			rule.Selector = &jsondiff.Selector{
				Group: t.Group, Version: t.Version, Kind: t.Kind, Name: t.Name, Namespace: t.Namespace, LabelSelector: t.LabelSelector,
			}
		}
		dp.ignore = append(dp.ignore, rule)
	}
	return dp
}

// drifted reports which objects differ from what allot would apply, or
// carry fields others added where allot owns the object whole, with the
// ignore rules taken into account, without changing them.
func drifted(ctx context.Context, cl *Cluster, objs []*unstructured.Unstructured, dp driftPolicy) ([]string, error) {
	set, err := jsondiff.UnstructuredList(ctx, cl.Client, copies(objs),
		jsondiff.FieldOwner(FieldManager), jsondiff.IgnoreRules(dp.ignore), jsondiff.Graceful(true))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range set {
		if d.Type == jsondiff.DiffTypeUpdate || d.Type == jsondiff.DiffTypeCreate {
			out = append(out, fmt.Sprintf("%s/%s/%s", d.GroupVersionKind().Kind, d.GetNamespace(), d.GetName()))
		}
	}
	foreign, err := foreignDrift(ctx, cl, objs, dp)
	if err != nil {
		return nil, err
	}
	for _, id := range foreign {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}
