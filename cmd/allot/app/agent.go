package app

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/allot-dev/allot/internal/netaddr"
)

// AgentOptions are the inputs of Agent.
type AgentOptions struct {
	ServeOptions
	// Cluster is the name, in allot.yaml, of the cluster the agent runs in.
	Cluster string
}

// NewAgentCommand builds `allot agent`.
func NewAgentCommand(s Streams) *cobra.Command {
	o := AgentOptions{}
	cmd := &cobra.Command{
		Use:   "agent --cluster NAME --repo URL",
		Short: "Run inside one cluster and reconcile only that cluster's environments (pull mode)",
		Long: `agent is serve for one cluster, run inside it: it pulls the requests
repository over outbound https, renders every request, and applies only the
bundles placed on --cluster, reaching its own cluster with its service account.
No other process needs credentials for the cluster.`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			return runWithSignals(func(ctx context.Context) error { return Agent(ctx, s, o) })
		},
	}
	o.bindSource(cmd)
	o.bindGuards(cmd)
	cmd.Flags().StringVar(&o.Cluster, "cluster", "", "the name in allot.yaml of the cluster this agent runs in")
	o.bindServe(cmd, 5*time.Minute)
	return cmd
}

// Agent checks that the repository is reached over https (or loopback http,
// for tests) and serves just the agent's cluster.
func Agent(ctx context.Context, s Streams, o AgentOptions) error {
	if o.Cluster == "" {
		return usageError(fmt.Errorf("agent needs --cluster, the name of this cluster in allot.yaml"))
	}
	u, err := url.Parse(o.Repo)
	if err != nil || (u.Scheme != "https" && (u.Scheme != "http" || !netaddr.IsLoopback(u.Hostname()))) {
		return usageError(fmt.Errorf("agent pulls the repository over https only; --repo %q is not an https URL", o.Repo))
	}
	o.Clusters = []string{o.Cluster}
	if _, ok := o.Kubeconfigs[o.Cluster]; !ok {
		o.InCluster = []string{o.Cluster}
	}
	return Serve(ctx, s, o.ServeOptions)
}
