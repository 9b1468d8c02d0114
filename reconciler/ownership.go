package reconciler

import (
	"context"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/renderer"
)

// ErrConflict means an environment would take over objects that exist and
// are not its own: allot never adopts what it did not create.
var ErrConflict = errors.New("objects exist that allot did not create")

// conflicts lists the objects of a bundle that exist on the cluster but are
// not the environment's: without allot's labels for it, and not in its
// record. Objects in a namespace the environment is about to create
// cannot exist, and are not read.
func conflicts(ctx context.Context, cl *Cluster, b *renderer.Bundle, rec *Record) ([]string, error) {
	known := map[string]bool{}
	if rec != nil {
		for _, o := range rec.Objects {
			known[o.Key()] = true
		}
	}
	var namespaces, rest []*unstructured.Unstructured
	for _, o := range bundleObjects(b) {
		if isNamespace(o) {
			namespaces = append(namespaces, o)
		} else {
			rest = append(rest, o)
		}
	}
	absent := map[string]bool{}
	var found []string
	var errs []error
	for _, o := range append(namespaces, rest...) {
		if known[refOf(o, "").Key()] || absent[o.GetNamespace()] {
			continue
		}
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(o.GroupVersionKind())
		err := cl.Client.Get(ctx, client.ObjectKeyFromObject(o), m)
		switch {
		case apierrors.IsNotFound(err):
			if isNamespace(o) {
				absent[o.GetName()] = true
			}
			continue
		case isNoMatch(err):
			// The kind is not served yet (its CRD comes with the bundle, or
			// is missing, which the apply reports).
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("read %s: %w", renderer.ObjectID(o), err))
			continue
		}
		l := m.GetLabels()
		switch {
		case l[renderer.LabelManagedBy] != renderer.ManagedByValue:
			found = append(found, renderer.ObjectID(o)+" exists and was not created by allot")
		case l[renderer.LabelEnvironment] != b.Environment:
			found = append(found, fmt.Sprintf("%s belongs to environment %q", renderer.ObjectID(o), l[renderer.LabelEnvironment]))
		}
	}
	return found, errors.Join(errs...)
}

// conflictError is the error of an environment with conflicts.
func conflictError(env string, found []string) error {
	return fmt.Errorf("%w: %s; allot never takes over an object it did not create: rename environment %s, or remove the objects from the cluster if they are leftovers", ErrConflict, strings.Join(found, "; "), env)
}

func isNamespace(o *unstructured.Unstructured) bool {
	return o.GetKind() == "Namespace" && o.GroupVersionKind().Group == ""
}
