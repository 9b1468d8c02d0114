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
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/allot-dev/allot/environments"
	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/reconciler/source"
	"github.com/allot-dev/allot/review"
	"github.com/allot-dev/allot/schemas"
	"github.com/allot-dev/allot/schemas/load"
	"github.com/allot-dev/allot/schemas/validate"
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
	repository := o.Repository
	if repository == "" {
		repository = repositoryOf(repoURL)
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
		cfg.clients, err = review.NewAppClients(o.AppID, key, o.APIURL, nil)
		if err != nil {
			return nil, usageError(err)
		}
		return cfg, nil
	}
	cfg.secrets = append(cfg.secrets, token)
	cfg.clients, err = review.NewTokenClients(token, o.APIURL, nil)
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

// prChecker checks pull-request heads: it fetches the head and the base
// branch, validates the head, and plans it against the clusters.
type prChecker struct {
	opts ReconcileOptions
	// dir holds a working copy per pull request.
	dir   string
	token string
	log   *slog.Logger
}

var _ review.Checker = (*prChecker)(nil)

// Check validates and plans a pull request's head.
func (c *prChecker) Check(ctx context.Context, req review.CheckRequest) (*review.Report, review.Policy, error) {
	pr := req.PR
	work := filepath.Join(c.dir, "pr-"+strconv.Itoa(pr.Number))
	head, err := c.fetch(ctx, source.Config{Ref: fmt.Sprintf("refs/pull/%d/head", pr.Number), Dir: filepath.Join(work, "head")})
	if err != nil {
		return nil, review.Policy{}, err
	}
	if !strings.EqualFold(head.Commit, pr.HeadSHA) {
		return nil, review.Policy{}, fmt.Errorf("the head moved to %.7s while allot fetched %.7s; the push that moved it starts a new check", head.Commit, pr.HeadSHA)
	}
	base, err := c.fetch(ctx, source.Config{Branch: pr.BaseRef, Dir: filepath.Join(work, "base")})
	if err != nil {
		return nil, review.Policy{}, err
	}
	opts := load.Options{Builtin: environments.Templates()}
	headRepo, err := load.Load(head.Dir, opts)
	if err != nil {
		return nil, review.Policy{}, err
	}
	baseRepo, err := load.Load(base.Dir, opts)
	if err != nil {
		return nil, review.Policy{}, err
	}

	changed := map[string]bool{}
	for _, f := range req.Files {
		changed[f] = true
	}
	report := &review.Report{SHA: head.Commit}
	var teams []string
	touched := map[string]bool{}
	for _, repo := range []*load.Repository{headRepo, baseRepo} {
		for _, ef := range repo.Environments {
			if !changed[ef.Doc.File] || touched[ef.Environment.Metadata.Name] {
				continue
			}
			touched[ef.Environment.Metadata.Name] = true
			report.Files = append(report.Files, ef.Doc.File)
			report.Environments = append(report.Environments, ef.Environment.Metadata.Name)
			teams = append(teams, ef.Environment.Spec.Team)
		}
	}
	slices.Sort(report.Files)
	slices.Sort(report.Environments)
	slices.Sort(teams)
	var spec *schemas.PlatformSpec
	if baseRepo.Platform != nil {
		spec = &baseRepo.Platform.Platform.Spec
	}
	policy := review.PolicyFrom(spec, slices.Compact(teams))

	selected := selectChanged(changed)
	problems := validate.Repository(headRepo, validate.Options{Selected: selected})
	rendered, err := renderProblems(ctx, headRepo, problems, selected, c.opts.ChartCache)
	if err != nil {
		return nil, policy, err
	}
	problems = append(problems, rendered...)
	for _, p := range problems {
		report.Problems = append(report.Problems, review.Problem{File: p.File, Line: p.Line, Message: p.Message, Warning: p.Severity != schemas.SeverityError})
	}

	switch {
	case req.Fork && !policy.PlanForks:
		report.NotPlanned = "pull requests from forks are validated without secrets and not planned against the clusters (review.planForks in allot.yaml)"
	case validate.Failed(problems):
		report.NotPlanned = "fix the validation errors first"
	default:
		requestsOnly := onlyRequests(req.Files, report.Files)
		var only func(string) bool
		if requestsOnly {
			only = func(env string) bool { return touched[env] }
		}
		plan, err := c.plan(ctx, head.Dir, only)
		if err != nil {
			return nil, policy, err
		}
		report.Plan = onlyTouched(plan, touched, requestsOnly)
	}
	return report, policy, nil
}

// fetch fetches one reference of the requests repository.
func (c *prChecker) fetch(ctx context.Context, cfg source.Config) (*source.Snapshot, error) {
	cfg.URL, cfg.Token, cfg.SSHKeyFile, cfg.KnownHostsFile = c.opts.Repo, c.token, c.opts.SSHKeyFile, c.opts.KnownHostsFile
	g, err := source.New(cfg)
	if err != nil {
		return nil, err
	}
	return g.Fetch(ctx)
}

// plan plans the checked-out head against the clusters, as `allot plan`
// would, for the environments only accepts (nil: all of them).
func (c *prChecker) plan(ctx context.Context, dir string, only func(string) bool) (*reconciler.Plan, error) {
	o := c.opts
	o.Repo = dir
	r, err := newReconciler(o, c.log)
	if err != nil {
		return nil, err
	}
	defer r.StopWatching()
	return r.PlanOnly(ctx, only)
}

// onlyRequests reports whether every changed file is a request file: then
// the rest of the repository is as on the base branch, and its plan is
// left out.
func onlyRequests(changed, requests []string) bool {
	for _, f := range changed {
		if !slices.Contains(requests, f) {
			return false
		}
	}
	return true
}

// onlyTouched keeps the parts of a plan about the touched environments,
// and, when more than requests changed, every entry that changes anything.
// Errors stay: a guard that would stop the pass concerns every pull
// request.
func onlyTouched(plan *reconciler.Plan, touched map[string]bool, requestsOnly bool) *reconciler.Plan {
	out := &reconciler.Plan{Commit: plan.Commit, Errors: plan.Errors, Kept: map[string]string{}}
	groups := map[string]bool{}
	for _, e := range plan.Entries {
		changes := slices.ContainsFunc(e.Changes, func(c reconciler.Change) bool { return c.Action != "unchanged" })
		if touched[e.Environment] || !requestsOnly && (changes || e.Action != reconciler.ActionUnchanged) {
			out.Entries = append(out.Entries, e)
			for _, g := range e.Groups {
				groups[g.Name] = true
			}
		}
	}
	for _, g := range plan.Groups {
		if groups[g.Group] {
			out.Groups = append(out.Groups, g)
		}
	}
	for k, v := range plan.Kept {
		if touched[strings.TrimPrefix(k, "file:")] || !requestsOnly {
			out.Kept[k] = v
		}
	}
	for k := range plan.Kept {
		if f, ok := strings.CutPrefix(k, "file:"); ok && touched[strings.TrimSuffix(path.Base(f), path.Ext(f))] {
			out.Kept[k] = plan.Kept[k]
		}
	}
	return out
}

// reviewRecoverWindow is how far back `allot serve` looks at start for
// merged pull requests whose ready notice a restart lost.
const reviewRecoverWindow = 24 * time.Hour

// newReviewHandler returns the webhook endpoint of the pull-request
// workflow and the recovery to run once this replica reconciles; both are
// nil when the workflow is off.
func newReviewHandler(o ServeOptions, feed *passFeed, log *slog.Logger) (http.Handler, func(context.Context), error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	rc, err := readReview(o.Review, o.Repo, getenv)
	if err != nil || rc == nil {
		return nil, nil, err
	}
	if !isGitURL(o.Repo) {
		return nil, nil, usageError(errors.New("the pull-request workflow needs --repo to be the git URL of the requests repository, to fetch pull requests"))
	}
	token, err := secretFrom(o.TokenFile, getenv("ALLOT_GIT_TOKEN"), "--token-file")
	if err != nil {
		return nil, nil, err
	}
	bot := &review.Bot{
		Clients:    rc.clients,
		Checker:    &prChecker{opts: o.ReconcileOptions, dir: strings.TrimRight(o.WorkDir, "/") + "-review", token: token, log: log},
		Applier:    &passApplier{feed: feed, timeout: cmp.Or(o.ReadyTimeout, 10*time.Minute), poll: 5 * time.Second},
		Repository: rc.repository,
		Branch:     o.Branch,
		Secrets:    append(rc.secrets, token),
		Log:        log,
	}
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
			log.Error("recover ready notices", "error", review.Mask(err.Error(), bot.Secrets))
		}
	}
	return h, recoverNotices, nil
}
