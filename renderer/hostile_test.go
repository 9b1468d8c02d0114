package renderer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/allot-dev/allot/environments"
	"github.com/allot-dev/allot/renderer/sources"
	"github.com/allot-dev/allot/schemas/load"
)

// hostileCaseEnv makes the test binary render one hostile case and exit,
// so that BenchmarkHostileCorpus can measure each case's peak memory in a
// process of its own.
const hostileCaseEnv = "ALLOT_TEST_HOSTILE_CASE"

// hostileCase is one resource bomb a pull request can bring: the files it
// adds to a requests repository, the add-on of its request that uses them,
// and what the refusal must say.
type hostileCase struct {
	name  string
	files func() map[string][]byte
	addon string // the request's spec.addons entry, as YAML flow
	// timeout overrides the sandbox's deadline in TestHostileCorpus; the
	// benchmark keeps the default, as allot does.
	timeout time.Duration
	want    []string
	wantIs  error
}

// billionLaughs is a 2 KB kustomize resource whose aliases expand to
// 10^9 strings.
func billionLaughs() []byte {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lol\ndata:\n  a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		fmt.Fprintf(&b, "  %s: &%s [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n", n, n, prev, prev, prev, prev, prev, prev, prev, prev, prev, prev)
		prev = n
	}
	return []byte(b.String())
}

func chartFiles(dir string, templates map[string]string) map[string][]byte {
	files := map[string][]byte{
		dir + "/Chart.yaml":  []byte("apiVersion: v2\nname: bomb\nversion: 0.1.0\n"),
		dir + "/values.yaml": []byte("{}\n"),
	}
	for name, text := range templates {
		files[dir+"/templates/"+name] = []byte(text)
	}
	return files
}

// subchartArchive is a chart archive of about 0.1 MB that unpacks to 95 MiB.
func subchartArchive(name string) []byte {
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(gz)
	add := func(file string, data []byte) {
		_ = tw.WriteHeader(&tar.Header{Name: name + "/" + file, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		_, _ = tw.Write(data)
	}
	add("Chart.yaml", []byte("apiVersion: v2\nname: "+name+"\nversion: 0.1.0\n"))
	zeros := make([]byte, 5<<20-1) // Helm's own limit is 5 MiB per file
	for i := range 19 {
		add(fmt.Sprintf("files/blob-%d", i), zeros)
	}
	_ = tw.Close()
	_ = gz.Close()
	return buf.Bytes()
}

// manyDocuments is n ConfigMaps, one YAML document each, spread over files
// of at most 7 MiB (under the 8 MiB a manifest file may have).
func manyDocuments(dir string, n int) map[string][]byte {
	files := map[string][]byte{}
	var b bytes.Buffer
	flush := func() {
		files[fmt.Sprintf("%s/docs-%d.yaml", dir, len(files))] = bytes.Clone(b.Bytes())
		b.Reset()
	}
	for i := range n {
		fmt.Fprintf(&b, "---\n{apiVersion: v1, kind: ConfigMap, metadata: {name: c%d}}\n", i)
		if b.Len() > 7<<20 {
			flush()
		}
	}
	flush()
	return files
}

// wideDocument is one custom resource of about 7 MiB whose spec is a flow
// sequence of 3.5 million one-digit numbers: the most YAML nodes per byte.
func wideDocument() []byte {
	var b bytes.Buffer
	b.WriteString("apiVersion: example.com/v1\nkind: Wide\nmetadata: {name: wide}\nspec:\n  items: [")
	b.WriteString(strings.Repeat("1,", 7<<19))
	b.WriteString("1]\n")
	return b.Bytes()
}

func hostileCases() []hostileCase {
	return []hostileCase{
		{
			name: "alias bomb in a kustomize resource",
			files: func() map[string][]byte {
				return map[string][]byte{
					"addons/lol/kustomization.yaml": []byte("resources: [lol.yaml]\n"),
					"addons/lol/lol.yaml":           billionLaughs(),
				}
			},
			addon: "{name: lol, kustomize: {path: addons/lol}}",
			want:  []string{`add-on "lol"`, "addons/lol/lol.yaml: line 6: YAML anchors and aliases (&a) are not allowed"},
		},
		{
			name:  "alias bomb in a manifest",
			files: func() map[string][]byte { return map[string][]byte{"addons/lol/lol.yaml": billionLaughs()} },
			addon: "{name: lol, manifests: {path: addons/lol}}",
			want:  []string{`add-on "lol"`, "manifest addons/lol/lol.yaml, document 1: line 6: YAML anchors and aliases (&a)"},
		},
		{
			name: "alias bomb in a chart's values.yaml",
			files: func() map[string][]byte {
				f := chartFiles("charts/bomb", map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"})
				f["charts/bomb/values.yaml"] = billionLaughs()
				return f
			},
			addon: "{name: bomb, helm: {path: charts/bomb}}",
			want:  []string{`add-on "bomb"`, "values.yaml: line 6: YAML anchors and aliases (&a)"},
		},
		{
			name: "helm range until 1500000000",
			files: func() map[string][]byte {
				return chartFiles("charts/bomb", map[string]string{"loop.yaml": "{{ range until 1500000000 }}x{{ end }}\n"})
			},
			addon:  "{name: bomb, helm: {path: charts/bomb}}",
			want:   []string{`add-on "bomb"`, "templates used more than 192 MiB"},
			wantIs: sources.ErrRenderMemory,
		},
		{
			name: "helm loop that only burns CPU",
			files: func() map[string][]byte {
				return chartFiles("charts/bomb", map[string]string{"loop.yaml": "{{ range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}\n"})
			},
			addon:   "{name: bomb, helm: {path: charts/bomb}}",
			timeout: 2 * time.Second,
			want:    []string{`add-on "bomb"`, "templates ran longer than "},
			wantIs:  sources.ErrRenderTimeout,
		},
		{
			name: "helm repeat 100000000",
			files: func() map[string][]byte {
				return chartFiles("charts/bomb", map[string]string{"big.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  x: {{ repeat 100000000 \"x\" | quote }}\n"})
			},
			addon:  "{name: bomb, helm: {path: charts/bomb}}",
			want:   []string{`add-on "bomb"`},
			wantIs: sources.ErrLimitExceeded,
		},
		{
			name: "chart emitting 200,000 ConfigMaps",
			files: func() map[string][]byte {
				return chartFiles("charts/bomb", map[string]string{"many.yaml": "{{ range until 200000 }}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-{{ . }}}\n{{ end }}"})
			},
			// Helm parses and sorts every document before it returns, so
			// the sandbox's deadline or its memory limit stops this one,
			// whichever comes first.
			addon:  "{name: bomb, helm: {path: charts/bomb}}",
			want:   []string{`add-on "bomb"`, "render chart charts/bomb: rendering "},
			wantIs: sources.ErrLimitExceeded,
		},
		{
			name: "ten subchart archives unpacking to 950 MiB",
			files: func() map[string][]byte {
				f := chartFiles("charts/bomb", map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"})
				archive := subchartArchive("sub")
				for i := range 10 {
					f[fmt.Sprintf("charts/bomb/charts/sub-%d.tgz", i)] = archive
				}
				return f
			},
			addon:  "{name: bomb, helm: {path: charts/bomb}}",
			want:   []string{`add-on "bomb"`, "subchart archive charts/sub-0.tgz: unpacks to more than the limit of"},
			wantIs: sources.ErrLimitExceeded,
		},
		{
			name:  "7 MiB document of 3.5 million numbers in manifests",
			files: func() map[string][]byte { return map[string][]byte{"addons/wide/wide.yaml": wideDocument()} },
			addon: "{name: wide, manifests: {path: addons/wide}}",
			want:  []string{`add-on "wide"`, "manifest addons/wide/wide.yaml, document 1: holds more than 500000 YAML values", "raise policy.bundles.maxObjects"},
		},
		{
			name: "7 MiB document of 3.5 million numbers in a kustomization",
			files: func() map[string][]byte {
				return map[string][]byte{
					"addons/wide/kustomization.yaml": []byte("resources: [wide.yaml]\n"),
					"addons/wide/wide.yaml":          wideDocument(),
				}
			},
			addon: "{name: wide, kustomize: {path: addons/wide}}",
			want:  []string{`add-on "wide"`, "addons/wide/wide.yaml: holds more than 500000 YAML values", "raise policy.bundles.maxObjects"},
		},
		{
			name:  "600,000 YAML documents in manifests",
			files: func() map[string][]byte { return manyDocuments("addons/docs", 600000) },
			addon: "{name: docs, manifests: {path: addons/docs}}",
			want:  []string{`add-on "docs"`, "renders more than 2000 objects", "raise policy.bundles.maxObjects"},
		},
		{
			name: "600,000 YAML documents in a kustomization",
			files: func() map[string][]byte {
				f := manyDocuments("addons/docs", 600000)
				var names []string
				for name := range f {
					names = append(names, filepath.Base(name))
				}
				f["addons/docs/kustomization.yaml"] = []byte("resources: [" + strings.Join(names, ", ") + "]\n")
				return f
			},
			addon: "{name: docs, kustomize: {path: addons/docs}}",
			want:  []string{`add-on "docs"`, "reading addons/docs/docs-", "renders more than 2000 objects", "raise policy.bundles.maxObjects"},
		},
	}
}

// writeHostileRepo writes a requests repository whose one request uses the
// case's add-on.
func writeHostileRepo(dir string, hc hostileCase) error {
	files := hc.files()
	files["allot.yaml"] = []byte(benchPlatform + "  policy:\n    addons:\n      allowedClusterScopedKinds: []\n")
	files["environments/shop/bomb.yaml"] = []byte("apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: bomb}\nspec:\n  type: namespace\n  owner: dev@example.com\n  team: shop\n  cluster: dev\n  addons:\n    - " + hc.addon + "\n")
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// renderHostile renders the case's request as a pull request's check does,
// Helm in its sandbox with the given deadline (0: the default), and
// returns the error.
func renderHostile(dir string, timeout time.Duration) error {
	repo, err := load.Load(dir, load.Options{Builtin: environments.Templates()})
	if err != nil {
		return err
	}
	if len(repo.Problems) > 0 {
		return fmt.Errorf("load: %v", repo.Problems)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer func() { _ = root.Close() }()
	sandbox := testSandbox()
	sandbox.Timeout = timeout
	r := &Renderer{Repo: repo, RepoFS: root.FS(), Builtin: environments.Templates(), Helm: &sources.Helm{Sandbox: sandbox}}
	targets, errs := r.Targets()
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if len(targets) != 1 {
		return fmt.Errorf("got %d targets, want 1", len(targets))
	}
	_, err = r.Render(context.Background(), targets[0])
	if err == nil {
		return errors.New("rendered without an error")
	}
	return err
}

// checkHostile reports what is wrong with the error a case rendered to.
func checkHostile(hc hostileCase, err error) error {
	var re *Error
	if !errors.As(err, &re) || re.File != "environments/shop/bomb.yaml" {
		return fmt.Errorf("error %w does not name the request file", err)
	}
	for _, w := range hc.want {
		if !strings.Contains(err.Error(), w) {
			return fmt.Errorf("error %w does not mention %q", err, w)
		}
	}
	if hc.wantIs != nil && !errors.Is(err, hc.wantIs) {
		return fmt.Errorf("error %w is not %w", err, hc.wantIs)
	}
	return nil
}

// TestHostileCorpus renders each resource bomb a pull request can bring
// and checks that it is refused with a bounded error that names the
// request, the add-on and the limit.
func TestHostileCorpus(t *testing.T) {
	for _, hc := range hostileCases() {
		t.Run(hc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := writeHostileRepo(dir, hc); err != nil {
				t.Fatal(err)
			}
			if err := checkHostile(hc, renderHostile(dir, hc.timeout)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// runHostileCase renders one case in this process, for the benchmark, and
// prints on standard output how long the check took (ns, loading and
// rendering; writing the case is left out) and the peak RSS in KiB of this
// process and of the largest of its Helm sandbox children.
func runHostileCase(name string) int {
	for _, hc := range hostileCases() {
		if hc.name != name {
			continue
		}
		dir, err := os.MkdirTemp("", "hostile-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer func() { _ = os.RemoveAll(dir) }()
		if err := writeHostileRepo(dir, hc); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		start := time.Now()
		err = renderHostile(dir, 0)
		took := time.Since(start)
		if err := checkHostile(hc, err); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		var self, children syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
		_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
		fmt.Println(took.Nanoseconds(), self.Maxrss, children.Maxrss)
		return 0
	}
	fmt.Fprintf(os.Stderr, "no hostile case %q\n", name)
	return 1
}

// TestSandboxRendersAsInProcess renders every example request with Helm in
// its sandbox and checks the bundles are byte-identical to those rendered
// in this process, within the sandbox's default limits.
func TestSandboxRendersAsInProcess(t *testing.T) {
	inProcess := newRenderer(t, examplesDir())
	sandboxed := newRenderer(t, examplesDir())
	sandboxed.Helm.Sandbox = testSandbox()
	targets, errs := inProcess.Targets()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := inProcess.RenderAll(context.Background(), targets)
	got := sandboxed.RenderAll(context.Background(), targets)
	for i := range targets {
		if want[i].Err != nil || got[i].Err != nil {
			t.Fatalf("%s: in process: %v; sandboxed: %v", targets[i].Env.Doc.File, want[i].Err, got[i].Err)
		}
		if w, g := encode(t, want[i].Bundle), encode(t, got[i].Bundle); !bytes.Equal(w, g) {
			t.Errorf("%s on %s renders differently in the sandbox", targets[i].Env.Doc.File, targets[i].Cluster.Name)
		}
	}
}
