package sources_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"

	"github.com/allot-dev/allot/renderer/sources"
	"github.com/allot-dev/allot/test/harness"
)

// installRender renders chrt with Helm's install action in client-only
// dry-run mode, which is what `helm template` runs and what allot rendered
// with before it used the action's own parts: the reference the render
// must match.
func installRender(chrt *chart.Chart, releaseName, namespace string, values map[string]any, kubeVersion string) (*sources.HelmOutput, error) {
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		return nil, fmt.Errorf("kube version %q: %w", kubeVersion, err)
	}
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun = true
	install.ClientOnly = true
	install.Replace = true
	install.IncludeCRDs = true
	install.ReleaseName = releaseName
	install.Namespace = namespace
	install.KubeVersion = kv
	rel, err := install.RunWithContext(context.Background(), chrt, values)
	if err != nil {
		return nil, err
	}
	out := &sources.HelmOutput{Manifest: rel.Manifest}
	hooks := slices.Clone(rel.Hooks)
	slices.SortStableFunc(hooks, func(a, b *release.Hook) int { return strings.Compare(a.Path, b.Path) })
	for _, h := range hooks {
		hook := sources.HelmHook{Path: h.Path, Manifest: h.Manifest, Events: []string{}}
		for _, e := range h.Events {
			hook.Events = append(hook.Events, e.String())
		}
		out.Hooks = append(out.Hooks, hook)
	}
	return out, nil
}

// vclusterArchive is the real vcluster chart the built-in template
// installs, as its release packages it.
var vclusterArchive = sync.OnceValues(func() ([]byte, error) {
	vc, err := harness.VClusterRelease()
	if err != nil {
		return nil, err
	}
	return vc.ChartArchive()
})

// loadChart returns a function that loads a fresh copy of a chart, since
// a render changes the chart it is given (dependencies and their values).
func loadChart(t *testing.T, name string) func() *chart.Chart {
	t.Helper()
	load := func() (*chart.Chart, error) { return loader.LoadDir(filepath.Join("testdata", "charts", name)) }
	if name == "vcluster" {
		archive, err := vclusterArchive()
		if err != nil {
			t.Fatal(err)
		}
		load = func() (*chart.Chart, error) { return loader.LoadArchive(bytes.NewReader(archive)) }
	}
	return func() *chart.Chart {
		chrt, err := load()
		if err != nil {
			t.Fatal(err)
		}
		return chrt
	}
}

// vclusterValues are the built-in vcluster template's chart values for an
// environment named dev in namespace dev.
func vclusterValues() map[string]any {
	return map[string]any{
		"exportKubeConfig": map[string]any{"server": "https://dev.dev:443"},
		"controlPlane": map[string]any{
			"proxy":  map[string]any{"extraSANs": []any{"dev.dev.svc"}},
			"distro": map[string]any{"k8s": map[string]any{"image": map[string]any{"tag": "v1.33.4"}}},
		},
		"telemetry": map[string]any{"enabled": false},
		"policies": map[string]any{
			"resourceQuota": map[string]any{"enabled": false},
			"limitRange":    map[string]any{"enabled": false},
			"networkPolicy": map[string]any{"enabled": false},
		},
	}
}

func TestHelmTemplateMatchesInstallAction(t *testing.T) {
	broken := func(chrt *chart.Chart) {
		chrt.Templates = append(chrt.Templates, &chart.File{Name: "templates/broken.yaml", Data: []byte("kind: ConfigMap\nmetadata: [\n")})
	}
	tests := []struct {
		name        string
		chart       string
		change      func(*chart.Chart)
		release     string
		values      func() map[string]any
		kubeVersion string
		wantErr     bool
	}{
		{name: "a chart with CRDs, hooks and NOTES", chart: "mock-api"},
		{name: "a chart with the caller's values", chart: "mock-api", values: func() map[string]any {
			return map[string]any{"replicaCount": 3, "config": map[string]any{"features": map[string]any{"export": true}}}
		}},
		{name: "subcharts enabled and disabled by conditions", chart: "storefront"},
		{name: "a condition the caller's values turn off", chart: "storefront", values: func() map[string]any {
			return map[string]any{"cache": map[string]any{"enabled": false}}
		}},
		{name: "tags, aliases, import-values, globals, a schema and install order", chart: "umbrella"},
		{name: "tags and conditions the caller's values turn around", chart: "umbrella", values: func() map[string]any {
			return map[string]any{
				"tags":   map[string]any{"frontend": true},
				"db":     map[string]any{"enabled": false},
				"events": map[string]any{"enabled": true, "workers": 4},
				"widget": map[string]any{"size": 3},
				"global": map[string]any{"environment": "staging"},
			}
		}},
		{name: "another Kubernetes version", chart: "umbrella", kubeVersion: "v1.30.2"},
		{name: "the real vcluster chart with its own values", chart: "vcluster"},
		{name: "the real vcluster chart with the built-in template's values", chart: "vcluster", values: vclusterValues, kubeVersion: "v1.33.4"},
		{name: "the real vcluster chart with host nodes synced", chart: "vcluster", values: func() map[string]any {
			v := vclusterValues()
			v["sync"] = map[string]any{"fromHost": map[string]any{"nodes": map[string]any{"enabled": true}}}
			return v
		}},

		{name: "a missing required value", chart: "required-value", wantErr: true},
		{name: "a subchart template that fails", chart: "storefront", values: func() map[string]any {
			return map[string]any{"metrics": map[string]any{"enabled": true}}
		}, wantErr: true},
		{name: "values the chart's schema refuses", chart: "umbrella", values: func() map[string]any { return map[string]any{"replicaCount": 0} }, wantErr: true},
		{name: "a Kubernetes version outside the chart's kubeVersion", chart: "umbrella", kubeVersion: "v1.24.0", wantErr: true},
		{name: "a Kubernetes version that does not parse", chart: "umbrella", kubeVersion: "one", wantErr: true},
		{name: "an invalid release name", chart: "mock-api", release: "Not_A_Name", wantErr: true},
		{name: "a template that renders invalid YAML", chart: "umbrella", change: broken, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			load := loadChart(t, tt.chart)
			render := func(r func(*chart.Chart, string, string, map[string]any, string) (*sources.HelmOutput, error)) (*sources.HelmOutput, error) {
				chrt := load()
				if tt.change != nil {
					tt.change(chrt)
				}
				var values map[string]any
				if tt.values != nil {
					values = tt.values()
				}
				return r(chrt, cmp.Or(tt.release, "dev"), "dev", values, cmp.Or(tt.kubeVersion, sources.DefaultKubeVersion))
			}
			want, wantErr := render(installRender)
			got, gotErr := render(sources.RenderHelmText)
			if (wantErr != nil) != tt.wantErr {
				t.Fatalf("Helm's install action: error %v, want an error: %t", wantErr, tt.wantErr)
			}
			if tt.wantErr {
				if gotErr == nil || gotErr.Error() != wantErr.Error() {
					t.Fatalf("error %v, want the install action's: %v", gotErr, wantErr)
				}
				return
			}
			if gotErr != nil {
				t.Fatal(gotErr)
			}
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Errorf("render (-install action +allot):\n%s", diff)
			}
		})
	}
}

func TestCheckInstallableMatchesCheckDependencies(t *testing.T) {
	without := func(name string) func(*chart.Chart) {
		return func(chrt *chart.Chart) {
			chrt.SetDependencies(slices.DeleteFunc(chrt.Dependencies(), func(c *chart.Chart) bool { return c.Name() == name })...)
		}
	}
	tests := []struct {
		name    string
		chart   string
		change  func(*chart.Chart)
		missing bool
	}{
		{name: "a chart without dependencies", chart: "mock-api"},
		{name: "every dependency in charts/", chart: "storefront"},
		{name: "one chart under two aliases", chart: "umbrella"},
		{name: "a dependency missing from charts/", chart: "missing-dependency", missing: true},
		{name: "the chart of two aliases missing", chart: "umbrella", change: without("queue"), missing: true},
		{name: "two dependencies missing", chart: "umbrella", change: func(c *chart.Chart) { without("db")(c); without("ui")(c) }, missing: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chrt := loadChart(t, tt.chart)()
			if tt.change != nil {
				tt.change(chrt)
			}
			want := action.CheckDependencies(chrt, chrt.Metadata.Dependencies)
			if (want != nil) != tt.missing {
				t.Fatalf("action.CheckDependencies: %v, want an error: %t", want, tt.missing)
			}
			got := sources.CheckInstallable(chrt)
			switch {
			case want == nil && got != nil:
				t.Fatalf("checkInstallable: %v, want no error", got)
			case want != nil && (got == nil || got.Error() != want.Error()+"; run `helm dependency build` and commit the charts/ folder"):
				t.Fatalf("checkInstallable: %v, want %v and what to do", got, want)
			}
		})
	}
}

// TestRenderLinksNoHelmStorage keeps what the install action would link
// out of the package, and so out of the binary: Helm's actions, its
// release storage and that storage's SQL drivers and query builders.
// (Helm's Kubernetes client, pkg/kube, stays a dependency through pkg/repo,
// but nothing reaches its code, which the linker leaves out.)
func TestRenderLinksNoHelmStorage(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	banned := []string{
		"helm.sh/helm/v3/pkg/action", "helm.sh/helm/v3/pkg/storage",
		"github.com/lib/pq", "github.com/jmoiron/sqlx", "github.com/rubenv/sql-migrate",
		"github.com/go-gorp/gorp", "github.com/Masterminds/squirrel",
	}
	for pkg := range strings.Lines(string(out)) {
		pkg = strings.TrimSpace(pkg)
		for _, b := range banned {
			if pkg == b || strings.HasPrefix(pkg, b+"/") {
				t.Errorf("package sources links %s", pkg)
			}
		}
	}
}
