package ghclient

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/go-github/v62/github"

	"github.com/allot-dev/allot/review"
)

// MaxFileRead bounds how much of a file in the requests repository the
// bot reads through GitHub: requests and allot.yaml are small.
const MaxFileRead = 1 << 20

var _ review.RepoWriter = (*apiClient)(nil)

func (c *apiClient) ReadFile(ctx context.Context, repo review.Repo, ref, path string) ([]byte, string, error) {
	file, _, resp, err := c.gh.Repositories.GetContents(ctx, repo.Owner, repo.Name, path, &github.RepositoryContentGetOptions{Ref: ref})
	switch {
	case resp != nil && resp.StatusCode == http.StatusNotFound:
		return nil, "", fmt.Errorf("read %s at %s in %s: %w", path, ref, repo, review.ErrFileNotFound)
	case err != nil:
		return nil, "", fmt.Errorf("read %s at %s in %s: %w", path, ref, repo, err)
	case file == nil || file.GetType() != "file":
		return nil, "", fmt.Errorf("read %s at %s in %s: %w", path, ref, repo, review.ErrFileNotFound)
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

func (c *apiClient) ProposeChange(ctx context.Context, repo review.Repo, ch review.FileChange) (int, error) {
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
