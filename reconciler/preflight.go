package reconciler

import (
	"context"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/renderer"
)

// Errors of the checks made before an environment is applied.
var (
	// ErrConflict means an environment would take over objects that exist
	// and are not its own: allot never adopts what it did not create.
	ErrConflict = errors.New("objects exist that allot did not create")
	// ErrScope means an object's scope on the cluster is not the one it
	// was rendered for: a kind the renderer took as namespaced is
	// cluster-scoped there, or the other way round.
	ErrScope = errors.New("objects have another scope on the cluster than allowed")
)

// preflight checks a bundle against its cluster before anything of it is
// applied: the scope of every kind, as the cluster serves it, and that no
// object exists that is not the environment's.
func preflight(ctx context.Context, cl *Cluster, b *renderer.Bundle, rec *Record) error {
	if err := checkScopes(cl, b); err != nil {
		return err
	}
	found, err := conflicts(ctx, cl, b, rec)
	if err != nil {
		return err
	}
	if len(found) > 0 {
		return conflictError(b.Environment, found)
	}
	return nil
}

// checkScopes compares the scope the cluster's REST mapper gives each kind
// with the one the renderer, which cannot ask a cluster, gave its object:
// an object rendered into the environment's namespace must be namespaced,
// and a cluster-scoped one (allowed by the template or the policy) must be
// cluster-scoped. Kinds the cluster does not serve yet are left to apply.
func checkScopes(cl *Cluster, b *renderer.Bundle) error {
	var bad []string
	for _, o := range bundleObjects(b) {
		gvk := o.GroupVersionKind()
		m, err := cl.mapping(gvk)
		if err != nil {
			continue
		}
		namespaced := m.Scope.Name() == meta.RESTScopeNameNamespace
		key := gvk.Kind
		if gvk.Group != "" {
			key += "." + gvk.Group
		}
		switch {
		case !namespaced && o.GetNamespace() != "":
			bad = append(bad, fmt.Sprintf("%s is cluster-scoped on cluster %s, and neither the template's clusterScopedKinds nor allot.yaml's policy.addons.allowedClusterScopedKinds lists %s", renderer.ObjectID(o), cl.Name, key))
		case namespaced && o.GetNamespace() == "":
			bad = append(bad, fmt.Sprintf("%s is namespaced on cluster %s, but is declared cluster-scoped; remove %s from clusterScopedKinds", renderer.ObjectID(o), cl.Name, key))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrScope, strings.Join(bad, "; "))
	}
	return nil
}

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
	var namespaces, rest []*renderer.Object
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
		err := cl.Client.Get(ctx, client.ObjectKey{Namespace: o.GetNamespace(), Name: o.GetName()}, m)
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

func isNamespace(o renderer.Meta) bool {
	return o.GetKind() == "Namespace" && o.GroupVersionKind().Group == ""
}
