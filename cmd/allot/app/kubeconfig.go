package app

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/schemas/load"
)

// kubeconfigFlag is --kubeconfig: NAME=FILE for cluster NAME, or FILE
// alone for a repository's only cluster, as kubectl's --kubeconfig.
type kubeconfigFlag struct{ files *map[string]string }

func (f kubeconfigFlag) String() string {
	if f.files == nil {
		return ""
	}
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(*f.files)) {
		parts = append(parts, strings.TrimPrefix(name+"="+(*f.files)[name], "="))
	}
	return strings.Join(parts, ",")
}

func (f kubeconfigFlag) Type() string { return "[NAME=]FILE" }

func (f kubeconfigFlag) Set(v string) error {
	name, file, named := strings.Cut(v, "=")
	// A path may hold "=" too; a cluster name never holds "/".
	if !named || strings.Contains(name, "/") {
		name, file = "", v
	}
	if file == "" {
		return fmt.Errorf("%q names no file; write NAME=FILE, or FILE for a repository with one cluster", v)
	}
	if *f.files == nil {
		*f.files = map[string]string{}
	}
	if old, dup := (*f.files)[name]; dup {
		if name == "" {
			return fmt.Errorf("two kubeconfigs without a cluster name (%s and %s); name the clusters, NAME=FILE", old, file)
		}
		return fmt.Errorf("cluster %s given twice (%s and %s)", name, old, file)
	}
	(*f.files)[name] = file
	return nil
}

// resolveClusterFlags checks --kubeconfig and --context against the
// clusters of allot.yaml before anything else runs, so that a cluster name
// mistyped is a usage error (exit 2) rather than a pass that silently goes
// where allot.yaml says, and binds the forms for a repository's only
// cluster (--kubeconfig FILE, --context) to its name. It reads the
// repository once for that, only when one of the flags is given. When the
// repository cannot be read yet, the pass reports that; only the
// single-cluster forms need it read now.
func resolveClusterFlags(ctx context.Context, o ReconcileOptions) (ReconcileOptions, error) {
	if len(o.Kubeconfigs) == 0 && o.Context == "" {
		return o, nil
	}
	_, bare := o.Kubeconfigs[""]
	unread := func(err error) (ReconcileOptions, error) {
		if bare || o.Context != "" {
			return o, usageError(fmt.Errorf("--context and --kubeconfig FILE need allot.yaml's clusters: %w", err))
		}
		return o, nil
	}
	src, err := newSource(o)
	if err != nil {
		return o, err
	}
	snap, err := src.Fetch(ctx)
	if err != nil {
		return unread(err)
	}
	// Only the clusters are needed here: the pass reads the requests.
	repo, err := load.Load(snap.Dir, load.Options{PlatformOnly: true})
	if err != nil {
		return unread(err)
	}
	if repo.Platform == nil {
		return unread(fmt.Errorf("allot.yaml is missing or invalid; run allot validate"))
	}
	files, contexts, err := reconciler.KubeconfigFlags{Files: o.Kubeconfigs, Context: o.Context}.Resolve(repo.Platform.Platform.Spec.Clusters)
	if err != nil {
		return o, usageError(err)
	}
	o.Kubeconfigs, o.Contexts, o.Context = files, contexts, ""
	return o, nil
}
