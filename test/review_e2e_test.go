package test

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/cmd/allot/app"
	"github.com/allot-dev/allot/review"
	"github.com/allot-dev/allot/test/harness"
	"github.com/allot-dev/allot/test/harness/githubapi"
)

// TestPullRequestToReadyEnvironment runs the whole workflow: a pull request
// adds an environment; allot serve, behind its real webhook endpoint,
// validates and plans it against a real control plane and comments; an
// approver's /approve makes it merge the reviewed head into a real git
// repository served over HTTP; the push reconciles the environment, and
// allot tells the pull request it is ready.
func TestPullRequestToReadyEnvironment(t *testing.T) {
	cp := ownControlPlane(t)
	root := t.TempDir()
	repo, err := harness.NewGitRepo(filepath.Join(root, "requests.git"), filepath.Join(root, "work"), "main")
	if err != nil {
		t.Fatal(err)
	}
	for rel, content := range map[string]string{
		"allot.yaml": "apiVersion: allot.dev/v1alpha1\nkind: Platform\nmetadata: {name: t}\nspec:\n" +
			"  clusters: [{name: dev, inCluster: true}]\n  idp: {provider: none}\n  defaultSize: small\n  sizes: {small: {quota: {pods: 10}}}\n" +
			"  approvers: {default: [alice], teams: {web: [alice, acme/web-leads]}}\n  review: {mergeMethod: merge}\n",
		"environments/web/existing.yaml": "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: existing}\nspec: {type: namespace, owner: dev@example.com, team: web, cluster: dev}\n",
	} {
		if err := repo.WriteFile(rel, content); err != nil {
			t.Fatal(err)
		}
	}
	base, err := repo.Commit("first requests")
	if err != nil {
		t.Fatal(err)
	}
	gitSrv, err := harness.StartGitServer(root, harness.GitServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer gitSrv.Close()

	gh := githubapi.New(t)
	gh.AddRepo(githubapi.Repo{FullName: "acme/requests", CloneURL: gitSrv.URL("requests.git"), HeadSHA: base})
	gh.OnMerge = func(_ string, number int, sha, _ string) (string, error) {
		if _, err := repo.Git("checkout", "-q", "main"); err != nil {
			return "", err
		}
		if _, err := repo.Git("merge", "-q", "--no-ff", "-m", "Merge pull request", sha); err != nil {
			return "", err
		}
		if _, err := repo.Git("push", "-q", "origin", "main"); err != nil {
			return "", err
		}
		return repo.Git("rev-parse", "HEAD")
	}
	const secret = "e2e-webhook-secret"
	token := gh.Token("allot-bot")
	env := map[string]string{"ALLOT_GITHUB_WEBHOOK_SECRET": secret, "ALLOT_GITHUB_TOKEN": token}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.Serve(ctx, app.Streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}, app.ServeOptions{
			ReconcileOptions: app.ReconcileOptions{
				Repo: gitSrv.URL("requests.git"), Branch: "main", WorkDir: filepath.Join(t.TempDir(), "wc"),
				Kubeconfigs: map[string]string{"dev": cp.Kubeconfig}, ChartCache: t.TempDir(),
				MaxDeleteShare: 0.5, Interval: time.Hour,
			},
			Listen: "127.0.0.1:0", Debounce: 50 * time.Millisecond, Ready: ready,
			Review:       app.ReviewOptions{APIURL: gh.URL(), Repository: "acme/requests", Path: app.DefaultWebhookPath},
			ReadyTimeout: time.Minute,
			Getenv:       func(k string) string { return env[k] },
		})
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve stopped: %v", err)
	}
	gh.DeliverTo("http://"+addr+app.DefaultWebhookPath, []byte(secret))

	// A developer pushes a branch that adds one request; GitHub keeps its
	// head under refs/pull/1/head.
	const file = "environments/web/pr-shop.yaml"
	if _, err := repo.Git("checkout", "-q", "-b", "add-pr-shop"); err != nil {
		t.Fatal(err)
	}
	if err := repo.WriteFile(file, "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: pr-shop}\nspec: {type: namespace, owner: dan@example.com, team: web, cluster: dev}\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Git("add", "--all"); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Git("commit", "-q", "-m", "Add pr-shop"); err != nil {
		t.Fatal(err)
	}
	head, err := repo.Git("rev-parse", "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Git("push", "-q", "origin", "HEAD:refs/pull/1/head"); err != nil {
		t.Fatal(err)
	}
	n := gh.OpenPR("acme/requests", githubapi.PR{Number: 1, Author: "dan", HeadSHA: head, HeadRef: "add-pr-shop", BaseSHA: base,
		Title: "Add pr-shop", Files: []githubapi.File{{Filename: file, Status: "added"}}})

	botComment := func() string {
		for _, c := range gh.Comments("acme/requests", n) {
			if strings.HasPrefix(c.Body, review.Marker) {
				return c.Body
			}
		}
		return ""
	}
	eventually(t, 60*time.Second, "the plan comment", func() bool {
		return strings.Contains(botComment(), "pr-shop")
	})
	body := botComment()
	for _, want := range []string{"dev", "Namespace", "@alice"} {
		if !strings.Contains(body, want) {
			t.Errorf("the plan comment does not mention %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "existing") {
		t.Errorf("the plan comment shows an environment the pull request does not touch:\n%s", body)
	}
	var ns corev1.Namespace
	if err := cp.Client.Get(ctx, client.ObjectKey{Name: "pr-shop"}, &ns); err == nil {
		t.Fatal("the environment exists before the merge")
	}

	gh.AddComment("acme/requests", n, "alice", "/approve")
	eventually(t, 30*time.Second, "the merge", func() bool { return len(gh.Merges()) == 1 })
	if m := gh.Merges()[0]; m.SHA != head || m.Method != "merge" {
		t.Errorf("merge %+v, want the reviewed head %s merged by merge commit", m, head)
	}

	var notice string
	eventually(t, 90*time.Second, "the ready notice", func() bool {
		for _, c := range gh.Comments("acme/requests", n) {
			if strings.HasPrefix(c.Body, "<!-- allot:notice") {
				notice = c.Body
				return true
			}
		}
		return false
	})
	t.Logf("plan comment:\n%s\nready notice:\n%s", body, notice)
	for _, want := range []string{"@dan", "pr-shop", "dev", "kubectl"} {
		if !strings.Contains(notice, want) {
			t.Errorf("the ready notice does not mention %q:\n%s", want, notice)
		}
	}
	if err := cp.Client.Get(ctx, client.ObjectKey{Name: "pr-shop"}, &ns); err != nil {
		t.Errorf("the merged environment is not on the cluster: %v", err)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Error("serve did not stop")
	}
}
