package review

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-github/v62/github"
)

// MaxFileRead bounds how much of a file in the requests repository the
// bot reads through GitHub: requests and allot.yaml are small.
const MaxFileRead = 1 << 20

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

var _ RepoWriter = (*apiClient)(nil)

func (c *apiClient) ReadFile(ctx context.Context, repo Repo, ref, path string) ([]byte, string, error) {
	file, _, resp, err := c.gh.Repositories.GetContents(ctx, repo.Owner, repo.Name, path, &github.RepositoryContentGetOptions{Ref: ref})
	switch {
	case resp != nil && resp.StatusCode == http.StatusNotFound:
		return nil, "", fmt.Errorf("read %s at %s in %s: %w", path, ref, repo, ErrFileNotFound)
	case err != nil:
		return nil, "", fmt.Errorf("read %s at %s in %s: %w", path, ref, repo, err)
	case file == nil || file.GetType() != "file":
		return nil, "", fmt.Errorf("read %s at %s in %s: %w", path, ref, repo, ErrFileNotFound)
	case file.GetSize() > MaxFileRead:
		return nil, "", fmt.Errorf("read %s at %s in %s: %d bytes, more than allot reads (%d)", path, ref, repo, file.GetSize(), MaxFileRead)
	}
	content, err := file.GetContent()
	if err != nil {
		return nil, "", fmt.Errorf("read %s at %s in %s: %w", path, ref, repo, err)
	}
	if len(content) > MaxFileRead {
		return nil, "", fmt.Errorf("read %s at %s in %s: more than allot reads (%d bytes)", path, ref, repo, MaxFileRead)
	}
	return []byte(content), file.GetSHA(), nil
}

func (c *apiClient) ProposeChange(ctx context.Context, repo Repo, ch FileChange) (int, error) {
	ref := "refs/heads/" + ch.Branch
	if _, _, err := c.gh.Git.CreateRef(ctx, repo.Owner, repo.Name, &github.Reference{Ref: &ref, Object: &github.GitObject{SHA: &ch.BaseSHA}}); err != nil {
		return 0, fmt.Errorf("create branch %s in %s: %w", ch.Branch, repo, err)
	}
	if _, _, err := c.gh.Repositories.UpdateFile(ctx, repo.Owner, repo.Name, ch.Path, &github.RepositoryContentFileOptions{
		Message: &ch.Message, Content: ch.Content, SHA: &ch.Blob, Branch: &ch.Branch,
	}); err != nil {
		return 0, fmt.Errorf("commit %s to branch %s in %s: %w", ch.Path, ch.Branch, repo, err)
	}
	pr, _, err := c.gh.PullRequests.Create(ctx, repo.Owner, repo.Name, &github.NewPullRequest{
		Title: &ch.Title, Head: &ch.Branch, Base: &ch.Base, Body: &ch.Body,
	})
	if err != nil {
		return 0, fmt.Errorf("open a pull request from %s in %s: %w", ch.Branch, repo, err)
	}
	return pr.GetNumber(), nil
}
