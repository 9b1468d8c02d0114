package sources

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/allot-dev/allot/schemas/load"
)

// Object is one Kubernetes object a source produced.
type Object struct {
	// Object is the object exactly as the source rendered it.
	Object *unstructured.Unstructured
	// Origin says where it came from, for error messages: for example
	// "chart mock-api 0.1.0, templates/deployment.yaml" or "addons/config/configmap.yaml".
	Origin string
	// HelmHooks lists the helm.sh/hook annotation values of a Helm hook
	// ("pre-install", "post-install", "pre-delete", ...); nil for ordinary objects.
	HelmHooks []string
}

// ErrLimitExceeded is wrapped by every error that refuses input because it is
// larger than a size or count limit.
var ErrLimitExceeded = errors.New("limit exceeded")

// refuseAliases refuses YAML anchors, aliases and merge keys in data, the
// content of the file name, as request files refuse them, and charges its
// YAML nodes to budget.
func refuseAliases(name string, data []byte, budget *Budget) error {
	// Parsing costs by the node, so a document with more nodes than the
	// budget has left is refused before it is parsed, by an estimate.
	if err := budget.checkNodes(estimateNodes(data)); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	nodes, err := load.RefuseAliases(data)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := budget.chargeNodes(nodes); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// estimateNodes returns at least the number of YAML nodes in data: every
// node but the first follows a line break, an indicator ("-", ":", "[",
// "{") or a comma. Text with many of those in strings counts high.
func estimateNodes(data []byte) int {
	n := 1
	for _, c := range data {
		switch c {
		case '\n', ',', ':', '-', '[', '{':
			n++
		}
	}
	return n
}

// splitDocuments splits a YAML stream at its "---" separators. The documents
// keep their comments; empty documents are returned too, so that document
// numbers in error messages match what a reader counts in the file.
func splitDocuments(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, doc)
	}
}

// decodeDocument turns one YAML or JSON document into objects: none for an
// empty document, the items for a list kind such as v1 List, otherwise one.
// Each object is charged to budget, a list's JSON to its first item.
func decodeDocument(doc []byte, budget *Budget) ([]*unstructured.Unstructured, error) {
	data, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || string(data) == "null" {
		return nil, nil
	}
	size := len(data)
	charge := func() error {
		err := budget.charge(size)
		size = 0
		return err
	}
	var value any
	// utiljson turns numbers into int64 or float64, as unstructured requires.
	if err := utiljson.Unmarshal(data, &value); err != nil {
		return nil, fmt.Errorf("invalid document: %w", err)
	}
	m, ok := value.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("document is a %s, not a Kubernetes object", jsonKind(value))
	}
	u := &unstructured.Unstructured{Object: m}
	if err := checkTypeMeta(u); err != nil {
		return nil, err
	}
	if !isList(u) {
		if err := checkName(u); err != nil {
			return nil, err
		}
		if err := charge(); err != nil {
			return nil, err
		}
		return []*unstructured.Unstructured{u}, nil
	}
	items := u.Object["items"].([]any)
	objs := make([]*unstructured.Unstructured, 0, len(items))
	for i, item := range items {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s item %d is a %s, not a Kubernetes object", u.GetKind(), i+1, jsonKind(item))
		}
		obj := &unstructured.Unstructured{Object: m}
		if err := checkTypeMeta(obj); err != nil {
			return nil, fmt.Errorf("%s item %d: %w", u.GetKind(), i+1, err)
		}
		if err := checkName(obj); err != nil {
			return nil, fmt.Errorf("%s item %d: %w", u.GetKind(), i+1, err)
		}
		if err := charge(); err != nil {
			return nil, err
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

// isList reports whether u is a list kind (v1 List, ConfigMapList, ...) whose
// items should be expanded.
func isList(u *unstructured.Unstructured) bool {
	_, ok := u.Object["items"].([]any)
	return ok && strings.HasSuffix(u.GetKind(), "List")
}

func checkTypeMeta(u *unstructured.Unstructured) error {
	if v, ok := u.Object["apiVersion"].(string); !ok || v == "" {
		return errors.New("object has no apiVersion")
	}
	if v, ok := u.Object["kind"].(string); !ok || v == "" {
		return errors.New("object has no kind")
	}
	if _, ok := u.Object["metadata"]; ok {
		if _, ok := u.Object["metadata"].(map[string]any); !ok {
			return fmt.Errorf("%s has a metadata field that is not a mapping", u.GetKind())
		}
	}
	return nil
}

func checkName(u *unstructured.Unstructured) error {
	if u.GetName() == "" && u.GetGenerateName() == "" {
		return fmt.Errorf("%s %s has no metadata.name", u.GetAPIVersion(), u.GetKind())
	}
	return nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "list"
	case string:
		return "string"
	case bool:
		return "boolean"
	case nil:
		return "null"
	default:
		return "number"
	}
}
