package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/allot-dev/allot/environments"
	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/reconciler/source"
)

// ReconcileOptions are the inputs shared by reconcile, plan and status.
type ReconcileOptions struct {
	// Repo is a local folder, read as it is on disk, or a git URL
	// (https://, ssh://, git@host:path, file://), read at the head of Branch.
	Repo   string
	Branch string
	// TokenFile holds the https token; ALLOT_GIT_TOKEN works too.
	TokenFile      string
	SSHKeyFile     string
	KnownHostsFile string
	// Now is the clock that expiry is read against; nil means time.Now.
	// Tests set it to drive time.
	Now func() time.Time
	// WorkDir keeps the git working copy between passes.
	WorkDir string
	// Kubeconfigs replaces clusters' kubeconfig files by name; "" stands
	// for the repository's only cluster until resolveClusterFlags binds it.
	Kubeconfigs map[string]string
	// Context is the kubeconfig context of the repository's only cluster
	// (--context); resolveClusterFlags moves it into Contexts.
	Context string
	// Contexts picks kubeconfig contexts by cluster name.
	Contexts map[string]string
	// Clusters limits the pass to these clusters.
	Clusters []string
	// InCluster names clusters reached with the credentials of the pod
	// allot runs in, whatever allot.yaml says (agent mode).
	InCluster           []string
	ChartCache          string
	RenderCache         string
	AllowMassDelete     bool
	AllowHistoryRewrite bool
	MaxDeleteShare      float64
	DeleteWindow        time.Duration
	UseKubeconfigServer bool
	Output              string
	// Concurrency bounds environments applied at once per cluster.
	Concurrency int
	// RequestTimeout bounds each request to a cluster.
	RequestTimeout time.Duration
	// SkipIdentityProvider skips the identity provider, for clusters without one (tests,
	// demos); groups are still rendered and shown.
	SkipIdentityProvider bool
	// Environments limits plan to these environments.
	Environments []string
	// Interval repeats reconcile passes when Once is false.
	Once     bool
	Interval time.Duration
}

func (o *ReconcileOptions) bind(cmd *cobra.Command) {
	o.bindSource(cmd)
	cmd.Flags().StringSliceVar(&o.Clusters, "cluster", nil, "reconcile only these clusters (repeatable)")
}

// clusterOutputs are the -o values of reconcile, plan and status.
var clusterOutputs = formats(OutputText)

// bindSource binds every flag but --cluster, which agent uses for its own
// cluster.
func (o *ReconcileOptions) bindSource(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.Repo, "repo", ".", "the requests repository: a local folder (read as it is on disk) or a git URL")
	f.StringVar(&o.Branch, "branch", "main", "the branch to read from a git URL")
	f.StringVar(&o.TokenFile, "token-file", "", "a file holding the https token for the git URL (or set ALLOT_GIT_TOKEN)")
	f.StringVar(&o.SSHKeyFile, "ssh-key", "", "the private key for an ssh git URL")
	f.StringVar(&o.KnownHostsFile, "known-hosts", "", "the known_hosts file for an ssh git URL")
	f.StringVar(&o.WorkDir, "workdir", filepath.Join(os.TempDir(), "allot-work"), "where the git working copy is kept between passes")
	f.Var(kubeconfigFlag{&o.Kubeconfigs}, "kubeconfig", "NAME=FILE: reach cluster NAME through this kubeconfig, with its current context, instead of what allot.yaml says (repeatable); FILE alone for a repository with one cluster")
	f.StringVar(&o.Context, "context", "", "the kubeconfig context for a repository with one cluster, over allot.yaml's kubeconfig.context, as kubectl's --context")
	f.StringVar(&o.ChartCache, "chart-cache", defaultChartCache(), "where remote charts are cached")
	f.StringVar(&o.RenderCache, "render-cache", defaultCache("renders"), "where rendered environments are kept, by the digest of what their render read, so that a later run renders only what changed (empty: in memory only)")
	f.BoolVar(&o.UseKubeconfigServer, "use-kubeconfig-server", false, "reach imported vclusters at the address in their kubeconfig instead of the in-cluster service (for running outside the host cluster)")
	f.IntVar(&o.Concurrency, "concurrency", 0, fmt.Sprintf("environments applied at once per cluster (default %d)", reconciler.DefaultConcurrency))
	f.DurationVar(&o.RequestTimeout, "request-timeout", reconciler.RequestTimeout, "how long one request to a cluster may take (drift watches excepted); after 3 environments in a row cannot reach a cluster, the pass stops working on it")
	f.BoolVar(&o.SkipIdentityProvider, "no-idp", false, "do not sync groups with the identity provider of allot.yaml")
}

func (o *ReconcileOptions) bindGuards(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&o.AllowMassDelete, "allow-mass-delete", false, "let this pass delete more than --max-delete-share of a cluster's managed objects, or all of them")
	cmd.Flags().Float64Var(&o.MaxDeleteShare, "max-delete-share", reconciler.DefaultMaxDeleteShare, "the share of a cluster's managed objects one pass may delete")
	cmd.Flags().DurationVar(&o.DeleteWindow, "delete-window", reconciler.DefaultDeleteWindow, "deletions of the passes within this window count together against --max-delete-share (0 turns it off)")
	cmd.Flags().BoolVar(&o.AllowHistoryRewrite, "allow-history-rewrite", false, "let this pass delete although the branch's commit does not descend from the one last applied (after a force-push)")
}

// newReconciler wires a Reconciler from the options.
func newReconciler(o ReconcileOptions, log *slog.Logger) (*reconciler.Reconciler, error) {
	if o.RenderCache != "" {
		if dir := reconciler.Within(o.RenderCache, o.repositoryDirs()); dir != "" {
			// A file there could come from the repository: allot would
			// apply a bundle a commit planted instead of rendering it.
			return nil, usageError(fmt.Errorf("--render-cache %s lies inside %s, a working copy of the requests repository; choose a folder outside it", o.RenderCache, dir))
		}
	}
	src, err := newSource(o)
	if err != nil {
		return nil, err
	}
	r := &reconciler.Reconciler{
		Source:              src,
		Connector:           &reconciler.Connector{Kubeconfigs: o.Kubeconfigs, Contexts: o.Contexts, InClusterNames: o.InCluster, RepositoryDirs: o.repositoryDirs()},
		Builtin:             environments.Templates(),
		ChartCache:          o.ChartCache,
		RenderCache:         o.RenderCache,
		HelmSandbox:         helmSandbox(),
		OnlyClusters:        o.Clusters,
		AllowMassDelete:     o.AllowMassDelete,
		AllowHistoryRewrite: o.AllowHistoryRewrite,
		DeleteWindow:        deleteWindow(o.DeleteWindow),
		MaxDeleteShare:      o.MaxDeleteShare,
		UseKubeconfigServer: o.UseKubeconfigServer,
		Concurrency:         o.Concurrency,
		RequestTimeout:      o.RequestTimeout,
		Now:                 o.Now,
		Log:                 log,
	}
	if !o.SkipIdentityProvider {
		r.GroupsFor = groupSyncerFactory(r, o, log)
	}
	return r, nil
}

// repositoryDirs are the folders that hold working copies of the requests
// repository: the folder itself, or the git working copy, and the pull
// requests' working copies.
func (o ReconcileOptions) repositoryDirs() []string {
	dirs := []string{o.WorkDir, o.reviewDir()}
	if !isGitURL(o.Repo) {
		dirs = append(dirs, o.Repo)
	}
	return dirs
}

// reviewDir holds the working copies of pull requests.
func (o ReconcileOptions) reviewDir() string {
	return strings.TrimRight(o.WorkDir, "/") + "-review"
}

// isGitURL reports whether repo is a git URL rather than a local folder.
func isGitURL(repo string) bool {
	return strings.Contains(repo, "://") || (strings.HasPrefix(repo, "git@") && strings.Contains(repo, ":"))
}

func newSource(o ReconcileOptions) (reconciler.Source, error) {
	if !isGitURL(o.Repo) {
		return reconciler.FolderSource{Dir: o.Repo}, nil
	}
	token, err := secretFrom(o.TokenFile, os.Getenv("ALLOT_GIT_TOKEN"), "--token-file")
	if err != nil {
		return nil, err
	}
	g, err := source.New(o.gitConfig(token))
	if err != nil {
		return nil, usageError(err)
	}
	return reconciler.GitSource{Git: g}, nil
}

// gitConfig is how to read the repository's branch into WorkDir; the
// pull-request workflow changes the reference and the folder.
func (o ReconcileOptions) gitConfig(token string) source.Config {
	return source.Config{
		URL: o.Repo, Branch: o.Branch, Token: token, SSHKeyFile: o.SSHKeyFile, KnownHostsFile: o.KnownHostsFile,
		Dir: o.WorkDir,
	}
}

// NewReconcileCommand builds `allot reconcile`.
func NewReconcileCommand(s Streams) *cobra.Command {
	o := ReconcileOptions{}
	cmd := &cobra.Command{
		Use:   "reconcile",
		Short: "Make the clusters match the requests repository",
		Long: `reconcile runs a pass: it reads the repository, renders every request, applies
each bundle's phases to its clusters, prunes what left a bundle and tears down
environments whose request was deleted or expired. It stops before deleting when
the repository cannot be read, a request fails to render (that environment keeps
its last state), nothing renders for a cluster that has environments, or more
than --max-delete-share of a cluster's managed objects would go.`,
		Example: `  allot reconcile --once --repo https://github.com/acme/requests.git --token-file /var/run/allot/token
  allot reconcile --once --repo . --kubeconfig dev-eu-1=$HOME/.kube/dev-eu-1.yaml`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			return runWithSignals(func(ctx context.Context) error { return Reconcile(ctx, s, o) })
		},
	}
	o.bind(cmd)
	o.bindGuards(cmd)
	clusterOutputs.bind(cmd, &o.Output)
	cmd.Flags().BoolVar(&o.Once, "once", true, "run one pass and exit")
	cmd.Flags().DurationVar(&o.Interval, "interval", 5*time.Minute, "time between passes without --once")
	return cmd
}

// Reconcile runs one pass, or passes every Interval until ctx ends. In
// text, each environment's line is printed as soon as its result is
// final; JSON and YAML print one document per pass. When ctx ends during
// a pass, what was left undone is printed and Reconcile returns
// errProblems.
func Reconcile(ctx context.Context, s Streams, o ReconcileOptions) error {
	if err := clusterOutputs.check(o.Output); err != nil {
		return usageError(err)
	}
	o, err := resolveClusterFlags(ctx, o)
	if err != nil {
		return err
	}
	p := newPassPrinter(s, o.Output)
	r, err := newReconciler(o, p.logger(s.logger()))
	if err != nil {
		return err
	}
	defer r.StopWatching()
	r.Source = p.watchSource(r.Source)
	r.OnEnvironment = p.environment
	for passes := 0; ; passes++ {
		p.start(ctx, passes)
		res := r.Pass(ctx)
		if err := p.finish(ctx, res); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return errProblems
		}
		if o.Once {
			if res.Failed() {
				return errProblems
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.Interval):
		}
	}
}

// deleteWindow maps the flag's 0 (off) to the reconciler's negative.
func deleteWindow(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
