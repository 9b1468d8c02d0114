package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"

	"github.com/allot-dev/allot/reconciler"
)

// Client knows how to reach the two API groups of the home cluster a
// Share uses: coordination.k8s.io for the Leases and the core group for
// their namespace. client-go's Clientset is one; NewClient makes one
// without the Clientset's other groups.
type Client interface {
	CoordinationV1() coordinationv1client.CoordinationV1Interface
	CoreV1() corev1client.CoreV1Interface
}

// NewClient makes the typed clients of the two groups a Client has, from
// cfg.
func NewClient(cfg *rest.Config) (Client, error) {
	coordination, err := coordinationv1client.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	core, err := corev1client.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return groupClients{coordination: coordination, core: core}, nil
}

// groupClients is a Client made of one typed client per group.
type groupClients struct {
	coordination *coordinationv1client.CoordinationV1Client
	core         *corev1client.CoreV1Client
}

func (c groupClients) CoordinationV1() coordinationv1client.CoordinationV1Interface {
	return c.coordination
}

func (c groupClients) CoreV1() corev1client.CoreV1Interface { return c.core }

// Options tune a Share; DefaultOptions fills every default.
type Options struct {
	// Client reaches the home cluster, which holds the Leases; give it no
	// client-side rate limit (rest.Config QPS -1), or renewals queue.
	Client Client
	// Namespace holds the Leases.
	Namespace string
	// Identity names this replica in the Leases; it must be unique per
	// process (DefaultIdentity).
	Identity string
	// LeaseDuration is how long others wait, from the last change they
	// saw, before they take a Lease that is not renewed.
	LeaseDuration time.Duration
	// RenewDeadline is how long after the last renewal was sent this
	// replica keeps working on a cluster while renewing fails.
	RenewDeadline time.Duration
	// RetryPeriod is the time between renewals, and between looks at
	// the Leases for clusters to take or give up.
	RetryPeriod time.Duration
	// OnAcquired is called when this replica starts holding a cluster,
	// so that a pass works on it.
	OnAcquired func(cluster string)
	// OnRelease is called when this replica's work on a cluster has ended
	// and before its Lease is given up or can expire: it stops what still
	// watches the cluster.
	OnRelease func(cluster string)
	Log       *slog.Logger
}

// DefaultOptions returns the defaults of client-go's leader election
// (15 s, 10 s, 2 s) in allot-system, for this process's identity.
func DefaultOptions() Options {
	return Options{
		Namespace:     reconciler.SystemNamespace,
		Identity:      DefaultIdentity(),
		LeaseDuration: 15 * time.Second,
		RenewDeadline: 10 * time.Second,
		RetryPeriod:   2 * time.Second,
	}
}

// DefaultIdentity is the host name (the pod's name) and a random suffix,
// so that a restarted process is a new replica and two processes on one
// host are two.
func DefaultIdentity() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "allot"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(host) + "-" + hex.EncodeToString(b[:])
}

// Share divides the clusters offered to it with the other replicas that
// run one against the same home cluster; it is a reconciler.ClusterGate.
type Share struct {
	o Options

	mu       sync.Mutex
	clusters []string
	holds    map[string]*hold
	member   bool
	seen     map[string]observation

	held        prometheus.Gauge
	transitions *prometheus.CounterVec
}

var _ reconciler.ClusterGate = (*Share)(nil)

// Transition events of allot_lease_transitions_total.
const (
	EventAcquired = "acquired"
	EventReleased = "released"
	EventLost     = "lost"
)

// New checks the options and makes a Share; Run makes it work.
func New(o Options) (*Share, error) {
	switch {
	case o.Client == nil:
		return nil, errors.New("fleet: no client for the home cluster")
	case o.Namespace == "" || o.Identity == "":
		return nil, errors.New("fleet: the namespace and the identity must be set")
	case o.RetryPeriod <= 0:
		return nil, fmt.Errorf("fleet: the retry period must be positive, not %s", o.RetryPeriod)
	case o.RenewDeadline <= o.RetryPeriod*6/5:
		// client-go's own rule for its leader election.
		return nil, fmt.Errorf("fleet: the renew deadline (%s) must be longer than 1.2 retry periods (%s)", o.RenewDeadline, o.RetryPeriod)
	case o.LeaseDuration.Truncate(time.Second) <= o.RenewDeadline:
		// The Lease records whole seconds: that is what others wait.
		return nil, fmt.Errorf("fleet: the lease duration (%s, counted in whole seconds) must be longer than the renew deadline (%s)", o.LeaseDuration, o.RenewDeadline)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Share{
		o:     o,
		holds: map[string]*hold{},
		seen:  map[string]observation{},
		held:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "allot_clusters_held", Help: "Clusters whose Lease this replica holds (--share-clusters)."}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "allot_lease_transitions_total",
			Help: "Cluster Leases this replica acquired, released (handed over) or lost (renewal failed), per cluster."}, []string{"cluster", "event"}),
	}, nil
}

// Collectors are the Share's metrics, for a Prometheus registry.
func (s *Share) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.held, s.transitions}
}

// Identity is this replica's name in the Leases.
func (s *Share) Identity() string { return s.o.Identity }

// Offer sets the clusters to share; those this replica holds that are no
// longer offered are given up.
func (s *Share) Offer(clusters []string) {
	sorted := slices.Clone(clusters)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	s.mu.Lock()
	s.clusters = sorted
	s.mu.Unlock()
}

// Enter lets work on a cluster start while this replica holds it, under a
// context that ends when the hold ends; done ends the work.
func (s *Share) Enter(ctx context.Context, cluster string) (context.Context, func(), bool) {
	s.mu.Lock()
	h := s.holds[cluster]
	s.mu.Unlock()
	if h == nil {
		return nil, nil, false
	}
	return h.enter(ctx)
}

// Held lists the clusters this replica may work on now.
func (s *Share) Held() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for name, h := range s.holds {
		if h.isLeading() {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Run keeps this replica's membership Lease, and every retry period takes
// and gives up cluster Leases, until ctx ends; then it gives up every
// Lease it holds, each after its work has ended.
func (s *Share) Run(ctx context.Context) {
	ctx = s.withElectionLog(ctx)
	if _, err := s.o.Client.CoreV1().Namespaces().Get(ctx, s.o.Namespace, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		s.o.Log.Error("the namespace of the Leases does not exist in the home cluster: no cluster is held until it does; create it (the example deployment does)", "namespace", s.o.Namespace)
	}
	var wg sync.WaitGroup
	wg.Go(func() { s.keepMembership(ctx) })
	tick := time.NewTicker(s.o.RetryPeriod)
	defer tick.Stop()
	for {
		s.balance(ctx)
		select {
		case <-ctx.Done():
			s.mu.Lock()
			holds := make([]*hold, 0, len(s.holds))
			for _, h := range s.holds {
				holds = append(holds, h)
			}
			s.mu.Unlock()
			for _, h := range holds {
				go h.end(EventReleased)
			}
			for _, h := range holds {
				<-h.ended
			}
			wg.Wait()
			return
		case <-tick.C:
		}
	}
}
