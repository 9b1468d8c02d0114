package reconciler

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/allot-dev/allot/renderer"
)

func obj(apiVersion, kind string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": map[string]any{"name": "x", "namespace": "env"}, "spec": spec}}
}

// TestAsleepBundle scales every kind that runs something to zero in a copy,
// and leaves the bundle the render cache keeps as it was.
func TestAsleepBundle(t *testing.T) {
	objs := []*unstructured.Unstructured{
		obj("apps/v1", "Deployment", map[string]any{"replicas": int64(3)}),
		obj("apps/v1", "StatefulSet", map[string]any{}),
		obj("ecs.services.k8s.aws/v1alpha1", "Service", map[string]any{"desiredCount": int64(2)}),
		obj("ecs.aws.upbound.io/v1beta1", "Service", map[string]any{"forProvider": map[string]any{"desiredCount": int64(2)}}),
		obj("v1", "ConfigMap", nil),
	}
	kept := rendered(t, objs...)
	b := &renderer.Bundle{Environment: "env", Digest: "sha256:abc", Objects: map[renderer.Phase][]*renderer.Object{renderer.PhaseInstall: kept},
		Import: &renderer.Import{SecretName: "vc-env"}}
	asleep := asleepBundle(b)
	if asleep.Digest == b.Digest || asleep.Import != nil {
		t.Errorf("asleep digest %s (awake %s), import %v: want another digest and no import", asleep.Digest, b.Digest, asleep.Import)
	}
	for i, path := range [][]string{{"spec", "replicas"}, {"spec", "replicas"}, {"spec", "desiredCount"}, {"spec", "forProvider", "desiredCount"}} {
		o, err := asleep.Objects[renderer.PhaseInstall][i].Decode()
		if err != nil {
			t.Fatal(err)
		}
		if n, found, _ := unstructured.NestedInt64(o.Object, path...); !found || n != 0 {
			t.Errorf("%s: %v = %d (found %v), want 0", objs[i].GetKind(), path, n, found)
		}
	}
	awake, err := b.Objects[renderer.PhaseInstall][0].Decode()
	if err != nil {
		t.Fatal(err)
	}
	if n, _, _ := unstructured.NestedInt64(awake.Object, "spec", "replicas"); n != 3 || b.Import == nil {
		t.Error("the awake bundle was changed")
	}
	if asleep.Objects[renderer.PhaseInstall][4] != kept[4] {
		t.Error("an object that runs nothing was copied")
	}
}

// rendered keeps objects as a bundle does.
func rendered(t *testing.T, objs ...*unstructured.Unstructured) []*renderer.Object {
	t.Helper()
	out, err := renderer.NewObjects(objs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
