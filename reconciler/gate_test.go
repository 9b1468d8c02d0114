package reconciler

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// heldGate is a ClusterGate over a set the test changes: what a replica of
// a shared fleet holds.
type heldGate struct {
	mu      sync.Mutex
	held    map[string]bool
	offered []string
	// lost makes Enter hand out a context that has already ended, as
	// when the Lease is lost right after the work began.
	lost map[string]bool
}

func (g *heldGate) Offer(clusters []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.offered = slices.Clone(clusters)
}

func (g *heldGate) Enter(ctx context.Context, cluster string) (context.Context, func(), bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.held[cluster] {
		return nil, nil, false
	}
	wctx, cancel := context.WithCancel(ctx)
	if g.lost[cluster] {
		cancel()
	}
	return wctx, cancel, true
}

func (g *heldGate) hold(clusters ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.held = map[string]bool{}
	for _, c := range clusters {
		g.held[c] = true
	}
}

func TestGateNarrowsThePass(t *testing.T) {
	f := newFixture(t, "a", "b")
	gate := &heldGate{lost: map[string]bool{}}
	f.r.Gate = gate
	groups := &recordingGroups{}
	f.r.Groups = groups
	f.src.write(t, "allot.yaml", strings.Replace(platformYAML, "idp: {provider: none}", "idp: {provider: scim, url: https://idp.example/scim/v2, token: {env: T}}", 1))
	f.src.write(t, "environments/web/on-a.yaml", request("on-a", "a", ""))
	f.src.write(t, "environments/web/on-b.yaml", request("on-b", "b", ""))

	t.Run("a pass works only on the clusters the replica holds", func(t *testing.T) {
		gate.hold("b")
		res := f.mustPass(t)
		if len(res.Clusters) != 1 || res.Clusters[0].Name != "b" {
			t.Fatalf("the pass worked on %s, want b alone", describe(res))
		}
		if !slices.Equal(gate.offered, []string{"a", "b"}) {
			t.Errorf("offered %v, want every cluster", gate.offered)
		}
		var ns corev1.Namespace
		if f.exists(t, "a", &ns, "", "on-a") {
			t.Error("on-a was applied to a, which the replica does not hold")
		}
		if !f.exists(t, "b", &ns, "", "on-b") {
			t.Error("on-b was not applied to b")
		}
		if got := groups.names(); got != "" {
			t.Errorf("the holder of b, not the first cluster, synced the IdP: %q", got)
		}
	})

	t.Run("the holder of the first cluster syncs the IdP, keeping the groups of environments on clusters others hold", func(t *testing.T) {
		// on-b fails to render: its cluster, held elsewhere, keeps it, and
		// so must its group.
		f.src.write(t, "environments/web/on-b.yaml", request("on-b", "b", "  sise: large\n"))
		gate.hold("a")
		f.pass(t)
		want := "allot-on-a=dev@example.com allot-on-b=dev@example.com"
		if got := groups.names(); got != want {
			t.Errorf("groups %q, want %q", got, want)
		}
	})

	t.Run("work on a cluster given up during the pass is not a failure of the pass", func(t *testing.T) {
		f.src.write(t, "environments/web/on-b.yaml", request("on-b", "b", ""))
		gate.hold("a", "b")
		gate.mu.Lock()
		gate.lost["a"] = true
		gate.mu.Unlock()
		res := f.mustPass(t)
		if len(res.Clusters) != 1 || res.Clusters[0].Name != "b" {
			t.Errorf("the pass reported %s, want b alone", describe(res))
		}
	})
}
