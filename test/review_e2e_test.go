package test

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/cmd/allot/app"
	"github.com/allot-dev/allot/review/comment"
	"github.com/allot-dev/allot/test/harness"
	"github.com/allot-dev/allot/test/harness/githubapi"
)

const reviewRepo = "acme/requests"

// reviewWorld is allot serve with the pull-request workflow on, against a
// real control plane, a real git repository served over HTTP, and the
// in-process GitHub API delivering signed webhooks to serve's endpoint.
type reviewWorld struct {
	t    *testing.T
	cp   *harness.ControlPlane
	repo *harness.GitRepo
	gh   *githubapi.Server
	base string
	// workDir is serve's --workdir; pull requests are checked out next
	// to it.
	workDir string
	opts    reviewWorldOptions
	gitURL  string
	// stop stops the running serve.
	stop func()
}

// reviewWorldOptions vary the world; the zero value is the usual one.
type reviewWorldOptions struct {
	// Platform replaces allot.yaml, and Files adds to the first commit.
	Platform string
	Files    map[string]string
	// Now is serve's clock; nil means time.Now.
	Now func() time.Time
	// Interval is the time between full passes; zero means an hour.
	Interval time.Duration
	// GitBacked lets the GitHub API read and write the real repository
	// (contents, refs, new pull requests), as allot's own pull requests
	// need.
	GitBacked bool
}

const reviewPlatform = "apiVersion: allot.dev/v1alpha1\nkind: Platform\nmetadata: {name: t}\nspec:\n" +
	"  clusters: [{name: dev, inCluster: true}]\n  idp: {provider: none}\n  defaultSize: small\n  sizes: {small: {quota: {pods: 10}}}\n" +
	"  approvers: {default: [alice], teams: {web: [alice, webby, acme/web-leads]}}\n  review: {mergeMethod: merge}\n"

const reviewSecret = "e2e-webhook-secret"

func startReviewWorld(t *testing.T) *reviewWorld {
	t.Helper()
	return startReviewWorldWith(t, reviewWorldOptions{})
}

func startReviewWorldWith(t *testing.T, o reviewWorldOptions) *reviewWorld {
	t.Helper()
	w := &reviewWorld{t: t, cp: ownControlPlane(t), workDir: filepath.Join(t.TempDir(), "wc"), opts: o}
	root := t.TempDir()
	var err error
	w.repo, err = harness.NewGitRepo(filepath.Join(root, "requests.git"), filepath.Join(root, "work"), "main")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"allot.yaml":                     cmp.Or(o.Platform, reviewPlatform),
		"environments/web/existing.yaml": request("existing", "web"),
	}
	maps.Copy(files, o.Files)
	for rel, content := range files {
		if err := w.repo.WriteFile(rel, content); err != nil {
			t.Fatal(err)
		}
	}
	if w.base, err = w.repo.Commit("first requests"); err != nil {
		t.Fatal(err)
	}
	gitSrv, err := harness.StartGitServer(root, harness.GitServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gitSrv.Close() })
	w.gitURL = gitSrv.URL("requests.git")

	w.gh = githubapi.New(t)
	spec := githubapi.Repo{FullName: reviewRepo, CloneURL: w.gitURL, HeadSHA: w.base}
	if o.GitBacked {
		spec.GitDir = w.repo.Bare
	}
	w.gh.AddRepo(spec)
	w.gh.OnMerge = func(_ string, _ int, sha, _ string) (string, error) {
		if _, err := w.repo.Git("checkout", "-q", "main"); err != nil {
			return "", err
		}
		if o.GitBacked {
			// allot's own pull requests live only in the bare repository.
			if _, err := w.repo.Git("fetch", "-q", "origin", "+refs/pull/*:refs/remotes/origin/pull/*"); err != nil {
				return "", err
			}
		}
		if _, err := w.repo.Git("merge", "-q", "--no-ff", "-m", "Merge pull request", sha); err != nil {
			return "", err
		}
		if _, err := w.repo.Git("push", "-q", "origin", "main"); err != nil {
			return "", err
		}
		return w.repo.Git("rev-parse", "HEAD")
	}
	w.serve()
	return w
}

// serve starts allot serve, which stops when the test ends or on restart.
func (w *reviewWorld) serve() {
	t := w.t
	t.Helper()
	env := map[string]string{"ALLOT_GITHUB_WEBHOOK_SECRET": reviewSecret, "ALLOT_GITHUB_TOKEN": w.gh.Token("allot-bot")}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.Serve(ctx, app.Streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}, app.ServeOptions{
			ReconcileOptions: app.ReconcileOptions{
				Repo: w.gitURL, Branch: "main", WorkDir: w.workDir,
				Kubeconfigs: map[string]string{"dev": w.cp.Kubeconfig}, ChartCache: t.TempDir(),
				MaxDeleteShare: 0.5, Interval: cmp.Or(w.opts.Interval, time.Hour), Now: w.opts.Now,
			},
			Listen: "127.0.0.1:0", Debounce: 50 * time.Millisecond, Ready: ready,
			Review:       app.ReviewOptions{APIURL: w.gh.URL(), Repository: reviewRepo, Path: app.DefaultWebhookPath},
			ReadyTimeout: time.Minute,
			Getenv:       func(k string) string { return env[k] },
		})
	}()
	stopped := false
	w.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop")
		}
	}
	t.Cleanup(w.stop)
	select {
	case addr := <-ready:
		w.gh.DeliverTo("http://"+addr+app.DefaultWebhookPath, []byte(reviewSecret))
	case err := <-done:
		t.Fatalf("serve stopped: %v", err)
	}
}

// restart stops allot serve and starts it again, with nothing kept in
// memory.
func (w *reviewWorld) restart() {
	w.t.Helper()
	w.stop()
	w.serve()
}

// waitStatus waits for a commit status of sha in state (success,
// failure, pending).
func (w *reviewWorld) waitStatus(sha, state string) {
	w.t.Helper()
	eventually(w.t, 30*time.Second, "a commit status "+state, func() bool {
		for _, st := range w.gh.Statuses(reviewRepo, sha) {
			if st.State == state {
				return true
			}
		}
		return false
	})
}

func request(name, team string) string {
	return fmt.Sprintf("apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: %s}\nspec: {type: namespace, owner: dan@example.com, team: %s, cluster: dev}\n", name, team)
}

// openPR pushes a branch off the first commit that adds file, keeps its
// head under refs/pull/N/head as GitHub does, and opens pull request n.
func (w *reviewWorld) openPR(n int, file, content string) string {
	w.t.Helper()
	return w.openPRFiles(n, map[string]string{file: content})
}

// openPRFiles is openPR for a pull request that writes several files.
func (w *reviewWorld) openPRFiles(n int, files map[string]string) string {
	w.t.Helper()
	branch := fmt.Sprintf("pr-%d", n)
	for _, args := range [][]string{{"checkout", "-q", "-b", branch, w.base}} {
		if _, err := w.repo.Git(args...); err != nil {
			w.t.Fatal(err)
		}
	}
	var changed []githubapi.File
	for _, file := range slices.Sorted(maps.Keys(files)) {
		if err := w.repo.WriteFile(file, files[file]); err != nil {
			w.t.Fatal(err)
		}
		changed = append(changed, githubapi.File{Filename: file, Status: "added"})
	}
	title := "Change " + strings.Join(slices.Sorted(maps.Keys(files)), ", ")
	for _, args := range [][]string{{"add", "--all"}, {"commit", "-q", "-m", title}, {"push", "-q", "origin", fmt.Sprintf("HEAD:refs/pull/%d/head", n)}} {
		if _, err := w.repo.Git(args...); err != nil {
			w.t.Fatal(err)
		}
	}
	head, err := w.repo.Git("rev-parse", "HEAD")
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.repo.Git("checkout", "-q", "main"); err != nil {
		w.t.Fatal(err)
	}
	w.gh.OpenPR(reviewRepo, githubapi.PR{Number: n, Author: "dan", HeadSHA: head, HeadRef: branch, BaseSHA: w.base,
		Title: title, Files: changed})
	return head
}

// botComment is the bot comment on pull request n, or "".
func (w *reviewWorld) botComment(n int) string {
	for _, c := range w.gh.Comments(reviewRepo, n) {
		if strings.HasPrefix(c.Body, comment.Marker) {
			return c.Body
		}
	}
	return ""
}

// TestPullRequestToReadyEnvironment runs the whole workflow: a pull request
// adds an environment; allot serve, behind its real webhook endpoint,
// validates and plans it against a real control plane and comments; an
// approver's /approve makes it merge the reviewed head into a real git
// repository served over HTTP; the push reconciles the environment, and
// allot tells the pull request it is ready.
func TestPullRequestToReadyEnvironment(t *testing.T) {
	w := startReviewWorld(t)
	ctx := context.Background()
	head := w.openPR(1, "environments/web/pr-shop.yaml", request("pr-shop", "web"))

	eventually(t, 60*time.Second, "the plan comment", func() bool {
		return strings.Contains(w.botComment(1), "pr-shop")
	})
	body := w.botComment(1)
	for _, want := range []string{"dev", "Namespace", "@alice"} {
		if !strings.Contains(body, want) {
			t.Errorf("the plan comment does not mention %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "existing") {
		t.Errorf("the plan comment shows an environment the pull request does not touch:\n%s", body)
	}
	var ns corev1.Namespace
	if err := w.cp.Client.Get(ctx, client.ObjectKey{Name: "pr-shop"}, &ns); err == nil {
		t.Fatal("the environment exists before the merge")
	}

	w.gh.AddComment(reviewRepo, 1, "alice", "/approve")
	eventually(t, 30*time.Second, "the merge", func() bool { return len(w.gh.Merges()) == 1 })
	if m := w.gh.Merges()[0]; m.SHA != head || m.Method != "merge" {
		t.Errorf("merge %+v, want the reviewed head %s merged by merge commit", m, head)
	}

	var notice string
	eventually(t, 90*time.Second, "the ready notice", func() bool {
		for _, c := range w.gh.Comments(reviewRepo, 1) {
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
	if err := w.cp.Client.Get(ctx, client.ObjectKey{Name: "pr-shop"}, &ns); err != nil {
		t.Errorf("the merged environment is not on the cluster: %v", err)
	}
}

// TestSecondRequestForATakenNameIsNotMerged opens two pull requests that
// each ask for an environment named twin, in different teams' folders. Each
// is fine alone; once the first merges, allot checks the second again on
// top of the moved base branch before merging it, and refuses.
func TestSecondRequestForATakenNameIsNotMerged(t *testing.T) {
	w := startReviewWorld(t)
	w.openPR(1, "environments/web/twin.yaml", request("twin", "web"))
	w.openPR(2, "environments/shop/twin.yaml", request("twin", "shop"))
	for _, n := range []int{1, 2} {
		eventually(t, 60*time.Second, fmt.Sprintf("the plan comment on #%d", n), func() bool {
			return strings.Contains(w.botComment(n), "twin") && strings.Contains(w.botComment(n), "Passed")
		})
	}

	w.gh.AddComment(reviewRepo, 1, "alice", "/approve")
	eventually(t, 30*time.Second, "the first merge", func() bool { return len(w.gh.Merges()) == 1 })
	w.gh.AddComment(reviewRepo, 2, "alice", "/approve")
	// A turn decides on the merge before it writes the comment, so once the
	// comment shows alice's approval next to the failed check, the turn
	// that could have merged wrongly is over.
	eventually(t, 60*time.Second, "the second pull request checked again with the approval", func() bool {
		body := w.botComment(2)
		return strings.Contains(body, "twin") && !strings.Contains(body, "Passed") && strings.Contains(body, "approved by @alice")
	})
	if m := w.gh.Merges(); len(m) != 1 {
		t.Errorf("merges %+v: the second request for the name was merged", m)
	}
	if pr := w.gh.PullRequest(reviewRepo, 2); pr.Merged {
		t.Error("pull request 2 is merged")
	}
	if body := w.botComment(2); !strings.Contains(body, `environments/shop/twin.yaml:3`) || !strings.Contains(body, "already used") {
		t.Errorf("the comment does not put the clash on the pull request's own file:\n%s", body)
	}
}
