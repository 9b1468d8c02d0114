package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/review"
)

// ServeOptions are the inputs of Serve.
type ServeOptions struct {
	ReconcileOptions
	// Listen is the address of /metrics, /healthz and /readyz.
	Listen string
	// LeaderElect makes replicas take turns through a Lease in
	// allot-system of the cluster allot runs in.
	LeaderElect bool
	// HomeKubeconfig reaches the cluster allot runs in, for the Lease;
	// empty means in-cluster credentials.
	HomeKubeconfig string
	// Share divides the clusters among replicas (--share-clusters).
	Share ShareOptions
	// Debounce gathers drift events that arrive together into one pass.
	Debounce time.Duration
	// Review turns on the pull-request workflow.
	Review ReviewOptions
	// ReadyTimeout bounds how long the ready notice of a merged pull
	// request waits for its environments.
	ReadyTimeout time.Duration
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// Ready is closed once the server listens, for tests.
	Ready chan<- string
	// Pprof serves Go's profiles on /debug/pprof/ of Listen (for
	// diagnosing memory; Listen should then be a private address).
	Pprof bool
}

// NewServeCommand builds `allot serve`.
func NewServeCommand(s Streams, getenv func(string) string) *cobra.Command {
	o := ServeOptions{Getenv: getenv}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run reconcile passes continuously, repair drift within seconds, and serve metrics",
		Long: `serve runs a reconcile pass at start, every --interval, and whenever an object
allot manages is changed by someone else (drift), which it repairs within
seconds — or only reports, for clusters in warn mode. It serves Prometheus
metrics on /metrics, and /healthz and /readyz for probes. With --leader-elect,
several replicas share a Lease and one of them works at a time; with
--share-clusters, every replica works, each on its share of the clusters,
holding one Lease per cluster.

With a GitHub webhook secret and a token or GitHub App, serve also runs the
pull-request workflow on --github-webhook-path: it validates and plans each
pull request to the requests repository, keeps one comment on it up to date,
takes /approve, /hold, /unhold, /plan, /help and /extend comments, merges what is
approved and green, comments when the merged environments are ready, and
warns before they expire (notices.expiry in allot.yaml).`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			return runWithSignals(func(ctx context.Context) error { return Serve(ctx, s, o) })
		},
	}
	o.bind(cmd)
	o.bindGuards(cmd)
	o.bindServe(cmd, 10*time.Minute)
	o.Review.bind(cmd)
	cmd.Flags().DurationVar(&o.ReadyTimeout, "ready-timeout", 10*time.Minute, "how long the notice on a merged pull request waits for its environments to become ready")
	cmd.Flags().StringVar(&o.HomeKubeconfig, "home-kubeconfig", "", "kubeconfig of the cluster allot runs in, for the Leases (default: in-cluster)")
	o.Share.bind(cmd)
	cmd.Flags().BoolVar(&o.Pprof, "pprof", false, "serve Go's profiles on /debug/pprof/ of --listen (for diagnosing memory)")
	_ = cmd.Flags().MarkHidden("pprof")
	return cmd
}

// bindServe binds the flags serve and agent share.
func (o *ServeOptions) bindServe(cmd *cobra.Command, interval time.Duration) {
	f := cmd.Flags()
	f.DurationVar(&o.Interval, "interval", interval, "time between full passes")
	f.StringVar(&o.Listen, "listen", ":8080", "address for /metrics, /healthz and /readyz")
	f.BoolVar(&o.LeaderElect, "leader-elect", false, "take turns with other replicas through a Lease in allot-system")
	f.DurationVar(&o.Debounce, "drift-debounce", 300*time.Millisecond, "how long to gather drift events before a pass")
}

// runWithSignals runs fn with a context that ends on SIGINT or SIGTERM. A
// second signal kills the process, as if allot did not catch them.
func runWithSignals(fn func(context.Context) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	return fn(ctx)
}

// metrics are allot's Prometheus metrics.
type metrics struct {
	passes   *prometheus.CounterVec
	duration prometheus.Histogram
	applied  *prometheus.CounterVec
	pruned   *prometheus.CounterVec
	drift    *prometheus.CounterVec
	errors   *prometheus.CounterVec
	envs     *prometheus.GaugeVec
	notReady *prometheus.GaugeVec
	watchUp  *prometheus.GaugeVec
	asleep   *prometheus.GaugeVec
	wakeAt   *prometheus.GaugeVec
	teams    *teamMetrics
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		passes:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "allot_passes_total", Help: "Reconcile passes by result."}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "allot_pass_duration_seconds", Help: "How long a reconcile pass takes.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 14)}),
		applied:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "allot_objects_applied_total", Help: "Objects created or changed, per cluster."}, []string{"cluster"}),
		pruned:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "allot_objects_pruned_total", Help: "Objects deleted, per cluster."}, []string{"cluster"}),
		drift:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "allot_drift_total", Help: "Changes made outside allot to objects it manages, per cluster."}, []string{"cluster"}),
		errors:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "allot_errors_total", Help: "Failed environments and unreachable clusters, per cluster."}, []string{"cluster"}),
		envs:     prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "allot_environments", Help: "Environments per cluster by the action of the last pass."}, []string{"cluster", "action"}),
		notReady: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "allot_environments_not_ready", Help: "Environments per cluster that were not ready after the last pass."}, []string{"cluster"}),
		watchUp:  prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "allot_drift_watch_up", Help: "1 when the drift watch works on a cluster, 0 when it does not (drift is then found by full passes only)."}, []string{"cluster"}),
		asleep:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "allot_environments_asleep", Help: "Environments per cluster asleep on their schedule after the last pass."}, []string{"cluster"}),
		wakeAt:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "allot_environment_wake_time_seconds", Help: "When each sleeping environment wakes, as a Unix time (0 for never)."}, []string{"cluster", "environment"}),
	}
	m.teams = newTeamMetrics(reg)
	reg.MustRegister(m.passes, m.duration, m.applied, m.pruned, m.drift, m.errors, m.envs, m.notReady, m.watchUp, m.asleep, m.wakeAt,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) record(res *reconciler.PassResult, took time.Duration) {
	m.duration.Observe(took.Seconds())
	result := "ok"
	if res.Failed() {
		result = "failed"
	}
	m.passes.WithLabelValues(result).Inc()
	m.teams.record(res)
	m.envs.Reset()
	m.notReady.Reset()
	m.asleep.Reset()
	m.wakeAt.Reset()
	for _, c := range res.Clusters {
		if c.Err != nil {
			m.errors.WithLabelValues(c.Name).Inc()
		} else if c.WatchErr != nil {
			m.watchUp.WithLabelValues(c.Name).Set(0)
		} else {
			m.watchUp.WithLabelValues(c.Name).Set(1)
		}
		for _, e := range c.Environments {
			m.applied.WithLabelValues(c.Name).Add(float64(e.Applied))
			m.pruned.WithLabelValues(c.Name).Add(float64(e.Pruned))
			m.envs.WithLabelValues(c.Name, string(e.Action)).Inc()
			if !e.Ready && e.Action != reconciler.ActionDeleted {
				m.notReady.WithLabelValues(c.Name).Inc()
			}
			if e.Err != nil {
				m.errors.WithLabelValues(c.Name).Inc()
			}
			if e.Asleep {
				m.asleep.WithLabelValues(c.Name).Inc()
				m.wakeAt.WithLabelValues(c.Name, e.Environment).Set(float64(max(e.SleepUntil.Unix(), 0)))
			}
		}
	}
}

// Serve runs passes until ctx ends.
func Serve(ctx context.Context, s Streams, o ServeOptions) error {
	log := s.logger()
	var err error
	if o.ReconcileOptions, err = resolveClusterFlags(ctx, o.ReconcileOptions); err != nil {
		return err
	}
	r, err := newReconciler(o.ReconcileOptions, log)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	reg.MustRegister(newWatchSynced(r.WatchSynced))
	trigger := make(chan struct{}, 1)
	poke := func() {
		select {
		case trigger <- struct{}{}:
		default:
		}
	}
	r.OnDrift = func(d reconciler.Drift) {
		m.drift.WithLabelValues(d.Cluster).Inc()
		log.Info("drift", "cluster", d.Cluster, "object", d.Object, "deleted", d.Deleted)
		poke()
	}
	// A change of status may make an environment ready, or break one that
	// was: a pass reads its readiness again.
	r.OnStatusChange = func(reconciler.StatusChange) { poke() }
	feed := &passFeed{trigger: poke, reconciler: r}
	webhook, recoverNotices, err := newReviewHandler(ctx, o, feed, log)
	if err != nil {
		return err
	}
	defer r.StopWatching()
	if o.Share.Enabled {
		stop, err := startShare(ctx, o, webhook != nil, r, reg, poke, log)
		if err != nil {
			return err
		}
		defer stop()
	}

	var ready atomic.Bool
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "no pass has finished yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	if webhook != nil {
		mux.Handle(o.Review.Path, webhook)
	}
	if o.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return usageError(fmt.Errorf("listen on %s: %w", o.Listen, err))
	}
	// The webhook path is open to the internet; every path shares its
	// timeouts.
	srv := review.NewServer(mux)
	// A server that stops on its own (not by Shutdown) stops serve.
	ctx, stopServing := context.WithCancelCause(ctx)
	defer stopServing(nil)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("the HTTP server stopped", "address", ln.Addr().String(), "error", err)
			stopServing(fmt.Errorf("the HTTP server on %s stopped: %w", ln.Addr(), err))
		}
	}()
	defer func() {
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if o.Ready != nil {
		o.Ready <- ln.Addr().String()
	}
	log.Info("serving", "address", ln.Addr().String())

	loop := func(ctx context.Context) {
		if recoverNotices != nil {
			// Only the replica that reconciles can tell when environments
			// are ready.
			go recoverNotices(ctx)
		}
		schedule := reconciler.Schedule{Interval: o.Interval}
		for {
			start := time.Now()
			n := feed.start()
			res := r.Pass(ctx)
			feed.finish(n, res)
			m.record(res, time.Since(start))
			logPass(log, res, time.Since(start))
			if res.Err == nil {
				ready.Store(true)
			}
			wait := schedule.After(res, time.Now())
			select {
			case <-ctx.Done():
				return
			case <-trigger:
				if !reconciler.Debounce(ctx, trigger, o.Debounce) {
					return
				}
			case <-time.After(wait):
				// The periodic pass checks everything against the clusters,
				// not only what the drift watch reported.
				r.Invalidate()
			}
		}
	}
	if !o.LeaderElect {
		loop(ctx)
		return servingCause(ctx)
	}
	if err := leaderElect(ctx, o.HomeKubeconfig, log, loop); err != nil {
		return err
	}
	return servingCause(ctx)
}

func logPass(log *slog.Logger, res *reconciler.PassResult, took time.Duration) {
	if res.Err != nil {
		log.Error("pass stopped before changing anything", "error", res.Err)
		return
	}
	for _, c := range res.Clusters {
		if c.Err != nil {
			log.Error("cluster", "cluster", c.Name, "error", c.Err)
		}
		for _, e := range c.Environments {
			if e.Action != reconciler.ActionUnchanged || e.Err != nil {
				log.Info("environment", "cluster", c.Name, "environment", e.Environment, "action", e.Action, "applied", e.Applied, "pruned", e.Pruned, "message", e.Message, "error", errString(e.Err))
			}
		}
	}
	for _, kr := range res.Kept.List() {
		if kr.Environment != "" {
			log.Warn("request failed; last state kept", "environment", kr.Environment, "error", kr.Message)
		} else {
			log.Warn("request failed; last state kept", "file", kr.File, "error", kr.Message)
		}
	}
	log.Info("pass", "commit", res.Commit, "seconds", took.Seconds(), "rendered", res.Rendered, "renderCached", res.RenderCached)
}

// servingCause is why serve stopped when that was not a signal: its HTTP
// server failed.
func servingCause(ctx context.Context) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// leaderElect runs work while this replica holds the allot Lease.
func leaderElect(ctx context.Context, kubeconfig string, log *slog.Logger, work func(context.Context)) error {
	cs, err := homeClient(kubeconfig)
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	id, err := os.Hostname()
	if err != nil {
		return err
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, reconciler.SystemNamespace, "allot", cs.CoreV1(), cs.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: id})
	if err != nil {
		return err
	}
	done := make(chan struct{})
	leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
		Lock: lock, ReleaseOnCancel: true,
		LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				log.Info("leading", "identity", id)
				work(ctx)
				close(done)
			},
			OnStoppedLeading: func() { log.Info("stopped leading", "identity", id) },
		},
	})
	select {
	case <-done:
	default:
	}
	if ctx.Err() != nil {
		return nil
	}
	return errors.New("lost the lease")
}
