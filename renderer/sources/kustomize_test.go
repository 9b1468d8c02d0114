package sources

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestKustomize(t *testing.T) {
	fsys := openRoot(t, "testdata/kustomize")
	tests := []struct {
		name   string
		dir    string
		golden string
		want   []summary
	}{
		{
			name:   "builds a base in the order of its resources",
			dir:    "base",
			golden: "kustomize-base",
			want: []summary{
				{Kind: "Deployment", Name: "web", Origin: "kustomization base"},
				{Kind: "Service", Name: "web", Origin: "kustomization base"},
			},
		},
		{
			name:   "builds an overlay that patches its base with strategic merge and JSON 6902 patches",
			dir:    "overlays/dev",
			golden: "kustomize-overlay",
			want: []summary{
				{Kind: "Deployment", Name: "dev-web", Origin: "kustomization overlays/dev"},
				{Kind: "Service", Name: "dev-web", Origin: "kustomization overlays/dev"},
				{Kind: "ConfigMap", Name: "dev-web-config", Origin: "kustomization overlays/dev"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Kustomize(fsys, tt.dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, summarize(objs)); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
			checkGolden(t, tt.golden, objs)
		})
	}

	t.Run("builds a kustomization at the root of the file system", func(t *testing.T) {
		objs, err := Kustomize(openRoot(t, "testdata/kustomize/base"), ".", nil)
		if err != nil {
			t.Fatal(err)
		}
		want := []summary{
			{Kind: "Deployment", Name: "web", Origin: "kustomization ."},
			{Kind: "Service", Name: "web", Origin: "kustomization ."},
		}
		if diff := cmp.Diff(want, summarize(objs)); diff != "" {
			t.Errorf("objects (-want +got):\n%s", diff)
		}
	})

	t.Run("applies each kind of patch", func(t *testing.T) {
		objs, err := Kustomize(fsys, "overlays/dev", nil)
		if err != nil {
			t.Fatal(err)
		}
		deploy := find(t, objs, "Deployment", "dev-web").Object.Object
		container := mustNested(t, deploy, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
		svc := find(t, objs, "Service", "dev-web").Object.Object
		got := map[string]any{
			"replicas (strategic merge)":   mustNested(t, deploy, "spec", "replicas"),
			"env (strategic merge)":        container["env"],
			"image (JSON 6902 file)":       container["image"],
			"args (JSON 6902 file)":        container["args"],
			"service port (inline 6902)":   mustNested(t, svc, "spec", "ports").([]any)[0].(map[string]any)["port"],
			"config (generator from file)": mustNested(t, find(t, objs, "ConfigMap", "dev-web-config").Object.Object, "data", "app.properties"),
		}
		want := map[string]any{
			"replicas (strategic merge)":   int64(2),
			"env (strategic merge)":        []any{map[string]any{"name": "LOG_LEVEL", "value": "debug"}},
			"image (JSON 6902 file)":       "ghcr.io/allot-dev/web:1.1.0-dev",
			"args (JSON 6902 file)":        []any{"--dev"},
			"service port (inline 6902)":   int64(8080),
			"config (generator from file)": "feature.search=true\n",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("patched fields (-want +got):\n%s", diff)
		}
	})

	t.Run("adds no namespace and no managed-by label", func(t *testing.T) {
		objs, err := Kustomize(fsys, "overlays/dev", nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if o.Object.GetNamespace() != "" || o.Object.GetLabels()["app.kubernetes.io/managed-by"] != "" {
				t.Errorf("%s %s got namespace %q and labels %v, want neither", o.Object.GetKind(), o.Object.GetName(), o.Object.GetNamespace(), o.Object.GetLabels())
			}
		}
	})
}

func TestKustomizeErrors(t *testing.T) {
	fsys := openRoot(t, "testdata/kustomize")
	tests := []struct {
		name   string
		dir    string
		wantIs error
		want   []string
	}{
		{
			name:   "refuses a resource outside the repository",
			dir:    "errors/outside-repository",
			wantIs: ErrOutsideRepository,
			want:   []string{"kustomization errors/outside-repository", "errors/outside-repository/kustomization.yaml", `resources entry "../../../manifests/good"`, "only files of the repository can be used"},
		},
		{
			name:   "refuses a generator file outside the repository",
			dir:    "errors/outside-generator-file",
			wantIs: ErrOutsideRepository,
			want:   []string{`configMapGenerator entry "../../../../../etc/hosts"`},
		},
		{
			name:   "refuses an absolute path",
			dir:    "errors/absolute-path",
			wantIs: ErrOutsideRepository,
			want:   []string{`resources entry "/etc/hostname"`, "absolute paths are not allowed"},
		},
		{
			name:   "refuses a remote base by URL",
			dir:    "errors/remote-url",
			wantIs: ErrRemoteResource,
			want:   []string{`resources entry "https://github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v5.4.3"`, "copy it into the repository"},
		},
		{
			name:   "refuses a remote base in GitHub shorthand",
			dir:    "errors/github-shorthand",
			wantIs: ErrRemoteResource,
			want:   []string{`resources entry "github.com/kubernetes-sigs/kustomize/examples/helloWorld?ref=v5.4.3"`},
		},
		{
			name:   "refuses a remote patch file",
			dir:    "errors/remote-patch",
			wantIs: ErrRemoteResource,
			want:   []string{`patches entry "https://example.com/patch.yaml"`},
		},
		{
			name:   "refuses a remote base in a base the overlay uses",
			dir:    "errors/remote-in-base/overlay",
			wantIs: ErrRemoteResource,
			want:   []string{"kustomization errors/remote-in-base/overlay", "errors/remote-in-base/base/kustomization.yaml", `"git@github.com:allot-dev/manifests.git//web?ref=main"`},
		},
		{
			name:   "refuses Helm charts inside a kustomization",
			dir:    "errors/helm-charts",
			wantIs: ErrHelmInKustomize,
			want:   []string{"errors/helm-charts/kustomization.yaml", "render the chart as a Helm source"},
		},
		{
			name: "reports a missing resource with kustomize's own error",
			dir:  "errors/missing-resource",
			want: []string{"kustomization errors/missing-resource", "deployment.yaml"},
		},
		{
			name: "reports a directory without a kustomization",
			dir:  "base-missing",
			want: []string{"kustomization base-missing: the directory holds none of kustomization.yaml, kustomization.yml, Kustomization"},
		},
		{
			name: "refuses a directory path that leaves the file system",
			dir:  "../kustomize/base",
			want: []string{"not a clean relative path"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Kustomize(fsys, tt.dir, nil)
			checkError(t, err, tt.want...)
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q is not %v", err, tt.wantIs)
			}
			if objs != nil {
				t.Errorf("got objects %v, want none", summarize(objs))
			}
		})
	}
}

func TestKustomizeRepositoryCopy(t *testing.T) {
	// A repository with the base, a .git directory and a symlink that
	// leaves the repository.
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "secret.yaml"), "apiVersion: v1\nkind: Secret\nmetadata:\n  name: outside\n")
	repo := t.TempDir()
	if err := os.CopyFS(filepath.Join(repo, "base"), os.DirFS("testdata/kustomize/base")); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		writeFile(t, filepath.Join(repo, ".git", "objects", strings.Repeat("a", i+1)), strings.Repeat("x", 4096))
	}
	writeFile(t, filepath.Join(repo, "leaky", "kustomization.yaml"), "resources:\n  - secret.yaml\n")
	if err := os.Symlink(filepath.Join(outside, "secret.yaml"), filepath.Join(repo, "leaky", "secret.yaml")); err != nil {
		t.Fatal(err)
	}
	fsys := openRoot(t, repo)
	lim := func(files int, bytes int64) treeLimits {
		return treeLimits{maxFiles: files, maxBytes: bytes, maxFileBytes: bytes}
	}

	t.Run("leaves .git out of the copy and its limits", func(t *testing.T) {
		// base has 3 files and leaky 1; .git would add 5 files and 20 KiB.
		objs, err := kustomize(fsys, "base", nil, lim(4, 4096))
		if err != nil {
			t.Fatal(err)
		}
		if len(objs) != 2 {
			t.Errorf("got %d objects, want 2", len(objs))
		}
	})

	t.Run("refuses a repository with more files than the limit", func(t *testing.T) {
		_, err := kustomize(fsys, "base", nil, lim(3, 1<<20))
		checkError(t, err, "kustomization base: copy repository", "more than 3 files")
		if !errors.Is(err, ErrLimitExceeded) {
			t.Errorf("error %q is not ErrLimitExceeded", err)
		}
	})

	t.Run("refuses a repository with more bytes than the limit", func(t *testing.T) {
		_, err := kustomize(fsys, "base", nil, treeLimits{maxFiles: 100, maxBytes: 400, maxFileBytes: 1 << 20})
		checkError(t, err, "kustomization base: copy repository", "holds more than 400 bytes")
		if !errors.Is(err, ErrLimitExceeded) {
			t.Errorf("error %q is not ErrLimitExceeded", err)
		}
	})

	t.Run("cannot read a file through a symlink out of the repository", func(t *testing.T) {
		objs, err := Kustomize(fsys, "leaky", nil)
		checkError(t, err, "kustomization leaky", "secret.yaml")
		for _, o := range objs {
			if o.Object.GetName() == "outside" {
				t.Errorf("read %s from outside the repository", o.Object.GetName())
			}
		}
	})
}

func TestLooksRemote(t *testing.T) {
	tests := []struct {
		entry string
		want  bool
	}{
		{"../base", false},
		{"deployment.yaml", false},
		{"overlays/github.com-mirror", false},
		{"config/app@v1.properties", false},
		{"https://example.com/deployment.yaml", true},
		{"HTTP://example.com/deployment.yaml", true},
		{"ssh://git@example.com/repo.git", true},
		{"file:///srv/git/repo.git", true},
		{"git::https://example.com/repo.git", true},
		{"github.com/org/repo/path?ref=v1", true},
		{"github.com:org/repo", true},
		{"git@gitlab.com:org/repo.git//path", true},
	}
	for _, tt := range tests {
		name := "treats " + tt.entry + " as local"
		if tt.want {
			name = "treats " + tt.entry + " as remote"
		}
		t.Run(name, func(t *testing.T) {
			if got := looksRemote(tt.entry); got != tt.want {
				t.Errorf("looksRemote(%q) = %v, want %v", tt.entry, got, tt.want)
			}
		})
	}
}
