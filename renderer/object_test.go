package renderer

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// An Object keeps what names it and its body as JSON; decoding gives the
// object back as the renderer made it, as a copy the caller may change.
func TestObjectKeepsItsBody(t *testing.T) {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "api", "namespace": "shop", "labels": map[string]any{LabelEnvironment: "shop"}},
		"spec":     map[string]any{"replicas": int64(3), "ratio": 0.5, "paused": false, "args": []any{"a", "b"}},
	}}
	o, err := NewObject(u)
	if err != nil {
		t.Fatal(err)
	}
	u.Object["spec"].(map[string]any)["replicas"] = int64(9) // o must not see it
	if o.GroupVersionKind().String() != "apps/v1, Kind=Deployment" || o.GetNamespace() != "shop" || o.GetName() != "api" || ObjectID(o) != "Deployment/shop/api" {
		t.Errorf("names: %v %s/%s", o.GroupVersionKind(), o.GetNamespace(), o.GetName())
	}
	got, err := o.Decode()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "api", "namespace": "shop", "labels": map[string]any{LabelEnvironment: "shop"}},
		"spec":     map[string]any{"replicas": int64(3), "ratio": 0.5, "paused": false, "args": []any{"a", "b"}},
	}
	if !reflect.DeepEqual(got.Object, want) {
		t.Errorf("decoded %v, want %v", got.Object, want)
	}
	got.Object["kind"] = "Changed"
	if again, _ := o.Decode(); again.GetKind() != "Deployment" {
		t.Error("changing a decoded copy changed the Object")
	}

	// Read back from JSON (the render cache), only the names are decoded.
	back, err := objectFromJSON(o.JSON())
	if err != nil || !reflect.DeepEqual(back, o) {
		t.Errorf("from its JSON: %+v, %v; want %+v", back, err, o)
	}
	for _, bad := range []string{`[]`, `{"kind": "ConfigMap"}`, `{"apiVersion": "v1"}`, `{"apiVersion": "v1", "kind": "ConfigMap"`, `{"APIVERSION": "v1", "KIND": "ConfigMap"}`} {
		if _, err := objectFromJSON([]byte(bad)); err == nil {
			t.Errorf("%s: read as an object", bad)
		}
	}
}
