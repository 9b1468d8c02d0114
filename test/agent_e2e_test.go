package test

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/cmd/allot/app"
	"github.com/allot-dev/allot/test/harness"
)

// TestAgentPullsOverHTTPAndAppliesOnlyItsCluster runs allot agent for
// cluster "here" against a real git smart-HTTP server: it applies the
// environment placed on its cluster, leaves the one placed elsewhere alone,
// and follows a new commit.
func TestAgentPullsOverHTTPAndAppliesOnlyItsCluster(t *testing.T) {
	cp := ownControlPlane(t)
	root := t.TempDir()
	repo, err := harness.NewGitRepo(filepath.Join(root, "requests.git"), filepath.Join(root, "work"), "main")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"allot.yaml":                        "apiVersion: allot.dev/v1alpha1\nkind: Platform\nmetadata: {name: t}\nspec:\n  clusters: [{name: here, inCluster: true}, {name: elsewhere, kubeconfig: {file: /nowhere}}]\n  idp: {provider: none}\n  defaultSize: small\n  sizes: {small: {quota: {pods: 10}}}\n",
		"environments/web/agent-here.yaml":  "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: agent-here}\nspec: {type: namespace, owner: dev@example.com, team: web, cluster: here}\n",
		"environments/web/agent-there.yaml": "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: agent-there}\nspec: {type: namespace, owner: dev@example.com, team: web, cluster: elsewhere}\n",
	}
	for rel, content := range files {
		if err := repo.WriteFile(rel, content); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := repo.Commit("first requests"); err != nil {
		t.Fatal(err)
	}
	srv, err := harness.StartGitServer(root, harness.GitServerOptions{Token: "agent-token"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	t.Setenv("ALLOT_GIT_TOKEN", "agent-token")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.Agent(ctx, app.Streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}, app.AgentOptions{
			Cluster: "here",
			ServeOptions: app.ServeOptions{
				ReconcileOptions: app.ReconcileOptions{
					Repo: srv.URL("requests.git"), Branch: "main", WorkDir: filepath.Join(t.TempDir(), "wc"),
					Kubeconfigs: map[string]string{"here": cp.Kubeconfig}, ChartCache: t.TempDir(),
					MaxDeleteShare: 0.5, Interval: 500 * time.Millisecond,
				},
				Listen: "127.0.0.1:0", Debounce: 100 * time.Millisecond, Ready: ready,
			},
		})
	}()
	<-ready
	var ns corev1.Namespace
	eventually(t, 30*time.Second, "agent-here applied", func() bool {
		return cp.Client.Get(ctx, client.ObjectKey{Name: "agent-here"}, &ns) == nil
	})
	if err := cp.Client.Get(ctx, client.ObjectKey{Name: "agent-there"}, &ns); !apierrors.IsNotFound(err) {
		t.Errorf("the environment of the other cluster was applied here (err %v)", err)
	}

	if err := repo.WriteFile("environments/web/agent-here.yaml", strings.Replace(files["environments/web/agent-here.yaml"], "team: web", "team: web, members: [pal@example.com]", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Commit("add a member"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the new commit applied", func() bool {
		var rb rbacv1.RoleBinding
		if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: "agent-here", Name: "environment-admin"}, &rb); err != nil {
			return false
		}
		for _, s := range rb.Subjects {
			if s.Name == "pal@example.com" {
				return true
			}
		}
		return false
	})
	cancel()
	<-done
}

func TestAgentRefusesANonHTTPSRepository(t *testing.T) {
	err := app.Agent(context.Background(), app.Streams{Out: io.Discard, Err: io.Discard}, app.AgentOptions{Cluster: "here", ServeOptions: app.ServeOptions{ReconcileOptions: app.ReconcileOptions{Repo: "git@github.com:acme/requests.git"}}})
	if err == nil || !strings.Contains(err.Error(), "https only") {
		t.Errorf("err = %v, want a refusal of the ssh URL", err)
	}
}
