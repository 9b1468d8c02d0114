package githubapi_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/allot-dev/allot/review"
	"github.com/allot-dev/allot/test/harness"
	"github.com/allot-dev/allot/test/harness/githubapi"
)

// gitBacked starts a server whose acme/requests lives in a real git
// repository holding one request, and returns the repository and the
// review client's writer.
func gitBacked(t *testing.T) (*githubapi.Server, *harness.GitRepo, review.GitHub, string) {
	t.Helper()
	root := t.TempDir()
	g, err := harness.NewGitRepo(filepath.Join(root, "requests.git"), filepath.Join(root, "work"), "main")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.WriteFile("environments/web/shop.yaml", "kind: Environment\nspec: {expires: 2d}\n"); err != nil {
		t.Fatal(err)
	}
	base, err := g.Commit("first")
	if err != nil {
		t.Fatal(err)
	}
	s := githubapi.New(t)
	s.AddRepo(githubapi.Repo{FullName: repoName, HeadSHA: base, GitDir: g.Bare})
	return s, g, tokenClient(t, s, s.Token("allot-bot")), base
}

func TestContentsRefsAndNewPullRequests(t *testing.T) {
	s, g, gh, base := gitBacked(t)
	rw := gh.(review.RepoWriter)
	ctx := context.Background()

	content, blob, err := rw.ReadFile(ctx, repo, "main", "environments/web/shop.yaml")
	if err != nil || string(content) != "kind: Environment\nspec: {expires: 2d}\n" || blob == "" {
		t.Fatalf("ReadFile = %q, %q, %v", content, blob, err)
	}
	if _, _, err := rw.ReadFile(ctx, repo, "main", "environments/web/none.yaml"); !errors.Is(err, review.ErrFileNotFound) {
		t.Errorf("a missing file: %v, want ErrFileNotFound", err)
	}

	change := review.FileChange{
		Base: "main", BaseSHA: base, Branch: "allot/extend/shop-1", Path: "environments/web/shop.yaml", Blob: blob,
		Content: []byte("kind: Environment\nspec: {expires: \"2027-01-31\"}\n"), Message: "Extend shop", Title: "Extend shop", Body: "why",
	}
	number, err := rw.ProposeChange(ctx, repo, change)
	if err != nil {
		t.Fatal(err)
	}
	pr := s.PullRequest(repoName, number)
	if pr.State != "open" || pr.Author != "allot-bot" || pr.HeadRef != change.Branch || pr.BaseSHA != base ||
		len(pr.Files) != 1 || pr.Files[0].Filename != change.Path {
		t.Errorf("the new pull request: %+v", pr)
	}
	// The head is a real commit, kept as GitHub keeps it, whose parent is
	// the base.
	for ref, want := range map[string]string{"refs/pull/1/head": pr.HeadSHA, "refs/heads/" + change.Branch: pr.HeadSHA, pr.HeadSHA + "^": base} {
		if got, err := harness.RunGit(g.Bare, "rev-parse", ref); err != nil || got != want {
			t.Errorf("%s is %q (%v), want %s", ref, got, err, want)
		}
	}
	if got, _ := harness.RunGit(g.Bare, "show", pr.HeadSHA+":"+change.Path); got+"\n" != string(change.Content) {
		t.Errorf("the committed file is %q", got)
	}
	// As GitHub: a branch is made once, and a file changed since the blob
	// given is not overwritten.
	if _, err := rw.ProposeChange(ctx, repo, change); err == nil || !strings.Contains(err.Error(), "Reference already exists") {
		t.Errorf("the same branch again: %v", err)
	}
	change.Branch, change.Blob = "allot/extend/shop-2", "0000000000000000000000000000000000000000"
	if _, err := rw.ProposeChange(ctx, repo, change); err == nil || !strings.Contains(err.Error(), "409") {
		t.Errorf("a stale blob: %v", err)
	}
}
