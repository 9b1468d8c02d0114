package reconciler

import (
	"context"
	"errors"
	"fmt"

	"github.com/fluxcd/pkg/ssa"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/renderer"
)

// bundleScope is what a bundle brings that the cluster does not have yet
// and that its other objects may need: namespaces and the kinds of its
// CustomResourceDefinitions. A dry run of an object in a namespace the
// bundle creates must be made elsewhere; one of a kind the bundle defines
// cannot be made at all.
type bundleScope struct {
	namespaces map[string]bool
	kinds      map[string]bool
}

func scopeOf(b *renderer.Bundle) bundleScope {
	s := bundleScope{namespaces: map[string]bool{}, kinds: map[string]bool{}}
	for _, p := range applyPhases {
		for _, o := range b.Objects[p] {
			switch {
			case isNamespace(o):
				s.namespaces[o.GetName()] = true
			case o.GetKind() == "CustomResourceDefinition" && o.GroupVersionKind().Group == "apiextensions.k8s.io":
				crd, err := o.Decode()
				if err != nil {
					continue
				}
				group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
				kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
				s.kinds[group+"/"+kind] = true
			}
		}
	}
	return s
}

// dryRunChange finds what applying o would do through a server-side dry
// run with the field manager and forced ownership of the real apply, and
// says so as a Change. A create is dry run too: the API server validates
// and admits it as it would the real one. An object the server refuses is
// a ChangeRejected with the server's message.
func dryRunChange(ctx context.Context, cl *Cluster, o *unstructured.Unstructured, scope bundleScope) Change {
	ch := Change{Object: renderer.ObjectID(o), Action: ChangeUnchanged}
	entry, live, dry, err := cl.Manager.Diff(ctx, o.DeepCopy(), ssa.DefaultDiffOptions())
	switch {
	case err == nil && entry.Action == ssa.CreatedAction:
		ch.Action = ChangeCreate
	case err == nil && entry.Action == ssa.ConfiguredAction:
		ch.Action, ch.Diff = ChangeUpdate, objectDiff(ch.Object, live, dry)
	case err == nil:
	case o.GetNamespace() != "" && scope.namespaces[o.GetNamespace()] && apierrors.IsNotFound(err):
		// Its namespace is created by this pass, before it.
		ch.Action = ChangeCreate
		err := dryRunElsewhere(ctx, cl, o)
		switch {
		case errors.Is(err, errNoStandIn) || apierrors.IsForbidden(err):
			// What the stand-in refuses — allot's rights there, its
			// quota — says nothing of the namespace the pass creates.
			ch.Note = "not dry run: its namespace is created by this pass first, and " + standInReason(err)
		case err != nil:
			ch.Action, ch.Error = ChangeRejected, rejection(err)
		}
	case meta.IsNoMatchError(err) && scope.kinds[o.GroupVersionKind().Group+"/"+o.GetKind()]:
		ch.Action = ChangeCreate
		ch.Note = "not dry run: its CustomResourceDefinition is created by this pass first"
	default:
		ch.Action, ch.Error = ChangeRejected, rejection(err)
	}
	return ch
}

// errNoStandIn says no namespace could stand in for one that does not
// exist yet.
var errNoStandIn = errors.New("no existing namespace is free to dry run it in")

// dryRunElsewhere dry runs the creation of o, whose namespace the pass
// creates first, in a namespace that exists, as the API server cannot dry
// run it in one that does not. What it checks — the schema, field
// validation, quantities, admission of the object itself — does not depend
// on the namespace. A namespace that already holds an object of that name
// is passed over: the dry run there would be an update of another object.
func dryRunElsewhere(ctx context.Context, cl *Cluster, o *unstructured.Unstructured) error {
	for _, ns := range []string{SystemNamespace, "default"} {
		stand := o.DeepCopy()
		stand.SetNamespace(ns)
		existing := &unstructured.Unstructured{}
		existing.SetGroupVersionKind(stand.GroupVersionKind())
		err := cl.Client.Get(ctx, client.ObjectKeyFromObject(stand), existing)
		switch {
		case err == nil:
			continue
		case !apierrors.IsNotFound(err):
			return err
		}
		err = cl.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(stand), client.DryRunAll, client.ForceOwnership, client.FieldOwner(FieldManager))
		if apierrors.IsNotFound(err) {
			// That namespace does not exist either.
			continue
		}
		return err
	}
	return errNoStandIn
}

func standInReason(err error) string {
	if errors.Is(err, errNoStandIn) {
		return err.Error()
	}
	return "the namespace it was dry run in refuses it: " + rejection(err)
}

// rejection is the API server's message for an object it refuses, without
// the wrapping that repeats the object's name.
func rejection(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		s := status.Status()
		if s.Reason != "" {
			return fmt.Sprintf("%s (%s)", s.Message, s.Reason)
		}
		return s.Message
	}
	if meta.IsNoMatchError(err) {
		if u := errors.Unwrap(err); u != nil {
			err = u
		}
		return "the cluster does not serve this kind: " + err.Error()
	}
	return err.Error()
}
