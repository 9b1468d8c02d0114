package app

import (
	stdcmp "cmp"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/review"
	"github.com/allot-dev/allot/review/comment"
)

func TestReadReview(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("s3cret-webhook\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	const repo = "https://github.com/acme/requests.git"
	tests := []struct {
		name    string
		opts    ReviewOptions
		repo    string
		getenv  func(string) string
		off     bool
		wantErr string
	}{
		{name: "off without any GitHub setting", getenv: env(), off: true},
		{name: "refuses to start with a token and no webhook secret", getenv: env("ALLOT_GITHUB_TOKEN", "ghp_x"), wantErr: "no webhook secret configured"},
		{name: "refuses to start with an app and no webhook secret", opts: ReviewOptions{AppID: 7, AppKeyFile: secretFile}, getenv: env(), wantErr: "no webhook secret configured"},
		{name: "refuses a secret without GitHub access", opts: ReviewOptions{WebhookSecretFile: secretFile}, getenv: env(), wantErr: "needs GitHub access"},
		{name: "refuses both a token and an app", opts: ReviewOptions{WebhookSecretFile: secretFile, AppID: 7, AppKeyFile: secretFile}, getenv: env("ALLOT_GITHUB_TOKEN", "ghp_x"), wantErr: "use one"},
		{name: "refuses an app without its key", opts: ReviewOptions{WebhookSecretFile: secretFile, AppID: 7}, getenv: env(), wantErr: "--github-app-key-file"},
		{name: "names an unreadable secret file", opts: ReviewOptions{WebhookSecretFile: filepath.Join(dir, "missing")}, getenv: env(), wantErr: "read --github-webhook-secret-file"},
		{name: "refuses a local folder as the repository", repo: "./requests", opts: ReviewOptions{WebhookSecretFile: secretFile}, getenv: env("ALLOT_GITHUB_TOKEN", "ghp_x"), wantErr: "must be the requests repository's git URL"},
		{name: "asks for the repository when the URL does not name one", repo: "https://git.example.com/requests.git", opts: ReviewOptions{WebhookSecretFile: secretFile}, getenv: env("ALLOT_GITHUB_TOKEN", "ghp_x"), wantErr: "set --github-repository owner/name"},
		{name: "on with a secret file and a token", opts: ReviewOptions{WebhookSecretFile: secretFile}, getenv: env("ALLOT_GITHUB_TOKEN", "ghp_x")},
		{name: "on with a secret and a token from the environment", getenv: env("ALLOT_GITHUB_WEBHOOK_SECRET", "s", "ALLOT_GITHUB_TOKEN", "ghp_x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := readReview(tt.opts, stdcmp.Or(tt.repo, repo), tt.getenv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				var ee *exitError
				if !errors.As(err, &ee) || ee.code != ExitUsage {
					t.Errorf("%v is not a usage error (exit code 2)", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (cfg == nil) != tt.off {
				t.Fatalf("config %+v, want off=%v", cfg, tt.off)
			}
			if cfg != nil && cfg.repository != "acme/requests" {
				t.Errorf("repository %q, want acme/requests", cfg.repository)
			}
		})
	}
}

func TestServeRefusesToStartWithoutWebhookSecret(t *testing.T) {
	code, _, stderr := run(t, map[string]string{"ALLOT_GITHUB_TOKEN": "ghp_x"}, "serve", "--repo", "https://github.com/acme/requests.git", "--listen", "127.0.0.1:0")
	if code != 2 || !strings.Contains(stderr, "no webhook secret configured") {
		t.Errorf("exit %d, stderr %q; want 2 and a refusal naming the webhook secret", code, stderr)
	}
	if strings.Contains(stderr, "ghp_x") {
		t.Error("the token reached the error output")
	}
}

func TestRepositoryOf(t *testing.T) {
	for in, want := range map[string]string{
		"https://github.com/acme/requests.git":        "acme/requests",
		"https://ghe.example.com/acme/requests":       "acme/requests",
		"git@github.com:acme/requests.git":            "acme/requests",
		"ssh://git@github.com/acme/requests.git":      "acme/requests",
		"http://127.0.0.1:4000/git/acme/requests.git": "acme/requests",
		"https://github.com/requests.git":             "",
	} {
		if got := repositoryOf(in); got != want {
			t.Errorf("repositoryOf(%q) = %q, want %q", in, got, want)
		}
	}
}
func TestOutcomesOf(t *testing.T) {
	res := &reconciler.PassResult{
		Clusters: []reconciler.ClusterResult{{Name: "dev", Environments: []reconciler.EnvResult{
			{Environment: "shop", Type: "namespace", Namespace: "shop", Groups: []string{"env-shop"}, Action: reconciler.ActionCreated, Ready: true},
			{Environment: "slow", Type: "vcluster", Namespace: "slow", Action: reconciler.ActionCreated},
			{Environment: "gone", Action: reconciler.ActionDeleted},
			{Environment: "bad", Type: "namespace", Action: reconciler.ActionFailed, Err: errors.New("quota exceeded")},
		}}},
		Kept: reconciler.KeptOf(reconciler.KeptRequest{Environment: "broken", Message: "does not render"}),
	}
	files := []string{"environments/a/shop.yaml", "environments/a/slow.yaml", "environments/a/gone.yaml", "environments/a/bad.yaml", "environments/a/broken.yml", "templates/x/template.yaml", "allot.yaml", "README.md"}
	got, settled := outcomesOf(res, review.RequestNames(files))
	want := []comment.Outcome{
		{Environment: "shop", Kind: comment.KindNamespace, Cluster: "dev", Namespace: "shop", Groups: []string{"env-shop"}, Ready: true},
		{Environment: "slow", Kind: comment.KindVCluster, Cluster: "dev", Namespace: "slow"},
		{Environment: "gone", Cluster: "dev", Removed: true},
		{Environment: "bad", Kind: comment.KindNamespace, Cluster: "dev", Error: "quota exceeded"},
		{Environment: "broken", Error: "does not render"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	if settled {
		t.Error("an environment that is not ready yet must keep the notice waiting")
	}
}

func TestPassFeedWaitsForAPassThatStartsLater(t *testing.T) {
	triggered := make(chan struct{}, 1)
	feed := &passFeed{trigger: func() { triggered <- struct{}{} }}
	running := feed.start() // a pass already under way when the caller asks

	got := make(chan *reconciler.PassResult, 1)
	go func() {
		res, err := feed.next(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- res
	}()
	<-triggered
	feed.finish(running, &reconciler.PassResult{Commit: "old"})
	next := feed.start()
	feed.finish(next, &reconciler.PassResult{Commit: "new"})
	select {
	case res := <-got:
		if res.Commit != "new" {
			t.Errorf("got the pass at %s, which started before the call", res.Commit)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no pass was handed over")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	feed.trigger = func() {}
	if _, err := feed.next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled wait: got %v", err)
	}
}

// TestDeployManifestArgsParse keeps the example manifests' container
// arguments in step with the commands' flags.
func TestDeployManifestArgsParse(t *testing.T) {
	for _, file := range []string{"allot.yaml", "agent.yaml"} {
		data, err := os.ReadFile(examples(t, "deploy", file))
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, doc := range strings.Split(string(data), "\n---\n") {
			var obj struct {
				Spec struct {
					Template struct {
						Spec struct {
							Containers []struct {
								Args []string `json:"args"`
							} `json:"containers"`
						} `json:"spec"`
					} `json:"template"`
				} `json:"spec"`
			}
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			for _, c := range obj.Spec.Template.Spec.Containers {
				if len(c.Args) == 0 {
					continue
				}
				found++
				root := NewRootCommand(Streams{}, func(string) string { return "" })
				cmd, rest, err := root.Find(c.Args)
				if err != nil || cmd == root {
					t.Fatalf("%s: %v names no command (%v)", file, c.Args, err)
				}
				if err := cmd.ParseFlags(rest); err != nil {
					t.Errorf("%s: allot %s: %v", file, cmd.Name(), err)
				}
			}
		}
		if found == 0 {
			t.Errorf("%s: no container arguments found", file)
		}
	}
}
