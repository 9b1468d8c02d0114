//go:build upstream

package environments_test

import (
	"fmt"
	"regexp"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// keepAll marks a schema node kept whole.
type keepAll struct{}

// trimCRD cuts an upstream CRD down to the fields objs set: the versions
// they use (and the storage version), and in each version's schema only the
// properties some object sets, the required ones, the ones the schema's own
// validation rules read, and status.conditions. What is kept is kept as
// upstream has it, but for descriptions.
func trimCRD(crd map[string]any, objs []*unstructured.Unstructured) (map[string]any, error) {
	out := map[string]any{}
	for k, v := range crd {
		if k != "status" {
			out[k] = v
		}
	}
	spec := copyMap(crd["spec"].(map[string]any))
	versions, _ := spec["versions"].([]any)
	var kept []any
	for _, raw := range versions {
		v, ok := raw.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("a version is not an object")
		}
		vals := []any{map[string]any{"status": map[string]any{"conditions": keepAll{}}}}
		for _, o := range objs {
			if o.GroupVersionKind().Version == v["name"] {
				vals = append(vals, o.Object)
			}
		}
		if len(vals) == 1 && v["storage"] != true {
			continue
		}
		schema, _ := v["schema"].(map[string]any)
		root, _ := schema["openAPIV3Schema"].(map[string]any)
		if root == nil {
			return nil, fmt.Errorf("version %v has no openAPIV3Schema", v["name"])
		}
		nv := copyMap(v)
		nv["schema"] = map[string]any{"openAPIV3Schema": trimSchema(root, vals)}
		kept = append(kept, nv)
	}
	spec["versions"] = kept
	out["spec"] = spec
	return out, nil
}

// trimSchema keeps of node what the values vals (found at node's place in
// the objects) use.
func trimSchema(node map[string]any, vals []any) map[string]any {
	for _, v := range vals {
		if _, ok := v.(keepAll); ok {
			return withoutDescriptions(node).(map[string]any)
		}
	}
	vals = append(vals, ruleReads(node["x-kubernetes-validations"])...)
	out := map[string]any{}
	for k, v := range node {
		switch k {
		case "description", "properties", "items", "additionalProperties":
		default:
			out[k] = v
		}
	}
	if props, ok := node["properties"].(map[string]any); ok {
		keep := map[string][]any{}
		if req, ok := node["required"].([]any); ok {
			for _, r := range req {
				keep[fmt.Sprint(r)] = nil
			}
		}
		for _, v := range vals {
			if m, ok := v.(map[string]any); ok {
				for k, x := range m {
					keep[k] = append(keep[k], x)
				}
			}
		}
		kept := map[string]any{}
		for k, sub := range keep {
			if p, ok := props[k].(map[string]any); ok {
				kept[k] = trimSchema(p, sub)
			}
		}
		out["properties"] = kept
	}
	if items, ok := node["items"].(map[string]any); ok {
		var sub []any
		for _, v := range vals {
			switch l := v.(type) {
			case []any:
				sub = append(sub, l...)
			case keepAll:
				sub = append(sub, l)
			}
		}
		out["items"] = trimSchema(items, sub)
	}
	switch ap := node["additionalProperties"].(type) {
	case map[string]any:
		var sub []any
		for _, v := range vals {
			if m, ok := v.(map[string]any); ok {
				for _, x := range m {
					sub = append(sub, x)
				}
			}
		}
		out["additionalProperties"] = trimSchema(ap, sub)
	case bool:
		out["additionalProperties"] = ap
	}
	return out
}

// selfPath matches the fields a CEL rule reads: self.a.b.
var selfPath = regexp.MustCompile(`self((?:\.[A-Za-z_][A-Za-z0-9_]*)+)`)

// ruleReads turns the fields x-kubernetes-validations rules read into
// values, so that the schema keeps them and the rules still compile.
func ruleReads(rules any) []any {
	list, _ := rules.([]any)
	var out []any
	for _, r := range list {
		m, _ := r.(map[string]any)
		rule, _ := m["rule"].(string)
		for _, match := range selfPath.FindAllStringSubmatch(rule, -1) {
			var v any
			parts := regexp.MustCompile(`\.`).Split(match[1][1:], -1)
			for i := len(parts) - 1; i >= 0; i-- {
				v = map[string]any{parts[i]: v}
			}
			out = append(out, v)
		}
	}
	return out
}

func withoutDescriptions(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range t {
			// A property may be named description; only the keyword goes.
			if _, isString := x.(string); k == "description" && isString {
				continue
			}
			out[k] = withoutDescriptions(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = withoutDescriptions(x)
		}
		return out
	}
	return v
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
