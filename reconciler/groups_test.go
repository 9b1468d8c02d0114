package reconciler

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/allot-dev/allot/renderer"
)

// recordingGroups keeps what the reconciler asks the IdP to hold.
type recordingGroups struct {
	mu   sync.Mutex
	last []string
}

func (g *recordingGroups) SyncGroups(_ context.Context, want []renderer.Group) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.last = nil
	for _, w := range want {
		g.last = append(g.last, w.Name+"="+strings.Join(w.Members, ","))
	}
	return nil
}

func (g *recordingGroups) names() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return strings.Join(g.last, " ")
}

func TestGroupsFollowEnvironmentsAndGuards(t *testing.T) {
	f := newFixture(t, "a")
	groups := &recordingGroups{}
	f.r.Groups = groups
	f.src.write(t, "allot.yaml", strings.Replace(platformYAML, "idp: {provider: none}", "idp: {provider: scim, url: https://idp.example/scim/v2, token: {env: T}}", 1))
	for _, n := range []string{"one", "two", "three"} {
		f.src.write(t, "environments/web/"+n+".yaml", request(n, "a", "  members: [pal@example.com]\n"))
	}
	f.mustPass(t)
	want := "allot-one=dev@example.com,pal@example.com allot-three=dev@example.com,pal@example.com allot-two=dev@example.com,pal@example.com"
	if got := groups.names(); got != want {
		t.Fatalf("groups %q, want %q", got, want)
	}

	t.Run("a request that fails keeps its group", func(t *testing.T) {
		f.src.write(t, "environments/web/two.yaml", request("two", "a", "  sise: large\n"))
		f.pass(t)
		if got := groups.names(); got != want {
			t.Errorf("groups %q after two failed, want all three kept", got)
		}
		f.src.write(t, "environments/web/two.yaml", request("two", "a", "  members: [pal@example.com]\n"))
	})
	t.Run("held deletions keep their groups", func(t *testing.T) {
		f.src.remove(t, "environments/web/two.yaml")
		f.src.remove(t, "environments/web/three.yaml")
		f.pass(t)
		if got := groups.names(); got != want {
			t.Errorf("groups %q while deletions are held, want all three", got)
		}
	})
	t.Run("with the override the groups go with their environments", func(t *testing.T) {
		f.r.AllowMassDelete = true
		f.mustPass(t)
		if got := groups.names(); got != "allot-one=dev@example.com,pal@example.com" {
			t.Errorf("groups %q", got)
		}
	})
}

func TestMassGroupRemovalIsRefused(t *testing.T) {
	r := &Reconciler{}
	prev := map[string]*Record{}
	for _, n := range []string{"a", "b", "c", "d"} {
		prev[n] = &Record{Environment: n, Groups: []renderer.Group{{Name: "allot-" + n}}}
	}
	state := &desiredState{byCluster: map[string][]*renderer.Bundle{"x": {{Environment: "a", Groups: []renderer.Group{{Name: "allot-a"}}}}}}
	res := &PassResult{Clusters: []ClusterResult{{Name: "x", records: prev}}}
	if _, err := r.groupsToSync(state, &res.Kept, res.Clusters); !errors.Is(err, ErrMassGroupRemoval) {
		t.Errorf("removing 3 of 4 groups: err %v, want the guard", err)
	}
	r.AllowMassDelete = true
	got, err := r.groupsToSync(state, &res.Kept, res.Clusters)
	if err != nil || len(got) != 1 || got[0].Name != "allot-a" {
		t.Errorf("with the override: %v, %v", got, err)
	}
}
