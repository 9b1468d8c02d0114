package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/allot-dev/allot/cmd/allot/app"
	"github.com/allot-dev/allot/review/comment"
	"github.com/allot-dev/allot/test/harness"
	"github.com/allot-dev/allot/test/harness/githubapi"
)

// demoRequest is the environment the demo's pull request asks for.
const demoRequest = `apiVersion: allot.dev/v1alpha1
kind: Environment
metadata:
  name: refunds-dev
spec:
  type: namespace
  owner: bob.lee@acme.example
  team: payments
  cluster: dev-eu-1
  expires: 2d
`

// pullRequest shows the pull-request workflow: the requests repository is
// served over git HTTP, an in-process GitHub API (GitHub itself cannot run
// here) delivers signed webhooks to allot serve, a developer opens a pull
// request, an approver approves it, and allot merges, reconciles and says
// the environment is ready; the environment expires in two days, so allot
// warns at once, and the developer's /extend 3d becomes a pull request of
// allot's own that it checks and merges.
func pullRequest(ctx context.Context, dir, charts string, kubeconfigs map[string]string) error {
	step("the requests repository moves to git; allot serve runs the pull-request workflow against a GitHub API")
	root, err := os.MkdirTemp("", "allot-demo-git-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	repo, err := harness.NewGitRepo(filepath.Join(root, "requests.git"), dir, "main")
	if err != nil {
		return err
	}
	base, err := repo.Commit("the example requests")
	if err != nil {
		return err
	}
	gitSrv, err := harness.StartGitServer(root, harness.GitServerOptions{})
	if err != nil {
		return err
	}
	defer gitSrv.Close()
	gh, err := githubapi.Start()
	if err != nil {
		return err
	}
	defer gh.Close()
	gh.AddRepo(githubapi.Repo{FullName: "acme/requests", CloneURL: gitSrv.URL("requests.git"), HeadSHA: base, GitDir: repo.Bare})
	gh.AddTeamMember("acme", "payments-leads", "dana-k")
	gh.OnMerge = func(_ string, _ int, sha, _ string) (string, error) {
		// allot's own pull requests (/extend) live only in the bare repository.
		for _, args := range [][]string{{"checkout", "-q", "main"}, {"fetch", "-q", "origin", "+refs/pull/*:refs/remotes/origin/pull/*"}, {"merge", "-q", "--no-ff", "-m", "Merge pull request", sha}, {"push", "-q", "origin", "main"}} {
			if _, err := repo.Git(args...); err != nil {
				return "", err
			}
		}
		return repo.Git("rev-parse", "HEAD")
	}
	const secret = "demo-webhook-secret"
	os.Setenv("ALLOT_GITHUB_WEBHOOK_SECRET", secret)
	os.Setenv("ALLOT_GITHUB_TOKEN", gh.Token("allot-bot"))

	serveCtx, stop := context.WithCancel(ctx)
	defer stop()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.Serve(serveCtx, app.Streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}, app.ServeOptions{
			ReconcileOptions: app.ReconcileOptions{
				Repo: gitSrv.URL("requests.git"), Branch: "main", WorkDir: filepath.Join(root, "wc"),
				Kubeconfigs: kubeconfigs, ChartCache: charts, UseKubeconfigServer: true,
				MaxDeleteShare: 0.5, Interval: time.Hour,
			},
			Listen: "127.0.0.1:0", Debounce: 50 * time.Millisecond, Ready: ready,
			Review:       app.ReviewOptions{APIURL: gh.URL(), Repository: "acme/requests", Path: app.DefaultWebhookPath},
			ReadyTimeout: time.Minute,
		})
	}()
	select {
	case addr := <-ready:
		gh.DeliverTo("http://"+addr+app.DefaultWebhookPath, []byte(secret))
		fmt.Printf("allot serve listens on %s; webhooks go to %s\n", addr, app.DefaultWebhookPath)
	case err := <-done:
		return fmt.Errorf("allot serve: %w", err)
	}

	step("bob opens a pull request that adds environments/payments/refunds-dev.yaml; allot checks it and comments")
	const file = "environments/payments/refunds-dev.yaml"
	for _, args := range [][]string{{"checkout", "-q", "-b", "add-refunds-dev"}} {
		if _, err := repo.Git(args...); err != nil {
			return err
		}
	}
	if err := repo.WriteFile(file, demoRequest); err != nil {
		return err
	}
	for _, args := range [][]string{{"add", "--all"}, {"commit", "-q", "-m", "Add refunds-dev"}, {"push", "-q", "origin", "HEAD:refs/pull/1/head"}} {
		if _, err := repo.Git(args...); err != nil {
			return err
		}
	}
	head, err := repo.Git("rev-parse", "HEAD")
	if err != nil {
		return err
	}
	if _, err := repo.Git("checkout", "-q", "main"); err != nil {
		return err
	}
	gh.OpenPR("acme/requests", githubapi.PR{Number: 1, Author: "bob-lee", Title: "Add refunds-dev", HeadSHA: head, HeadRef: "add-refunds-dev", BaseSHA: base,
		Files: []githubapi.File{{Filename: file, Status: "added"}}})
	plan, err := waitFor(ctx, time.Minute, commentOn(gh, 1, comment.Marker, "Plan"))
	if err != nil {
		return fmt.Errorf("the plan comment: %w", err)
	}
	quote(plan)

	step("bob tries /approve on his own request; dana-k (of acme/payments-leads) approves")
	gh.AddComment("acme/requests", 1, "bob-lee", "/approve")
	reply, err := waitFor(ctx, 30*time.Second, commentOn(gh, 1, "<!-- allot:reply", ""))
	if err != nil {
		return fmt.Errorf("the reply to bob: %w", err)
	}
	quote(reply)
	gh.AddComment("acme/requests", 1, "dana-k", "/approve")
	if _, err := waitFor(ctx, 30*time.Second, func() string {
		if m := gh.Merges(); len(m) > 0 {
			fmt.Printf("allot merged %.7s (the reviewed head, pinned) into main as %.7s\n", m[0].SHA, m[0].MergeSHA)
			return m[0].MergeSHA
		}
		return ""
	}); err != nil {
		return fmt.Errorf("the merge: %w", err)
	}

	step("the push to main reconciles refunds-dev; allot tells the pull request")
	notice, err := waitFor(ctx, 2*time.Minute, commentOn(gh, 1, "<!-- allot:notice", ""))
	if err != nil {
		return fmt.Errorf("the ready notice: %w", err)
	}
	quote(notice)

	step("refunds-dev expires in two days, within notices.expiry's 48h: allot warns on the pull request that created it")
	warning, err := waitFor(ctx, time.Minute, commentOn(gh, 1, "<!-- allot:expiry", ""))
	if err != nil {
		return fmt.Errorf("the expiry notice: %w", err)
	}
	quote(warning)

	step("bob comments /extend 3d; allot opens a pull request that moves expires, checks it, and merges it on its own within policy.extensions")
	gh.AddComment("acme/requests", 1, "bob-lee", "/extend 3d")
	reply, err = waitFor(ctx, time.Minute, commentOn(gh, 1, "<!-- allot:reply", "allot opened"))
	if err != nil {
		return fmt.Errorf("the reply to /extend: %w", err)
	}
	quote(reply)
	if _, err := waitFor(ctx, time.Minute, func() string {
		if m := gh.Merges(); len(m) > 1 {
			pr := gh.PullRequest("acme/requests", m[1].Number)
			fmt.Printf("allot merged #%d %q (branch %s) into main as %.7s\n", pr.Number, pr.Title, pr.HeadRef, m[1].MergeSHA)
			return m[1].MergeSHA
		}
		return ""
	}); err != nil {
		return fmt.Errorf("the extension's merge: %w", err)
	}
	extended, err := harness.RunGit(repo.Bare, "show", "main:"+file)
	if err != nil {
		return err
	}
	fmt.Printf("%s on main now:\n", file)
	quote(extended)
	stop()
	<-done
	return nil
}

// waitFor polls get until it returns something or within passes.
func waitFor(ctx context.Context, within time.Duration, get func() string) (string, error) {
	deadline := time.Now().Add(within)
	for {
		if v := get(); v != "" {
			return v, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("nothing after %s", within)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// quote prints a comment as GitHub would show its text, hidden markers
// left out.
func quote(body string) {
	for _, line := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
		if strings.HasPrefix(line, "<!-- allot:") {
			continue
		}
		fmt.Println("  │ " + line)
	}
}

// commentOn returns a getter of the first comment on pull request n of
// acme/requests that starts with prefix and contains want.
func commentOn(gh *githubapi.Server, n int, prefix, want string) func() string {
	return func() string {
		for _, c := range gh.Comments("acme/requests", n) {
			if strings.HasPrefix(c.Body, prefix) && strings.Contains(c.Body, want) {
				return c.Body
			}
		}
		return ""
	}
}
