package renderer

import (
	"encoding/json"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

// Object is one rendered object as a bundle keeps it: what names it
// (apiVersion, kind, namespace, name), and its body as the canonical JSON
// its bundle's digest is computed over. A pass over a fleet holds every
// environment's bundle at once, and most of it needs only the names (the
// guards, the live lists, readiness, the drift watch); the body is decoded
// only where an object is applied, dry-run or written out. As JSON an object takes about a quarter of the memory it
// takes as nested maps, and gives the garbage collector nothing to scan.
type Object struct {
	apiVersion, kind, namespace, name string
	raw                               []byte
}

// Meta is what names an object, rendered or read from a cluster.
type Meta interface {
	GroupVersionKind() schema.GroupVersionKind
	GetKind() string
	GetNamespace() string
	GetName() string
}

// NewObject keeps u as an Object. u is not kept: later changes to it do
// not change the Object.
func NewObject(u *unstructured.Unstructured) (*Object, error) {
	raw, err := json.Marshal(u.Object)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ObjectID(u), err)
	}
	return &Object{
		apiVersion: u.GetAPIVersion(), kind: u.GetKind(), namespace: u.GetNamespace(), name: u.GetName(), raw: raw,
	}, nil
}

// objectHead is the part of an object's JSON an Object keeps decoded.
type objectHead struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

// objectFromJSON keeps raw, canonical JSON that NewObject wrote, as an
// Object; it reads only its names.
func objectFromJSON(raw []byte) (*Object, error) {
	var h objectHead
	if err := utiljson.Unmarshal(raw, &h); err != nil {
		return nil, err
	}
	if h.Kind == "" || h.APIVersion == "" {
		return nil, errors.New("an object without apiVersion or kind")
	}
	m := h.Metadata
	return &Object{apiVersion: h.APIVersion, kind: h.Kind, namespace: m.Namespace, name: m.Name, raw: raw}, nil
}

// GroupVersionKind is the object's group, version and kind.
func (o *Object) GroupVersionKind() schema.GroupVersionKind {
	return schema.FromAPIVersionAndKind(o.apiVersion, o.kind)
}

// GetKind is the object's kind.
func (o *Object) GetKind() string { return o.kind }

// GetNamespace is the object's namespace, "" for a cluster-scoped one.
func (o *Object) GetNamespace() string { return o.namespace }

// GetName is the object's name.
func (o *Object) GetName() string { return o.name }

// JSON is the object's canonical JSON; it must not be changed.
func (o *Object) JSON() []byte { return o.raw }

// Decode returns the object whole, a copy of its own that the caller may
// change. Whole numbers come back as int64, as the renderer decoded them.
func (o *Object) Decode() (*unstructured.Unstructured, error) {
	var m map[string]any
	if err := utiljson.Unmarshal(o.raw, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", ObjectID(o), err)
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// DecodeAll decodes objects whole, each a copy of its own.
func DecodeAll(objs []*Object) ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		u, err := o.Decode()
		if err != nil {
			return nil, err
		}
		out[i] = u
	}
	return out, nil
}

// NewObjects keeps objs as Objects.
func NewObjects(objs []*unstructured.Unstructured) ([]*Object, error) {
	out := make([]*Object, len(objs))
	for i, u := range objs {
		o, err := NewObject(u)
		if err != nil {
			return nil, err
		}
		out[i] = o
	}
	return out, nil
}
