package renderer

import (
	"testing"

	"github.com/allot-dev/allot/internal/testfs"
	"github.com/google/go-cmp/cmp"
)

// writeRepo writes files (path relative to a new folder: content) and
// returns the folder.
func writeRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	return testfs.Dir(t, files)
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
			got[o.GetName()] = findObject(b, o.GetKind(), o.GetName()).Object["data"].(map[string]any)["sawAllot"].(string)
		}
	}
	if got["probe-plain"] != "false" || got["probe-asks"] != "true" {
		t.Errorf("charts saw .Values.allot: %v; want only probe-asks (allotValues: true) to", got)
	}
}

func TestHelmHooksMapOntoPhases(t *testing.T) {
	job := func(name, hook string) string {
		return "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: " + name + "\n  annotations: {helm.sh/hook: " + hook + "}\nspec: {template: {spec: {restartPolicy: Never, containers: [{name: c, image: busybox}]}}}\n"
	}
	files := map[string]string{
		"allot.yaml":                               minimalPlatform,
		"templates/t/template.yaml":                "apiVersion: allot.dev/v1alpha1\nkind: EnvironmentTemplate\nmetadata: {name: t}\nspec:\n  sources: [{name: hooks, helm: {path: chart}}]\n",
		"templates/t/chart/Chart.yaml":             "apiVersion: v2\nname: hooks\nversion: 1.0.0\n",
		"templates/t/chart/templates/ready.yaml":   job("ready", "post-install"),
		"templates/t/chart/templates/cleanup.yaml": job("cleanup", "pre-delete"),
		"templates/t/chart/templates/setup.yaml":   job("setup", "pre-install"),
		"templates/t/chart/templates/test.yaml":    job("smoke", "test"),
		"environments/web/demo.yaml":               "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: demo}\nspec: {type: t, owner: dev@acme.example, team: web, cluster: dev}\n",
	}
	b := renderOne(t, newRenderer(t, writeRepo(t, files)), "demo")
	got := map[Phase][]string{}
	for _, p := range Phases() {
		for _, o := range b.Objects[p] {
			got[p] = append(got[p], ObjectID(o))
		}
	}
	want := map[Phase][]string{
		PhaseInit:        {"Job/demo/setup"},
		PhasePostInstall: {"Job/demo/ready"},
		PhasePreDelete:   {"Job/demo/cleanup"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
}
