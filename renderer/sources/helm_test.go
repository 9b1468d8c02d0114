package sources

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestHelmRenderLocalChart(t *testing.T) {
	fsys := openRoot(t, "testdata")
	tests := []struct {
		name      string
		path      string
		release   string
		namespace string
		values    map[string]any
		golden    string
	}{
		{
			name:      "renders CRDs, templates and hooks with the chart's own values",
			path:      "charts/mock-api",
			release:   "demo",
			namespace: "shop",
			golden:    "helm-mock-api",
		},
		{
			name:      "merges the caller's values deeply over the chart's values",
			path:      "charts/mock-api",
			release:   "demo",
			namespace: "shop",
			values: map[string]any{
				"replicaCount": 3,
				"image":        map[string]any{"tag": "2.0.0"},
				"config":       map[string]any{"features": map[string]any{"export": true}},
			},
			golden: "helm-mock-api-values",
		},
		{
			name:      "renders enabled dependencies from charts/ and leaves out disabled ones",
			path:      "charts/storefront",
			release:   "web",
			namespace: "shop",
			values:    map[string]any{"cache": map[string]any{"maxMemory": "128mb"}},
			golden:    "helm-storefront",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &Helm{}
			objs, err := h.Render(context.Background(), Chart{FS: fsys, Path: tt.path}, tt.release, tt.namespace, tt.values, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tt.golden, objs)
		})
	}
}

func TestHelmRenderValues(t *testing.T) {
	fsys := openRoot(t, "testdata")
	h := &Helm{}
	values := map[string]any{
		"replicaCount": 3,
		"image":        map[string]any{"tag": "2.0.0"},
		"config":       map[string]any{"features": map[string]any{"export": true}},
	}
	objs, err := h.Render(context.Background(), Chart{FS: fsys, Path: "charts/mock-api"}, "demo", "shop", values, nil)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("caller values win and chart defaults fill the rest", func(t *testing.T) {
		deploy := find(t, objs, "Deployment", "demo-mock-api").Object
		containers, _, _ := unstructured.NestedSlice(deploy.Object, "spec", "template", "spec", "containers")
		got := []any{
			mustNested(t, deploy.Object, "spec", "replicas"),
			containers[0].(map[string]any)["image"],
			containers[0].(map[string]any)["imagePullPolicy"],
		}
		want := []any{int64(3), "ghcr.io/allot-dev/mock-api:2.0.0", "IfNotPresent"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("replicas, image, pull policy (-want +got):\n%s", diff)
		}
		cm := find(t, objs, "ConfigMap", "demo-mock-api").Object
		if diff := cmp.Diff(`{"export":true,"search":true}`, mustNested(t, cm.Object, "data", "FEATURES")); diff != "" {
			t.Errorf("merged features (-want +got):\n%s", diff)
		}
	})

	t.Run("does not change the caller's values", func(t *testing.T) {
		want := map[string]any{
			"replicaCount": 3,
			"image":        map[string]any{"tag": "2.0.0"},
			"config":       map[string]any{"features": map[string]any{"export": true}},
		}
		if diff := cmp.Diff(want, values); diff != "" {
			t.Errorf("values (-want +got):\n%s", diff)
		}
	})
}

func TestHelmRenderHooksAndOrder(t *testing.T) {
	fsys := openRoot(t, "testdata")
	h := &Helm{}
	objs, err := h.Render(context.Background(), Chart{FS: fsys, Path: "charts/mock-api"}, "demo", "shop", nil, nil)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("orders manifests by template path, then hooks, each marked with its events", func(t *testing.T) {
		origin := func(p string) string { return "chart mock-api 0.1.0, " + p }
		want := []summary{
			{Kind: "CustomResourceDefinition", Name: "mockendpoints.mock.allot.dev", Origin: origin("crds/mockendpoints.yaml")},
			{Kind: "ServiceAccount", Name: "demo-mock-api", Origin: origin("templates/config.yaml")},
			{Kind: "ConfigMap", Name: "demo-mock-api", Origin: origin("templates/config.yaml")},
			{Kind: "Deployment", Name: "demo-mock-api", Origin: origin("templates/deployment.yaml")},
			{Kind: "Service", Name: "demo-mock-api", Origin: origin("templates/service.yaml")},
			{Kind: "ConfigMap", Name: "demo-mock-api-seed", Origin: origin("templates/hooks/post-install-seed.yaml"), HelmHooks: []string{"post-install"}},
			{Kind: "Job", Name: "demo-mock-api-cleanup", Origin: origin("templates/hooks/pre-delete-cleanup.yaml"), HelmHooks: []string{"pre-delete"}},
			{Kind: "Job", Name: "demo-mock-api-migrate", Origin: origin("templates/hooks/pre-install-migrate.yaml"), HelmHooks: []string{"pre-install", "pre-upgrade"}},
		}
		if diff := cmp.Diff(want, summarize(objs)); diff != "" {
			t.Errorf("objects (-want +got):\n%s", diff)
		}
	})

	t.Run("keeps hook objects whole, annotations included", func(t *testing.T) {
		job := find(t, objs, "Job", "demo-mock-api-migrate").Object
		want := map[string]string{
			"helm.sh/hook":               "pre-install,pre-upgrade",
			"helm.sh/hook-weight":        "-5",
			"helm.sh/hook-delete-policy": "before-hook-creation",
		}
		if diff := cmp.Diff(want, job.GetAnnotations()); diff != "" {
			t.Errorf("annotations (-want +got):\n%s", diff)
		}
	})

	t.Run("adds no namespace the templates do not set", func(t *testing.T) {
		got := map[string]string{}
		for _, o := range objs {
			got[o.Object.GetKind()+"/"+o.Object.GetName()] = o.Object.GetNamespace()
		}
		if got["Deployment/demo-mock-api"] != "shop" || got["Service/demo-mock-api"] != "" {
			t.Errorf("got namespaces %v, want shop only on the Deployment, whose template sets it", got)
		}
	})
}

func TestHelmRenderIsDeterministic(t *testing.T) {
	fsys := openRoot(t, "testdata")
	h := &Helm{}
	for _, path := range []string{"charts/mock-api", "charts/storefront"} {
		t.Run("renders "+path+" the same way every time", func(t *testing.T) {
			first, err := h.Render(context.Background(), Chart{FS: fsys, Path: path}, "demo", "shop", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			for range 10 {
				again, err := h.Render(context.Background(), Chart{FS: fsys, Path: path}, "demo", "shop", nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(first, again); diff != "" {
					t.Fatalf("second render differs (-first +again):\n%s", diff)
				}
			}
		})
	}
}

func TestHelmRenderKubeVersion(t *testing.T) {
	fsys := openRoot(t, "testdata")
	tests := []struct {
		name        string
		kubeVersion string
		want        string
	}{
		{name: "renders for v1.37.0 by default", want: "v1.37.0"},
		{name: "renders for the configured Kubernetes version", kubeVersion: "v1.33.4", want: "v1.33.4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &Helm{KubeVersion: tt.kubeVersion}
			objs, err := h.Render(context.Background(), Chart{FS: fsys, Path: "charts/mock-api"}, "demo", "shop", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			cm := find(t, objs, "ConfigMap", "demo-mock-api").Object
			if diff := cmp.Diff(tt.want, mustNested(t, cm.Object, "data", "KUBE_VERSION")); diff != "" {
				t.Errorf("KUBE_VERSION (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHelmRenderPackagedDependency(t *testing.T) {
	// The same chart as testdata/charts/storefront, with the cache
	// dependency packaged as charts/cache-0.1.0.tgz instead of a directory.
	repo := t.TempDir()
	chartDir := filepath.Join(repo, "storefront")
	if err := os.CopyFS(chartDir, os.DirFS("testdata/charts/storefront")); err != nil {
		t.Fatal(err)
	}
	cache, err := loader.LoadDir(filepath.Join(chartDir, "charts", "cache"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chartutil.Save(cache, filepath.Join(chartDir, "charts")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(chartDir, "charts", "cache")); err != nil {
		t.Fatal(err)
	}

	h := &Helm{}
	values := map[string]any{"cache": map[string]any{"maxMemory": "128mb"}}
	want, err := h.Render(context.Background(), Chart{FS: openRoot(t, "testdata"), Path: "charts/storefront"}, "web", "shop", values, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.Render(context.Background(), Chart{FS: openRoot(t, repo), Path: "storefront"}, "web", "shop", values, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("packaged dependency renders differently (-directory +packaged):\n%s", diff)
	}
}

func TestHelmRenderErrors(t *testing.T) {
	fsys := openRoot(t, "testdata")
	tests := []struct {
		name   string
		helm   Helm
		chart  Chart
		values map[string]any
		wantIs error
		want   []string
	}{
		{
			name:  "refuses a library chart",
			chart: Chart{FS: fsys, Path: "charts/library"},
			want:  []string{"render chart charts/library", "library is a library chart"},
		},
		{
			name:  "names missing dependencies and says how to fetch them",
			chart: Chart{FS: fsys, Path: "charts/missing-dependency"},
			want:  []string{"render chart charts/missing-dependency", "missing in charts/ directory: postgres", "helm dependency build"},
		},
		{
			name:  "reports a failing template with the chart",
			chart: Chart{FS: fsys, Path: "charts/required-value"},
			want:  []string{"render chart charts/required-value", "templates/secret.yaml", "set values.token to the API token"},
		},
		{
			name:   "renders a chart once the required value is given",
			chart:  Chart{FS: fsys, Path: "charts/required-value"},
			values: map[string]any{"token": "s3cr3t"},
		},
		{
			name:   "reports a chart directory that does not exist",
			chart:  Chart{FS: fsys, Path: "charts/absent"},
			wantIs: fs.ErrNotExist,
			want:   []string{"chart charts/absent: directory charts/absent does not exist"},
		},
		{
			name:  "reports a directory that is not a chart",
			chart: Chart{FS: fsys, Path: "manifests/good"},
			want:  []string{"chart manifests/good is not a valid chart", "Chart.yaml file is missing"},
		},
		{
			name:  "refuses a chart path that leaves the file system",
			chart: Chart{FS: fsys, Path: "../testdata/charts/mock-api"},
			want:  []string{"not a clean relative path inside the repository"},
		},
		{
			name:   "refuses a chart over the size limit",
			helm:   Helm{MaxChartBytes: 2048},
			chart:  Chart{FS: fsys, Path: "charts/mock-api"},
			wantIs: ErrLimitExceeded,
			want:   []string{"chart charts/mock-api", "more than 2048 bytes"},
		},
		{
			name:   "refuses a chart with more files than the limit",
			helm:   Helm{MaxChartFiles: 3},
			chart:  Chart{FS: fsys, Path: "charts/mock-api"},
			wantIs: ErrLimitExceeded,
			want:   []string{"chart charts/mock-api", "more than 3 files"},
		},
		{
			name:  "refuses a chart that is both local and remote",
			chart: Chart{FS: fsys, Path: "charts/mock-api", Repository: "https://charts.example.com", Name: "mock-api", Version: "0.1.0"},
			want:  []string{"set either FS and Path", "not both"},
		},
		{
			name:  "refuses a remote chart without a version",
			chart: Chart{Repository: "https://charts.example.com", Name: "mock-api"},
			want:  []string{"chart mock-api  from https://charts.example.com", "needs Repository, Name and Version"},
		},
		{
			name:  "refuses a repository that is not an HTTP or OCI URL",
			chart: Chart{Repository: "ftp://charts.example.com", Name: "mock-api", Version: "0.1.0"},
			want:  []string{"fetch chart mock-api 0.1.0 from ftp://charts.example.com", "must be an http://, https:// or oci:// URL"},
		},
		{
			name:  "refuses an invalid Kubernetes version",
			helm:  Helm{KubeVersion: "latest"},
			chart: Chart{FS: fsys, Path: "charts/mock-api"},
			want:  []string{`kube version "latest"`},
		},
		{
			name:  "refuses an invalid release name",
			chart: Chart{FS: fsys, Path: "charts/mock-api"},
			want:  []string{`release name "Not_Valid"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := "demo"
			if tt.name == "refuses an invalid release name" {
				release = "Not_Valid"
			}
			objs, err := tt.helm.Render(context.Background(), tt.chart, release, "shop", tt.values, nil)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				if len(objs) == 0 {
					t.Fatal("got no objects")
				}
				return
			}
			checkError(t, err, tt.want...)
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q is not %v", err, tt.wantIs)
			}
		})
	}
}

func TestHelmRenderChartFiles(t *testing.T) {
	// copyChart copies testdata/charts/mock-api into a new repository and
	// returns the repository and the chart's directory in it.
	copyChart := func(t *testing.T) (string, string) {
		repo := t.TempDir()
		chartDir := filepath.Join(repo, "mock-api")
		if err := os.CopyFS(chartDir, os.DirFS("testdata/charts/mock-api")); err != nil {
			t.Fatal(err)
		}
		return repo, chartDir
	}
	h := &Helm{}

	t.Run("refuses a template that links out of the repository", func(t *testing.T) {
		outside := t.TempDir()
		writeFile(t, filepath.Join(outside, "secret.yaml"), "apiVersion: v1\nkind: Secret\nmetadata:\n  name: outside\n")
		repo, chartDir := copyChart(t)
		if err := os.Symlink(filepath.Join(outside, "secret.yaml"), filepath.Join(chartDir, "templates", "leak.yaml")); err != nil {
			t.Fatal(err)
		}
		_, err := h.Render(context.Background(), Chart{FS: openRoot(t, repo), Path: "mock-api"}, "demo", "shop", nil, nil)
		checkError(t, err, "chart mock-api", "symlink mock-api/templates/leak.yaml cannot be followed")
	})

	t.Run("leaves out the files .helmignore lists", func(t *testing.T) {
		repo, chartDir := copyChart(t)
		if err := os.Remove(filepath.Join(chartDir, ".helmignore")); err != nil {
			t.Fatal(err)
		}
		// Without .helmignore, templates/deployment.yaml.bak is rendered and fails.
		_, err := h.Render(context.Background(), Chart{FS: openRoot(t, repo), Path: "mock-api"}, "demo", "shop", nil, nil)
		checkError(t, err, "templates/deployment.yaml.bak is listed in .helmignore")
	})
}

func mustNested(t *testing.T, obj map[string]any, fields ...string) any {
	t.Helper()
	v, ok, err := unstructured.NestedFieldNoCopy(obj, fields...)
	if err != nil || !ok {
		t.Fatalf("no field %v: %v", fields, err)
	}
	return v
}

func BenchmarkHelmRenderLocalChart(b *testing.B) {
	fsys := openRoot(b, "testdata")
	h := &Helm{}
	values := map[string]any{"replicaCount": 2}
	for b.Loop() {
		if _, err := h.Render(context.Background(), Chart{FS: fsys, Path: "charts/mock-api"}, "demo", "shop", values, nil); err != nil {
			b.Fatal(err)
		}
	}
}
