package review

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Repo names a GitHub repository.
type Repo struct {
	Owner string
	Name  string
}

// ParseRepo reads "owner/name".
func ParseRepo(full string) (Repo, error) {
	owner, name, ok := strings.Cut(full, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return Repo{}, fmt.Errorf("repository %q: want owner/name", full)
	}
	return Repo{Owner: owner, Name: name}, nil
}

func (r Repo) String() string { return r.Owner + "/" + r.Name }

// PullRequest is what the bot reads of a pull request.
type PullRequest struct {
	Number      int
	Title       string
	Author      string
	AuthorIsBot bool
	// State is "open" or "closed".
	State  string
	Draft  bool
	Merged bool
	// Mergeable is nil while GitHub is still computing it.
	Mergeable *bool
	// MergeableState is GitHub's mergeable_state: clean, unstable, blocked,
	// behind, dirty, draft, has_hooks or unknown.
	MergeableState string
	HeadSHA        string
	HeadRef        string
	// HeadRepo is the full name of the repository the head branch is in; it
	// differs from the base repository for pull requests from forks.
	HeadRepo string
	BaseRef  string
	BaseSHA  string
	// CloneURL is the base repository's HTTPS clone URL.
	CloneURL       string
	MergeCommitSHA string
	HTMLURL        string
}

// FromFork reports whether the head branch lives in another repository.
func (pr *PullRequest) FromFork(base Repo) bool {
	return pr.HeadRepo != "" && !strings.EqualFold(pr.HeadRepo, base.String())
}

// CheckState is the state of allot's check on a commit.
type CheckState string

// The states of a check.
const (
	CheckPending CheckState = "pending"
	CheckSuccess CheckState = "success"
	CheckFailure CheckState = "failure"
)

// CheckName is the name of allot's check run and the context of its commit
// status.
const CheckName = "allot"

// Check is allot's verdict on one commit.
type Check struct {
	SHA   string
	State CheckState
	// Title is one line; commit statuses keep its first 140 characters.
	Title string
	// Summary is Markdown, shown by check runs (at most 65,535 characters).
	Summary string
	// DetailsURL links to more, for example the bot comment.
	DetailsURL string
	// NewHead marks the first check of a commit that just became the pull
	// request's head. Its time starts the window in which approvals count
	// for that commit (see GitHub.HeadSince).
	NewHead bool
}

// ReactionContent is a GitHub reaction.
type ReactionContent string

// The reactions the bot uses.
const (
	ReactionAck      ReactionContent = "+1"
	ReactionConfused ReactionContent = "confused"
)

// MergeMethod is how a pull request is merged.
type MergeMethod string

// The merge methods GitHub offers.
const (
	MergeCommit MergeMethod = "merge"
	MergeSquash MergeMethod = "squash"
	MergeRebase MergeMethod = "rebase"
)

// ErrNotMergeable is returned by Merge when GitHub refuses the merge (405),
// and ErrHeadChanged when the head is no longer the SHA given (409).
var (
	ErrNotMergeable = errors.New("pull request is not mergeable")
	ErrHeadChanged  = errors.New("head branch was modified; review and try the merge again")
)

// GitHub is everything the bot does on GitHub, for one installation
// (GitHub App) or one token: each role below, which the functions that
// need only one take instead.
type GitHub interface {
	PullRequests
	Conversation
	Checks
	Merger
	People
}

// PullRequests reads pull requests and the branches they merge into.
type PullRequests interface {
	// PullRequest reads a pull request.
	PullRequest(ctx context.Context, repo Repo, number int) (*PullRequest, error)
	// Files lists the paths a pull request adds, changes or removes (the
	// old and new path of a rename), as GitHub compares it with the merge
	// base, every page up to GitHub's 3,000 files.
	Files(ctx context.Context, repo Repo, number int) ([]string, error)
	// BranchHead is the commit a branch points at now.
	BranchHead(ctx context.Context, repo Repo, branch string) (string, error)
	// OpenPullRequests lists the open pull requests into base, up to a
	// bound.
	OpenPullRequests(ctx context.Context, repo Repo, base string) ([]int, error)
	// MergedSince lists the pull requests merged since the given time,
	// newest first, up to a bound.
	MergedSince(ctx context.Context, repo Repo, since time.Time) ([]*PullRequest, error)
	// PullRequestsWithCommit lists the numbers of the pull requests that
	// contain sha, for example the one a merge commit closed.
	PullRequestsWithCommit(ctx context.Context, repo Repo, sha string) ([]int, error)
}

// Conversation reads and writes a pull request's comments.
type Conversation interface {
	// Comments lists a pull request's conversation comments, oldest first,
	// every page up to a bound. Comment.CommitSHA is left empty.
	Comments(ctx context.Context, repo Repo, number int) ([]Comment, error)
	// CreateComment posts a comment and returns its ID.
	CreateComment(ctx context.Context, repo Repo, number int, body string) (int64, error)
	// EditComment replaces a comment's body.
	EditComment(ctx context.Context, repo Repo, commentID int64, body string) error
	// React adds a reaction to a comment.
	React(ctx context.Context, repo Repo, commentID int64, content ReactionContent) error
}

// Checks reports allot's check on commits.
type Checks interface {
	// SetCheck reports allot's check on check.SHA: as a check run named
	// CheckName when running as a GitHub App, otherwise as a commit status
	// with that context.
	SetCheck(ctx context.Context, repo Repo, check Check) error
	// HeadSince is when the latest check with NewHead set was made on sha;
	// ok is false when there is none.
	HeadSince(ctx context.Context, repo Repo, sha string) (since time.Time, ok bool, err error)
}

// Merger merges pull requests.
type Merger interface {
	// Merge merges a pull request only if its head is still sha, and
	// returns the merge commit.
	Merge(ctx context.Context, repo Repo, number int, sha string, method MergeMethod, title string) (string, error)
}

// People says who someone on GitHub is.
type People interface {
	// IsTeamMember reports whether login is an active member of org/team.
	IsTeamMember(ctx context.Context, org, team, login string) (bool, error)
	// PublicEmail is the e-mail address login shows on their GitHub
	// profile, one of their verified ones; "" when they show none.
	PublicEmail(ctx context.Context, login string) (string, error)
}

// Clients knows how to reach GitHub for the installation an event names,
// and how to find the installation on a repository when no event names it.
// With a token, the installation is ignored.
type Clients interface {
	For(installationID int64) (GitHub, error)
	Installation(ctx context.Context, repo Repo) (int64, error)
}

// ErrFileNotFound is returned by ReadFile for a path that holds no file.
var ErrFileNotFound = errors.New("no such file")

// FileChange is a change of one file that the bot proposes as a pull
// request of its own.
type FileChange struct {
	// Base is the branch the pull request goes into, and BaseSHA the
	// commit the change was made on; Branch is the new head branch.
	Base, BaseSHA, Branch string
	Path                  string
	// Blob is the file's blob SHA at BaseSHA, so that a file changed since
	// is not overwritten.
	Blob    string
	Content []byte
	// Message is the commit message; Title and Body the pull request's.
	Message, Title, Body string
}

// RepoWriter knows how to read a file of the repository and how to
// propose a change to one as a pull request, for `/extend`.
type RepoWriter interface {
	// ReadFile returns the content of path at ref (a branch or commit)
	// and its blob SHA; ErrFileNotFound when there is none.
	ReadFile(ctx context.Context, repo Repo, ref, path string) ([]byte, string, error)
	// ProposeChange makes change.Branch at change.BaseSHA, commits the
	// file onto it, opens a pull request into change.Base, and returns
	// its number.
	ProposeChange(ctx context.Context, repo Repo, change FileChange) (int, error)
}
