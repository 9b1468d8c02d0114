package sources

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/allot-dev/allot/internal/testfs"
	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestManifests(t *testing.T) {
	fsys := openRoot(t, "testdata")

	t.Run("reads every manifest file in path order, splitting documents and expanding lists", func(t *testing.T) {
		objs, err := Manifests(fsys, "manifests/good", nil)
		if err != nil {
			t.Fatal(err)
		}
		want := []summary{
			{Kind: "Namespace", Name: "shop", Origin: "manifests/good/00-namespace.yaml"},
			{Kind: "ConfigMap", Name: "app-config", Origin: "manifests/good/app.yaml"},
			{Kind: "Deployment", Name: "app", Origin: "manifests/good/app.yaml"},
			{Kind: "ServiceAccount", Name: "app", Origin: "manifests/good/list.yaml"},
			{Kind: "Role", Name: "app-reader", Origin: "manifests/good/list.yaml"},
			{Kind: "Secret", Name: "app-credentials", Origin: "manifests/good/nested/deep/secret.json"},
			{Kind: "Service", Name: "app", Origin: "manifests/good/nested/service.yml"},
		}
		if diff := cmp.Diff(want, summarize(objs)); diff != "" {
			t.Errorf("objects (-want +got):\n%s", diff)
		}
		checkGolden(t, "manifests", objs)
	})

	t.Run("returns objects as written, without defaulting the namespace", func(t *testing.T) {
		objs, err := Manifests(fsys, "manifests/good", nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if ns := o.Object.GetNamespace(); ns != "" {
				t.Errorf("%s %s got namespace %q, want none", o.Object.GetKind(), o.Object.GetName(), ns)
			}
		}
		deploy := find(t, objs, "Deployment", "app")
		replicas, _, _ := unstructured.NestedInt64(deploy.Object.Object, "spec", "replicas")
		if replicas != 3 {
			t.Errorf("got replicas %d, want 3 as an int64 like the API machinery decodes it", replicas)
		}
	})

	t.Run("reads a directory at the root of the file system", func(t *testing.T) {
		objs, err := Manifests(openRoot(t, "testdata/manifests/good/nested"), ".", nil)
		if err != nil {
			t.Fatal(err)
		}
		want := []summary{
			{Kind: "Secret", Name: "app-credentials", Origin: "deep/secret.json"},
			{Kind: "Service", Name: "app", Origin: "service.yml"},
		}
		if diff := cmp.Diff(want, summarize(objs)); diff != "" {
			t.Errorf("objects (-want +got):\n%s", diff)
		}
	})
}

func TestManifestsErrors(t *testing.T) {
	fsys := openRoot(t, "testdata")
	tests := []struct {
		name   string
		dir    string
		limits treeLimits
		wantIs error
		want   []string
	}{
		{
			name: "names the file and document number of invalid YAML",
			dir:  "manifests/broken",
			want: []string{"manifest manifests/broken/app.yaml, document 2", "invalid YAML"},
		},
		{
			name: "refuses a document without a kind",
			dir:  "manifests/no-kind",
			want: []string{"manifests/no-kind/app.yaml, document 1", "object has no kind"},
		},
		{
			name: "refuses a document that is not a mapping",
			dir:  "manifests/not-an-object",
			want: []string{"manifests/not-an-object/app.yaml, document 1", "document is a list, not a Kubernetes object"},
		},
		{
			name: "names the list item that is invalid",
			dir:  "manifests/bad-list",
			want: []string{"manifests/bad-list/list.yaml, document 1", "List item 2", "has no metadata.name"},
		},
		{
			name:   "reports a directory that does not exist",
			dir:    "manifests/absent",
			wantIs: fs.ErrNotExist,
			want:   []string{"read manifests in manifests/absent: directory manifests/absent does not exist"},
		},
		{
			name: "refuses a path that leaves the file system",
			dir:  "../testdata",
			want: []string{"not a clean relative path"},
		},
		{
			name:   "refuses a file over the size limit",
			dir:    "manifests/good",
			limits: treeLimits{maxFiles: 100, maxBytes: 1 << 20, maxFileBytes: 100},
			wantIs: ErrLimitExceeded,
			want:   []string{"manifests/good/app.yaml is 561 bytes", "more than the limit of 100 bytes"},
		},
		{
			name:   "refuses more files than the limit",
			dir:    "manifests/good",
			limits: treeLimits{maxFiles: 2, maxBytes: 1 << 20, maxFileBytes: 1 << 20},
			wantIs: ErrLimitExceeded,
			want:   []string{"more than 2 files"},
		},
		{
			name:   "refuses more bytes than the limit",
			dir:    "manifests/good",
			limits: treeLimits{maxFiles: 100, maxBytes: 600, maxFileBytes: 1 << 20},
			wantIs: ErrLimitExceeded,
			want:   []string{"holds more than 600 bytes"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := tt.limits
			if lim == (treeLimits{}) {
				lim = treeLimits{maxFiles: MaxManifestFiles, maxBytes: MaxManifestBytes, maxFileBytes: MaxManifestFileBytes}
			}
			_, err := manifests(fsys, tt.dir, nil, lim)
			checkError(t, err, tt.want...)
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q is not %v", err, tt.wantIs)
			}
		})
	}
}

func TestManifestsSymlinks(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.yaml")
	writeFile(t, secret, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: outside\n")

	repo := t.TempDir()
	writeFile(t, filepath.Join(repo, "m", "cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: inside\n")
	if err := os.Symlink("cm.yaml", filepath.Join(repo, "m", "link.yaml")); err != nil {
		t.Fatal(err)
	}

	t.Run("follows a symlink to a file inside the repository", func(t *testing.T) {
		objs, err := Manifests(openRoot(t, repo), "m", nil)
		if err != nil {
			t.Fatal(err)
		}
		want := []summary{
			{Kind: "ConfigMap", Name: "inside", Origin: "m/cm.yaml"},
			{Kind: "ConfigMap", Name: "inside", Origin: "m/link.yaml"},
		}
		if diff := cmp.Diff(want, summarize(objs)); diff != "" {
			t.Errorf("objects (-want +got):\n%s", diff)
		}
	})

	t.Run("refuses a symlink out of the repository", func(t *testing.T) {
		if err := os.Symlink(secret, filepath.Join(repo, "m", "leak.yaml")); err != nil {
			t.Fatal(err)
		}
		objs, err := Manifests(openRoot(t, repo), "m", nil)
		checkError(t, err, "symlink m/leak.yaml cannot be followed")
		if objs != nil {
			t.Errorf("got objects %v, want none", summarize(objs))
		}
	})
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	testfs.WriteFile(t, name, content)
}
