package renderer

import (
	"os"
	"path/filepath"
	"testing"
)

// writeRepo writes files (path relative to a new folder: content) and
// returns the folder.
func writeRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for rel, content := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const minimalPlatform = `apiVersion: allot.dev/v1alpha1
kind: Platform
metadata: {name: acme}
spec:
  clusters: [{name: dev, inCluster: true}]
  idp: {provider: none}
  defaultSize: small
  sizes: {small: {quota: {pods: 10}}}
`

// sawAllot is a chart template that records whether the chart was given
// .Values.allot, and whose chart refuses unknown top-level values the way
// the vcluster chart does.
var sawAllot = map[string]string{
	"Chart.yaml":         "apiVersion: v2\nname: probe\nversion: 1.0.0\n",
	"values.schema.json": `{"type": "object", "additionalProperties": false, "properties": {"allot": {"type": "object"}}}`,
	"templates/cm.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Chart.Name }}-{{ .Release.Name }}}\ndata: {sawAllot: {{ hasKey .Values \"allot\" | quote }}}\n",
}

func TestAllotValuesOnlyForChartsThatAsk(t *testing.T) {
	files := map[string]string{
		"allot.yaml": minimalPlatform,
		"templates/t/template.yaml": `apiVersion: allot.dev/v1alpha1
kind: EnvironmentTemplate
metadata: {name: t}
spec:
  sources:
    - {name: plain, helm: {path: chart, releaseName: plain}}
    - {name: asks, helm: {path: chart, releaseName: asks, allotValues: true}}
`,
		"environments/web/demo.yaml": "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: demo}\nspec: {type: t, owner: dev@acme.example, team: web, cluster: dev}\n",
	}
	for name, content := range sawAllot {
		files["templates/t/chart/"+name] = content
	}
	b := renderOne(t, newRenderer(t, writeRepo(t, files)), "demo")
	got := map[string]string{}
	for _, o := range b.Objects[PhaseInstall] {
		if o.GetKind() == "ConfigMap" {
			got[o.GetName()] = o.Object["data"].(map[string]any)["sawAllot"].(string)
		}
	}
	if got["probe-plain"] != "false" || got["probe-asks"] != "true" {
		t.Errorf("charts saw .Values.allot: %v; want only probe-asks (allotValues: true) to", got)
	}
}
