// Package reconciler makes clusters match a requests repository. One pass
// reads the repository at a commit, renders every request, and then, per
// cluster, applies each bundle's phases in order with server-side apply,
// records an inventory per environment in the cluster (namespace
// allot-system), prunes what left a bundle, and tears down environments whose
// request was deleted or has expired.
//
// The pass is built to fail safe: nothing is pruned when the repository cannot
// be read or a request fails to render, an empty render never wipes a cluster,
// a pass that would delete more than a set share of what allot manages stops
// and asks for an explicit override, and only objects that carry allot's
// labels and are listed in its inventory are ever deleted. The inventory is
// written before objects are applied, so a crash at any point leaves a state
// the next pass converges from.
package reconciler
