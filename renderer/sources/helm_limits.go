package sources

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"fmt"
	"io"
	"path"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
)

// maxSubchartDepth bounds subcharts inside subcharts.
const maxSubchartDepth = 8

// checkChartFiles applies the chart limits to a chart's files together with
// what its subchart archives (charts/*.tgz, at any depth) unpack to, and
// refuses YAML anchors and aliases in its metadata, values and CRD files.
// Helm unpacks subchart archives itself when it loads the chart; counting
// them here first keeps a few small archives from unpacking into gigabytes.
func (h *Helm) checkChartFiles(files []*loader.BufferedFile) error {
	lim := h.chartLimits()
	b := &chartBudget{limits: lim, files: lim.maxFiles, bytes: lim.maxBytes}
	return b.check("", files, 0)
}

// chartBudget is what is left of the chart limits while a chart's files and
// subcharts are counted.
type chartBudget struct {
	limits treeLimits
	files  int
	bytes  int64
}

func (b *chartBudget) check(prefix string, files []*loader.BufferedFile, depth int) error {
	if depth > maxSubchartDepth {
		return fmt.Errorf("%s: subcharts are nested more than %d deep", strings.TrimSuffix(prefix, "/"), maxSubchartDepth)
	}
	for _, f := range files {
		name := prefix + f.Name
		b.files--
		b.bytes -= int64(len(f.Data))
		if b.files < 0 {
			return fmt.Errorf("chart has more than %d files, its subchart archives unpacked (reached at %s): %w", b.limits.maxFiles, name, ErrLimitExceeded)
		}
		if b.bytes < 0 {
			return fmt.Errorf("chart files hold more than %d bytes, its subchart archives unpacked (reached at %s): %w", b.limits.maxBytes, name, ErrLimitExceeded)
		}
		if isChartYAML(f.Name) {
			if err := refuseAliases(name, f.Data, nil); err != nil {
				return err
			}
		}
		if !isSubchartArchive(f.Name) {
			continue
		}
		sub, err := unpackArchive(f.Data, b.bytes)
		if err != nil {
			return fmt.Errorf("subchart archive %s: %w", name, err)
		}
		if err := b.check(name+"/", sub, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// unpackArchive unpacks a chart archive that may unpack to at most max
// bytes. Helm's own loader allows 100 MiB per archive; this bound is
// checked first, so a gzip bomb stops after max bytes.
func unpackArchive(archive []byte, max int64) ([]*loader.BufferedFile, error) {
	gz, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		return nil, err
	}
	n, err := io.Copy(io.Discard, io.LimitReader(gz, max+1))
	if err != nil {
		return nil, err
	}
	if n > max {
		return nil, fmt.Errorf("unpacks to more than the limit of %d bytes left for the chart: %w", max, ErrLimitExceeded)
	}
	return loader.LoadArchiveFiles(bytes.NewReader(archive))
}

// isSubchartArchive reports whether Helm loads the chart file name as a
// subchart archive: charts/<name>.tgz in the chart or in a subchart
// directory (charts/a/charts/b.tgz).
func isSubchartArchive(name string) bool {
	parts := strings.Split(name, "/")
	if len(parts)%2 != 0 || path.Ext(name) != ".tgz" {
		return false
	}
	for i := 0; i < len(parts); i += 2 {
		if parts[i] != "charts" {
			return false
		}
	}
	return true
}

// isChartYAML reports whether the chart file name is YAML that Helm reads
// as data: Chart.yaml, values.yaml, requirements.yaml and crds/, in the
// chart or in a subchart directory. Templates are not YAML until rendered,
// and their output is checked then.
func isChartYAML(name string) bool {
	for {
		rest, ok := strings.CutPrefix(name, "charts/")
		if !ok {
			break
		}
		_, inner, ok := strings.Cut(rest, "/")
		if !ok {
			break
		}
		name = inner
	}
	switch name {
	case "Chart.yaml", "values.yaml", "requirements.yaml":
		return true
	}
	return strings.HasPrefix(name, "crds/") && isManifestFile(name)
}

func (h *Helm) chartLimits() treeLimits {
	maxBytes := cmp.Or(h.MaxChartBytes, DefaultMaxChartBytes)
	return treeLimits{
		maxFiles:     cmp.Or(h.MaxChartFiles, DefaultMaxChartFiles),
		maxBytes:     maxBytes,
		maxFileBytes: maxBytes,
	}
}
