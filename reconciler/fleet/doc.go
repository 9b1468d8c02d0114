// Package fleet lets replicas of allot serve divide the clusters of the
// fleet among themselves through Leases in the cluster allot runs in (the
// home cluster).
//
// Each target cluster has one Lease, allot-cluster-<name> in allot-system;
// each live replica has one, allot-replica-<identity>, for membership. A
// replica holds at most its fair share of the clusters,
// ceil(clusters / live replicas): every retry period it lists the Leases,
// takes free or expired cluster Leases while it holds fewer, and gives up
// the ones it holds beyond its share, so that a replica that joins gets its
// share from the others and a dead replica's clusters move to the survivors
// once its Leases expire. Which free clusters a replica goes after first is
// rendezvous hashing over its identity and the cluster's name, so that
// replicas that look at the same time mostly want different ones.
//
// The guarantee is that two replicas never work on one cluster at once. A
// held cluster is renewed by client-go's leader election, one elector per
// Lease. A replica works on a cluster only between Enter and done, under a
// context that ends when the elector stops leading, when the renew
// deadline has passed since the last renewal was sent, or when the replica
// gives the cluster up; and it gives a Lease up (or lets it expire) only
// after that work has ended and the cluster's drift watch has stopped
// (Options.OnRelease). Another replica takes an expired Lease only after it
// has seen the Lease unchanged for the whole lease duration, which is longer
// than the renew deadline: by then the holder has stopped.
package fleet
