package renderer

import (
	"encoding/json"
	"fmt"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/allot-dev/allot/renderer/sources"
	"github.com/allot-dev/allot/schemas"
)

// applyOverrides applies a cluster's patches to every object of the bundle
// they target. They change the objects, and so the digest.
func applyOverrides(b *Bundle, c schemas.Cluster) error {
	for i, o := range c.Overrides {
		for _, p := range Phases() {
			for _, obj := range b.building[p] {
				if err := patchObject(obj, o); err != nil {
					return fmt.Errorf("override %d on %s: %w", i, ObjectID(obj), err)
				}
			}
		}
	}
	return nil
}

// patchAll applies an add-on's patches (shaped like overrides) to its objects.
func patchAll(objs []sources.Object, patches []map[string]any) error {
	for i, raw := range patches {
		data, err := json.Marshal(raw)
		if err != nil {
			return err
		}
		var o schemas.Override
		if err := json.Unmarshal(data, &o); err != nil || o.Patch == "" {
			return fmt.Errorf("patch %d: want {target: {...}, patch: \"...\"}", i)
		}
		for _, so := range objs {
			if err := patchObject(so.Object, o); err != nil {
				return fmt.Errorf("patch %d on %s: %w", i, ObjectID(so.Object), err)
			}
		}
	}
	return nil
}

// patchObject applies one patch to obj if obj matches its target: a JSON
// 6902 patch when the patch is a list, otherwise a strategic merge patch for
// Kubernetes' own kinds and a JSON merge patch for others, as kubectl does.
func patchObject(obj *unstructured.Unstructured, o schemas.Override) error {
	ok, err := matches(obj, o.Target)
	if err != nil || !ok {
		return err
	}
	var patch any
	if err := yaml.Unmarshal([]byte(o.Patch), &patch); err != nil {
		return fmt.Errorf("patch is not YAML: %w", err)
	}
	original, err := json.Marshal(obj.Object)
	if err != nil {
		return err
	}
	var patched []byte
	switch p := patch.(type) {
	case []any:
		ops, err := json.Marshal(p)
		if err != nil {
			return err
		}
		decoded, err := jsonpatch.DecodePatch(ops)
		if err != nil {
			return fmt.Errorf("JSON 6902 patch: %w", err)
		}
		if patched, err = decoded.Apply(original); err != nil {
			return fmt.Errorf("JSON 6902 patch: %w", err)
		}
	case map[string]any:
		data, err := json.Marshal(p)
		if err != nil {
			return err
		}
		if typed, err := scheme.Scheme.New(obj.GroupVersionKind()); err == nil {
			patched, err = strategicpatch.StrategicMergePatch(original, data, typed)
			if err != nil {
				return fmt.Errorf("strategic merge patch: %w", err)
			}
		} else if patched, err = jsonpatch.MergePatch(original, data); err != nil {
			return fmt.Errorf("merge patch: %w", err)
		}
	default:
		return fmt.Errorf("patch must be a mapping (strategic merge) or a list (JSON 6902)")
	}
	out := map[string]any{}
	if err := utiljson.Unmarshal(patched, &out); err != nil {
		return err
	}
	obj.Object = out
	return nil
}

func matches(obj *unstructured.Unstructured, t *schemas.OverrideTarget) (bool, error) {
	if t == nil {
		return true, nil
	}
	gvk := obj.GroupVersionKind()
	if (t.Group != "" && t.Group != gvk.Group) || (t.Version != "" && t.Version != gvk.Version) ||
		(t.Kind != "" && t.Kind != gvk.Kind) || (t.Name != "" && t.Name != obj.GetName()) {
		return false, nil
	}
	if t.LabelSelector != "" {
		sel, err := labels.Parse(t.LabelSelector)
		if err != nil {
			return false, fmt.Errorf("target labelSelector: %w", err)
		}
		return sel.Matches(labels.Set(obj.GetLabels())), nil
	}
	return true, nil
}
