package renderer

import (
	"errors"
	"fmt"
	"strings"
)

// ErrTenancy marks an object an environment may not create.
var ErrTenancy = errors.New("not allowed for an environment")

// Error is a rendering failure, located as precisely as possible: the
// request's file, the source (template or add-on) and the object.
type Error struct {
	// File is the request's path in the repository.
	File string
	// Source is "template namespace, source baseline" or `add-on "cache"`.
	Source string
	// Addon is the add-on's name when an add-on failed.
	Addon string
	// Object is kind/namespace/name, or kind/name for cluster-scoped objects.
	Object string
	Err    error
}

func (e *Error) Error() string {
	parts := []string{e.File}
	if e.Source != "" {
		parts = append(parts, e.Source)
	}
	if e.Object != "" {
		parts = append(parts, e.Object)
	}
	return strings.Join(parts, ": ") + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// ObjectID names an object as kind/namespace/name, or kind/name when it has
// no namespace.
func ObjectID(o Meta) string {
	if ns := o.GetNamespace(); ns != "" {
		return fmt.Sprintf("%s/%s/%s", o.GetKind(), ns, o.GetName())
	}
	return fmt.Sprintf("%s/%s", o.GetKind(), o.GetName())
}
