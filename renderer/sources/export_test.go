package sources

import "helm.sh/helm/v3/pkg/chart"

// What the tests of package sources_test see of a render's text.
type (
	HelmOutput = helmOutput
	HelmHook   = helmHook
)

// RenderHelmText renders chrt as Helm.Render does before it decodes the
// text: no sandbox, no bounds.
func RenderHelmText(chrt *chart.Chart, release, namespace string, values map[string]any, kubeVersion string) (*HelmOutput, error) {
	job := helmJob{Release: release, Namespace: namespace, Values: values, KubeVersion: kubeVersion}
	return job.render(chrt)
}

// CheckInstallable is checkInstallable.
var CheckInstallable = checkInstallable
