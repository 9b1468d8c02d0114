package sources

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"
)

// packageChart packages the chart directory testdata/charts/<name> and
// returns its metadata and archive.
func packageChart(t testing.TB, name string) (*chart.Metadata, []byte) {
	t.Helper()
	chrt, err := loader.LoadDir(filepath.Join("testdata", "charts", name))
	if err != nil {
		t.Fatal(err)
	}
	file, err := chartutil.Save(chrt, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return chrt.Metadata, data
}

// chartRepo is an HTTP chart repository on loopback that serves
// /index.yaml and the archives under /charts/, counting requests.
type chartRepo struct {
	*httptest.Server
	requests atomic.Int64
}

// newChartRepo serves the mock-api chart as version 0.1.0 along with index
// entries for other versions, whose archives are not served, and some
// broken entries for the error tests.
func newChartRepo(t *testing.T, tls bool) *chartRepo {
	t.Helper()
	md, archive := packageChart(t, "mock-api")

	index := repo.NewIndexFile()
	add := func(name, version, file, digest string) {
		m := *md
		m.Name, m.Version = name, version
		if err := index.MustAdd(&m, "charts/"+file, "", digest); err != nil {
			t.Fatal(err)
		}
	}
	add("mock-api", "0.1.0", "mock-api-0.1.0.tgz", sha256Hex(archive))
	for _, v := range []string{"0.0.1", "0.0.9", "0.1.1", "0.2.0", "1.0.0", "2.0.0"} {
		add("mock-api", v, "mock-api-"+v+".tgz", "")
	}
	add("tampered", "0.1.0", "mock-api-0.1.0.tgz", strings.Repeat("0", 64))
	add("impostor", "0.1.0", "mock-api-0.1.0.tgz", "")
	index.SortEntries()
	indexYAML, err := yaml.Marshal(index)
	if err != nil {
		t.Fatal(err)
	}

	r := &chartRepo{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.requests.Add(1)
		switch req.URL.Path {
		case "/index.yaml":
			w.Write(indexYAML)
		case "/charts/mock-api-0.1.0.tgz":
			w.Write(archive)
		default:
			http.NotFound(w, req)
		}
	})
	r.Server = httptest.NewUnstartedServer(handler)
	r.Config.ErrorLog = log.New(io.Discard, "", 0) // the TLS test's handshake errors are expected
	if tls {
		r.StartTLS()
	} else {
		r.Start()
	}
	t.Cleanup(r.Close)
	return r
}

func TestHelmRenderHTTPRepository(t *testing.T) {
	local, err := (&Helm{}).Render(context.Background(), Chart{FS: openRoot(t, "testdata"), Path: "charts/mock-api"}, "demo", "shop", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := newChartRepo(t, false)
	cacheDir := t.TempDir()
	c := Chart{Repository: srv.URL, Name: "mock-api", Version: "0.1.0"}

	t.Run("renders a chart from the repository like the same chart from a directory", func(t *testing.T) {
		h := &Helm{CacheDir: cacheDir, HTTP: srv.Client()}
		got, err := h.Render(context.Background(), c, "demo", "shop", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(local, got); diff != "" {
			t.Errorf("remote chart renders differently (-local +remote):\n%s", diff)
		}
		if n := srv.requests.Load(); n != 2 {
			t.Errorf("got %d requests, want 2 (index.yaml and the archive)", n)
		}
	})

	t.Run("renders again from the cache without touching the network", func(t *testing.T) {
		before := srv.requests.Load()
		for _, h := range []*Helm{
			{CacheDir: cacheDir, HTTP: srv.Client()},
			{CacheDir: cacheDir, HTTP: srv.Client()}, // a new Helm, as after a restart
		} {
			got, err := h.Render(context.Background(), c, "demo", "shop", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(local, got); diff != "" {
				t.Errorf("cached chart renders differently (-local +cached):\n%s", diff)
			}
		}
		if n := srv.requests.Load() - before; n != 0 {
			t.Errorf("got %d requests, want none", n)
		}
	})

	t.Run("keeps archives by digest and indexes them by repository, chart and version", func(t *testing.T) {
		entries, err := filepath.Glob(filepath.Join(cacheDir, "index", "*.json"))
		if err != nil || len(entries) != 1 {
			t.Fatalf("got index entries %v (%v), want one", entries, err)
		}
		data, err := os.ReadFile(entries[0])
		if err != nil {
			t.Fatal(err)
		}
		var e cacheEntry
		if err := json.Unmarshal(data, &e); err != nil {
			t.Fatal(err)
		}
		blob, err := os.ReadFile(filepath.Join(cacheDir, "blobs", "sha256", e.Digest+".tgz"))
		if err != nil {
			t.Fatal(err)
		}
		want := cacheEntry{Repository: srv.URL, Chart: "mock-api", Version: "0.1.0", Digest: sha256Hex(blob)}
		if diff := cmp.Diff(want, e); diff != "" {
			t.Errorf("index entry (-want +got):\n%s", diff)
		}
	})

	t.Run("fetches again when a cached archive is corrupted", func(t *testing.T) {
		blobs, _ := filepath.Glob(filepath.Join(cacheDir, "blobs", "sha256", "*.tgz"))
		for _, b := range blobs {
			if err := os.WriteFile(b, []byte("garbage"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		before := srv.requests.Load()
		h := &Helm{CacheDir: cacheDir, HTTP: srv.Client()}
		if _, err := h.Render(context.Background(), c, "demo", "shop", nil, nil); err != nil {
			t.Fatal(err)
		}
		if n := srv.requests.Load() - before; n != 2 {
			t.Errorf("got %d requests, want 2", n)
		}
	})

	t.Run("fetches every time without a cache directory", func(t *testing.T) {
		before := srv.requests.Load()
		h := &Helm{HTTP: srv.Client()}
		for range 2 {
			if _, err := h.Render(context.Background(), c, "demo", "shop", nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		if n := srv.requests.Load() - before; n != 4 {
			t.Errorf("got %d requests, want 4", n)
		}
	})
}

func TestHelmRenderHTTPRepositoryErrors(t *testing.T) {
	srv := newChartRepo(t, false)
	tlsSrv := newChartRepo(t, true)
	tests := []struct {
		name   string
		helm   Helm
		chart  Chart
		wantIs error
		want   []string
	}{
		{
			name:  "names repository, chart and version when index.yaml is missing",
			chart: Chart{Repository: srv.URL + "/nowhere", Name: "mock-api", Version: "0.1.0"},
			want:  []string{"fetch chart mock-api 0.1.0 from " + srv.URL + "/nowhere", "GET " + srv.URL + "/nowhere/index.yaml: 404 Not Found"},
		},
		{
			name:   "lists the nearest versions when the version is not in the index",
			chart:  Chart{Repository: srv.URL, Name: "mock-api", Version: "0.1.5"},
			wantIs: ErrChartNotFound,
			want:   []string{"fetch chart mock-api 0.1.5 from " + srv.URL, "lists no version 0.1.5 of chart mock-api", "nearest available versions: 0.1.0, 0.1.1, 0.2.0, 1.0.0, 2.0.0"},
		},
		{
			name:   "lists the oldest versions when the version is older than all",
			chart:  Chart{Repository: srv.URL, Name: "mock-api", Version: "0.0.0-alpha"},
			wantIs: ErrChartNotFound,
			want:   []string{"nearest available versions: 0.0.1, 0.0.9, 0.1.0, 0.1.1, 0.2.0"},
		},
		{
			name:   "names the charts the index has when the chart is not there",
			chart:  Chart{Repository: srv.URL, Name: "absent", Version: "0.1.0"},
			wantIs: ErrChartNotFound,
			want:   []string{`lists no chart "absent" (it lists impostor, mock-api, tampered)`},
		},
		{
			name:  "reports a chart archive that is missing",
			chart: Chart{Repository: srv.URL, Name: "mock-api", Version: "1.0.0"},
			want:  []string{"fetch chart mock-api 1.0.0", "download chart archive: GET " + srv.URL + "/charts/mock-api-1.0.0.tgz: 404 Not Found"},
		},
		{
			name:  "refuses an archive whose digest differs from the index",
			chart: Chart{Repository: srv.URL, Name: "tampered", Version: "0.1.0"},
			want:  []string{"fetch chart tampered 0.1.0", "but the repository index says 0000"},
		},
		{
			name:  "refuses an archive that holds another chart",
			chart: Chart{Repository: srv.URL, Name: "impostor", Version: "0.1.0"},
			want:  []string{"chart impostor 0.1.0 from " + srv.URL, "the archive holds chart mock-api 0.1.0 instead"},
		},
		{
			name:   "refuses downloads over the size limit",
			helm:   Helm{MaxDownloadBytes: 100},
			chart:  Chart{Repository: srv.URL, Name: "mock-api", Version: "0.1.0"},
			wantIs: ErrLimitExceeded,
			want:   []string{"fetch chart mock-api 0.1.0", "larger than 100 bytes"},
		},
		{
			name:   "refuses an archive that unpacks over the chart size limit",
			helm:   Helm{MaxChartBytes: 1024},
			chart:  Chart{Repository: srv.URL, Name: "mock-api", Version: "0.1.0"},
			wantIs: ErrLimitExceeded,
			want:   []string{"chart mock-api 0.1.0 from " + srv.URL, "more than the limit of 1024"},
		},
		{
			name:  "reports a certificate the client does not trust",
			helm:  Helm{HTTP: &http.Client{}},
			chart: Chart{Repository: tlsSrv.URL, Name: "mock-api", Version: "0.1.0"},
			want:  []string{"fetch chart mock-api 0.1.0 from " + tlsSrv.URL, "certificate"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.helm
			h.CacheDir = t.TempDir()
			if h.HTTP == nil {
				h.HTTP = srv.Client()
			}
			_, err := h.Render(context.Background(), tt.chart, "demo", "shop", nil, nil)
			checkError(t, err, tt.want...)
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q is not %v", err, tt.wantIs)
			}
		})
	}

	t.Run("works with the trusted certificate", func(t *testing.T) {
		h := &Helm{HTTP: tlsSrv.Client()}
		if _, err := h.Render(context.Background(), Chart{Repository: tlsSrv.URL, Name: "mock-api", Version: "0.1.0"}, "demo", "shop", nil, nil); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("stops when the context is cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		h := &Helm{HTTP: srv.Client()}
		_, err := h.Render(ctx, Chart{Repository: srv.URL, Name: "mock-api", Version: "0.1.0"}, "demo", "shop", nil, nil)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got error %v, want context.Canceled", err)
		}
	})
}

// ociRegistry is a minimal OCI distribution registry on loopback (TLS)
// holding charts the way `helm push` stores them.
type ociRegistry struct {
	*httptest.Server
	requests  atomic.Int64
	manifests map[string][]byte // "repository:tag" and "repository@digest"
	blobs     map[string][]byte // by digest
}

func newOCIRegistry(t *testing.T) *ociRegistry {
	t.Helper()
	r := &ociRegistry{manifests: map[string][]byte{}, blobs: map[string][]byte{}}
	r.Server = httptest.NewTLSServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

// push stores the archive of chart name as repository:tag.
func (r *ociRegistry) push(t *testing.T, repository, tag string, md *chart.Metadata, archive []byte) {
	t.Helper()
	config, err := json.Marshal(md)
	if err != nil {
		t.Fatal(err)
	}
	blob := func(mediaType string, data []byte) map[string]any {
		digest := "sha256:" + sha256Hex(data)
		r.blobs[digest] = data
		return map[string]any{"mediaType": mediaType, "digest": digest, "size": len(data)}
	}
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        blob(registry.ConfigMediaType, config),
		"layers":        []any{blob(registry.ChartLayerMediaType, archive)},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.manifests[repository+":"+tag] = manifest
	r.manifests[repository+"@sha256:"+sha256Hex(manifest)] = manifest
}

func (r *ociRegistry) serve(w http.ResponseWriter, req *http.Request) {
	r.requests.Add(1)
	p := strings.TrimPrefix(req.URL.Path, "/v2/")
	var (
		data      []byte
		mediaType string
	)
	switch {
	case p == "" || p == "/":
		w.WriteHeader(http.StatusOK)
		return
	case strings.Contains(p, "/manifests/"):
		repository, ref, _ := strings.Cut(p, "/manifests/")
		sep := ":"
		if strings.HasPrefix(ref, "sha256:") {
			sep = "@"
		}
		data, mediaType = r.manifests[repository+sep+ref], "application/vnd.oci.image.manifest.v1+json"
	case strings.Contains(p, "/blobs/"):
		_, digest, _ := strings.Cut(p, "/blobs/")
		data, mediaType = r.blobs[digest], "application/octet-stream"
	}
	if data == nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`)
		return
	}
	w.Header().Set("Content-Type", mediaType)
	w.Header().Set("Docker-Content-Digest", "sha256:"+sha256Hex(data))
	w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	if req.Method != http.MethodHead {
		w.Write(data)
	}
}

// isolatedRegistry keeps the registry client away from the user's Helm and
// Docker credentials.
func isolatedRegistry(t *testing.T) []registry.ClientOption {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	return []registry.ClientOption{registry.ClientOptCredentialsFile(filepath.Join(t.TempDir(), "config.json"))}
}

func TestHelmRenderOCI(t *testing.T) {
	opts := isolatedRegistry(t)
	local, err := (&Helm{}).Render(context.Background(), Chart{FS: openRoot(t, "testdata"), Path: "charts/mock-api"}, "demo", "shop", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := newOCIRegistry(t)
	md, archive := packageChart(t, "mock-api")
	reg.push(t, "charts/mock-api", "0.1.0", md, archive)
	repository := "oci://" + reg.Listener.Addr().String() + "/charts"
	cacheDir := t.TempDir()

	t.Run("renders a chart pulled from an OCI registry like the same chart from a directory", func(t *testing.T) {
		h := &Helm{CacheDir: cacheDir, HTTP: reg.Client(), RegistryOptions: opts}
		got, err := h.Render(context.Background(), Chart{Repository: repository, Name: "mock-api", Version: "0.1.0"}, "demo", "shop", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(local, got); diff != "" {
			t.Errorf("OCI chart renders differently (-local +oci):\n%s", diff)
		}
		if reg.requests.Load() == 0 {
			t.Error("the registry got no requests")
		}
	})

	t.Run("renders again from the cache without touching the registry", func(t *testing.T) {
		before := reg.requests.Load()
		h := &Helm{CacheDir: cacheDir, HTTP: reg.Client(), RegistryOptions: opts}
		if _, err := h.Render(context.Background(), Chart{Repository: repository, Name: "mock-api", Version: "0.1.0"}, "demo", "shop", nil, nil); err != nil {
			t.Fatal(err)
		}
		if n := reg.requests.Load() - before; n != 0 {
			t.Errorf("got %d requests, want none", n)
		}
	})

	closed := closedPort(t)
	tests := []struct {
		name   string
		helm   Helm
		chart  Chart
		wantIs error
		want   []string
	}{
		{
			name:  "names the chart when the registry is unreachable",
			chart: Chart{Repository: "oci://" + closed + "/charts", Name: "mock-api", Version: "0.1.0"},
			want:  []string{"fetch chart mock-api 0.1.0 from oci://" + closed + "/charts", "pull " + closed + "/charts/mock-api:0.1.0", "connection refused"},
		},
		{
			name:  "names the chart when the registry does not have the version",
			chart: Chart{Repository: repository, Name: "mock-api", Version: "9.9.9"},
			want:  []string{"fetch chart mock-api 9.9.9 from " + repository, "not found"},
		},
		{
			name:   "refuses blobs over the download limit",
			helm:   Helm{MaxDownloadBytes: 512},
			chart:  Chart{Repository: repository, Name: "mock-api", Version: "0.1.0"},
			wantIs: ErrLimitExceeded,
			want:   []string{"fetch chart mock-api 0.1.0 from " + repository, "more than the limit of 512"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.helm
			h.HTTP, h.RegistryOptions, h.CacheDir = reg.Client(), opts, t.TempDir()
			_, err := h.Render(context.Background(), tt.chart, "demo", "shop", nil, nil)
			checkError(t, err, tt.want...)
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q is not %v", err, tt.wantIs)
			}
		})
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestHelmSeed(t *testing.T) {
	md, archive := packageChart(t, "mock-api")
	c := Chart{Repository: "https://charts.example.com", Name: md.Name, Version: md.Version}
	offline := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		return nil, fmt.Errorf("offline: %s", r.URL)
	})}

	t.Run("a seeded chart renders without a download", func(t *testing.T) {
		h := &Helm{CacheDir: t.TempDir(), HTTP: offline}
		if err := h.Seed(c, archive); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Render(context.Background(), c, "r", "ns", nil, nil); err != nil {
			t.Fatal(err)
		}
	})
	for name, tc := range map[string]struct {
		h    *Helm
		c    Chart
		want string
	}{
		"another version":  {&Helm{CacheDir: t.TempDir()}, Chart{Repository: c.Repository, Name: c.Name, Version: "9.9.9"}, "the archive holds chart mock-api " + md.Version + " instead"},
		"no cache folder":  {&Helm{}, c, "has no cache folder"},
		"a local chart":    {&Helm{CacheDir: t.TempDir()}, Chart{FS: os.DirFS("."), Path: "x"}, "only a remote chart"},
		"not a chart file": {&Helm{CacheDir: t.TempDir()}, c, "not a valid chart archive"},
	} {
		t.Run("refuses "+name, func(t *testing.T) {
			data := archive
			if name == "not a chart file" {
				data = []byte("not gzip")
			}
			err := tc.h.Seed(tc.c, data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
