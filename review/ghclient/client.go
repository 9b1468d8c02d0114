package ghclient

import (
	"cmp"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v62/github"

	"github.com/allot-dev/allot/review"
)

// The marks that let HeadSince find the check allot made when a commit
// became a pull request's head.
const (
	// NewHeadExternalID is the external_id of the check run started for a
	// new head.
	NewHeadExternalID = "allot:new-head"
	// NewHeadDescription is the description of the pending commit status
	// set for a new head.
	NewHeadDescription = "Validating and planning a new head commit"
)

// GitHub's limits on what allot writes, and allot's bounds on what it reads.
const (
	maxStatusDescription = 140
	maxCheckSummary      = 65535
	perPage              = 100
	maxCommentPages      = 50
	maxFilePages         = 30 // GitHub lists at most 3,000 files
	maxListPages         = 10
)

// TokenClients reaches GitHub with one token, a personal access token or
// a bot account's, for every installation. It reports checks as commit
// statuses, since only GitHub Apps may create check runs.
type TokenClients struct {
	Retry  Retry
	client *apiClient
}

// NewTokenClients returns clients that authenticate with token. apiURL is
// empty for github.com, or a GitHub Enterprise Server API base such as
// https://ghe.example.com/api/v3/. hc supplies the transport and, as its
// Timeout, the limit on each attempt; nil means http.DefaultTransport and
// 30 seconds.
func NewTokenClients(token, apiURL string, hc *http.Client) (*TokenClients, error) {
	if strings.TrimSpace(token) == "" {
		return nil, errors.New("GitHub token is empty: give a personal access token, or use a GitHub App")
	}
	c := &TokenClients{}
	gh, err := newGitHub(apiURL, newRetryTransport(hc, &c.Retry))
	if err != nil {
		return nil, err
	}
	c.client = &apiClient{gh: gh.WithAuthToken(token)}
	return c, nil
}

// For returns the client; the installation is ignored.
func (c *TokenClients) For(int64) (review.GitHub, error) { return c.client, nil }

// AppClients reaches GitHub as a GitHub App: each installation gets a
// client with its own installation token, minted and renewed by
// ghinstallation. It reports checks as check runs.
type AppClients struct {
	Retry Retry

	appID  int64
	key    *rsa.PrivateKey
	apiURL string
	// appsURL is the API base as ghinstallation wants it, without the
	// trailing slash.
	appsURL string
	retry   http.RoundTripper
	mu      sync.Mutex
	clients map[int64]*apiClient
}

// NewAppClients returns clients for the GitHub App appID, which signs its
// JWTs with privateKeyPEM, the key GitHub generated for the app. apiURL
// and hc are as for NewTokenClients.
func NewAppClients(appID int64, privateKeyPEM []byte, apiURL string, hc *http.Client) (*AppClients, error) {
	if appID <= 0 {
		return nil, fmt.Errorf("GitHub App ID %d: want the app's numeric ID from its settings page", appID)
	}
	key, err := parsePrivateKey(privateKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("GitHub App %d private key: %w", appID, err)
	}
	c := &AppClients{appID: appID, key: key, apiURL: apiURL, clients: map[int64]*apiClient{}}
	c.retry = newRetryTransport(hc, &c.Retry)
	gh, err := newGitHub(apiURL, c.retry)
	if err != nil {
		return nil, err
	}
	c.appsURL = strings.TrimSuffix(gh.BaseURL.String(), "/")
	return c, nil
}

// For returns the client of an installation, made on first use.
func (c *AppClients) For(installationID int64) (review.GitHub, error) {
	if installationID <= 0 {
		return nil, fmt.Errorf("event names no installation of GitHub App %d: is the app installed on the repository?", c.appID)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if client, ok := c.clients[installationID]; ok {
		return client, nil
	}
	// One apps transport per installation: ghinstallation sets fields of
	// it while renewing a token, which must not race between installations.
	apps := ghinstallation.NewAppsTransportFromPrivateKey(c.retry, c.appID, c.key)
	apps.BaseURL = c.appsURL
	gh, err := newGitHub(c.apiURL, ghinstallation.NewFromAppsTransport(apps, installationID))
	if err != nil {
		return nil, err
	}
	client := &apiClient{gh: gh, checkRuns: true, appID: c.appID}
	c.clients[installationID] = client
	return client, nil
}

var _, _ review.Clients = (*TokenClients)(nil), (*AppClients)(nil)

// Installation finds the installation of the app on repo, for work that
// no event starts, such as recovering after a restart.
func (c *AppClients) Installation(ctx context.Context, repo review.Repo) (int64, error) {
	apps := ghinstallation.NewAppsTransportFromPrivateKey(c.retry, c.appID, c.key)
	apps.BaseURL = c.appsURL
	gh, err := newGitHub(c.apiURL, apps)
	if err != nil {
		return 0, err
	}
	in, _, err := gh.Apps.FindRepositoryInstallation(ctx, repo.Owner, repo.Name)
	if err != nil {
		return 0, fmt.Errorf("find the installation of GitHub App %d on %s: %w", c.appID, repo, err)
	}
	return in.GetID(), nil
}

// Installation is 0 with a token, which For ignores.
func (c *TokenClients) Installation(context.Context, review.Repo) (int64, error) { return 0, nil }

// parsePrivateKey reads an RSA key in PKCS #1 or PKCS #8 PEM; errors never
// quote the key.
func parsePrivateKey(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("not PEM: give the .pem file GitHub generated for the app (-----BEGIN RSA PRIVATE KEY-----)")
	}
	if key, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return key, nil
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("the %s PEM block is not an RSA private key: give the .pem file GitHub generated for the app", block.Type)
	}
	rsaKey, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the key is %T, not RSA: GitHub Apps sign with RSA keys", key)
	}
	return rsaKey, nil
}

// newGitHub returns a go-github client over rt for apiURL.
func newGitHub(apiURL string, rt http.RoundTripper) (*github.Client, error) {
	gh := github.NewClient(&http.Client{Transport: rt})
	if apiURL == "" {
		return gh, nil
	}
	u, err := url.Parse(apiURL)
	if err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" || u.User != nil {
		return nil, errors.New("GitHub API URL: want an http(s) URL without credentials such as https://ghe.example.com/api/v3/, or none for github.com")
	}
	upload := *u
	upload.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/api/v3") + "/api/uploads/"
	return gh.WithEnterpriseURLs(u.String(), upload.String())
}

// apiClient is GitHub for one token or installation.
type apiClient struct {
	gh *github.Client
	// checkRuns reports checks as check runs rather than commit statuses;
	// appID is the app whose runs they are.
	checkRuns bool
	appID     int64
}

var _ review.GitHub = (*apiClient)(nil)

func (c *apiClient) PullRequest(ctx context.Context, repo review.Repo, number int) (*review.PullRequest, error) {
	pr, _, err := c.gh.PullRequests.Get(ctx, repo.Owner, repo.Name, number)
	if err != nil {
		return nil, fmt.Errorf("read pull request %s#%d: %w", repo, number, err)
	}
	return pullRequestOf(pr), nil
}

func (c *apiClient) BranchHead(ctx context.Context, repo review.Repo, branch string) (string, error) {
	ref, _, err := c.gh.Git.GetRef(ctx, repo.Owner, repo.Name, "heads/"+branch)
	if err != nil {
		return "", fmt.Errorf("read branch %s of %s: %w", branch, repo, err)
	}
	return ref.GetObject().GetSHA(), nil
}

func (c *apiClient) OpenPullRequests(ctx context.Context, repo review.Repo, base string) ([]int, error) {
	prs, _, err := pages(maxListPages, func(page int) ([]*github.PullRequest, *github.Response, error) {
		opts := &github.PullRequestListOptions{State: "open", Base: base, ListOptions: github.ListOptions{Page: page, PerPage: perPage}}
		return c.gh.PullRequests.List(ctx, repo.Owner, repo.Name, opts)
	})
	if err != nil {
		return nil, fmt.Errorf("list open pull requests of %s: %w", repo, err)
	}
	out := make([]int, 0, len(prs))
	for _, pr := range prs {
		out = append(out, pr.GetNumber())
	}
	return out, nil
}

func (c *apiClient) MergedSince(ctx context.Context, repo review.Repo, since time.Time) ([]*review.PullRequest, error) {
	var out []*review.PullRequest
	for page := 0; page < maxListPages; {
		opts := &github.PullRequestListOptions{State: "closed", Sort: "updated", Direction: "desc", ListOptions: github.ListOptions{Page: page, PerPage: perPage}}
		prs, resp, err := c.gh.PullRequests.List(ctx, repo.Owner, repo.Name, opts)
		if err != nil {
			return nil, fmt.Errorf("list closed pull requests of %s: %w", repo, err)
		}
		for _, pr := range prs {
			if pr.GetUpdatedAt().Before(since) {
				return out, nil // sorted by update, newest first
			}
			if pr.MergedAt != nil && !pr.GetMergedAt().Before(since) {
				out = append(out, pullRequestOf(pr))
			}
		}
		if resp.NextPage == 0 {
			break
		}
		page = resp.NextPage
	}
	return out, nil
}

// pullRequestOf converts go-github's pull request.
func pullRequestOf(pr *github.PullRequest) *review.PullRequest {
	head, base := pr.GetHead(), pr.GetBase()
	return &review.PullRequest{
		Number: pr.GetNumber(), Title: pr.GetTitle(), HTMLURL: pr.GetHTMLURL(),
		Author: pr.GetUser().GetLogin(), AuthorIsBot: isBot(pr.GetUser()),
		State: pr.GetState(), Draft: pr.GetDraft(), Merged: pr.GetMerged() || pr.MergedAt != nil, MergeCommitSHA: pr.GetMergeCommitSHA(),
		Mergeable: pr.Mergeable, MergeableState: pr.GetMergeableState(),
		HeadSHA: head.GetSHA(), HeadRef: head.GetRef(), HeadRepo: head.GetRepo().GetFullName(),
		BaseRef: base.GetRef(), BaseSHA: base.GetSHA(), CloneURL: base.GetRepo().GetCloneURL(),
	}
}

func (c *apiClient) Comments(ctx context.Context, repo review.Repo, number int) ([]review.Comment, error) {
	comments, more, err := pages(maxCommentPages, func(page int) ([]*github.IssueComment, *github.Response, error) {
		opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{Page: page, PerPage: perPage}}
		return c.gh.Issues.ListComments(ctx, repo.Owner, repo.Name, number, opts)
	})
	switch {
	case err != nil:
		return nil, fmt.Errorf("list comments of %s#%d: %w", repo, number, err)
	case more: // reading part of the history could miss a hold
		return nil, fmt.Errorf("list comments of %s#%d: more than %d comments; allot reads at most that many, so continue in a new pull request",
			repo, number, maxCommentPages*perPage)
	}
	out := make([]review.Comment, 0, len(comments))
	for _, ic := range comments {
		out = append(out, review.Comment{
			ID: ic.GetID(), Author: ic.GetUser().GetLogin(), AuthorIsBot: isBot(ic.GetUser()),
			Body: ic.GetBody(), CreatedAt: ic.GetCreatedAt().Time,
		})
	}
	slices.SortStableFunc(out, func(a, b review.Comment) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

func (c *apiClient) CreateComment(ctx context.Context, repo review.Repo, number int, body string) (int64, error) {
	ic, _, err := c.gh.Issues.CreateComment(ctx, repo.Owner, repo.Name, number, &github.IssueComment{Body: &body})
	if err != nil {
		return 0, fmt.Errorf("comment on %s#%d: %w", repo, number, err)
	}
	return ic.GetID(), nil
}

func (c *apiClient) EditComment(ctx context.Context, repo review.Repo, commentID int64, body string) error {
	if _, _, err := c.gh.Issues.EditComment(ctx, repo.Owner, repo.Name, commentID, &github.IssueComment{Body: &body}); err != nil {
		return fmt.Errorf("edit comment %d in %s: %w", commentID, repo, err)
	}
	return nil
}

func (c *apiClient) React(ctx context.Context, repo review.Repo, commentID int64, content review.ReactionContent) error {
	if _, _, err := c.gh.Reactions.CreateIssueCommentReaction(ctx, repo.Owner, repo.Name, commentID, string(content)); err != nil {
		return fmt.Errorf("react %s to comment %d in %s: %w", content, commentID, repo, err)
	}
	return nil
}

func (c *apiClient) SetCheck(ctx context.Context, repo review.Repo, check review.Check) error {
	if check.State != review.CheckPending && check.State != review.CheckSuccess && check.State != review.CheckFailure {
		return fmt.Errorf("check on %s@%s: unknown state %q", repo, check.SHA, check.State)
	}
	set := c.setStatus
	if c.checkRuns {
		set = c.setCheckRun
	}
	if err := set(ctx, repo, check); err != nil {
		return fmt.Errorf("report %s check on %s@%s: %w", check.State, repo, check.SHA, err)
	}
	return nil
}

func (c *apiClient) setStatus(ctx context.Context, repo review.Repo, check review.Check) error {
	description := check.Title
	switch {
	case check.NewHead:
		description = NewHeadDescription
	case description == NewHeadDescription:
		description += "." // only a new head may carry the mark
	}
	status := github.RepoStatus{
		State:       github.String(string(check.State)),
		Description: github.String(cut(description, maxStatusDescription)),
		Context:     github.String(review.CheckName),
	}
	if check.DetailsURL != "" {
		status.TargetURL = &check.DetailsURL
	}
	_, _, err := c.gh.Repositories.CreateStatus(ctx, repo.Owner, repo.Name, check.SHA, &status)
	return err
}

func (c *apiClient) setCheckRun(ctx context.Context, repo review.Repo, check review.Check) error {
	title := cmp.Or(check.Title, review.CheckName)
	output := &github.CheckRunOutput{Title: &title, Summary: github.String(cut(cmp.Or(check.Summary, title), maxCheckSummary))}
	status, conclusion := github.String("completed"), github.String(string(check.State))
	if check.State == review.CheckPending {
		status, conclusion = github.String("in_progress"), nil
	}
	var details *string
	if check.DetailsURL != "" {
		details = &check.DetailsURL
	}
	if !check.NewHead {
		runs, err := c.checkRunsOn(ctx, repo, check.SHA)
		if err != nil {
			return err
		}
		if len(runs) > 0 {
			newest := slices.MaxFunc(runs, func(a, b *github.CheckRun) int { return cmp.Compare(a.GetID(), b.GetID()) })
			_, _, err := c.gh.Checks.UpdateCheckRun(ctx, repo.Owner, repo.Name, newest.GetID(), github.UpdateCheckRunOptions{
				Name: review.CheckName, Status: status, Conclusion: conclusion, DetailsURL: details, Output: output,
			})
			return err
		}
	}
	opts := github.CreateCheckRunOptions{
		Name: review.CheckName, HeadSHA: check.SHA, Status: status, Conclusion: conclusion, DetailsURL: details, Output: output,
	}
	if check.NewHead {
		opts.ExternalID = github.String(NewHeadExternalID)
	}
	_, _, err := c.gh.Checks.CreateCheckRun(ctx, repo.Owner, repo.Name, opts)
	return err
}

// checkRunsOn lists every allot check run of this app on sha, not only
// the latest.
func (c *apiClient) checkRunsOn(ctx context.Context, repo review.Repo, sha string) ([]*github.CheckRun, error) {
	runs, _, err := pages(maxListPages, func(page int) ([]*github.CheckRun, *github.Response, error) {
		res, resp, err := c.gh.Checks.ListCheckRunsForRef(ctx, repo.Owner, repo.Name, sha, &github.ListCheckRunsOptions{
			CheckName: github.String(review.CheckName), Filter: github.String("all"), AppID: &c.appID,
			ListOptions: github.ListOptions{Page: page, PerPage: perPage},
		})
		if err != nil {
			return nil, resp, err
		}
		return res.CheckRuns, resp, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list check runs: %w", err)
	}
	return runs, nil
}

func (c *apiClient) HeadSince(ctx context.Context, repo review.Repo, sha string) (time.Time, bool, error) {
	var since time.Time
	found := false
	if c.checkRuns {
		runs, err := c.checkRunsOn(ctx, repo, sha)
		if err != nil {
			return time.Time{}, false, fmt.Errorf("read new-head check of %s@%s: %w", repo, sha, err)
		}
		for _, run := range runs {
			if run.GetExternalID() == NewHeadExternalID && (!found || run.GetStartedAt().After(since)) {
				since, found = run.GetStartedAt().Time, true
			}
		}
		return since, found, nil
	}
	statuses, _, err := pages(maxListPages, func(page int) ([]*github.RepoStatus, *github.Response, error) {
		return c.gh.Repositories.ListStatuses(ctx, repo.Owner, repo.Name, sha, &github.ListOptions{Page: page, PerPage: perPage})
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read new-head status of %s@%s: %w", repo, sha, err)
	}
	for _, st := range statuses {
		if st.GetContext() == review.CheckName && st.GetDescription() == NewHeadDescription && (!found || st.GetCreatedAt().After(since)) {
			since, found = st.GetCreatedAt().Time, true
		}
	}
	return since, found, nil
}

func (c *apiClient) Merge(ctx context.Context, repo review.Repo, number int, sha string, method review.MergeMethod, title string) (string, error) {
	res, _, err := c.gh.PullRequests.Merge(ctx, repo.Owner, repo.Name, number, "", &github.PullRequestOptions{
		CommitTitle: title, SHA: sha, MergeMethod: string(method),
	})
	var errResp *github.ErrorResponse
	switch {
	case errors.As(err, &errResp) && errResp.Response.StatusCode == http.StatusMethodNotAllowed:
		return "", fmt.Errorf("merge %s#%d: %w (GitHub: %s)", repo, number, review.ErrNotMergeable, errResp.Message)
	case errors.As(err, &errResp) && errResp.Response.StatusCode == http.StatusConflict:
		return "", fmt.Errorf("merge %s#%d: %w (GitHub: %s)", repo, number, review.ErrHeadChanged, errResp.Message)
	case err != nil:
		return "", fmt.Errorf("merge %s#%d: %w", repo, number, err)
	case !res.GetMerged() || res.GetSHA() == "":
		return "", fmt.Errorf("merge %s#%d: GitHub did not merge: %s", repo, number, res.GetMessage())
	}
	return res.GetSHA(), nil
}

func (c *apiClient) PublicEmail(ctx context.Context, login string) (string, error) {
	u, _, err := c.gh.Users.Get(ctx, login)
	if err != nil {
		return "", fmt.Errorf("read the profile of %s: %w", login, err)
	}
	return u.GetEmail(), nil
}

func (c *apiClient) IsTeamMember(ctx context.Context, org, team, login string) (bool, error) {
	m, _, err := c.gh.Teams.GetTeamMembershipBySlug(ctx, org, team, login)
	var errResp *github.ErrorResponse
	if errors.As(err, &errResp) && errResp.Response.StatusCode == http.StatusNotFound {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read membership of %s in team %s/%s: %w", login, org, team, err)
	}
	return m.GetState() == "active", nil
}

func (c *apiClient) Files(ctx context.Context, repo review.Repo, number int) ([]string, error) {
	files, _, err := pages(maxFilePages, func(page int) ([]*github.CommitFile, *github.Response, error) {
		return c.gh.PullRequests.ListFiles(ctx, repo.Owner, repo.Name, number, &github.ListOptions{Page: page, PerPage: perPage})
	})
	if err != nil {
		return nil, fmt.Errorf("list files of %s#%d: %w", repo, number, err)
	}
	var out []string
	for _, f := range files {
		out = append(out, f.GetFilename())
		if prev := f.GetPreviousFilename(); prev != "" {
			out = append(out, prev)
		}
	}
	return out, nil
}

func (c *apiClient) PullRequestsWithCommit(ctx context.Context, repo review.Repo, sha string) ([]int, error) {
	prs, _, err := pages(maxListPages, func(page int) ([]*github.PullRequest, *github.Response, error) {
		return c.gh.PullRequests.ListPullRequestsWithCommit(ctx, repo.Owner, repo.Name, sha, &github.ListOptions{Page: page, PerPage: perPage})
	})
	if err != nil {
		return nil, fmt.Errorf("list pull requests with %s in %s: %w", sha, repo, err)
	}
	out := make([]int, 0, len(prs))
	for _, pr := range prs {
		out = append(out, pr.GetNumber())
	}
	return out, nil
}

// pages lists up to limit pages, starting with the first (page 0 leaves
// the parameter out) and following GitHub's Link header; more reports
// that pages were left.
func pages[T any](limit int, list func(page int) ([]T, *github.Response, error)) (all []T, more bool, err error) {
	page := 0
	for range limit {
		items, resp, err := list(page)
		if err != nil {
			return nil, false, err
		}
		all = append(all, items...)
		if resp.NextPage == 0 {
			return all, false, nil
		}
		page = resp.NextPage
	}
	return all, true, nil
}

// isBot reports whether a user is a bot: an app's bot user has type Bot
// and a login ending in [bot].
func isBot(u *github.User) bool {
	return u.GetType() == "Bot" || strings.HasSuffix(u.GetLogin(), "[bot]")
}

// cut keeps the first n characters of s.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
