package renderer

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/allot-dev/allot/renderer/sources"
)

// rules are what one source may create.
type rules struct {
	// namespace is the environment's own namespace; namespaced objects
	// without one are put there.
	namespace string
	// allowedRoles are the ClusterRoles RoleBindings may bind.
	allowedRoles []string
	// clusterScoped are the cluster-scoped kinds allowed besides the
	// environment's Namespace, as Kind.group.
	clusterScoped map[string]bool
	// objects are single cluster-scoped objects allowed, as
	// Kind.group/name; a binding may bind a ClusterRole among them.
	objects map[string]bool
	// addon is true for add-ons, whose refusals point at the policy.
	addon bool
	// inside is true inside an imported cluster, which belongs to the
	// environment whole.
	inside bool
}

// assembly collects the objects of one bundle.
type assembly struct {
	file   string
	bundle *Bundle
	// seen maps an object's identity to the source that made it.
	seen map[string]string
	// budget is what is left of the bundle's limits.
	budget *sources.Budget
}

// add admits objects from one source: it picks each object's phase, checks
// tenancy, sets the namespace and allot's labels, and refuses duplicates.
func (a *assembly) add(source string, objs []sources.Object, rl rules) error {
	for _, so := range objs {
		o := so.Object
		fail := func(err error) error {
			return &Error{File: a.file, Source: source, Object: ObjectID(o), Err: err}
		}
		if err := admit(o, rl); err != nil {
			return fail(err)
		}
		phase, skip, err := phaseOf(so)
		if err != nil {
			return fail(err)
		}
		if skip {
			continue
		}
		labels := o.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[LabelEnvironment] = a.bundle.Environment
		labels[LabelManagedBy] = ManagedByValue
		o.SetLabels(labels)
		id := o.GroupVersionKind().GroupKind().String() + "/" + o.GetNamespace() + "/" + o.GetName()
		if prev, dup := a.seen[id]; dup {
			return fail(fmt.Errorf("is rendered twice, also by %s; rename one", prev))
		}
		a.seen[id] = source
		a.bundle.building[phase] = append(a.bundle.building[phase], o)
	}
	return nil
}

// phaseOf picks an object's phase: the allot.dev/phase annotation, then its
// Helm hook, then install. Helm test hooks are skipped.
func phaseOf(so sources.Object) (Phase, bool, error) {
	if p, ok := so.Object.GetAnnotations()[AnnotationPhase]; ok {
		for _, known := range Phases() {
			if p == string(known) {
				return known, false, nil
			}
		}
		return "", false, fmt.Errorf("annotation %s: %q is not a phase; use init, install, postInstall or preDelete", AnnotationPhase, p)
	}
	if len(so.HelmHooks) == 0 {
		return PhaseInstall, false, nil
	}
	hooks := so.HelmHooks
	switch {
	case slices.Contains(hooks, "pre-install"), slices.Contains(hooks, "pre-upgrade"):
		return PhaseInit, false, nil
	case slices.Contains(hooks, "post-install"), slices.Contains(hooks, "post-upgrade"):
		return PhasePostInstall, false, nil
	case slices.Contains(hooks, "pre-delete"):
		return PhasePreDelete, false, nil
	case slices.Contains(hooks, "test"), slices.Contains(hooks, "test-success"):
		return "", true, nil
	}
	return "", false, fmt.Errorf("helm hook %s has no allot phase; use pre-install, post-install or pre-delete, or set the %s annotation", strings.Join(hooks, ","), AnnotationPhase)
}

// admit enforces tenancy on one object and sets its namespace.
func admit(o *unstructured.Unstructured, rl rules) error {
	gvk := o.GroupVersionKind()
	if gvk.Kind == "" || gvk.Version == "" {
		return fmt.Errorf("has no apiVersion or kind")
	}
	if o.GetName() == "" {
		return fmt.Errorf("has no metadata.name")
	}
	gk := gvk.GroupKind()
	key := kindKey(gk)
	switch {
	case gk == schema.GroupKind{Kind: "Namespace"}:
		o.SetNamespace("")
		if !rl.inside && o.GetName() != rl.namespace {
			return fmt.Errorf("%w: an environment may create only its own namespace, %s", ErrTenancy, rl.namespace)
		}
	case clusterScoped[gk] || rl.clusterScoped[key] || rl.objects[key+"/"+o.GetName()]:
		o.SetNamespace("")
		if !rl.clusterScoped[key] && !rl.objects[key+"/"+o.GetName()] {
			return clusterScopedError(gk, key, o.GetName(), rl)
		}
	default:
		switch ns := o.GetNamespace(); {
		case ns == "":
			o.SetNamespace(rl.namespace)
		case ns != rl.namespace && !rl.inside:
			return fmt.Errorf("%w: it is in namespace %s, but an environment's objects live in its own namespace, %s", ErrTenancy, ns, rl.namespace)
		}
	}
	if gk.Group == "rbac.authorization.k8s.io" && (gk.Kind == "RoleBinding" || gk.Kind == "ClusterRoleBinding") && !rl.inside {
		kind, _, _ := unstructured.NestedString(o.Object, "roleRef", "kind")
		name, _, _ := unstructured.NestedString(o.Object, "roleRef", "name")
		own := rl.objects["ClusterRole.rbac.authorization.k8s.io/"+name]
		if kind == "ClusterRole" && !own && !slices.Contains(rl.allowedRoles, name) {
			return fmt.Errorf("%w: it binds ClusterRole %s, but the template allows only %s", ErrTenancy, name, listOrNone(rl.allowedRoles))
		}
	}
	return nil
}

func clusterScopedError(gk schema.GroupKind, key, name string, rl rules) error {
	what := "a cluster-scoped object"
	switch {
	case gk.Kind == "ClusterRoleBinding":
		what = "a ClusterRoleBinding, which grants rights across the whole cluster"
	case strings.HasSuffix(gk.Kind, "WebhookConfiguration"):
		what = "an admission webhook, which sees every request to the cluster"
	case gk.Kind == "CustomResourceDefinition":
		what = "a CustomResourceDefinition, which changes the API of the whole cluster"
	}
	if rl.addon {
		return fmt.Errorf("%w: it is %s; add-ons may create one only when allot.yaml's policy.addons.allowedClusterScopedKinds lists %s", ErrTenancy, what, key)
	}
	if rl.inside {
		return fmt.Errorf("%w: it is %s; the template must list %s in import.clusterScopedKinds", ErrTenancy, what, key)
	}
	pattern := name
	if rl.namespace != "" {
		pattern = strings.ReplaceAll(name, rl.namespace, "$(name)")
	}
	return fmt.Errorf("%w: it is %s; to allow this one object, the template must list %s/%s in clusterScopedObjects ($(name) and $(namespace) are replaced), or the whole kind %s in clusterScopedKinds", ErrTenancy, what, key, pattern, key)
}

func listOrNone(items []string) string {
	if len(items) == 0 {
		return "none"
	}
	return strings.Join(items, ", ")
}
