package reconciler

import (
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/allot-dev/allot/internal/testfs"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files under testdata/plan")

func objectYAML(t *testing.T, text string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(text), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

// noise is what the API server keeps on a live object and a dry run's
// result; a plan's diff leaves it out.
const noise = `  uid: 0b6a3c1e-1111-2222-3333-444455556666
  resourceVersion: "%d"
  generation: %d
  creationTimestamp: "2026-11-21T12:00:00Z"
  managedFields:
    - manager: allot
      operation: Apply
      fieldsType: FieldsV1
      fieldsV1: {f:data: {}}
`

// TestObjectDiffGolden: the diff of a changed object is a unified diff of
// its YAML, live against the dry run's result, as kubectl diff shows it,
// without server-kept metadata or status, with Secret data masked, and
// bounded in size.
func TestObjectDiffGolden(t *testing.T) {
	big := func(n int) string {
		var b strings.Builder
		b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big, namespace: shop}\ndata:\n")
		for i := range 3000 {
			fmt.Fprintf(&b, "  key-%04d: value-%d\n", i, n*i)
		}
		return b.String()
	}
	tests := []struct {
		name, id, live, planned string
		// hidden must not appear in the diff.
		hidden []string
	}{
		{
			name: "configmap", id: "ConfigMap/shop/settings",
			live: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: shop\n  labels: {allot.dev/environment: shop, allot.dev/managed-by: allot}\n" + fmt.Sprintf(noise, 41, 1) +
				"data:\n  LOG_LEVEL: info\n  REGION: eu-west-1\n  TIMEOUT: 30s\n  WORKERS: \"4\"\n",
			planned: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: shop\n  labels: {allot.dev/environment: shop, allot.dev/managed-by: allot}\n" + fmt.Sprintf(noise, 42, 2) +
				"data:\n  LOG_LEVEL: debug\n  REGION: eu-west-1\n  TIMEOUT: 30s\n  WORKERS: \"8\"\n",
			hidden: []string{"managedFields", "resourceVersion", "uid", "creationTimestamp", "generation"},
		},
		{
			name: "quota-with-status", id: "ResourceQuota/shop/quota",
			live: "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: quota\n  namespace: shop\n" + fmt.Sprintf(noise, 7, 1) +
				"spec: {hard: {pods: \"10\", requests.cpu: \"2\"}}\nstatus: {hard: {pods: \"10\"}, used: {pods: \"3\"}}\n",
			planned: "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: quota\n  namespace: shop\n" + fmt.Sprintf(noise, 8, 1) +
				"spec: {hard: {pods: \"100\", requests.cpu: \"2\"}}\nstatus: {hard: {pods: \"10\"}, used: {pods: \"3\"}}\n",
			hidden: []string{"status:", "used:"},
		},
		{
			name: "secret", id: "Secret/shop/creds",
			live: "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: shop\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{\"data\":{\"password\":\"aHVudGVyMg==\"}}'\n" +
				"type: Opaque\ndata: {password: aHVudGVyMg==, user: YWRtaW4=, gone: b2xk}\n",
			planned: "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: shop\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{\"data\":{\"password\":\"Y29ycmVjdC1ob3JzZQ==\"}}'\n" +
				"type: Opaque\ndata: {password: Y29ycmVjdC1ob3JzZQ==, user: YWRtaW4=, token: bmV3}\n",
			hidden: []string{"aHVudGVyMg", "Y29ycmVjdC1ob3JzZQ", "YWRtaW4", "b2xk", "bmV3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := objectDiff(tt.id, objectYAML(t, tt.live), objectYAML(t, tt.planned))
			for _, h := range tt.hidden {
				if strings.Contains(got, h) {
					t.Errorf("the diff shows %q:\n%s", h, got)
				}
			}
			if len(got) > MaxDiffBytes+200 {
				t.Errorf("the diff has %d bytes, more than MaxDiffBytes", len(got))
			}
			goldenDiff(t, tt.name, got)
		})
	}
	t.Run("a large diff is cut at a line and says how much is left out", func(t *testing.T) {
		got := objectDiff("ConfigMap/shop/big", objectYAML(t, big(1)), objectYAML(t, big(2)))
		last := got[strings.LastIndexByte(strings.TrimSuffix(got, "\n"), '\n')+1:]
		if len(got) > MaxDiffBytes+100 || !strings.HasPrefix(last, "… ") || !strings.HasSuffix(last, " more lines not shown (a plan shows at most 32 KiB of each diff)\n") {
			t.Errorf("%d bytes, ending in %q", len(got), last)
		}
	})
	t.Run("an object shown whole, Secret data masked", func(t *testing.T) {
		got := added("Secret/shop/farewell", objectYAML(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: farewell, namespace: shop}\nstringData: {message: goodbye-secret}\n").Object)
		if strings.Contains(got, "goodbye-secret") {
			t.Errorf("the diff shows the Secret's value:\n%s", got)
		}
		goldenDiff(t, "added-secret", got)
	})
	t.Run("equal objects have no diff", func(t *testing.T) {
		live := objectYAML(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"+fmt.Sprintf(noise, 1, 1)+"data: {a: b}\n")
		planned := objectYAML(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"+fmt.Sprintf(noise, 2, 2)+"data: {a: b}\n")
		if got := objectDiff("ConfigMap/a", live, planned); got != "" {
			t.Errorf("diff of objects that differ only in server-kept metadata:\n%s", got)
		}
	})
}

func goldenDiff(t *testing.T, name, got string) {
	t.Helper()
	testfs.Golden(t, filepath.Join("testdata", "plan", name+".diff"), []byte(got), *updateGolden)
}
