package renderer

import (
	"context"
	"fmt"
	"github.com/allot-dev/allot/internal/testfs"
	"os"
	"path/filepath"
	"testing"
)

const benchPlatform = `apiVersion: allot.dev/v1alpha1
kind: Platform
metadata: {name: bench}
spec:
  clusters: [{name: dev, inCluster: true}]
  idp: {provider: scim, url: https://idp.example/scim/v2, token: {env: T}}
  defaultSize: small
  sizes:
    small:
      quota: {requests.cpu: "2", requests.memory: 4Gi, pods: 20}
      limitRange: {default: {cpu: 500m, memory: 512Mi}, defaultRequest: {cpu: 100m, memory: 128Mi}}
`

// benchRepo writes a repository of n requests; withChart gives each a local
// Helm add-on.
func benchRepo(b *testing.B, n int, withChart bool) string {
	b.Helper()
	root := b.TempDir()
	write := func(rel, content string) { testfs.WriteFile(b, filepath.Join(root, rel), content) }
	write("allot.yaml", benchPlatform)
	if withChart {
		for _, f := range []string{"Chart.yaml", "values.yaml", "templates/deployment.yaml", "templates/service.yaml"} {
			data, err := os.ReadFile(filepath.Join(examplesDir(), "charts", "mock-api", f))
			if err != nil {
				b.Fatal(err)
			}
			write(filepath.Join("charts", "mock-api", f), string(data))
		}
	}
	for i := range n {
		addon := ""
		if withChart {
			addon = "  addons:\n    - name: api\n      helm: {path: charts/mock-api, values: {replicas: 2}}\n"
		}
		write(fmt.Sprintf("environments/team-%d/env-%d.yaml", i%10, i), fmt.Sprintf(
			"apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: env-%d}\nspec:\n  type: namespace\n  owner: dev-%d@example.com\n  team: team-%d\n  cluster: dev\n  members: [a@example.com]\n  values: {allowDNSEgress: true}\n%s",
			i, i, i%10, addon))
	}
	return root
}

// BenchmarkRender renders whole repositories: 1,000 namespace environments,
// and 100 environments with a Helm add-on each. The target for the 1,000 is
// under 2 s on 2 cores.
func BenchmarkRender(b *testing.B) {
	for _, tc := range []struct {
		name  string
		n     int
		chart bool
	}{{"1000-namespaces", 1000, false}, {"100-helm-addons", 100, true}} {
		b.Run(tc.name, func(b *testing.B) {
			r := newRenderer(b, benchRepo(b, tc.n, tc.chart))
			r.Concurrency = 2
			targets, errs := r.Targets()
			if len(errs) > 0 {
				b.Fatal(errs)
			}
			b.ReportAllocs()
			for b.Loop() {
				for _, res := range r.RenderAll(context.Background(), targets) {
					if res.Err != nil {
						b.Fatal(res.Err)
					}
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/pass")
		})
	}
}
