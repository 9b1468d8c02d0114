package reconciler

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/schemas"
)

// StatusRow is one environment on one cluster as its inventory record says.
type StatusRow struct {
	Cluster     string `json:"cluster"`
	Environment string `json:"environment"`
	Ready       string `json:"ready"`
	Phase       string `json:"phase"`
	Commit      string `json:"commit"`
	Digest      string `json:"digest"`
	Objects     int    `json:"objects"`
	Message     string `json:"message"`
	// Changed lists the objects the last apply created or changed.
	Changed []string  `json:"changed,omitempty"`
	Updated time.Time `json:"updated"`
}

// Status reads the inventory records of the given clusters. A cluster that
// cannot be read is reported as an error and the others are still listed.
func (r *Reconciler) Status(ctx context.Context, clusters []schemas.Cluster) ([]StatusRow, []error) {
	var rows []StatusRow
	var errs []error
	for _, entry := range r.selectedClusters(clusters) {
		cl, err := r.cluster(ctx, entry)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var ns corev1.Namespace
		if err := cl.Client.Get(ctx, client.ObjectKey{Name: SystemNamespace}, &ns); apierrors.IsNotFound(err) {
			continue
		}
		records, err := inventory{client: cl.Client}.list(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: %w", entry.Name, err))
			r.forget(entry.Name)
			continue
		}
		for _, rec := range records {
			rows = append(rows, rowOf(entry.Name, rec))
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Cluster != rows[j].Cluster {
			return rows[i].Cluster < rows[j].Cluster
		}
		return rows[i].Environment < rows[j].Environment
	})
	return rows, errs
}

func rowOf(cluster string, rec *Record) StatusRow {
	row := StatusRow{
		Cluster: cluster, Environment: rec.Environment, Ready: string(rec.condition(ConditionReady)),
		Phase: string(rec.Phase), Commit: short(rec.Commit), Digest: shortDigest(rec.Digest),
		Objects: len(rec.Objects), Updated: rec.Updated,
	}
	for _, c := range rec.Conditions {
		if c.Type == ConditionReady {
			row.Message = c.Message
		}
	}
	row.Changed = rec.Changed
	if rec.LastError != "" {
		row.Message = rec.LastError
		if len(rec.Changed) > 0 {
			// What the failed apply did is what may need cleaning up.
			shown := rec.Changed[:min(3, len(rec.Changed))]
			row.Message += "; before it failed, the apply made: " + strings.Join(shown, ", ")
			if len(rec.Changed) > len(shown) {
				row.Message += ", …"
			}
		}
	}
	if rec.condition(ConditionDrifted) == metav1.ConditionTrue {
		row.Ready += " (drifted)"
	}
	return row
}

func shortDigest(d string) string {
	const prefix = "sha256:"
	if len(d) > len(prefix)+12 {
		return d[len(prefix) : len(prefix)+12]
	}
	return d
}
