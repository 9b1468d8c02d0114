package reconciler

import (
	"fmt"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// MaxDiffBytes bounds one object's diff in a plan; the rest is left out
// with a line that says how much. The pull-request comment cuts further.
const MaxDiffBytes = 32 << 10

// maxDiffInput bounds the YAML of each side that is diffed: beyond it the
// diff only says that the object changed.
const maxDiffInput = 1 << 20

// diffContext is how many unchanged lines surround each change, as
// `kubectl diff` (diff -u) shows.
const diffContext = 3

// noisyMetadata are the fields the API server keeps that a reviewer does not
// choose; `kubectl diff` readers skip them.
var noisyMetadata = []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"}

// lastApplied is kubectl's copy of what it applied, which for a Secret
// holds its data.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// Masks of Secret values in a diff: no value of a Secret is ever shown,
// only whether it changes.
const (
	maskSame   = "***"
	maskBefore = "*** (before)"
	maskAfter  = "*** (after)"
)

// objectDiff is a unified diff of an object's YAML, live against the dry
// run's result, as `kubectl diff` shows it: server-kept metadata and status
// left out, Secret data masked.
func objectDiff(id string, live, dry *unstructured.Unstructured) string {
	a, b := forDiff(live), forDiff(dry)
	maskSecrets(a, b)
	return unifiedDiff("live/"+id, "planned/"+id, yamlOf(a), yamlOf(b))
}

// added shows a whole object as a diff that adds it, Secret data masked.
func added(id string, obj map[string]any) string {
	b := forDiff(&unstructured.Unstructured{Object: obj})
	maskSecrets(nil, b)
	return unifiedDiff("/dev/null", "planned/"+id, "", yamlOf(b))
}

// forDiff is a copy of u without what the API server keeps for itself.
func forDiff(u *unstructured.Unstructured) *unstructured.Unstructured {
	if u == nil {
		return &unstructured.Unstructured{Object: map[string]any{}}
	}
	c := u.DeepCopy()
	for _, f := range noisyMetadata {
		unstructured.RemoveNestedField(c.Object, "metadata", f)
	}
	unstructured.RemoveNestedField(c.Object, "status")
	if len(c.GetAnnotations()) == 0 {
		unstructured.RemoveNestedField(c.Object, "metadata", "annotations")
	}
	return c
}

func yamlOf(u *unstructured.Unstructured) string {
	if len(u.Object) == 0 {
		return ""
	}
	data, err := yaml.Marshal(u.Object)
	if err != nil {
		return fmt.Sprintf("(cannot show as YAML: %v)\n", err)
	}
	return string(data)
}

// unifiedDiff is the unified diff of two texts, "" when they are equal,
// bounded by MaxDiffBytes.
func unifiedDiff(from, to, a, b string) string {
	if a == b {
		return ""
	}
	if len(a) > maxDiffInput || len(b) > maxDiffInput {
		return fmt.Sprintf("--- %s\n+++ %s\n(the object is larger than %d bytes; its diff is not shown)\n", from, to, maxDiffInput)
	}
	d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: lines(a), B: lines(b), FromFile: from, ToFile: to, Context: diffContext,
	})
	if err != nil {
		return fmt.Sprintf("(cannot diff: %v)\n", err)
	}
	return cutDiff(d, MaxDiffBytes)
}

// lines splits text into lines that keep their newline; difflib's own
// SplitLines adds an empty last line to text that ends in one.
func lines(s string) []string {
	if s == "" {
		return nil
	}
	out := strings.SplitAfter(s, "\n")
	if out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// cutDiff keeps the lines of d that fit in limit bytes and says how many
// it leaves out.
func cutDiff(d string, limit int) string {
	if len(d) <= limit {
		return d
	}
	kept := d[:strings.LastIndexByte(d[:limit], '\n')+1]
	more := strings.Count(d[len(kept):], "\n")
	return kept + fmt.Sprintf("… %d more lines not shown (a plan shows at most %d KiB of each diff)\n", more, limit>>10)
}

// maskSecrets replaces the values of a Secret in both versions, as
// `kubectl diff` does: a value that changes is "*** (before)" and
// "*** (after)", one that stays is "***". live is nil for an object shown
// whole. kubectl's last-applied annotation holds the data too and is
// masked the same way.
func maskSecrets(live, dry *unstructured.Unstructured) {
	if dry.GetKind() != "Secret" || dry.GroupVersionKind().Group != "" {
		return
	}
	if live == nil {
		live = &unstructured.Unstructured{Object: map[string]any{}}
	}
	for _, field := range []string{"data", "stringData"} {
		before, _, _ := unstructured.NestedMap(live.Object, field)
		after, _, _ := unstructured.NestedMap(dry.Object, field)
		maskPair(before, after)
		if before != nil {
			_ = unstructured.SetNestedMap(live.Object, before, field)
		}
		if after != nil {
			_ = unstructured.SetNestedMap(dry.Object, after, field)
		}
	}
	before, _, _ := unstructured.NestedMap(live.Object, "metadata", "annotations")
	after, _, _ := unstructured.NestedMap(dry.Object, "metadata", "annotations")
	_, inBefore := before[lastApplied]
	_, inAfter := after[lastApplied]
	if inBefore || inAfter {
		pair := func(m map[string]any) map[string]any {
			if v, ok := m[lastApplied]; ok {
				return map[string]any{lastApplied: v}
			}
			return map[string]any{}
		}
		b, a := pair(before), pair(after)
		maskPair(b, a)
		if inBefore {
			_ = unstructured.SetNestedField(live.Object, b[lastApplied], "metadata", "annotations", lastApplied)
		}
		if inAfter {
			_ = unstructured.SetNestedField(dry.Object, a[lastApplied], "metadata", "annotations", lastApplied)
		}
	}
}

// maskPair masks the values of two versions of a map in place.
func maskPair(before, after map[string]any) {
	for k, v := range before {
		if w, ok := after[k]; ok && fmt.Sprint(v) != fmt.Sprint(w) {
			before[k], after[k] = maskBefore, maskAfter
			continue
		}
		before[k] = maskSame
	}
	for k := range after {
		if after[k] != maskAfter {
			after[k] = maskSame
		}
	}
}
