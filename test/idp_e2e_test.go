package test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/environments"
	"github.com/allot-dev/allot/internal/testfs"
	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/reconciler/idp"
	"github.com/allot-dev/allot/reconciler/idp/scim"
	"github.com/allot-dev/allot/renderer"
	"github.com/allot-dev/allot/test/harness"
)

// idpFolder serves a folder as the requests repository, a new commit each
// pass.
type idpFolder struct {
	dir    string
	commit int
}

func (s *idpFolder) Fetch(context.Context) (reconciler.Snapshot, error) {
	s.commit++
	return reconciler.Snapshot{Dir: s.dir, Commit: fmt.Sprintf("commit-%d", s.commit)}, nil
}

func (s *idpFolder) write(t *testing.T, rel, content string) {
	t.Helper()
	testfs.WriteFile(t, filepath.Join(s.dir, rel), content)
}

func namespaceRequest(name, members string) string {
	return fmt.Sprintf("apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: %s}\nspec:\n  type: namespace\n  owner: dev@example.com\n  team: web\n  cluster: dev\n  members: [%s]\n", name, members)
}

// TestNamespaceEnvironmentGetsItsSCIMGroup reconciles namespace environments
// onto a real control plane with a real SCIM server as the identity
// provider: the RoleBinding binds the group allot-<env>, the group holds the
// owner and members, a member added by hand stays, and the group goes with
// its environment. The record of added members lives in a ConfigMap, read
// afresh by a new Syncer each pass as after a restart.
func TestNamespaceEnvironmentGetsItsSCIMGroup(t *testing.T) {
	cp := ownControlPlane(t)
	ctx := context.Background()
	srv, err := harness.StartSCIMServer(harness.SCIMServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	for _, email := range []string{"dev@example.com", "pal@example.com", "hand@example.com"} {
		if _, err := srv.CreateUser(ctx, email, email); err != nil {
			t.Fatal(err)
		}
	}
	admin, err := scim.New(srv.URL(), srv.Token(), nil)
	if err != nil {
		t.Fatal(err)
	}

	src := &idpFolder{dir: t.TempDir()}
	src.write(t, "allot.yaml", fmt.Sprintf(`apiVersion: allot.dev/v1alpha1
kind: Platform
metadata: {name: t}
spec:
  clusters: [{name: dev, inCluster: true}]
  idp: {provider: scim, url: %q, token: {env: ALLOT_SCIM_TOKEN}}
  defaultSize: small
  sizes: {small: {quota: {pods: 10}}}
`, srv.URL()))
	src.write(t, "environments/web/shop.yaml", namespaceRequest("shop", "pal@example.com"))
	src.write(t, "environments/web/lab.yaml", namespaceRequest("lab", "pal@example.com"))

	r := &reconciler.Reconciler{
		Source: src, Connector: &reconciler.Connector{Kubeconfigs: map[string]string{"dev": cp.Kubeconfig}},
		Builtin: environments.Templates(), ChartCache: t.TempDir(),
		WaitInterval: 200 * time.Millisecond, TeardownTimeout: 10 * time.Second,
	}
	pass := func(t *testing.T) {
		t.Helper()
		// A new Syncer and state each pass: what allot added is known
		// only from the ConfigMap.
		p, err := scim.New(srv.URL(), srv.Token(), nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Groups = &idp.Syncer{Provider: p, Prefix: renderer.DefaultGroupPrefix, State: &idp.ConfigMapState{Client: cp.Client}}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if res := r.Pass(pctx); res.Failed() {
			t.Fatalf("pass failed: err %v kept %v clusters %+v", res.Err, res.Kept.List(), res.Clusters)
		}
	}
	groups := func(t *testing.T) map[string][]string {
		t.Helper()
		list, err := admin.ListGroups(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]string{}
		for _, g := range list {
			if !g.Managed {
				t.Errorf("group %s has no allot marker", g.Name)
			}
			out[g.Name] = []string{}
			for _, m := range g.Members {
				out[g.Name] = append(out[g.Name], m.Email)
			}
			slices.Sort(out[g.Name])
		}
		return out
	}
	record := func(t *testing.T) map[string][]string {
		t.Helper()
		var cm corev1.ConfigMap
		if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: idp.StateNamespace, Name: idp.StateName}, &cm); err != nil {
			t.Fatal(err)
		}
		out := map[string][]string{}
		if err := json.Unmarshal([]byte(cm.Data["members.json"]), &out); err != nil {
			t.Fatalf("ConfigMap %s: %v", idp.StateName, err)
		}
		return out
	}

	pass(t)
	var rb rbacv1.RoleBinding
	if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "environment-admin"}, &rb); err != nil {
		t.Fatal(err)
	}
	wantSubjects := []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "allot-shop"}}
	if diff := cmp.Diff(wantSubjects, rb.Subjects); diff != "" || rb.RoleRef.Name != "admin" {
		t.Errorf("RoleBinding shop/environment-admin binds %s to (-want +got):\n%s", rb.RoleRef.Name, diff)
	}
	both := []string{"dev@example.com", "pal@example.com"}
	want := map[string][]string{"allot-shop": both, "allot-lab": both}
	if diff := cmp.Diff(want, groups(t)); diff != "" {
		t.Errorf("SCIM groups (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, record(t)); diff != "" {
		t.Errorf("record of added members (-want +got):\n%s", diff)
	}

	t.Run("a member left out of the request goes; one added by hand stays", func(t *testing.T) {
		list, err := admin.ListGroups(ctx, "allot-shop")
		if err != nil || len(list) != 1 {
			t.Fatalf("allot-shop: %v %v", list, err)
		}
		hand, err := admin.FindUser(ctx, "hand@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if err := admin.AddMembers(ctx, list[0], []idp.User{hand}); err != nil {
			t.Fatal(err)
		}
		src.write(t, "environments/web/shop.yaml", namespaceRequest("shop", ""))
		pass(t)
		want := map[string][]string{"allot-shop": {"dev@example.com", "hand@example.com"}, "allot-lab": both}
		if diff := cmp.Diff(want, groups(t)); diff != "" {
			t.Errorf("SCIM groups (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(map[string][]string{"allot-shop": {"dev@example.com"}, "allot-lab": both}, record(t)); diff != "" {
			t.Errorf("record of added members (-want +got):\n%s", diff)
		}
	})

	t.Run("the group goes with its environment", func(t *testing.T) {
		if err := os.Remove(filepath.Join(src.dir, "environments/web/shop.yaml")); err != nil {
			t.Fatal(err)
		}
		pass(t)
		if diff := cmp.Diff(map[string][]string{"allot-lab": both}, groups(t)); diff != "" {
			t.Errorf("SCIM groups (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(map[string][]string{"allot-lab": both}, record(t)); diff != "" {
			t.Errorf("record of added members (-want +got):\n%s", diff)
		}
		if _, err := admin.FindUser(ctx, "hand@example.com"); err != nil {
			t.Errorf("the user of the deleted group: %v", err)
		}
	})
}
