package githubapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/allot-dev/allot/review"
	"github.com/allot-dev/allot/test/harness/githubapi"
)

func TestMergeableState(t *testing.T) {
	success := githubapi.Status{State: "success", Context: githubapi.RequiredCheck}
	for _, tc := range []struct {
		name      string
		draft     bool
		conflict  bool
		computing bool
		statuses  []githubapi.Status
		want      string
		mergeable *bool
	}{
		{name: "is blocked without the required check", want: "blocked", mergeable: ptr(true)},
		{name: "is clean once the required check succeeded", statuses: []githubapi.Status{success}, want: "clean", mergeable: ptr(true)},
		{name: "looks at the newest required status", statuses: []githubapi.Status{success, {State: "pending", Context: "allot"}}, want: "blocked", mergeable: ptr(true)},
		{name: "ignores other contexts", statuses: []githubapi.Status{{State: "success", Context: "ci"}}, want: "blocked", mergeable: ptr(true)},
		{name: "is draft for drafts", draft: true, statuses: []githubapi.Status{success}, want: "draft", mergeable: ptr(true)},
		{name: "is dirty on a conflict", conflict: true, statuses: []githubapi.Status{success}, want: "dirty", mergeable: ptr(false)},
		{name: "is unknown while computing", computing: true, want: "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, token := setup(t)
			number := s.OpenPR(repoName, githubapi.PR{Author: "alice", HeadSHA: "abc", Draft: tc.draft})
			s.SetConflict(repoName, number, tc.conflict)
			s.SetComputing(repoName, number, tc.computing)
			for _, st := range tc.statuses {
				st.SHA = "abc"
				s.AddStatus(repoName, st)
			}
			pr, err := tokenClient(t, s, token).PullRequest(context.Background(), repo, number)
			if err != nil {
				t.Fatal(err)
			}
			if pr.MergeableState != tc.want || !equalPtr(pr.Mergeable, tc.mergeable) {
				t.Errorf("mergeable = %v, mergeable_state = %q; want %v, %q", deref(pr.Mergeable), pr.MergeableState, deref(tc.mergeable), tc.want)
			}
		})
	}
}

func TestPullRequest(t *testing.T) {
	s, token := setup(t)
	gh := tokenClient(t, s, token)
	ctx := context.Background()
	number := s.OpenPR(repoName, githubapi.PR{
		Title: "Add team", Author: "renovate[bot]", HeadSHA: "abc", HeadRef: "add-team", HeadRepo: "mallory/requests",
		Files: []githubapi.File{{Filename: "a.yaml", Status: "added"}, {Filename: "new.yaml", Status: "renamed", PreviousFilename: "old.yaml"}},
	})

	pr, err := gh.PullRequest(ctx, repo, number)
	if err != nil {
		t.Fatal(err)
	}
	want := review.PullRequest{
		Number: number, Title: "Add team", Author: "renovate[bot]", AuthorIsBot: true, State: "open",
		Mergeable: ptr(true), MergeableState: "blocked", HeadSHA: "abc", HeadRef: "add-team", HeadRepo: "mallory/requests",
		BaseRef: "main", BaseSHA: s.PullRequest(repoName, number).BaseSHA, CloneURL: s.URL() + repoName + ".git",
		HTMLURL: fmt.Sprintf("%s%s/pull/%d", s.URL(), repoName, number),
	}
	if pr.Mergeable == nil || *pr.Mergeable != *want.Mergeable {
		t.Errorf("mergeable = %v", deref(pr.Mergeable))
	}
	pr.Mergeable = want.Mergeable
	if *pr != want {
		t.Errorf("pull request =\n%+v\nwant\n%+v", *pr, want)
	}
	if !pr.FromFork(repo) {
		t.Error("a pull request from mallory/requests is not from a fork")
	}

	files, err := gh.Files(ctx, repo, number)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a.yaml", "new.yaml", "old.yaml"}; !slices.Equal(files, want) {
		t.Errorf("files = %v, want %v", files, want)
	}
}

func TestMerge(t *testing.T) {
	s, token := setup(t)
	gh := tokenClient(t, s, token)
	ctx := context.Background()
	green := func(sha string) { s.AddStatus(repoName, githubapi.Status{SHA: sha, State: "success"}) }
	var hooked []string
	s.OnMerge = func(repo string, number int, sha, method string) (string, error) {
		hooked = append(hooked, fmt.Sprintf("%s#%d %s %s", repo, number, sha, method))
		return "m3rg3", nil
	}

	t.Run("refuses a blocked pull request with 405", func(t *testing.T) {
		number := s.OpenPR(repoName, githubapi.PR{Author: "alice", HeadSHA: "a1"})
		_, err := gh.Merge(ctx, repo, number, "a1", review.MergeCommit, "t")
		if !errors.Is(err, review.ErrNotMergeable) {
			t.Fatalf("err = %v, want ErrNotMergeable", err)
		}
		if last := s.Requests()[len(s.Requests())-1]; last.Status != http.StatusMethodNotAllowed {
			t.Errorf("status = %d, want 405", last.Status)
		}
	})
	t.Run("refuses another head with 409", func(t *testing.T) {
		number := s.OpenPR(repoName, githubapi.PR{Author: "alice", HeadSHA: "b1"})
		green("b1")
		s.Push(repoName, number, "b2")
		green("b2")
		_, err := gh.Merge(ctx, repo, number, "b1", review.MergeCommit, "t")
		if !errors.Is(err, review.ErrHeadChanged) {
			t.Fatalf("err = %v, want ErrHeadChanged", err)
		}
	})
	t.Run("merges a clean pull request through OnMerge", func(t *testing.T) {
		number := s.OpenPR(repoName, githubapi.PR{Author: "alice", HeadSHA: "c1"})
		green("c1")
		sha, err := gh.Merge(ctx, repo, number, "c1", review.MergeSquash, "Add team (#3)")
		if err != nil {
			t.Fatal(err)
		}
		if sha != "m3rg3" {
			t.Errorf("merge commit = %q, want OnMerge's", sha)
		}
		want := githubapi.Merge{Repo: repoName, Number: number, SHA: "c1", Method: "squash", Title: "Add team (#3)", MergeSHA: "m3rg3"}
		if merges := s.Merges(); merges[len(merges)-1] != want {
			t.Errorf("merge = %+v, want %+v", merges[len(merges)-1], want)
		}
		if want := fmt.Sprintf("acme/requests#%d c1 squash", number); hooked[len(hooked)-1] != want {
			t.Errorf("OnMerge got %q, want %q", hooked[len(hooked)-1], want)
		}
		pr, err := gh.PullRequest(ctx, repo, number)
		if err != nil {
			t.Fatal(err)
		}
		if !pr.Merged || pr.State != "closed" || pr.MergeCommitSHA != "m3rg3" {
			t.Errorf("after the merge: merged %v, state %s, merge commit %s", pr.Merged, pr.State, pr.MergeCommitSHA)
		}
		numbers, err := gh.PullRequestsWithCommit(ctx, repo, "m3rg3")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(numbers, []int{number}) {
			t.Errorf("pull requests with the merge commit = %v, want [%d]", numbers, number)
		}
		if _, err := gh.Merge(ctx, repo, number, "c1", review.MergeSquash, "again"); !errors.Is(err, review.ErrNotMergeable) {
			t.Errorf("merging again: err = %v, want ErrNotMergeable", err)
		}
	})
}

func TestTeamMembership(t *testing.T) {
	s, token := setup(t)
	gh := tokenClient(t, s, token)
	s.AddTeamMember("acme", "platform", "alice")
	s.InviteTeamMember("acme", "platform", "bob")
	for _, tc := range []struct {
		login string
		want  bool
	}{{"alice", true}, {"ALICE", true}, {"bob", false}, {"carol", false}} {
		t.Run(tc.login, func(t *testing.T) {
			got, err := gh.IsTeamMember(context.Background(), "acme", "platform", tc.login)
			if err != nil || got != tc.want {
				t.Errorf("IsTeamMember = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	if got, err := gh.IsTeamMember(context.Background(), "acme", "no-team", "alice"); err != nil || got {
		t.Errorf("a missing team: %v, %v; want false", got, err)
	}
}

func ptr[T any](v T) *T { return &v }

func deref(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}

func equalPtr(a, b *bool) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }
