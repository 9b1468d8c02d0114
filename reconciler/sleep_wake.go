package reconciler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/schemas"
	"github.com/allot-dev/allot/schemas/load"
)

// wakeKey is the data key of an environment's record ConfigMap that holds
// its Wake; record.json, which every pass rewrites, is another key.
const wakeKey = "wake.json"

// wakeFieldManager owns wakeKey, apart from the pass's record.json.
const wakeFieldManager = "allot-wake"

// maxWakeBytes bounds the Wake read from a record; only allot writes it.
const maxWakeBytes = 4 << 10

// readWake reads the Wake of a record ConfigMap; nil when there is none or
// it cannot be read (the schedule then rules).
func readWake(cm *corev1.ConfigMap) *Wake {
	raw := cm.Data[wakeKey]
	if raw == "" || len(raw) > maxWakeBytes {
		return nil
	}
	var w Wake
	if err := json.Unmarshal([]byte(raw), &w); err != nil {
		return nil
	}
	return &w
}

// Wake records an early wake (or, with w.Asleep, an early sleep) of env on
// every cluster that has a record of it, for the next pass to act on. A
// zero w.Until lasts until the schedule's next sleep (or wake) after w.At.
// It returns the clusters it was recorded on; ErrNoRecord when none has
// the environment.
func (r *Reconciler) Wake(ctx context.Context, clusters []schemas.Cluster, env string, w Wake) ([]string, []error) {
	if w.At.IsZero() {
		w.At = r.now()
	}
	data, err := json.Marshal(w)
	if err != nil {
		return nil, []error{err}
	}
	patch, err := json.Marshal(map[string]any{"data": map[string]any{wakeKey: string(data)}})
	if err != nil {
		return nil, []error{err}
	}
	var done []string
	var failed []error
	errs := r.eachRecords(ctx, clusters, func(entry schemas.Cluster, cl *Cluster, records map[string]*Record) {
		rec := records[env]
		if rec == nil {
			return
		}
		if rec.Sleep == nil {
			failed = append(failed, fmt.Errorf("cluster %s: %s: %w", entry.Name, env, ErrNoSchedule))
			return
		}
		// A merge patch, not an apply: it never creates a record that a
		// teardown removed meanwhile.
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: env, Namespace: SystemNamespace}}
		err := cl.Client.Patch(ctx, cm, client.RawPatch(types.MergePatchType, patch), client.FieldOwner(wakeFieldManager))
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			failed = append(failed, fmt.Errorf("cluster %s: record the wake of %s: %w", entry.Name, env, err))
		default:
			// The pass that acts on it may come before the watch brings it.
			r.recordCache(entry.Name).wrote(cm)
			done = append(done, entry.Name)
		}
	})
	errs = append(errs, failed...)
	if len(done) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%w %q; allot status lists the environments", ErrNoRecord, env))
	}
	return done, errs
}

// MaxWakeFor is the longest early wake or sleep one command may ask for.
const MaxWakeFor = 7 * 24 * time.Hour

// CheckWakeFor checks the duration of an early wake: zero (until the
// schedule's next change) or up to MaxWakeFor.
func CheckWakeFor(d time.Duration) error {
	if d < 0 || d > MaxWakeFor {
		return fmt.Errorf("a wake lasts at most %s, not %s; leave --for out to wake until the next scheduled sleep", MaxWakeFor, d)
	}
	return nil
}

// Describe says how long the wake lasts.
func (w Wake) Describe() string {
	if w.Until.IsZero() {
		if w.Asleep {
			return "until the next scheduled wake"
		}
		return "until the next scheduled sleep"
	}
	return "until " + w.Until.UTC().Format(time.RFC3339)
}

// ErrNoSchedule means an environment has no sleep schedule to wake it from.
var ErrNoSchedule = errors.New("the environment has no sleep schedule; it never sleeps")

func requestsByFile(repo *load.Repository) map[string]schemas.Environment {
	out := make(map[string]schemas.Environment, len(repo.Environments))
	for _, ef := range repo.Environments {
		out[ef.Doc.File] = ef.Environment
	}
	return out
}

// Requests returns the requests that files hold, as the last pass read
// them from the branch allot reconciles; files that hold none are skipped.
func (r *Reconciler) Requests(files []string) []schemas.Environment {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []schemas.Environment
	for _, f := range files {
		if env, ok := r.requests[f]; ok {
			out = append(out, env)
		}
	}
	return out
}

// WakeEnvironment wakes env on every cluster allot.yaml of the last pass
// names, until its next scheduled sleep (d zero) or for d, on behalf of
// by, for the next pass to act on.
func (r *Reconciler) WakeEnvironment(ctx context.Context, env string, d time.Duration, by string) error {
	if err := CheckWakeFor(d); err != nil {
		return err
	}
	p := r.Platform()
	if p == nil {
		return errors.New("no pass has read allot.yaml yet; try again in a minute")
	}
	w := Wake{By: by, At: r.now()}
	if d > 0 {
		w.Until = w.At.Add(d)
	}
	_, errs := r.Wake(ctx, p.Clusters, env, w)
	return errors.Join(errs...)
}
