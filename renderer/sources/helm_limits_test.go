package sources

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
)

func TestChartFileNames(t *testing.T) {
	for name, want := range map[string][2]bool{ // subchart archive, chart YAML
		"charts/a.tgz":                   {true, false},
		"charts/a/charts/b.tgz":          {true, false},
		"charts/a/b.tgz":                 {false, false},
		"templates/charts/a.tgz":         {false, false},
		"values.yaml":                    {false, true},
		"charts/a/values.yaml":           {false, true},
		"crds/crd.yaml":                  {false, true},
		"charts/a/crds/crd.yaml":         {false, true},
		"templates/deployment.yaml":      {false, false},
		"charts/a/templates/values.yaml": {false, false},
	} {
		if got := [2]bool{isSubchartArchive(name), isChartYAML(name)}; got != want {
			t.Errorf("%s: got (archive, YAML) %v, want %v", name, got, want)
		}
	}
}

// archive packs files into a chart archive under name/.
func archive(t *testing.T, name string, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for file, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name + "/" + file, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCheckChartFilesCountsUnpackedSubcharts(t *testing.T) {
	chartYAML := []byte("apiVersion: v2\nname: sub\nversion: 0.1.0\n")
	sub := archive(t, "sub", map[string][]byte{"Chart.yaml": chartYAML, "files/blob": make([]byte, 600<<10)})
	nested := archive(t, "outer", map[string][]byte{"Chart.yaml": chartYAML, "charts/sub.tgz": sub})
	top := func(extra map[string][]byte) []*loader.BufferedFile {
		files := []*loader.BufferedFile{{Name: "Chart.yaml", Data: []byte("apiVersion: v2\nname: top\nversion: 0.1.0\n")}}
		for name, data := range extra {
			files = append(files, &loader.BufferedFile{Name: name, Data: data})
		}
		return files
	}
	h := &Helm{MaxChartBytes: 1 << 20}

	t.Run("admits a subchart that unpacks within the limit", func(t *testing.T) {
		if err := h.checkChartFiles(top(map[string][]byte{"charts/sub.tgz": sub})); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("refuses two small archives that unpack over the limit together", func(t *testing.T) {
		err := h.checkChartFiles(top(map[string][]byte{"charts/sub.tgz": sub, "charts/sub2.tgz": sub}))
		checkError(t, err, "unpacks to more than the limit of")
		if !errors.Is(err, ErrLimitExceeded) {
			t.Errorf("error %q is not ErrLimitExceeded", err)
		}
	})
	t.Run("counts archives inside archives", func(t *testing.T) {
		err := h.checkChartFiles(top(map[string][]byte{"charts/outer.tgz": nested, "charts/sub.tgz": sub}))
		checkError(t, err, "more than the limit of")
	})
	t.Run("refuses anchors in a subchart's values", func(t *testing.T) {
		bad := archive(t, "sub", map[string][]byte{"Chart.yaml": chartYAML, "values.yaml": []byte("a: &x 1\nb: *x\n")})
		err := h.checkChartFiles(top(map[string][]byte{"charts/sub.tgz": bad}))
		checkError(t, err, "charts/sub.tgz/values.yaml: line 1: YAML anchors and aliases (&x) are not allowed")
	})
}
