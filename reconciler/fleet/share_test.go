package fleet

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/allot-dev/allot/test/harness"
)

var home *harness.ControlPlane

func TestMain(m *testing.M) {
	var err error
	home, err = harness.Start(harness.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = home.Stop()
	os.Exit(code)
}

// Fast Leases for tests: a replica that stops renewing stops working
// after a second, and others take its clusters after two.
const (
	testLeaseDuration = 2 * time.Second
	testRenewDeadline = time.Second
	testRetryPeriod   = 250 * time.Millisecond
)

// ledger records who works on which cluster, and any overlap.
type ledger struct {
	mu       sync.Mutex
	working  map[string]string
	overlaps []string
	// ended is when each replica last stopped working on each cluster.
	ended map[string]time.Time
	began map[string]time.Time
}

func (l *ledger) begin(cluster, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if other, busy := l.working[cluster]; busy {
		l.overlaps = append(l.overlaps, fmt.Sprintf("%s started on %s while %s worked on it", id, cluster, other))
	}
	l.working[cluster] = id
	l.began[id+"/"+cluster] = time.Now()
}

func (l *ledger) end(cluster, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.working[cluster] == id {
		delete(l.working, cluster)
	}
	l.ended[id+"/"+cluster] = time.Now()
}

// replica is one Share with a worker that works on each cluster it
// acquires for as long as it may.
type replica struct {
	share  *Share
	cancel context.CancelFunc
	done   chan struct{}
}

func startReplica(t *testing.T, cfg *rest.Config, ns, id string, clusters []string, led *ledger) *replica {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.Client, o.Namespace, o.Identity = cs, ns, id
	o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = testLeaseDuration, testRenewDeadline, testRetryPeriod
	acquired := make(chan string, 64)
	o.OnAcquired = func(c string) { acquired <- c }
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	s.Offer(clusters)
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{share: s, cancel: cancel, done: make(chan struct{})}
	var workers sync.WaitGroup
	go func() {
		defer close(r.done)
		workers.Go(func() { s.Run(ctx) })
		for {
			select {
			case <-ctx.Done():
				workers.Wait()
				return
			case c := <-acquired:
				wctx, done, ok := s.Enter(ctx, c)
				if !ok {
					continue
				}
				workers.Go(func() {
					defer done()
					led.begin(c, id)
					<-wctx.Done()
					led.end(c, id)
				})
			}
		}
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *replica) stop() {
	r.cancel()
	<-r.done
}

func waitFor(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		<-tick.C
	}
}

// divided reports whether the replicas hold every cluster between them,
// none twice, none more than max.
func divided(clusters []string, max int, rs ...*replica) bool {
	var all []string
	for _, r := range rs {
		held := r.share.Held()
		if len(held) > max {
			return false
		}
		all = append(all, held...)
	}
	slices.Sort(all)
	return slices.Equal(all, clusters)
}

func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "fleet-"}}
	if err := home.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

func TestShareDividesTheFleet(t *testing.T) {
	ns := newNamespace(t)
	clusters := []string{"c1", "c2", "c3", "c4", "c5"}
	led := &ledger{working: map[string]string{}, ended: map[string]time.Time{}, began: map[string]time.Time{}}

	a := startReplica(t, home.Config, ns, "a", clusters, led)
	b := startReplica(t, home.Config, ns, "b", clusters, led)
	waitFor(t, 20*time.Second, "two replicas hold 3 and 2 of 5 clusters", func() bool { return divided(clusters, 3, a, b) })

	// c reaches the home cluster through a proxy, to be cut off later.
	u, err := url.Parse(home.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := harness.StartFaultProxy(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = proxy.Close() }()
	viaProxy := rest.CopyConfig(home.Config)
	viaProxy.Host = "https://" + proxy.Addr
	c := startReplica(t, viaProxy, ns, "c", clusters, led)
	t.Run("a replica that joins gets its share, handed over", func(t *testing.T) {
		waitFor(t, 20*time.Second, "three replicas hold at most 2 of 5 each", func() bool {
			return divided(clusters, 2, a, b, c) && len(c.share.Held()) > 0
		})
	})

	t.Run("a replica that stops cut off loses its clusters to the others after the lease duration, having stopped first", func(t *testing.T) {
		lost := c.share.Held()
		proxy.Freeze()
		frozen := time.Now()
		waitFor(t, 20*time.Second, "the two left hold all 5", func() bool { return divided(clusters, 3, a, b) })
		led.mu.Lock()
		defer led.mu.Unlock()
		for _, cl := range lost {
			stopped := led.ended["c/"+cl]
			if stopped.IsZero() {
				t.Fatalf("c never stopped working on %s", cl)
			}
			if took := stopped.Sub(frozen); took > testRenewDeadline+testRetryPeriod {
				t.Errorf("c worked on %s for %s after it could no longer renew; the renew deadline is %s", cl, took, testRenewDeadline)
			}
			for _, other := range []string{"a", "b"} {
				if began := led.began[other+"/"+cl]; began.After(frozen) && began.Before(stopped) {
					t.Errorf("%s began on %s at %s, before c stopped at %s", other, cl, began, stopped)
				}
				if began := led.began[other+"/"+cl]; began.After(frozen) && began.Sub(frozen) < testLeaseDuration {
					t.Errorf("%s took %s %s after c was cut off, before the lease duration %s", other, cl, began.Sub(frozen), testLeaseDuration)
				}
			}
		}
		proxy.Thaw()
	})

	t.Run("a replica that leaves hands its clusters over at once", func(t *testing.T) {
		c.stop()
		waitFor(t, 20*time.Second, "a and b again hold all 5", func() bool { return divided(clusters, 3, a, b) })
		held := b.share.Held()
		b.stop()
		left := time.Now()
		waitFor(t, 20*time.Second, "a holds all 5", func() bool { return divided(clusters, 5, a) })
		if took := time.Since(left); took >= testLeaseDuration {
			t.Errorf("a took over b's %v after %s, not at once (b released them)", held, took)
		}
	})

	t.Run("a cluster that leaves the fleet is given up", func(t *testing.T) {
		a.share.Offer(clusters[:4])
		waitFor(t, 10*time.Second, "a holds the four left", func() bool { return slices.Equal(a.share.Held(), clusters[:4]) })
		l, err := kubernetes.NewForConfigOrDie(home.Config).CoordinationV1().Leases(ns).Get(context.Background(), LeaseName("c5"), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" {
			t.Errorf("c5's Lease still held by %s", *l.Spec.HolderIdentity)
		}
		a.share.Offer(clusters)
		waitFor(t, 10*time.Second, "a holds c5 again", func() bool { return divided(clusters, 5, a) })
	})

	led.mu.Lock()
	defer led.mu.Unlock()
	if len(led.overlaps) > 0 {
		t.Errorf("two replicas worked on one cluster at once:\n%s", strings.Join(led.overlaps, "\n"))
	}
	leases, err := kubernetes.NewForConfigOrDie(home.Config).CoordinationV1().Leases(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leases.Items {
		if strings.HasPrefix(l.Name, clusterPrefix) && (l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != "a") {
			t.Errorf("lease %s is not held by a, the last replica", l.Name)
		}
	}
}

func TestLeaseNames(t *testing.T) {
	names := []string{"dev", "dev-eu-1", "Dev_EU_1", "dev.eu.1", "dev_eu_1", "", strings.Repeat("x", 300)}
	seen := map[string]string{}
	for _, n := range names {
		l := LeaseName(n)
		if errs := validation.IsDNS1123Subdomain(l); len(errs) > 0 {
			t.Errorf("LeaseName(%q) = %q: %v", n, l, errs)
		}
		if other, dup := seen[l]; dup {
			t.Errorf("%q and %q share the Lease %s", n, other, l)
		}
		seen[l] = n
	}
	if got := LeaseName("dev-eu-1"); got != "allot-cluster-dev-eu-1" {
		t.Errorf("a DNS label keeps its name: got %s", got)
	}
}

func TestNewRefusesUnsafeDurations(t *testing.T) {
	cs := kubernetes.NewForConfigOrDie(home.Config)
	for _, tc := range []struct{ lease, renew, retry time.Duration }{
		{2 * time.Second, 2 * time.Second, 250 * time.Millisecond},
		{2500 * time.Millisecond, 2 * time.Second, 250 * time.Millisecond},
		{4 * time.Second, time.Second, time.Second},
		{4 * time.Second, time.Second, 0},
	} {
		o := DefaultOptions()
		o.Client, o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = cs, tc.lease, tc.renew, tc.retry
		if _, err := New(o); err == nil {
			t.Errorf("lease %s, renew %s, retry %s: accepted", tc.lease, tc.renew, tc.retry)
		}
	}
}

func TestShareOnNewClient(t *testing.T) {
	ns := newNamespace(t)
	cs, err := NewClient(home.Config)
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.Client, o.Namespace, o.Identity = cs, ns, "only"
	o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = testLeaseDuration, testRenewDeadline, testRetryPeriod
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	clusters := []string{"c1", "c2"}
	s.Offer(clusters)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	holders := func() []string {
		hs, err := Holders(context.Background(), cs.CoordinationV1(), ns, clusters, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, h := range hs {
			out = append(out, h.Holder)
		}
		return out
	}

	waitFor(t, 10*time.Second, "the replica holds both clusters", func() bool { return slices.Equal(s.Held(), clusters) })
	if got := holders(); !slices.Equal(got, []string{"only", "only"}) {
		t.Errorf("the Leases name %v as holders, want the replica", got)
	}
	cancel()
	<-done
	if got := holders(); !slices.Equal(got, []string{"", ""}) {
		t.Errorf("after Run ended the Leases name %v as holders, want none", got)
	}
}
