package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/allot-dev/allot/review"
	"github.com/allot-dev/allot/review/comment"
	"github.com/allot-dev/allot/review/ghclient"
)

// ReviewOptions turn on the pull-request workflow of `allot serve`.
type ReviewOptions struct {
	// WebhookSecretFile holds the secret GitHub signs deliveries with;
	// ALLOT_GITHUB_WEBHOOK_SECRET works too.
	WebhookSecretFile string
	// TokenFile holds a GitHub token; ALLOT_GITHUB_TOKEN works too.
	TokenFile string
	// AppID and AppKeyFile make allot act as a GitHub App.
	AppID      int64
	AppKeyFile string
	// APIURL is the GitHub API, for GitHub Enterprise Server; empty means
	// api.github.com.
	APIURL string
	// Repository is the requests repository on GitHub, "owner/name";
	// empty means the one --repo names.
	Repository string
	// Path is where the webhook endpoint is served.
	Path string
}

// DefaultWebhookPath is where `allot serve` receives GitHub webhooks.
const DefaultWebhookPath = "/hooks/github"

func (o *ReviewOptions) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.WebhookSecretFile, "github-webhook-secret-file", "", "file holding the GitHub webhook secret (or ALLOT_GITHUB_WEBHOOK_SECRET); turns on the pull-request workflow")
	f.StringVar(&o.TokenFile, "github-token-file", "", "file holding a GitHub token (or ALLOT_GITHUB_TOKEN); checks are reported as commit statuses")
	f.Int64Var(&o.AppID, "github-app-id", 0, "GitHub App ID; checks are reported as check runs")
	f.StringVar(&o.AppKeyFile, "github-app-key-file", "", "the GitHub App's private key (PEM)")
	f.StringVar(&o.APIURL, "github-api-url", "", "GitHub API URL, for GitHub Enterprise Server (https://HOST/api/v3/)")
	f.StringVar(&o.Repository, "github-repository", "", "the requests repository on GitHub, owner/name (default: from --repo)")
	f.StringVar(&o.Path, "github-webhook-path", DefaultWebhookPath, "path of the webhook endpoint")
}

// reviewConfig is what review needs once the options are read.
type reviewConfig struct {
	secret     []byte
	clients    review.Clients
	repository string
	secrets    []string
}

// readReview reads the review options and the environment. It returns nil
// when the workflow is off, and refuses to start when it is half
// configured: without a webhook secret, allot would act on unsigned
// requests.
func readReview(o ReviewOptions, repoURL string, getenv func(string) string) (*reviewConfig, error) {
	secret, err := secretFrom(o.WebhookSecretFile, getenv("ALLOT_GITHUB_WEBHOOK_SECRET"), "--github-webhook-secret-file")
	if err != nil {
		return nil, err
	}
	token, err := secretFrom(o.TokenFile, getenv("ALLOT_GITHUB_TOKEN"), "--github-token-file")
	if err != nil {
		return nil, err
	}
	app := o.AppID != 0 || o.AppKeyFile != ""
	if secret == "" && token == "" && !app {
		return nil, nil
	}
	switch {
	case secret == "":
		return nil, usageError(fmt.Errorf("%w: refusing to start the pull-request workflow; set --github-webhook-secret-file or ALLOT_GITHUB_WEBHOOK_SECRET", review.ErrNoSecret))
	case token != "" && app:
		return nil, usageError(errors.New("both a GitHub token and a GitHub App are configured: use one"))
	case token == "" && !app:
		return nil, usageError(errors.New("the pull-request workflow needs GitHub access: --github-token-file (or ALLOT_GITHUB_TOKEN), or --github-app-id with --github-app-key-file"))
	case app && (o.AppID == 0 || o.AppKeyFile == ""):
		return nil, usageError(errors.New("a GitHub App needs both --github-app-id and --github-app-key-file"))
	}
	if !isGitURL(repoURL) {
		return nil, usageError(fmt.Errorf("the pull-request workflow fetches pull requests, so --repo must be the requests repository's git URL, not the folder %s", repoURL))
	}
	repository := o.Repository
	if repository == "" {
		if repository = repositoryOf(repoURL); repository == "" {
			return nil, usageError(fmt.Errorf("cannot tell the GitHub repository from --repo %s: set --github-repository owner/name", repoURL))
		}
	}
	if _, err := review.ParseRepo(repository); err != nil {
		return nil, usageError(fmt.Errorf("--github-repository: %w", err))
	}
	cfg := &reviewConfig{secret: []byte(secret), repository: repository, secrets: []string{secret}}
	if app {
		key, err := os.ReadFile(o.AppKeyFile)
		if err != nil {
			return nil, usageError(fmt.Errorf("read --github-app-key-file: %w", err))
		}
		cfg.clients, err = ghclient.NewAppClients(o.AppID, key, o.APIURL, nil)
		if err != nil {
			return nil, usageError(err)
		}
		return cfg, nil
	}
	cfg.secrets = append(cfg.secrets, token)
	cfg.clients, err = ghclient.NewTokenClients(token, o.APIURL, nil)
	if err != nil {
		return nil, usageError(err)
	}
	return cfg, nil
}

// secretFrom reads a secret from file, or else takes env.
func secretFrom(file, env, flag string) (string, error) {
	if file == "" {
		return strings.TrimSpace(env), nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", usageError(fmt.Errorf("read %s: %w", flag, err))
	}
	return strings.TrimSpace(string(data)), nil
}

// repositoryOf takes owner/name from a repository URL such as
// https://github.com/acme/requests.git or git@github.com:acme/requests.git.
func repositoryOf(repoURL string) string {
	p := repoURL
	if u, err := url.Parse(repoURL); err == nil && u.Host != "" {
		p = u.Path
	} else if _, rest, ok := strings.Cut(repoURL, ":"); ok {
		p = rest
	}
	p = strings.TrimSuffix(strings.Trim(p, "/"), ".git")
	parts := strings.Split(p, "/")
	if len(parts) < 2 {
		return ""
	}
	return parts[len(parts)-2] + "/" + parts[len(parts)-1]
}

// reviewRecoverWindow is how far back `allot serve` looks at start for
// merged pull requests whose ready notice a restart lost.
const reviewRecoverWindow = 24 * time.Hour

// newReviewHandler returns the webhook endpoint of the pull-request
// workflow and the recovery to run once this replica reconciles; both are
// nil when the workflow is off.
func newReviewHandler(ctx context.Context, o ServeOptions, feed *passFeed, log *slog.Logger) (http.Handler, func(context.Context), error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	rc, err := readReview(o.Review, o.Repo, getenv)
	if err != nil || rc == nil {
		return nil, nil, err
	}
	token, err := secretFrom(o.TokenFile, getenv("ALLOT_GIT_TOKEN"), "--token-file")
	if err != nil {
		return nil, nil, err
	}
	bot := &review.Bot{
		// Shutdown cancels the events being handled.
		BaseContext: func() context.Context { return ctx },
		Clients:     rc.clients,
		Checker:     &prChecker{opts: o.ReconcileOptions, dir: o.reviewDir(), token: token, log: log},
		Waker:       feed.waker(),
		Applier:     &passApplier{feed: feed, timeout: cmp.Or(o.ReadyTimeout, 10*time.Minute), poll: 5 * time.Second},
		Repository:  rc.repository,
		Branch:      o.Branch,
		Secrets:     append(rc.secrets, token),
		Now:         o.Now,
		Log:         log,
	}
	feed.afterPass = bot.ExpiryFeed(ctx)
	serializer := &review.Serializer{Handle: bot.Handle, Log: log}
	bot.Requeue = func(ev review.Event, delay time.Duration) {
		time.AfterFunc(delay, func() { serializer.Dispatch(ev) })
	}
	log.Info("pull-request workflow on", "repository", rc.repository, "path", o.Review.Path)
	h, err := review.NewHandler(rc.secret, serializer.Dispatch, log)
	if err != nil {
		return nil, nil, err
	}
	recoverNotices := func(ctx context.Context) {
		if err := bot.Recover(ctx, time.Now().Add(-reviewRecoverWindow)); err != nil && ctx.Err() == nil {
			log.Error("recover ready notices", "error", comment.Mask(err.Error(), bot.Secrets))
		}
	}
	return h, recoverNotices, nil
}
