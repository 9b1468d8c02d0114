package reconciler

import (
	"context"
	"errors"
	"sort"

	"github.com/allot-dev/allot/schemas"
)

// ClusterGate knows which clusters this process may work on right now,
// for replicas of allot serve that share the fleet (package
// reconciler/fleet holds one Lease per cluster). A pass works on a cluster
// only between Enter and its done, under the context Enter returns, which
// ends as soon as the process may no longer work on the cluster.
type ClusterGate interface {
	// Offer tells the gate every cluster a pass would work on, so that it
	// can claim its share of them.
	Offer(clusters []string)
	// Enter reports whether the process may work on cluster now; if it
	// may, work is the context to work under and done must be called when
	// the work ends.
	Enter(ctx context.Context, cluster string) (work context.Context, done func(), ok bool)
}

// gatedCluster is a cluster a pass works on, with the context of that work.
type gatedCluster struct {
	entry schemas.Cluster
	ctx   context.Context
	done  func()
}

// enterClusters narrows the pass to the clusters the gate lets it work on
// now, as --cluster narrows it to a list; without a gate, it works on all.
func (r *Reconciler) enterClusters(ctx context.Context, clusters []schemas.Cluster) []gatedCluster {
	if r.Gate == nil {
		out := make([]gatedCluster, len(clusters))
		for i, c := range clusters {
			out[i] = gatedCluster{entry: c, ctx: ctx, done: func() {}}
		}
		return out
	}
	names := make([]string, len(clusters))
	for i, c := range clusters {
		names[i] = c.Name
	}
	r.Gate.Offer(names)
	var out []gatedCluster
	for _, c := range clusters {
		if wctx, done, ok := r.Gate.Enter(ctx, c.Name); ok {
			out = append(out, gatedCluster{entry: c, ctx: wctx, done: done})
		}
	}
	return out
}

// identityProviderCluster is the cluster whose holder syncs the identity
// provider when replicas share the fleet: the first by name, so that one
// replica at a time syncs it, under that cluster's Lease.
func identityProviderCluster(clusters []schemas.Cluster) string {
	names := make([]string, len(clusters))
	for i, c := range clusters {
		names[i] = c.Name
	}
	sort.Strings(names)
	if len(names) == 0 {
		return ""
	}
	return names[0]
}

// Forget drops a cluster's connection and drift watch, for a replica that
// no longer holds it: the watch stops, and a later pass that holds it again
// connects, checks every environment and watches anew.
func (r *Reconciler) Forget(cluster string) { r.forget(cluster) }

// syncSharedGroups syncs the identity provider when replicas share the
// fleet: only the holder of identityProviderCluster does, under that
// cluster's Lease, and it reads the records of the clusters it does not
// hold so that the groups of environments that live there are kept. When
// one of them cannot be read, the sync waits for a later pass rather than
// remove groups it cannot vouch for.
func (r *Reconciler) syncSharedGroups(ctx context.Context, syncer GroupSyncer, in *desiredState, res *PassResult) {
	name := identityProviderCluster(in.clusters)
	if name == "" {
		return
	}
	wctx, done, ok := r.Gate.Enter(ctx, name)
	if !ok {
		return
	}
	defer done()
	worked := map[string]bool{}
	for _, c := range res.Clusters {
		worked[c.Name] = true
	}
	others := append([]ClusterResult(nil), res.Clusters...)
	for _, entry := range in.clusters {
		if worked[entry.Name] {
			continue
		}
		cl, err := r.cluster(wctx, entry)
		var records map[string]*Record
		if err == nil {
			records, err = inventory{client: cl.Client}.list(wctx)
		}
		if err != nil {
			r.log().Warn("IdP groups not synced this pass: the records of a cluster another replica holds cannot be read", "cluster", entry.Name, "error", err)
			return
		}
		// Another replica works on it: keep every group its records name.
		others = append(others, ClusterResult{Name: entry.Name, records: records, Err: errHeldElsewhere})
	}
	r.syncGroups(wctx, syncer, in, res, others)
}

// errHeldElsewhere marks, for the IdP sync, a cluster another replica
// works on.
var errHeldElsewhere = errors.New("held by another replica")
