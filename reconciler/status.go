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
	// Expires is when the environment is torn down: its expires date, or
	// its TTL counted from when allot first applied it; zero for never.
	Expires time.Time `json:"expires,omitzero"`
	// Sleep says whether the environment sleeps on its schedule and until
	// when; nil without a schedule.
	Sleep *SleepState `json:"sleep,omitempty"`
}

// Status reads the inventory records of the given clusters. A cluster that
// cannot be read is reported as an error and the others are still listed.
func (r *Reconciler) Status(ctx context.Context, clusters []schemas.Cluster) ([]StatusRow, []error) {
	var rows []StatusRow
	errs := r.eachRecords(ctx, clusters, func(entry schemas.Cluster, _ *Cluster, records map[string]*Record) {
		for _, rec := range records {
			rows = append(rows, rowOf(entry.Name, rec))
		}
	})
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
	row.Expires = rec.expiresAt()
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
	if row.Sleep = rec.Sleep; rec.Sleep != nil && rec.Sleep.Asleep {
		row.Ready += " (asleep" + untilText(rec.Sleep.Until) + ")"
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

// expiresAt is when the record's environment expires; zero for never or
// an expiry that cannot be read.
func (r *Record) expiresAt() time.Time {
	if r.Expires == "" {
		return time.Time{}
	}
	e, err := schemas.ParseExpiry(r.Expires)
	switch {
	case err != nil:
		return time.Time{}
	case !e.At.IsZero():
		return e.At
	case r.Created.IsZero():
		return time.Time{}
	}
	return r.Created.Add(e.TTL)
}

// ObjectStatus is one object of an environment as the cluster holds it.
type ObjectStatus struct {
	Object string `json:"object"`
	Phase  string `json:"phase"`
	// State is ready, waiting, failed or missing.
	State   string `json:"state"`
	Message string `json:"message,omitempty"`
}

// EnvironmentStatus is what `allot status ENV` shows: the record's row,
// its conditions, and each object's readiness read from the cluster now.
type EnvironmentStatus struct {
	StatusRow
	File       string             `json:"file"`
	LastError  string             `json:"lastError,omitempty"`
	Conditions []metav1.Condition `json:"conditions"`
	Objects    []ObjectStatus     `json:"objects"`
	// Notices are when the expiry notices are due, as allot.yaml sets
	// them; filled in by the caller, which has it.
	Notices []schemas.ExpiryNotice `json:"notices,omitempty"`
}

// Describe reads one environment on every cluster that has a record of
// it, with each object's readiness as the readiness rules read it now.
func (r *Reconciler) Describe(ctx context.Context, clusters []schemas.Cluster, env string) ([]EnvironmentStatus, []error) {
	var out []EnvironmentStatus
	errs := r.eachRecords(ctx, clusters, func(entry schemas.Cluster, cl *Cluster, records map[string]*Record) {
		rec, ok := records[env]
		if !ok {
			return
		}
		es := EnvironmentStatus{StatusRow: rowOf(entry.Name, rec), File: rec.File, LastError: rec.LastError, Conditions: rec.Conditions}
		if es.Conditions == nil {
			es.Conditions = []metav1.Condition{}
		}
		for _, ref := range rec.Objects {
			es.Objects = append(es.Objects, objectStatus(ctx, cl, ref))
		}
		out = append(out, es)
	})
	return out, errs
}

// eachRecords reads the inventory records of each cluster and hands them
// to fn; a cluster without allot-system has none, and one that cannot be
// read is an error while the others are still read.
func (r *Reconciler) eachRecords(ctx context.Context, clusters []schemas.Cluster, fn func(schemas.Cluster, *Cluster, map[string]*Record)) []error {
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
		fn(entry, cl, records)
	}
	return errs
}

// objectStatus reads one object and its readiness.
func objectStatus(ctx context.Context, cl *Cluster, ref ObjectRef) ObjectStatus {
	o := ObjectStatus{Object: ref.String(), Phase: string(ref.Phase)}
	live := ref.Unstructured()
	err := cl.Client.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, live)
	switch {
	case apierrors.IsNotFound(err) || isNoMatch(err):
		o.State = "missing"
		return o
	case err != nil:
		o.State, o.Message = "unknown", err.Error()
		return o
	}
	if !readsStatus(ref.GVK().GroupKind()) {
		o.State = string(stateReady)
		return o
	}
	st := readinessOf(live)
	o.State, o.Message = string(st.state), st.message
	return o
}

// untilText is " until T" in UTC, or nothing for never.
func untilText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " until " + t.UTC().Format(time.RFC3339)
}
