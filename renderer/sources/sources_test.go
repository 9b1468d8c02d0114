package sources

import (
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/allot-dev/allot/internal/testfs"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite golden files")

// openRoot returns dir as an fs.FS from os.Root, as the renderer gets the
// requests repository.
func openRoot(t testing.TB, dir string) fs.FS {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root.FS()
}

// checkGolden compares objs, written as YAML, with testdata/golden/<name>.yaml,
// or rewrites that file when the -update flag is set.
func checkGolden(t *testing.T, name string, objs []Object) {
	t.Helper()
	testfs.Golden(t, filepath.Join("testdata", "golden", name+".yaml"), []byte(goldenYAML(t, objs)), *update)
}

// goldenYAML writes objects as a YAML stream, each with its origin and hook
// events as comments.
func goldenYAML(t *testing.T, objs []Object) string {
	t.Helper()
	var b strings.Builder
	for i, o := range objs {
		if i > 0 {
			b.WriteString("---\n")
		}
		b.WriteString("# origin: " + o.Origin + "\n")
		if o.HelmHooks != nil {
			b.WriteString("# helm hooks: " + strings.Join(o.HelmHooks, ", ") + "\n")
		}
		data, err := yaml.Marshal(o.Object.Object)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}

// summary is what tests compare of an Object when a golden file would say
// too much.
type summary struct {
	Kind, Name, Origin string
	HelmHooks          []string
}

func summarize(objs []Object) []summary {
	out := make([]summary, 0, len(objs))
	for _, o := range objs {
		out = append(out, summary{Kind: o.Object.GetKind(), Name: o.Object.GetName(), Origin: o.Origin, HelmHooks: o.HelmHooks})
	}
	return out
}

// find returns the object of kind and name, failing the test when there is none.
func find(t *testing.T, objs []Object, kind, name string) Object {
	t.Helper()
	for _, o := range objs {
		if o.Object.GetKind() == kind && o.Object.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s among %v", kind, name, summarize(objs))
	return Object{}
}

// checkError fails the test unless err is set and mentions every part of want.
func checkError(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one mentioning %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}
