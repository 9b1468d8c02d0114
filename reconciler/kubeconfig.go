package reconciler

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/allot-dev/allot/schemas"
)

// KubeconfigFlags are what the command line says about reaching clusters,
// kubectl's way: kubeconfig files by cluster name, and, for a repository
// with one cluster, a file without a name and a context.
type KubeconfigFlags struct {
	// Files are kubeconfig files by cluster name (--kubeconfig NAME=FILE);
	// the name "" stands for the repository's only cluster (--kubeconfig
	// FILE).
	Files map[string]string
	// Context is the kubeconfig context of the repository's only cluster
	// (--context).
	Context string
}

// ErrUnknownCluster says a flag names a cluster that allot.yaml does not
// have.
var ErrUnknownCluster = errors.New("no such cluster in allot.yaml")

// ErrNotOneCluster says a flag that stands for a repository's only cluster
// was given for a repository with several, or none.
var ErrNotOneCluster = errors.New("works for a repository with one cluster")

// Resolve checks the flags against allot.yaml's clusters and returns the
// kubeconfig files and contexts by cluster name, for Connector.Kubeconfigs
// and Connector.Contexts. A name that is not a cluster fails with
// ErrUnknownCluster, a file without a name or a context for a repository
// of several clusters with ErrNotOneCluster, each listing the clusters.
func (f KubeconfigFlags) Resolve(clusters []schemas.Cluster) (files, contexts map[string]string, err error) {
	names := make([]string, 0, len(clusters))
	for _, cl := range clusters {
		names = append(names, cl.Name)
	}
	have := "allot.yaml has no clusters"
	if len(names) > 0 {
		have = fmt.Sprintf("allot.yaml's clusters are %s", strings.Join(names, ", "))
	}
	files = map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(f.Files)) {
		file := f.Files[name]
		switch {
		case name == "" && len(clusters) != 1:
			return nil, nil, fmt.Errorf("--kubeconfig %s without a cluster name %w; %s: pass --kubeconfig NAME=%s", file, ErrNotOneCluster, have, file)
		case name == "":
			name = clusters[0].Name
			if other, dup := f.Files[name]; dup {
				return nil, nil, fmt.Errorf("--kubeconfig %s and --kubeconfig %s=%s both name cluster %s; keep one", file, name, other, name)
			}
		case !slices.Contains(names, name):
			return nil, nil, fmt.Errorf("--kubeconfig %s=%s: %w; %s", name, file, ErrUnknownCluster, have)
		}
		files[name] = file
	}
	contexts = map[string]string{}
	if f.Context != "" {
		if len(clusters) != 1 {
			return nil, nil, fmt.Errorf("--context %w; %s: set kubeconfig.context for each in allot.yaml, or pass --kubeconfig NAME=FILE with a kubeconfig whose current context is the one", ErrNotOneCluster, have)
		}
		cl := clusters[0]
		if _, flagged := files[cl.Name]; cl.InCluster && !flagged {
			return nil, nil, fmt.Errorf("--context %s: cluster %s is reached with inCluster: true, which has no contexts; pass --kubeconfig FILE too", f.Context, cl.Name)
		}
		contexts[cl.Name] = f.Context
	}
	return files, contexts, nil
}
