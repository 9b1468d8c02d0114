package fleet

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
)

// Holding says which replica holds one cluster's Lease.
type Holding struct {
	Cluster string `json:"cluster"`
	Lease   string `json:"lease"`
	// Holder is the replica's identity; empty when nobody holds it.
	Holder string `json:"holder"`
	// Renewed is when the holder last renewed the Lease, by its clock.
	Renewed time.Time `json:"renewed,omitzero"`
	// Expired says the holder has not renewed it within the lease
	// duration, by the reader's clock: it is probably gone, and another
	// replica takes the cluster soon.
	Expired bool `json:"expired"`
}

// Holders reads who holds the Lease of each cluster, in the order given.
func Holders(ctx context.Context, leases coordinationv1client.LeasesGetter, namespace string, clusters []string, now time.Time) ([]Holding, error) {
	out := make([]Holding, 0, len(clusters))
	for _, c := range clusters {
		h := Holding{Cluster: c, Lease: LeaseName(c)}
		l, err := leases.Leases(namespace).Get(ctx, h.Lease, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("read Lease %s/%s of cluster %s in the home cluster: %w", namespace, h.Lease, c, err)
		default:
			rec, _ := record(&l.Spec)
			h.Holder, h.Renewed = rec.HolderIdentity, rec.RenewTime.Time
			h.Expired = h.Holder != "" && now.Sub(h.Renewed) > time.Duration(rec.LeaseDurationSeconds)*time.Second
		}
		out = append(out, h)
	}
	return out, nil
}
