package sources

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"
)

// ErrChartNotFound is wrapped by errors for a chart or chart version that a
// repository does not have.
var ErrChartNotFound = errors.New("chart not found in repository")

// loadRemote loads a chart from the cache, or downloads it from its
// repository and caches it.
func (h *Helm) loadRemote(ctx context.Context, c Chart) ([]*loader.BufferedFile, *chart.Chart, error) {
	cache := chartCache{dir: h.CacheDir}
	if archive, ok := cache.get(c); ok {
		if files, chrt, err := h.loadArchive(c, archive); err == nil {
			return files, chrt, nil
		}
		// A cached archive that no longer loads is fetched again.
	}

	var (
		archive []byte
		err     error
	)
	switch {
	case strings.HasPrefix(c.Repository, "oci://"):
		archive, err = h.pullOCI(ctx, c)
	case strings.HasPrefix(c.Repository, "https://"), strings.HasPrefix(c.Repository, "http://"):
		archive, err = h.downloadHTTP(ctx, c)
	default:
		err = errors.New("the repository must be an http://, https:// or oci:// URL")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("fetch %s: %w", c, err)
	}

	files, chrt, err := h.loadArchive(c, archive)
	if err != nil {
		return nil, nil, err
	}
	if err := cache.put(c, archive); err != nil {
		return nil, nil, fmt.Errorf("cache %s: %w", c, err)
	}
	return files, chrt, nil
}

// loadArchive loads a chart archive within the chart limits and checks it
// is the chart that was asked for.
func (h *Helm) loadArchive(c Chart, archive []byte) ([]*loader.BufferedFile, *chart.Chart, error) {
	files, err := unpackArchive(archive, h.chartLimits().maxBytes)
	if errors.Is(err, ErrLimitExceeded) {
		return nil, nil, fmt.Errorf("%s: the archive %w", c, err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: the archive is not a valid chart archive: %w", c, err)
	}
	if err := h.checkChartFiles(files); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", c, err)
	}
	chrt, err := loader.LoadFiles(files)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: the archive is not a valid chart: %w", c, err)
	}
	if chrt.Name() != c.Name || !sameVersion(chrt.Metadata.Version, c.Version) {
		return nil, nil, fmt.Errorf("%s: the archive holds chart %s %s instead", c, chrt.Name(), chrt.Metadata.Version)
	}
	return files, chrt, nil
}

// downloadHTTP finds the chart version in the repository's index.yaml and
// downloads its archive, checking the digest the index gives.
func (h *Helm) downloadHTTP(ctx context.Context, c Chart) ([]byte, error) {
	indexURL := strings.TrimSuffix(c.Repository, "/") + "/index.yaml"
	data, err := h.get(ctx, indexURL)
	if err != nil {
		return nil, fmt.Errorf("download repository index: %w", err)
	}
	var index repo.IndexFile
	if err := yaml.Unmarshal(data, &index); err != nil {
		return nil, fmt.Errorf("%s is not a valid repository index: %w", indexURL, err)
	}

	versions := index.Entries[c.Name]
	if len(versions) == 0 {
		return nil, fmt.Errorf("%w: %s lists no chart %q (it lists %s)", ErrChartNotFound, indexURL, c.Name, listNames(index))
	}
	cv := findVersion(versions, c.Version)
	if cv == nil {
		return nil, fmt.Errorf("%w: %s lists no version %s of chart %s; nearest available versions: %s",
			ErrChartNotFound, indexURL, c.Version, c.Name, strings.Join(nearestVersions(versions, c.Version, 5), ", "))
	}
	if len(cv.URLs) == 0 {
		return nil, fmt.Errorf("%s lists version %s of chart %s without a download URL", indexURL, cv.Version, c.Name)
	}
	archiveURL, err := repo.ResolveReferenceURL(c.Repository, cv.URLs[0])
	if err != nil {
		return nil, fmt.Errorf("%s: chart URL %q: %w", indexURL, cv.URLs[0], err)
	}
	archive, err := h.get(ctx, archiveURL)
	if err != nil {
		return nil, fmt.Errorf("download chart archive: %w", err)
	}
	if want := strings.TrimPrefix(cv.Digest, "sha256:"); want != "" {
		if got := sha256Hex(archive); !strings.EqualFold(got, want) {
			return nil, fmt.Errorf("chart archive %s has sha256 digest %s, but the repository index says %s", archiveURL, got, want)
		}
	}
	return archive, nil
}

// get downloads url, refusing answers other than 200 OK and bodies over
// MaxDownloadBytes.
func (h *Helm) get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := h.httpClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	limit := h.maxDownloadBytes()
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("GET %s: the response is larger than %d bytes: %w", url, limit, ErrLimitExceeded)
	}
	return data, nil
}

// pullOCI pulls the chart from an OCI registry with Helm's registry client.
// The client's HTTP transport bounds every response and follows ctx.
func (h *Helm) pullOCI(ctx context.Context, c Chart) ([]byte, error) {
	base := h.httpClient()
	client := &http.Client{
		Transport:     &boundedTransport{ctx: ctx, base: cmp.Or[http.RoundTripper](base.Transport, http.DefaultTransport), max: h.maxDownloadBytes()},
		CheckRedirect: base.CheckRedirect,
		Jar:           base.Jar,
		Timeout:       base.Timeout,
	}
	opts := append([]registry.ClientOption{
		registry.ClientOptHTTPClient(client),
		registry.ClientOptWriter(io.Discard),
	}, h.RegistryOptions...)
	rc, err := registry.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("create registry client: %w", err)
	}
	ref := strings.TrimSuffix(strings.TrimPrefix(c.Repository, "oci://"), "/") + "/" + c.Name + ":" + c.Version
	result, err := rc.Pull(ref, registry.PullOptWithChart(true))
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref, err)
	}
	return result.Chart.Data, nil
}

func (h *Helm) httpClient() *http.Client {
	if h.HTTP != nil {
		return h.HTTP
	}
	return http.DefaultClient
}

func (h *Helm) maxDownloadBytes() int64 {
	return cmp.Or(h.MaxDownloadBytes, DefaultMaxDownloadBytes)
}

// boundedTransport makes every request follow ctx and fails every response
// body that grows over max bytes. Helm's registry client takes no context
// and reads whole blobs into memory, so this is where both are bounded.
type boundedTransport struct {
	ctx  context.Context
	base http.RoundTripper
	max  int64
}

// RoundTrip implements http.RoundTripper.
func (t *boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	stop := context.AfterFunc(t.ctx, cancel)
	done := func() { stop(); cancel() }
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		done()
		return nil, err
	}
	if resp.ContentLength > t.max {
		_ = resp.Body.Close()
		done()
		return nil, fmt.Errorf("%s %s: the response is %d bytes, more than the limit of %d: %w", req.Method, req.URL, resp.ContentLength, t.max, ErrLimitExceeded)
	}
	resp.Body = &boundedBody{ReadCloser: resp.Body, left: t.max, url: req.URL, done: done}
	return resp, nil
}

// boundedBody fails once more than left bytes are read, and releases the
// request's context when closed.
type boundedBody struct {
	io.ReadCloser
	left int64
	url  *url.URL
	done func()
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var probe [1]byte
		n, err := b.ReadCloser.Read(probe[:])
		if n > 0 {
			return 0, fmt.Errorf("%s: the response is larger than the limit: %w", b.url, ErrLimitExceeded)
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *boundedBody) Close() error {
	defer b.done()
	return b.ReadCloser.Close()
}

// findVersion returns the entry for version: the same string, or else the
// same semantic version ("v1.2.0" and "1.2.0").
func findVersion(versions repo.ChartVersions, version string) *repo.ChartVersion {
	for _, cv := range versions {
		if cv.Metadata != nil && cv.Version == version {
			return cv
		}
	}
	for _, cv := range versions {
		if cv.Metadata != nil && sameVersion(cv.Version, version) {
			return cv
		}
	}
	return nil
}

func sameVersion(a, b string) bool {
	if a == b {
		return true
	}
	va, errA := semver.NewVersion(a)
	vb, errB := semver.NewVersion(b)
	return errA == nil && errB == nil && va.Equal(vb) && va.Metadata() == vb.Metadata()
}

// nearestVersions lists up to n versions of the chart closest to version in
// semantic version order, so that an error can suggest what to use instead.
func nearestVersions(versions repo.ChartVersions, version string, n int) []string {
	var all []*semver.Version
	for _, cv := range versions {
		if cv.Metadata == nil {
			continue
		}
		if v, err := semver.NewVersion(cv.Version); err == nil {
			all = append(all, v)
		}
	}
	if len(all) == 0 {
		return []string{"none"}
	}
	slices.SortFunc(all, func(a, b *semver.Version) int { return a.Compare(b) })
	all = slices.CompactFunc(all, func(a, b *semver.Version) bool { return a.Original() == b.Original() })

	at := len(all) // versions that do not parse are compared with the newest
	if want, err := semver.NewVersion(version); err == nil {
		at, _ = slices.BinarySearchFunc(all, want, func(a, b *semver.Version) int { return a.Compare(b) })
	}
	lo := max(0, min(at-n/2, len(all)-n))
	hi := min(len(all), lo+n)
	names := make([]string, 0, hi-lo)
	for _, v := range all[lo:hi] {
		names = append(names, v.Original())
	}
	return names
}

// listNames lists the first chart names in an index, for error messages.
func listNames(index repo.IndexFile) string {
	names := make([]string, 0, len(index.Entries))
	for name := range index.Entries {
		names = append(names, name)
	}
	if len(names) == 0 {
		return "no charts"
	}
	slices.Sort(names)
	if len(names) > 10 {
		names = append(names[:10], "...")
	}
	return strings.Join(names, ", ")
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
