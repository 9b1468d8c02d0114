package load

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/allot-dev/allot/environments"
	"github.com/allot-dev/allot/internal/testfs"
)

func write(t *testing.T, root, rel, content string) {
	t.Helper()
	testfs.WriteFile(t, filepath.Join(root, rel), content)
}

const minimalPlatform = `apiVersion: allot.dev/v1alpha1
kind: Platform
metadata: {name: acme}
spec:
  clusters: [{name: dev, inCluster: true}]
  sizes: {small: {quota: {pods: 10}}}
`

func request(name string) string {
	return "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: " + name + "}\nspec: {type: namespace, owner: a@acme.example, team: web, cluster: dev}\n"
}

func TestLoadExampleRepository(t *testing.T) {
	repo, err := Load(filepath.Join("..", "..", "examples", "requests"), Options{Builtin: environments.Templates()})
	if err != nil {
		t.Fatal(err)
	}
	if len(repo.Problems) != 0 {
		t.Fatalf("problems: %v", repo.Problems)
	}
	if repo.Platform == nil || len(repo.Platform.Platform.Spec.Clusters) != 3 {
		t.Fatalf("platform not loaded with its 3 clusters")
	}
	var names []string
	for _, ef := range repo.Environments {
		names = append(names, ef.Environment.Metadata.Name)
	}
	if got := strings.Join(names, " "); got != "checkout-dev ledger-vc payments-ecs indexer-ecs relevance-vc search-sandbox" {
		t.Errorf("environments in file order = %s", got)
	}
	for _, typ := range []string{"namespace", "vcluster", "ecs"} {
		if tf := repo.Templates[typ]; tf == nil || !tf.Builtin {
			t.Errorf("built-in template %s not loaded", typ)
		}
	}
}

// PlatformOnly reads allot.yaml and nothing else: a broken request is not
// even opened.
func TestLoadPlatformOnly(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(filepath.Join("..", "..", "examples", "requests"))); err != nil {
		t.Fatal(err)
	}
	testfs.WriteFile(t, filepath.Join(root, "environments", "web", "broken.yaml"), "spec: [")
	repo, err := Load(root, Options{PlatformOnly: true, Builtin: environments.Templates()})
	if err != nil {
		t.Fatal(err)
	}
	if repo.Platform == nil || len(repo.Platform.Platform.Spec.Clusters) != 3 {
		t.Fatalf("platform not loaded with its 3 clusters")
	}
	if len(repo.Environments) != 0 || len(repo.Templates) != 0 || len(repo.Problems) != 0 {
		t.Fatalf("PlatformOnly read %d requests, %d templates and found %v; want none", len(repo.Environments), len(repo.Templates), repo.Problems)
	}
}

func TestLoadRepositoryTemplatesOverrideBuiltIns(t *testing.T) {
	root := t.TempDir()
	write(t, root, "allot.yaml", minimalPlatform)
	write(t, root, "templates/namespace/template.yaml", "apiVersion: allot.dev/v1alpha1\nkind: EnvironmentTemplate\nmetadata: {name: namespace}\nspec: {description: ours}\n")
	write(t, root, "templates/postgres/template.yaml", "apiVersion: allot.dev/v1alpha1\nkind: EnvironmentTemplate\nmetadata: {name: postgres}\nspec: {}\n")
	write(t, root, "templates/misnamed/template.yaml", "apiVersion: allot.dev/v1alpha1\nkind: EnvironmentTemplate\nmetadata: {name: other}\nspec: {}\n")
	builtin := fstest.MapFS{"namespace/template.yaml": {Data: []byte("apiVersion: allot.dev/v1alpha1\nkind: EnvironmentTemplate\nmetadata: {name: namespace}\nspec: {description: built-in}\n")}}
	repo, err := Load(root, Options{Builtin: builtin})
	if err != nil {
		t.Fatal(err)
	}
	if tf := repo.Templates["namespace"]; tf == nil || tf.Builtin || tf.Template.Spec.Description != "ours" {
		t.Errorf("namespace template = %+v, want the repository's", tf)
	}
	if repo.Templates["postgres"] == nil {
		t.Error("a new type from templates/ was not loaded")
	}
	if repo.Templates["misnamed"] != nil || repo.Templates["other"] != nil {
		t.Error("a template whose name does not match its directory was loaded")
	}
	if len(repo.Problems) != 1 || !strings.Contains(repo.Problems[0].String(), `templates/misnamed/template.yaml:3: template name "other" does not match its directory "misnamed"`) {
		t.Errorf("problems = %v", repo.Problems)
	}
}

func TestLoadWalksEnvironmentsSafely(t *testing.T) {
	root := t.TempDir()
	write(t, root, "allot.yaml", minimalPlatform)
	write(t, root, "environments/web/a.yaml", request("a"))
	write(t, root, "environments/web/deep/b.yml", request("b"))
	write(t, root, "environments/web/README.md", "not a request")
	write(t, root, ".hidden/x.yaml", "ignored: true")
	write(t, root, "environments/.drafts/c.yaml", "not: read")
	repo, err := Load(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(repo.Problems) != 0 || len(repo.Environments) != 2 {
		t.Errorf("got %d environments and problems %v, want a and b and no problems", len(repo.Environments), repo.Problems)
	}

	t.Run("stops at the file limit", func(t *testing.T) {
		repo, err := Load(root, Options{MaxFiles: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(repo.Environments) != 1 || len(repo.Problems) != 1 || !strings.Contains(repo.Problems[0].Message, "more than 1 request files") {
			t.Errorf("environments %d, problems %v", len(repo.Environments), repo.Problems)
		}
	})
}

func TestLoadRefusesWhatIsNotARepository(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing"), Options{}); err == nil {
		t.Error("loading a missing folder succeeded")
	}
	f := filepath.Join(t.TempDir(), "file")
	write(t, filepath.Dir(f), "file", "x")
	if _, err := Load(f, Options{}); err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Errorf("loading a file: %v", err)
	}
}

func TestLoadRefusesLinks(t *testing.T) {
	const ours = "apiVersion: allot.dev/v1alpha1\nkind: EnvironmentTemplate\nmetadata: {name: namespace}\nspec: {description: from outside}\n"
	builtin := fstest.MapFS{"namespace/template.yaml": {Data: []byte("apiVersion: allot.dev/v1alpha1\nkind: EnvironmentTemplate\nmetadata: {name: namespace}\nspec: {description: built-in}\n")}}
	link := func(t *testing.T, target, name string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, name); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		// make builds the repository in root; outside is a folder
		// beside it.
		make func(t *testing.T, root, outside string)
		file string // the file or folder the problem names
	}{
		{"a linked templates/ folder", func(t *testing.T, root, outside string) {
			write(t, outside, "namespace/template.yaml", ours)
			link(t, outside, filepath.Join(root, "templates"))
		}, "templates"},
		{"a linked templates/ folder that stays inside the repository", func(t *testing.T, root, _ string) {
			write(t, root, "shared/namespace/template.yaml", ours)
			link(t, "shared", filepath.Join(root, "templates"))
		}, "templates"},
		{"a linked template folder", func(t *testing.T, root, outside string) {
			write(t, outside, "namespace/template.yaml", ours)
			link(t, filepath.Join(outside, "namespace"), filepath.Join(root, "templates", "namespace"))
		}, "templates/namespace"},
		{"a linked template file", func(t *testing.T, root, outside string) {
			write(t, outside, "template.yaml", ours)
			link(t, filepath.Join(outside, "template.yaml"), filepath.Join(root, "templates", "namespace", "template.yaml"))
		}, "templates/namespace/template.yaml"},
		{"a linked environments/ folder", func(t *testing.T, root, outside string) {
			write(t, outside, "web/a.yaml", request("a"))
			link(t, outside, filepath.Join(root, "environments"))
		}, "environments"},
		{"a linked team folder", func(t *testing.T, root, outside string) {
			write(t, outside, "a.yaml", request("a"))
			link(t, outside, filepath.Join(root, "environments", "web"))
		}, "environments/web"},
		{"a linked allot.yaml", func(t *testing.T, root, outside string) {
			write(t, outside, "allot.yaml", minimalPlatform)
			link(t, filepath.Join(outside, "allot.yaml"), filepath.Join(root, "allot.yaml"))
		}, "allot.yaml"},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			dir := t.TempDir()
			root, outside := filepath.Join(dir, "repo"), filepath.Join(dir, "outside")
			if tc.file != "allot.yaml" {
				write(t, root, "allot.yaml", minimalPlatform)
			}
			tc.make(t, root, outside)
			repo, err := Load(root, Options{Builtin: builtin})
			if err != nil {
				t.Fatal(err)
			}
			if len(repo.Problems) != 1 || repo.Problems[0].File != tc.file || !strings.Contains(repo.Problems[0].Message, "is a symbolic link") {
				t.Fatalf("problems = %v, want one naming %s as a symbolic link", repo.Problems, tc.file)
			}
			if tf := repo.Templates["namespace"]; tf == nil || !tf.Builtin {
				t.Errorf("namespace template = %+v, want the built-in one", tf)
			}
			if len(repo.Environments) != 0 {
				t.Errorf("loaded %d environments through a link", len(repo.Environments))
			}
			if tc.file == "allot.yaml" && repo.Platform != nil {
				t.Error("loaded allot.yaml through a link")
			}
		})
	}
}
