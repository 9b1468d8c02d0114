package reconciler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/test/harness"
)

// proxiedFixture is a fixture whose cluster a is reached through a fault
// proxy, with n environments applied, and a log allot writes to.
func proxiedFixture(t *testing.T, n int) (*fixture, *harness.FaultProxy, *harness.SyncBuffer) {
	t.Helper()
	f := newFixture(t, "a")
	u, err := url.Parse(f.cps["a"].Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := harness.StartFaultProxy(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	kubeconfig, err := harness.KubeconfigVia(f.cps["a"].Kubeconfig, proxy.Addr, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f.r.Connector.Kubeconfigs["a"] = kubeconfig
	f.r.Concurrency = 1
	f.r.RequestTimeout = 2 * time.Second
	log := &harness.SyncBuffer{}
	f.r.Log = slog.New(slog.NewTextHandler(log, nil))
	for i := range n {
		f.src.write(t, fmt.Sprintf("environments/web/env%02d.yaml", i), request(fmt.Sprintf("env%02d", i), "a", fmt.Sprintf(configAddon, "shared")))
	}
	f.src.write(t, "addons/shared/config.yaml", configMap("settings", "one", ""))
	f.mustPass(t)
	return f, proxy, log
}

// passWhile runs a pass and, once the first environment's record shows
// the pass's commit (read directly, not through the proxy), calls fault.
func passWhile(t *testing.T, f *fixture, fault func()) *PassResult {
	t.Helper()
	done := make(chan *PassResult, 1)
	commit := fmt.Sprintf("commit-%d", f.src.commit+1)
	go func() { done <- f.pass(t) }()
	for {
		select {
		case res := <-done:
			t.Fatalf("the pass ended before the fault was injected: %s", describe(res))
		case <-time.After(10 * time.Millisecond):
		}
		var rec corev1.ConfigMap
		err := f.cps["a"].Client.Get(context.Background(), client.ObjectKey{Namespace: SystemNamespace, Name: "env00"}, &rec)
		if err == nil && strings.Contains(rec.Data["record.json"], commit) {
			break
		}
	}
	fault()
	select {
	case res := <-done:
		return res
	case <-time.After(time.Minute):
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
		t.Fatal("the pass did not end within a minute of the fault")
		return nil
	}
}

// connectionErrors counts the environment results that failed to reach the
// cluster.
func connectionErrors(res *PassResult) int {
	n := 0
	for _, c := range res.Clusters {
		for _, e := range c.Environments {
			if isConnectionError(e.Err) {
				n++
			}
		}
	}
	return n
}

// Issue 16: an API server that goes away or freezes mid-pass stops the
// pass's work on that cluster after a few environments, with one error for
// the cluster rather than one per environment; the next pass, once it is
// back, converges.
func TestUnreachableClusterStopsThePassWithOneLine(t *testing.T) {
	const n = 24
	faults := []struct {
		name    string
		inject  func(p *harness.FaultProxy)
		recover func(t *testing.T, p *harness.FaultProxy)
	}{{
		name:   "server gone",
		inject: func(p *harness.FaultProxy) { p.Cut() },
		recover: func(t *testing.T, p *harness.FaultProxy) {
			if err := p.Restore(); err != nil {
				t.Fatal(err)
			}
		},
	}, {
		name:    "server frozen",
		inject:  func(p *harness.FaultProxy) { p.Freeze() },
		recover: func(_ *testing.T, p *harness.FaultProxy) { p.Thaw() },
	}}
	for _, fc := range faults {
		t.Run(fc.name, func(t *testing.T) {
			f, proxy, log := proxiedFixture(t, n)
			// Every environment has work to do in the next pass.
			f.src.write(t, "addons/shared/config.yaml", configMap("settings", "two", ""))
			res := passWhile(t, f, func() { fc.inject(proxy) })
			cl := res.Clusters[0]
			if !errors.Is(cl.Err, ErrClusterUnreachable) {
				t.Fatalf("cluster error %v, want unreachable\n%s", cl.Err, describe(res))
			}
			if got := connectionErrors(res); got != 0 {
				t.Errorf("%d environments report a connection error of their own; the cluster's one line should hold them\n%s", got, describe(res))
			}
			if len(cl.Environments) >= n {
				t.Errorf("%d of %d environments were tried after the cluster went away", len(cl.Environments), n)
			}
			if !strings.Contains(cl.Err.Error(), "not reconciled this pass") {
				t.Errorf("cluster error %q does not say what was left undone", cl.Err)
			}
			if got := strings.Count(log.String(), "environment failed"); got != 0 {
				t.Errorf("%d per-environment error lines logged:\n%s", got, log.String())
			}
			if got := strings.Count(log.String(), `msg="cluster unreachable"`); got != 1 {
				t.Errorf("%d cluster lines logged, want 1:\n%s", got, log.String())
			}

			fc.recover(t, proxy)
			res = f.mustPass(t)
			if len(res.Clusters[0].Environments) != n {
				t.Errorf("%d environments after recovery, want %d\n%s", len(res.Clusters[0].Environments), n, describe(res))
			}
			var cm corev1.ConfigMap
			if err := f.get(t, "a", &cm, fmt.Sprintf("env%02d", n-1), "settings"); err != nil || cm.Data["value"] != "two" {
				t.Errorf("last environment's config %v (%v), want two", cm.Data, err)
			}
		})
	}
}
