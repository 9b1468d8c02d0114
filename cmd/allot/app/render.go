package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/allot-dev/allot/environments"
	"github.com/allot-dev/allot/renderer"
	"github.com/allot-dev/allot/renderer/sources"
	"github.com/allot-dev/allot/schemas/load"
	"github.com/allot-dev/allot/schemas/validate"
)

// RenderOptions are the inputs of Render.
type RenderOptions struct {
	Repo string
	// Environments limits rendering to these names; empty means all.
	Environments []string
	// Cluster limits rendering to one cluster.
	Cluster string
	// Output is yaml or json.
	Output string
	// Out, when set, is a folder to write one file per environment, cluster
	// and phase into, instead of printing.
	Out string
	// ChartCache is where remote charts are kept, by digest.
	ChartCache string
}

// NewRenderCommand builds `allot render`.
func NewRenderCommand(s Streams) *cobra.Command {
	opts := RenderOptions{}
	cmd := &cobra.Command{
		Use:   "render [ENVIRONMENT...]",
		Short: "Print the bundles the requests render to",
		Long: `render prints what each environment puts on each cluster. The YAML output
holds the init, install and postInstall phases and can be piped to
kubectl apply --server-side -f -; preDelete objects, the objects applied inside
an imported vcluster and the IdP groups are listed as comments. --out writes
every phase, the inside bundle and the groups to files instead.`,
		Example: `  allot render --repo examples/requests checkout-dev
  allot render --cluster dev-eu-1 | kubectl apply --server-side -f -
  allot render --out rendered/`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Environments = args
			return Render(cmd.Context(), s, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Repo, "repo", ".", "the requests repository's directory")
	cmd.Flags().StringVar(&opts.Cluster, "cluster", "", "render only for this cluster")
	renderOutputs.bind(cmd, &opts.Output)
	cmd.Flags().StringVar(&opts.Out, "out", "", "write files into this folder instead of printing")
	cmd.Flags().StringVar(&opts.ChartCache, "chart-cache", defaultChartCache(), "where remote charts are cached")
	return cmd
}

func defaultChartCache() string { return defaultCache("charts") }

// defaultCache is the folder name of allot's user cache.
func defaultCache(name string) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "allot-"+name)
	}
	return filepath.Join(dir, "allot", name)
}

// newRenderer opens the repository's files for rendering; close the
// returned closer when done.
func newRenderer(repo *load.Repository, chartCache string) (*renderer.Renderer, io.Closer, error) {
	root, err := os.OpenRoot(repo.Root)
	if err != nil {
		return nil, nil, err
	}
	return &renderer.Renderer{
		Repo: repo, RepoFS: root.FS(), Builtin: environments.Templates(),
		Helm: &sources.Helm{CacheDir: chartCache, Sandbox: helmSandbox()},
	}, root, nil
}

// renderOutputs are the -o values of allot render: its own form is YAML
// that kubectl applies, and json is the bundles with their objects.
var renderOutputs = formats(OutputYAML)

// Render renders the selected environments and prints or writes them.
func Render(ctx context.Context, s Streams, opts RenderOptions) error {
	if err := renderOutputs.check(opts.Output); err != nil {
		return usageError(err)
	}
	repo, err := load.Load(opts.Repo, load.Options{Builtin: environments.Templates()})
	if err != nil {
		return usageError(err)
	}
	if len(repo.Problems) > 0 {
		_ = writeText(s.Err, repo.Problems)
		return fmt.Errorf("the repository has problems; run allot validate")
	}
	if err := knownCluster(repo, opts.Cluster); err != nil {
		return usageError(err)
	}
	// The policy runs before anything is fetched: a request may name only
	// the chart repositories allot.yaml allows.
	wanted := func(ef *load.EnvironmentFile) bool {
		return len(opts.Environments) == 0 || slices.Contains(opts.Environments, ef.Environment.Metadata.Name)
	}
	if problems := validate.Repository(repo, validate.Options{Selected: wanted}); validate.Failed(problems) {
		_ = writeText(s.Err, problems)
		return fmt.Errorf("the repository has validation errors; fix them (see allot validate) before rendering")
	}
	r, closer, err := newRenderer(repo, opts.ChartCache)
	if err != nil {
		return err
	}
	defer closer.Close()
	targets, errs := r.Targets()
	var selected []renderer.Target
	for _, t := range targets {
		if (len(opts.Environments) == 0 || slices.Contains(opts.Environments, t.Env.Environment.Metadata.Name)) &&
			(opts.Cluster == "" || opts.Cluster == t.Cluster.Name) {
			selected = append(selected, t)
		}
	}
	for _, name := range opts.Environments {
		if !slices.ContainsFunc(selected, func(t renderer.Target) bool { return t.Env.Environment.Metadata.Name == name }) {
			errs = append(errs, fmt.Errorf("no environment %q renders for the selected cluster", name))
		}
	}
	var bundles []*renderer.Bundle
	for _, res := range r.RenderAll(ctx, selected) {
		if res.Err != nil {
			errs = append(errs, res.Err)
			continue
		}
		bundles = append(bundles, res.Bundle)
	}
	renderer.LogWarnings(s.logger(), bundles)
	switch {
	case opts.Out != "":
		err = writeBundleFiles(opts.Out, bundles)
	case opts.Output == OutputJSON:
		err = writeBundlesJSON(s.Out, bundles)
	default:
		err = writeBundlesYAML(s.Out, bundles)
	}
	return errors.Join(append(errs, err)...)
}

// knownCluster refuses a --cluster that allot.yaml does not name, naming
// those it does.
func knownCluster(repo *load.Repository, name string) error {
	if name == "" || repo.Platform == nil {
		return nil
	}
	var names []string
	for _, c := range repo.Platform.Platform.Spec.Clusters {
		if c.Name == name {
			return nil
		}
		names = append(names, c.Name)
	}
	return fmt.Errorf("--cluster %s: allot.yaml has no such cluster; its clusters are %s", name, strings.Join(names, ", "))
}

// renderReport is the document of `allot render -o json`.
type renderReport struct {
	Bundles []bundleJSON `json:"bundles"`
}

// bundleJSON is a bundle with its objects, for -o json and bundle.json.
type bundleJSON struct {
	*renderer.Bundle
	Phases map[renderer.Phase][]json.RawMessage `json:"phases"`
	Inside map[renderer.Phase][]json.RawMessage `json:"inside,omitempty"`
}

func toJSON(b *renderer.Bundle) bundleJSON {
	phases := func(b *renderer.Bundle) map[renderer.Phase][]json.RawMessage {
		out := map[renderer.Phase][]json.RawMessage{}
		for _, p := range renderer.Phases() {
			for _, o := range b.Objects[p] {
				out[p] = append(out[p], o.JSON())
			}
		}
		return out
	}
	bj := bundleJSON{Bundle: b, Phases: phases(b)}
	if b.Import != nil {
		bj.Inside = phases(b.Import.Bundle)
	}
	return bj
}

func writeBundlesJSON(w io.Writer, bundles []*renderer.Bundle) error {
	out := renderReport{Bundles: make([]bundleJSON, len(bundles))}
	for i, b := range bundles {
		out.Bundles[i] = toJSON(b)
	}
	return printOutput(w, OutputJSON, out, nil)
}

// writeBundlesYAML prints what kubectl can apply: every phase but preDelete,
// with the rest described in comments.
func writeBundlesYAML(w io.Writer, bundles []*renderer.Bundle) error {
	for _, b := range bundles {
		fmt.Fprintf(w, "# environment %s on cluster %s (%s), digest %s\n", b.Environment, b.Cluster, b.File, b.Digest)
		for _, g := range b.Groups {
			fmt.Fprintf(w, "# idp group %s: %s\n", g.Name, strings.Join(g.Members, ", "))
		}
		if n := len(b.Objects[renderer.PhasePreDelete]); n > 0 {
			fmt.Fprintf(w, "# preDelete: %d object(s) applied only on teardown; see allot render --out\n", n)
		}
		if b.Import != nil {
			fmt.Fprintf(w, "# import: kubeconfig in Secret %s/%s key %s, server %s; %d object(s) applied inside; see allot render --out\n",
				b.Import.SecretNamespace, b.Import.SecretName, b.Import.SecretKey, b.Import.Server, b.Import.Bundle.Count())
		}
		for _, p := range []renderer.Phase{renderer.PhaseInit, renderer.PhaseInstall, renderer.PhasePostInstall} {
			if err := renderer.WriteObjects(w, b.Objects[p], fmt.Sprintf("phase %s", p)); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeBundleFiles writes DIR/<cluster>/<environment>/NN-<phase>.yaml,
// inside/NN-<phase>.yaml for an imported cluster, and bundle.json.
func writeBundleFiles(dir string, bundles []*renderer.Bundle) error {
	for _, b := range bundles {
		base := filepath.Join(dir, b.Cluster, b.Environment)
		if err := writePhases(base, b); err != nil {
			return err
		}
		if b.Import != nil {
			if err := writePhases(filepath.Join(base, "inside"), b.Import.Bundle); err != nil {
				return err
			}
		}
		data, err := json.MarshalIndent(b, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(base, "bundle.json"), append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func writePhases(dir string, b *renderer.Bundle) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i, p := range renderer.Phases() {
		objs := b.Objects[p]
		if len(objs) == 0 {
			continue
		}
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%02d-%s.yaml", i, p)))
		if err != nil {
			return err
		}
		werr := renderer.WriteObjects(f, objs, fmt.Sprintf("environment %s, cluster %s, phase %s", b.Environment, b.Cluster, p))
		if err := errors.Join(werr, f.Close()); err != nil {
			return err
		}
	}
	return nil
}
