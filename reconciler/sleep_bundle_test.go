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
	b := &renderer.Bundle{Environment: "env", Digest: "sha256:abc", Objects: map[renderer.Phase][]*unstructured.Unstructured{renderer.PhaseInstall: objs},
		Import: &renderer.Import{SecretName: "vc-env"}}
	asleep := asleepBundle(b)
	if asleep.Digest == b.Digest || asleep.Import != nil {
		t.Errorf("asleep digest %s (awake %s), import %v: want another digest and no import", asleep.Digest, b.Digest, asleep.Import)
	}
	for i, path := range [][]string{{"spec", "replicas"}, {"spec", "replicas"}, {"spec", "desiredCount"}, {"spec", "forProvider", "desiredCount"}} {
		if n, found, _ := unstructured.NestedInt64(asleep.Objects[renderer.PhaseInstall][i].Object, path...); !found || n != 0 {
			t.Errorf("%s: %v = %d (found %v), want 0", objs[i].GetKind(), path, n, found)
		}
	}
	if n, _, _ := unstructured.NestedInt64(objs[0].Object, "spec", "replicas"); n != 3 || b.Import == nil {
		t.Error("the awake bundle was changed")
	}
	if asleep.Objects[renderer.PhaseInstall][4] != objs[4] {
		t.Error("an object that runs nothing was copied")
	}
}
