package sources

import (
	"fmt"
	"slices"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
)

// notesSuffix ends the name of a chart's NOTES.txt template, which Helm
// renders for the user to read, not as a manifest.
const notesSuffix = "NOTES.txt"

// render renders the chart as `helm template` does (Helm's install action,
// client-only and dry-run), from the packages that action is built on:
// chartutil for dependencies and values, engine for the templates,
// releaseutil for the order of manifests and hooks. The action itself
// would link Helm's release storage (SQL drivers among it) and its
// Kubernetes client (kubectl, cli-runtime), which a render never uses.
// Errors read as the action's do.
func (j *helmJob) render(chrt *chart.Chart) (*helmOutput, error) {
	kubeVersion, err := chartutil.ParseKubeVersion(j.KubeVersion)
	if err != nil {
		return nil, fmt.Errorf("kube version %q: %w", j.KubeVersion, err)
	}
	if err := chartutil.ValidateReleaseName(j.Release); err != nil {
		return nil, fmt.Errorf("release name %q: %w", j.Release, err)
	}
	if err := chartutil.ProcessDependenciesWithMerge(chrt, j.Values); err != nil {
		return nil, err
	}
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = *kubeVersion
	options := chartutil.ReleaseOptions{Name: j.Release, Namespace: j.Namespace, Revision: 1, IsInstall: true}
	values, err := chartutil.ToRenderValues(chrt, j.Values, options, caps)
	if err != nil {
		return nil, err
	}
	if constraint := chrt.Metadata.KubeVersion; constraint != "" && !chartutil.IsCompatibleRange(constraint, caps.KubeVersion.String()) {
		return nil, fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", constraint, caps.KubeVersion.String())
	}
	files, err := engine.Engine{}.Render(chrt, values)
	if err != nil {
		return nil, err
	}
	for name := range files {
		if strings.HasSuffix(name, notesSuffix) {
			delete(files, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, err
	}

	var manifest strings.Builder
	for _, crd := range chrt.CRDObjects() {
		fmt.Fprintf(&manifest, "---\n# Source: %s\n%s\n", crd.Filename, crd.File.Data)
	}
	for _, m := range manifests {
		fmt.Fprintf(&manifest, "---\n# Source: %s\n%s\n", m.Name, m.Content)
	}
	out := &helmOutput{Manifest: manifest.String()}
	slices.SortStableFunc(hooks, func(a, b *release.Hook) int { return strings.Compare(a.Path, b.Path) })
	for _, hook := range hooks {
		events := make([]string, 0, len(hook.Events))
		for _, e := range hook.Events {
			events = append(events, string(e))
		}
		out.Hooks = append(out.Hooks, helmHook{Path: hook.Path, Manifest: hook.Manifest, Events: events})
	}
	return out, nil
}

// checkInstallable refuses library charts, as helm template does, and
// charts whose declared dependencies are missing from charts/.
func checkInstallable(chrt *chart.Chart) error {
	switch chrt.Metadata.Type {
	case "", "application":
	default:
		return fmt.Errorf("%s is a %s chart, which cannot be rendered on its own; render a chart that depends on it", chrt.Name(), chrt.Metadata.Type)
	}
	if missing := missingDependencies(chrt); len(missing) > 0 {
		return fmt.Errorf("found in Chart.yaml, but missing in charts/ directory: %s; run `helm dependency build` and commit the charts/ folder", strings.Join(missing, ", "))
	}
	return nil
}

// missingDependencies names the dependencies Chart.yaml declares that are
// not in charts/, in the order Chart.yaml gives them: Helm's
// action.CheckDependencies, which matches by name only (an alias or a
// version does not count).
func missingDependencies(chrt *chart.Chart) []string {
	var missing []string
	for _, dep := range chrt.Metadata.Dependencies {
		if !slices.ContainsFunc(chrt.Dependencies(), func(c *chart.Chart) bool { return c.Name() == dep.Name }) {
			missing = append(missing, dep.Name)
		}
	}
	return missing
}
