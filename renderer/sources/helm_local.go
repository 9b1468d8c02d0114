package sources

import (
	"bytes"
	"fmt"
	"path"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/ignore"
)

// loadLocal loads the chart directory c.Path from c.FS, honouring its
// .helmignore like helm does, within the chart limits.
func (h *Helm) loadLocal(c Chart) ([]*loader.BufferedFile, *chart.Chart, error) {
	rules := ignore.Empty()
	if data, err := readFileLimited(c.FS, path.Join(c.Path, ignore.HelmIgnore), h.chartLimits().maxBytes); err == nil {
		if rules, err = ignore.Parse(bytes.NewReader(data)); err != nil {
			return nil, nil, fmt.Errorf("%s: %s: %w", c, ignore.HelmIgnore, err)
		}
	}
	rules.AddDefaults()

	files, err := readTree(c.FS, c.Path, h.chartLimits(), treeFilter{
		skipDir:  rules.Ignore,
		skipFile: rules.Ignore,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", c, err)
	}
	buffered := make([]*loader.BufferedFile, 0, len(files))
	for _, f := range files {
		buffered = append(buffered, &loader.BufferedFile{
			Name: f.rel,
			Data: bytes.TrimPrefix(f.data, []byte(utf8BOM)),
		})
	}
	if err := h.checkChartFiles(buffered); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", c, err)
	}
	chrt, err := loader.LoadFiles(buffered)
	if err != nil {
		return nil, nil, fmt.Errorf("%s is not a valid chart: %w", c, err)
	}
	return buffered, chrt, nil
}

// utf8BOM is trimmed from chart files, as helm does.
const utf8BOM = "\uFEFF"
