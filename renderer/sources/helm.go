package sources

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/registry"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Defaults for the zero fields of Helm.
const (
	// DefaultKubeVersion is the Kubernetes version charts are rendered for
	// (.Capabilities.KubeVersion) unless Helm.KubeVersion says otherwise.
	DefaultKubeVersion = "v1.37.0"
	// DefaultMaxChartBytes bounds the files of one chart, dependencies included.
	DefaultMaxChartBytes = 10 << 20
	// DefaultMaxChartFiles bounds the number of files of one chart, dependencies included.
	DefaultMaxChartFiles = 2000
	// DefaultMaxDownloadBytes bounds one download: an index.yaml, a chart
	// archive or an OCI manifest or blob.
	DefaultMaxDownloadBytes = 20 << 20
)

// Chart says where a Helm chart is: either a directory in a file system
// (FS and Path) or a chart in a remote repository (Repository, Name and
// Version).
type Chart struct {
	// FS holds a local chart, usually the requests repository as an fs.FS
	// from os.Root, which refuses symlinks that leave the repository.
	FS fs.FS
	// Path is the chart's directory in FS, for example "charts/mock-api".
	Path string

	// Repository is an HTTP(S) chart repository URL such as
	// "https://charts.example.com", or an OCI location such as
	// "oci://ghcr.io/allot-dev/charts".
	Repository string
	// Name is the chart's name in Repository.
	Name string
	// Version is the chart's exact version, for example "1.4.2".
	Version string
}

// String names the chart for error messages.
func (c Chart) String() string {
	if c.FS != nil {
		return "chart " + c.Path
	}
	return fmt.Sprintf("chart %s %s from %s", c.Name, c.Version, c.Repository)
}

// Helm renders Helm charts the way `helm template` does: client-side, for a
// fixed Kubernetes version, with no cluster involved. Remote charts are
// downloaded once and kept in CacheDir.
//
// The zero value is ready to use; it renders local charts, and fetches remote
// charts on every render because it has no cache. A Helm is safe for
// concurrent use, and renders in different processes may share CacheDir.
type Helm struct {
	// CacheDir keeps downloaded chart archives, keyed by their sha256
	// digest, with an index from repository, chart and version to digest,
	// so that a chart is downloaded only once. Empty disables the cache.
	CacheDir string
	// HTTP fetches from HTTP(S) chart repositories and OCI registries;
	// nil means http.DefaultClient.
	HTTP *http.Client
	// RegistryOptions configure the client for OCI registries, for example
	// registry.ClientOptCredentialsFile or registry.ClientOptPlainHTTP. By
	// default Helm's credentials file and Docker's are used, as with the
	// helm command.
	RegistryOptions []registry.ClientOption
	// KubeVersion is the Kubernetes version charts see; empty means
	// DefaultKubeVersion.
	KubeVersion string
	// MaxChartBytes bounds the files of a chart; 0 means DefaultMaxChartBytes.
	MaxChartBytes int64
	// MaxChartFiles bounds the number of files in a chart; 0 means DefaultMaxChartFiles.
	MaxChartFiles int
	// MaxDownloadBytes bounds every download; 0 means DefaultMaxDownloadBytes.
	MaxDownloadBytes int64
	// Sandbox, when set, runs chart templates in a child process with a
	// deadline and a memory limit. Templates can loop or allocate without
	// end, and nothing can stop them inside this process; set it wherever
	// charts come from pull requests or tenants.
	Sandbox *Sandbox
}

// Render renders chart c as release releaseName in namespace with values,
// which Helm merges deeply over the chart's own values (values win).
//
// The result holds the chart's CRDs (crds/), its manifests and its hooks,
// each hook marked with its Helm hook events. Manifests come first, ordered
// by template path inside the chart (crds/, subcharts under charts/ and
// templates/ alike); documents of one template keep the order Helm gives them,
// which is its install order by kind. Hooks follow, ordered the same way. The
// same inputs therefore always give the same objects in the same order.
//
// The chart is bounded before it renders (files and bytes, what subchart
// archives unpack to included; no YAML anchors or aliases in its values and
// metadata), its rendered text by what budget has left, and its objects are
// charged to budget. With a Sandbox the templates run in a child process
// under a deadline and memory limit; without one they run in this process
// and only the output is bounded, after the fact.
func (h *Helm) Render(ctx context.Context, c Chart, releaseName, namespace string, values map[string]any, budget *Budget) ([]Object, error) {
	files, chrt, err := h.load(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := checkInstallable(chrt); err != nil {
		return nil, fmt.Errorf("render %s: %w", c, err)
	}
	job := helmJob{
		Files: files, Release: releaseName, Namespace: namespace, Values: values,
		KubeVersion: cmp.Or(h.KubeVersion, DefaultKubeVersion), MaxOutputBytes: budget.textLeft(),
	}
	var out *helmOutput
	if h.Sandbox != nil {
		out, err = h.Sandbox.run(ctx, job, budget)
	} else {
		out, err = job.render(chrt)
	}
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", c, err)
	}
	objs, err := out.objects(chrt, budget)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", c, err)
	}
	return objs, nil
}

// load loads the chart c names, from its fs.FS or from its repository, and
// returns its files too, which a Sandbox renders from.
func (h *Helm) load(ctx context.Context, c Chart) ([]*loader.BufferedFile, *chart.Chart, error) {
	local := c.FS != nil
	remote := c.Repository != "" || c.Name != "" || c.Version != ""
	switch {
	case local && remote:
		return nil, nil, fmt.Errorf("%s: set either FS and Path for a local chart or Repository, Name and Version for a remote one, not both", c)
	case local:
		return h.loadLocal(c)
	case c.Repository == "" || c.Name == "" || c.Version == "":
		return nil, nil, fmt.Errorf("%s: a remote chart needs Repository, Name and Version", c)
	default:
		return h.loadRemote(ctx, c)
	}
}

// helmJob is everything one render needs; it is what a Sandbox sends to
// its child process.
type helmJob struct {
	Files       []*loader.BufferedFile `json:"files"`
	Release     string                 `json:"release"`
	Namespace   string                 `json:"namespace"`
	Values      map[string]any         `json:"values"`
	KubeVersion string                 `json:"kubeVersion"`
	// MaxOutputBytes bounds the rendered text; -1 means no limit.
	MaxOutputBytes int64 `json:"maxOutputBytes"`
}

// helmOutput is a rendered release: its manifest and its hooks, sorted by
// path.
type helmOutput struct {
	Manifest string     `json:"manifest"`
	Hooks    []helmHook `json:"hooks,omitempty"`
}

// helmHook is one rendered hook template.
type helmHook struct {
	Path     string   `json:"path"`
	Manifest string   `json:"manifest"`
	Events   []string `json:"events"`
}

// size is the length of all rendered text.
func (o *helmOutput) size() int64 {
	n := int64(len(o.Manifest))
	for _, h := range o.Hooks {
		n += int64(len(h.Manifest))
	}
	return n
}

// objects decodes the rendered text, refusing YAML anchors and aliases and
// charging every object to budget.
func (o *helmOutput) objects(chrt *chart.Chart, budget *Budget) ([]Object, error) {
	if err := budget.checkText(o.size()); err != nil {
		return nil, fmt.Errorf("the chart rendered %d bytes of YAML: %w", o.size(), err)
	}
	origin := func(source string) string {
		source = strings.TrimPrefix(source, chrt.Name()+"/")
		return fmt.Sprintf("chart %s %s, %s", chrt.Name(), chrt.Metadata.Version, source)
	}
	decode := func(source string, doc []byte) ([]*unstructured.Unstructured, error) {
		if err := refuseAliases(source, doc, budget); err != nil {
			return nil, err
		}
		us, err := decodeDocument(doc, budget)
		var be *BudgetError
		if errors.As(err, &be) {
			return nil, fmt.Errorf("%w (reached at %s)", err, source)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		return us, nil
	}

	manifests, err := splitRendered(o.Manifest)
	if err != nil {
		return nil, err
	}
	objs := make([]Object, 0, len(manifests)+len(o.Hooks))
	for _, m := range manifests {
		us, err := decode(m.source, m.content)
		if err != nil {
			return nil, err
		}
		for _, u := range us {
			objs = append(objs, Object{Object: u, Origin: origin(m.source)})
		}
	}
	for _, hook := range o.Hooks {
		us, err := decode(hook.Path, []byte(hook.Manifest))
		if err != nil {
			return nil, err
		}
		for _, u := range us {
			objs = append(objs, Object{Object: u, Origin: origin(hook.Path), HelmHooks: hook.Events})
		}
	}
	return objs, nil
}

// renderedManifest is one document of a release manifest and the template
// it came from.
type renderedManifest struct {
	source  string
	content []byte
}

// splitRendered splits a release manifest, which Helm writes as documents
// that each start with a "# Source: <template>" comment, and sorts the
// documents stably by template. A CRD file with several documents gets one
// Source comment for all of them, so a document without one belongs to the
// template before it.
func splitRendered(manifest string) ([]renderedManifest, error) {
	docs, err := splitDocuments([]byte(manifest))
	if err != nil {
		return nil, fmt.Errorf("split rendered manifest: %w", err)
	}
	var (
		out    []renderedManifest
		source string
	)
	for _, doc := range docs {
		if s, ok := sourceComment(doc); ok {
			source = s
		}
		out = append(out, renderedManifest{source: source, content: doc})
	}
	slices.SortStableFunc(out, func(a, b renderedManifest) int { return strings.Compare(a.source, b.source) })
	return out, nil
}

// sourceComment returns the template named by the "# Source:" comment Helm
// puts on the first line of a rendered document.
func sourceComment(doc []byte) (string, bool) {
	for line := range strings.Lines(string(doc)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "---") {
			continue
		}
		return strings.CutPrefix(line, "# Source: ")
	}
	return "", false
}
