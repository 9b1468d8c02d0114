package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/reconciler/fleet"
)

// ShareOptions are the flags of replicas that share the fleet.
type ShareOptions struct {
	// Enabled divides the clusters among the replicas through one Lease
	// per cluster in allot-system of the home cluster.
	Enabled bool
	// LeaseDuration, RenewDeadline and RetryPeriod tune the Leases.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

func (o *ShareOptions) bind(cmd *cobra.Command) {
	d := fleet.DefaultOptions()
	f := cmd.Flags()
	f.BoolVar(&o.Enabled, "share-clusters", false, "divide the clusters among the replicas that run with it, through one Lease per cluster in allot-system of the home cluster")
	f.DurationVar(&o.LeaseDuration, "lease-duration", d.LeaseDuration, "with --share-clusters: how long a dead replica's clusters wait before others take them")
	f.DurationVar(&o.RenewDeadline, "renew-deadline", d.RenewDeadline, "with --share-clusters: how long a replica keeps working on a cluster whose Lease it cannot renew (less than --lease-duration)")
	f.DurationVar(&o.RetryPeriod, "retry-period", d.RetryPeriod, "with --share-clusters: time between renewals and between looks for clusters to take or hand over")
}

// startShare makes the reconciler work only on the clusters this replica
// holds, until stop, which gives every Lease up after its work ended.
func startShare(ctx context.Context, o ServeOptions, reviewing bool, r *reconciler.Reconciler, reg prometheus.Registerer, poke func(), log *slog.Logger) (stop func(), err error) {
	switch {
	case o.LeaderElect:
		return nil, usageError(errors.New("--share-clusters and --leader-elect exclude each other: with --share-clusters every replica works, each on its share of the clusters"))
	case reviewing:
		return nil, usageError(errors.New("--share-clusters does not run the pull-request workflow: its notices wait for passes on every cluster; run it in one allot serve without --share-clusters over other clusters, or without the workflow's flags"))
	}
	cfg, err := homeConfig(o.HomeKubeconfig)
	if err != nil {
		return nil, fmt.Errorf("--share-clusters: %w", err)
	}
	// Renewals must not queue behind client-go's default 5 requests a
	// second: they come at a pace the Share sets itself, one per held
	// cluster and one for membership every retry period, plus one list.
	cfg.QPS = -1
	cs, err := fleet.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("--share-clusters: %w", err)
	}
	fo := fleet.DefaultOptions()
	fo.Client, fo.Log = cs, log
	fo.LeaseDuration, fo.RenewDeadline, fo.RetryPeriod = o.Share.LeaseDuration, o.Share.RenewDeadline, o.Share.RetryPeriod
	fo.OnAcquired = func(string) { poke() }
	// The drift watch of a cluster given up stops before its Lease goes.
	fo.OnRelease = r.Forget
	share, err := fleet.New(fo)
	if err != nil {
		return nil, usageError(err)
	}
	reg.MustRegister(share.Collectors()...)
	r.Gate = share
	log.Info("sharing the clusters with other replicas", "identity", share.Identity(), "namespace", fo.Namespace)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		share.Run(ctx)
	}()
	return func() { cancel(); <-done }, nil
}

// homeClient reaches the Leases (and their namespace) of the cluster
// allot runs in: kubeconfig, or in-cluster credentials when it is empty.
func homeClient(kubeconfig string) (fleet.Client, error) {
	cfg, err := homeConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	return fleet.NewClient(cfg)
}

func homeConfig(kubeconfig string) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if kubeconfig != "" {
		cfg, err = (&reconciler.Connector{}).KubeconfigFile(kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("home cluster: %w", err)
	}
	return cfg, nil
}
