package reconciler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/renderer"
)

// Errors of readiness.
var (
	// ErrNotReady means objects did not become ready within the template's
	// readinessTimeout.
	ErrNotReady = errors.New("not ready in time")
	// ErrObjectFailed means an object's controller reported that it gave
	// up on it, such as ACK.Terminal=True.
	ErrObjectFailed = errors.New("an object failed")
)

// setReadiness is the readiness of a set of objects: which failed and
// which are still waiting, each with why.
type setReadiness struct {
	failed  []string
	waiting []string
	// unreachable is set when the cluster could not be reached to read
	// an object: nothing can be known, and waiting longer will not help.
	unreachable error
}

func (s setReadiness) ready() bool { return len(s.failed) == 0 && len(s.waiting) == 0 }

// message says what the set waits for, or that it is ready.
func (s setReadiness) message() string {
	switch {
	case len(s.failed) > 0:
		return strings.Join(s.failed, "; ")
	case len(s.waiting) > 0:
		return "waiting for " + strings.Join(s.waiting, "; ")
	}
	return "all objects are ready"
}

// readObjects reads back the objects whose readiness depends on their
// status and applies the readiness rules to them, without waiting. An
// object that seen, the answers of this pass's applies, shows ready is
// not read again: its answer is as new as a read would be.
func readObjects[O renderer.Meta](ctx context.Context, cl *Cluster, objs []O, seen liveIndex) setReadiness {
	var s setReadiness
	for _, o := range objs {
		if !readsStatus(o.GroupVersionKind().GroupKind()) {
			continue
		}
		id := renderer.ObjectID(o)
		if lo, ok := seen[refOf(o, "").Key()]; ok && lo.readiness.state == stateReady {
			s.add(id, lo.readiness)
			continue
		}
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(o.GroupVersionKind())
		err := cl.Client.Get(ctx, client.ObjectKey{Namespace: o.GetNamespace(), Name: o.GetName()}, live)
		switch {
		case apierrors.IsNotFound(err):
			s.waiting = append(s.waiting, id+" (not found)")
			continue
		case err != nil:
			s.waiting = append(s.waiting, fmt.Sprintf("%s (%v)", id, err))
			if isConnectionError(err) && s.unreachable == nil {
				s.unreachable = fmt.Errorf("read %s: %w", id, err)
			}
			continue
		}
		s.add(id, readinessOf(live))
	}
	return s
}

// add counts one object's readiness in the set.
func (s *setReadiness) add(id string, st objectReadiness) {
	switch st.state {
	case stateFailed:
		s.failed = append(s.failed, id+": "+st.message)
	case stateWaiting:
		s.waiting = append(s.waiting, id+" ("+st.message+")")
	}
}

// bundleReadiness is the readiness of an environment on its cluster: its
// objects', and for an environment that is itself a cluster (a vcluster),
// the kubeconfig it must write before allot can import it. Until then what
// goes inside is not applied, so the environment is not ready, whatever its
// host objects say; the template's readinessTimeout applies to that wait as
// to any other.
func bundleReadiness(ctx context.Context, cl *Cluster, b *renderer.Bundle, seen liveIndex) setReadiness {
	s := readObjects(ctx, cl, bundleObjects(b), seen)
	imp := b.Import
	if imp == nil {
		return s
	}
	var secret corev1.Secret
	id := fmt.Sprintf("the kubeconfig Secret %s/%s", imp.SecretNamespace, imp.SecretName)
	err := cl.Client.Get(ctx, client.ObjectKey{Namespace: imp.SecretNamespace, Name: imp.SecretName}, &secret)
	switch {
	case apierrors.IsNotFound(err):
		s.waiting = append(s.waiting, id+" (not written yet)")
	case err != nil:
		s.waiting = append(s.waiting, fmt.Sprintf("%s (%v)", id, err))
	case len(secret.Data[imp.SecretKey]) == 0:
		s.waiting = append(s.waiting, fmt.Sprintf("%s (no key %s yet)", id, imp.SecretKey))
	}
	return s
}

// bundleObjects are the objects of a bundle's apply phases.
func bundleObjects(b *renderer.Bundle) []*renderer.Object {
	var objs []*renderer.Object
	for _, p := range applyPhases {
		objs = append(objs, b.Objects[p]...)
	}
	return objs
}

// waitReady waits until every object is ready, and fails at once when one
// of them failed, or after timeout naming those still waiting.
func waitReady[O renderer.Meta](ctx context.Context, r *Reconciler, cl *Cluster, objs []O, timeout time.Duration, seen liveIndex) error {
	var last setReadiness
	err := wait.PollUntilContextTimeout(ctx, r.waitInterval(), timeout, true, func(ctx context.Context) (bool, error) {
		last = readObjects(ctx, cl, objs, seen)
		if last.unreachable != nil {
			return false, last.unreachable
		}
		if len(last.failed) > 0 {
			return false, fmt.Errorf("%w: %s", ErrObjectFailed, last.message())
		}
		return last.ready(), nil
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrObjectFailed):
		return err
	case ctx.Err() == nil && wait.Interrupted(err):
		return fmt.Errorf("%w: after %s, %s", ErrNotReady, timeout, last.message())
	}
	return err
}

// markReadiness records the readiness of an environment's objects on its
// record and reports whether that changed the record. An object that
// failed fails the environment at once; one still waiting after timeout,
// counted from when the environment last became not ready, fails it too.
// The error says why the environment failed.
func markReadiness(rec *Record, s setReadiness, timeout time.Duration, now time.Time) (changed bool, err error) {
	before := slices.Clone(rec.Conditions)
	since := rec.WaitingSince
	msg := s.message()
	switch {
	case s.ready():
		rec.WaitingSince = time.Time{}
		rec.markReady(msg, now)
	case len(s.failed) > 0:
		err = fmt.Errorf("%w: %s", ErrObjectFailed, msg)
		rec.markFailed(ReasonObjectFailed, err, now)
	default:
		if rec.WaitingSince.IsZero() {
			rec.WaitingSince = now
		}
		if now.Sub(rec.WaitingSince) > timeout {
			err = fmt.Errorf("%w: after %s, %s", ErrNotReady, timeout, msg)
			rec.markFailed(ReasonReadinessTimeout, err, now)
			break
		}
		rec.markWaiting(ReasonNotReady, msg, now)
	}
	changed = !rec.WaitingSince.Equal(since) || !slices.EqualFunc(before, rec.Conditions, sameCondition)
	return changed, err
}

func sameCondition(a, b metav1.Condition) bool {
	return a.Type == b.Type && a.Status == b.Status && a.Reason == b.Reason && a.Message == b.Message && a.LastTransitionTime.Equal(&b.LastTransitionTime)
}
