package ghclient

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/allot-dev/allot/review"
	"github.com/allot-dev/allot/test/harness"
	"github.com/allot-dev/allot/test/harness/githubapi"
)

const fakeRepo = "acme/requests"

var acme = review.Repo{Owner: "acme", Name: "requests"}

// fakeGitHub starts the fake API with acme/requests and one open pull
// request with head "h1", and returns a client that reports checks as
// statuses (a token) or as check runs (a GitHub App), whose waits are
// recorded instead of slept.
func fakeGitHub(t *testing.T, app bool) (*githubapi.Server, review.GitHub, *[]time.Duration) {
	t.Helper()
	s := githubapi.New(t)
	s.AddRepo(githubapi.Repo{FullName: fakeRepo})
	s.OpenPR(fakeRepo, githubapi.PR{Author: "alice", HeadSHA: "h1"})
	var retry *Retry
	var clients review.Clients
	if app {
		key := s.App(1)
		s.Install(1, 10, fakeRepo)
		c, err := NewAppClients(1, key, s.URL(), nil)
		if err != nil {
			t.Fatal(err)
		}
		clients, retry = c, &c.Retry
	} else {
		c, err := NewTokenClients(s.Token("allot-bot"), s.URL(), nil)
		if err != nil {
			t.Fatal(err)
		}
		clients, retry = c, &c.Retry
	}
	var slept []time.Duration
	retry.Now = s.Now
	retry.Sleep = func(_ context.Context, d time.Duration) error {
		slept = append(slept, d)
		return nil
	}
	gh, err := clients.For(10)
	if err != nil {
		t.Fatal(err)
	}
	return s, gh, &slept
}

func TestNewClientsRefuses(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	ecPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})
	garbled := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte("secret-key-bytes")})
	good := githubapi.New(t).App(1)
	for _, tc := range []struct {
		name string
		new  func() error
		want string
	}{
		{"an empty token", func() error { _, err := NewTokenClients(" ", "", nil); return err }, "token is empty"},
		{"a URL that is not http", func() error { _, err := NewTokenClients("t0ken", "ftp://ghe/api/v3/", nil); return err }, "want an http(s) URL"},
		{"a URL with credentials", func() error { _, err := NewTokenClients("t0ken", "https://u:pw@ghe/api/v3/", nil); return err }, "without credentials"},
		{"a URL that does not parse", func() error { _, err := NewTokenClients("t0ken", "https://ghe/%zz", nil); return err }, "GitHub API URL"},
		{"an app ID of zero", func() error { _, err := NewAppClients(0, good, "", nil); return err }, "numeric ID"},
		{"a key that is not PEM", func() error { _, err := NewAppClients(1, []byte("secret-key-bytes"), "", nil); return err }, "not PEM"},
		{"a garbled key", func() error { _, err := NewAppClients(1, garbled, "", nil); return err }, "not an RSA private key"},
		{"a key that is not RSA", func() error { _, err := NewAppClients(1, ecPEM, "", nil); return err }, "not RSA"},
		{"an event without an installation", func() error {
			c, err := NewAppClients(1, good, "", nil)
			if err != nil {
				return err
			}
			_, err = c.For(0)
			return err
		}, "names no installation"},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			err := tc.new()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
			for _, secret := range []string{"t0ken", "secret-key-bytes", "pw"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows a secret", err)
				}
			}
		})
	}
}

func TestStatusChecks(t *testing.T) {
	s, gh, _ := fakeGitHub(t, false)
	ctx := context.Background()
	if _, ok, err := gh.HeadSince(ctx, acme, "h1"); err != nil || ok {
		t.Fatalf("HeadSince before any check = %v, %v; want none", ok, err)
	}
	set := func(c review.Check) {
		t.Helper()
		c.SHA = "h1"
		if err := gh.SetCheck(ctx, acme, c); err != nil {
			t.Fatal(err)
		}
	}
	set(review.Check{State: review.CheckPending, Title: "Validating and planning", NewHead: true})
	marked := s.Statuses(fakeRepo, "h1")[0]
	set(review.Check{State: review.CheckFailure, Title: strings.Repeat("é", 150), Summary: "ignored", DetailsURL: "https://example.com/c"})
	set(review.Check{State: review.CheckPending, Title: NewHeadDescription}) // a recheck must not look like a new head

	var got []string
	for _, st := range s.Statuses(fakeRepo, "h1") {
		got = append(got, fmt.Sprintf("%s %s %s %q", st.Context, st.State, st.TargetURL, st.Description))
	}
	want := []string{
		`allot pending  "Validating and planning a new head commit"`,
		`allot failure https://example.com/c "` + strings.Repeat("é", 140) + `"`,
		`allot pending  "Validating and planning a new head commit."`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	since, ok, err := gh.HeadSince(ctx, acme, "h1")
	if err != nil || !ok || !since.Equal(marked.CreatedAt) {
		t.Errorf("HeadSince = %v, %v, %v; want %v, the new-head status's time", since, ok, err, marked.CreatedAt)
	}
	s.Advance(time.Minute)
	set(review.Check{State: review.CheckPending, NewHead: true})
	if since2, _, _ := gh.HeadSince(ctx, acme, "h1"); !since2.After(since) {
		t.Errorf("HeadSince = %v after a second new head, want later than %v", since2, since)
	}
}

func TestCheckRuns(t *testing.T) {
	s, gh, _ := fakeGitHub(t, true)
	ctx := context.Background()
	set := func(c review.Check) {
		t.Helper()
		if err := gh.SetCheck(ctx, acme, c); err != nil {
			t.Fatal(err)
		}
	}
	runs := func(sha string) []string {
		var out []string
		for _, cr := range s.CheckRuns(fakeRepo, sha) {
			out = append(out, fmt.Sprintf("%d %s %s %s %s %q %d %s", cr.ID, cr.Name, cr.ExternalID, cr.Status, cr.Conclusion, cr.Title, len([]rune(cr.Summary)), cr.DetailsURL))
		}
		return out
	}

	t.Run("starts a marked run for a new head and completes it", func(t *testing.T) {
		set(review.Check{SHA: "h1", State: review.CheckPending, Title: "Validating and planning", NewHead: true})
		started := s.CheckRuns(fakeRepo, "h1")[0]
		set(review.Check{SHA: "h1", State: review.CheckSuccess, Title: "Valid", Summary: strings.Repeat("x", 70000), DetailsURL: "https://example.com/c"})
		id := started.ID
		want := []string{fmt.Sprintf("%d allot allot:new-head completed success \"Valid\" 65535 https://example.com/c", id)}
		if diff := cmp.Diff(want, runs("h1")); diff != "" {
			t.Errorf("check runs (-want +got):\n%s", diff)
		}
		since, ok, err := gh.HeadSince(ctx, acme, "h1")
		if err != nil || !ok || !since.Equal(started.StartedAt) {
			t.Errorf("HeadSince = %v, %v, %v; want %v", since, ok, err, started.StartedAt)
		}
		set(review.Check{SHA: "h1", State: review.CheckPending, Title: "Planning again"})
		if got := runs("h1"); len(got) != 1 || !strings.Contains(got[0], "in_progress") {
			t.Errorf("a recheck made %v, want the run back in progress", got)
		}
	})
	t.Run("starts another run for the next new head", func(t *testing.T) {
		before, _, _ := gh.HeadSince(ctx, acme, "h1")
		s.Advance(time.Minute)
		set(review.Check{SHA: "h1", State: review.CheckPending, NewHead: true})
		since, _, _ := gh.HeadSince(ctx, acme, "h1")
		if len(runs("h1")) != 2 || !since.After(before) {
			t.Errorf("runs %v, HeadSince %v; want two runs and a later time than %v", runs("h1"), since, before)
		}
	})
	t.Run("creates an unmarked run when there is none to update", func(t *testing.T) {
		set(review.Check{SHA: "h2", State: review.CheckFailure, Title: "Invalid"})
		if got := runs("h2"); len(got) != 1 || !strings.Contains(got[0], "allot  completed failure") {
			t.Errorf("runs = %v", got)
		}
		if _, ok, _ := gh.HeadSince(ctx, acme, "h2"); ok {
			t.Error("an unmarked run counts as a new head")
		}
	})
}

func TestConversation(t *testing.T) {
	s, gh, _ := fakeGitHub(t, false)
	ctx := context.Background()
	s.AddComment(fakeRepo, 1, "bob", "/approve")
	s.AddComment(fakeRepo, 1, "renovate[bot]", "hi")
	id, err := gh.CreateComment(ctx, acme, 1, "report")
	if err != nil {
		t.Fatal(err)
	}
	if err := gh.EditComment(ctx, acme, id, "report, edited"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := gh.React(ctx, acme, id, review.ReactionAck); err != nil {
			t.Fatal(err)
		}
	}
	comments, err := gh.Comments(ctx, acme, 1)
	if err != nil {
		t.Fatal(err)
	}
	var want []review.Comment
	for _, c := range s.Comments(fakeRepo, 1) {
		want = append(want, review.Comment{ID: c.ID, Author: c.Login, AuthorIsBot: c.UserType == "Bot", Body: c.Body, CreatedAt: c.CreatedAt})
	}
	if len(want) != 3 || want[1].Author != "renovate[bot]" || !want[1].AuthorIsBot || want[2].Body != "report, edited" {
		t.Fatalf("the fake holds %+v", want)
	}
	if diff := cmp.Diff(want, comments); diff != "" {
		t.Errorf("comments (-want +got):\n%s", diff)
	}
	if r := s.Reactions(fakeRepo, id); len(r) != 1 || r[0].Content != "+1" || r[0].Login != "allot-bot" {
		t.Errorf("reactions = %+v, want one +1 by allot-bot", r)
	}
}

// replay returns a token client of an @octokit/fixtures scenario replayed.
func replay(t *testing.T, scenario string) (review.GitHub, *githubapi.Replay) {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	xs, err := githubapi.LoadFixture(root, scenario)
	if err != nil {
		t.Fatal(err)
	}
	rp := githubapi.NewReplay(t, xs)
	clients, err := NewTokenClients("0000000000000000000000000000000000000001", rp.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	gh, _ := clients.For(0)
	return gh, rp
}

// TestRecordedExchanges replays what api.github.com answered, as
// @octokit/fixtures recorded it, to the client.
func TestRecordedExchanges(t *testing.T) {
	ctx := context.Background()
	t.Run("sets a commit status as recorded", func(t *testing.T) {
		gh, rp := replay(t, "create-status")
		sha := strings.Repeat("0", 39) + "1"
		if err := gh.SetCheck(ctx, acme, review.Check{SHA: sha, State: review.CheckFailure, Title: "create-status failure test", DetailsURL: "https://example.com"}); err != nil {
			t.Fatal(err)
		}
		req := rp.Requests()[0]
		var sent map[string]any
		if err := json.Unmarshal(req.Body, &sent); err != nil {
			t.Fatal(err)
		}
		recorded := map[string]any{"state": "failure", "target_url": "https://example.com", "description": "create-status failure test", "context": "example/1"}
		if diff := cmp.Diff(slices.Sorted(maps.Keys(recorded)), slices.Sorted(maps.Keys(sent))); diff != "" {
			t.Errorf("body keys (-recorded +sent):\n%s", diff)
		}
		if want := "/api/v3/repos/acme/requests/statuses/" + sha; req.Method != http.MethodPost || req.Path != want {
			t.Errorf("request = %s %s, want POST %s", req.Method, req.Path, want)
		}
		// The second recorded POST, then the list of statuses.
		_ = gh.SetCheck(ctx, acme, review.Check{SHA: sha, State: review.CheckSuccess, Title: "create-status success test"})
		if _, ok, err := gh.HeadSince(ctx, acme, sha); err != nil || ok {
			t.Errorf("HeadSince over recorded statuses of other contexts = %v, %v; want none", ok, err)
		}
	})
	t.Run("follows recorded Link headers page by page", func(t *testing.T) {
		gh, rp := replay(t, "paginate-issues")
		comments, err := gh.Comments(ctx, acme, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(comments) != 13 || comments[0].ID != 1000 || comments[12].ID != 1012 || comments[0].Author != "octokit-fixture-user-a" ||
			comments[0].AuthorIsBot || !comments[0].CreatedAt.Equal(time.Date(2017, 10, 10, 16, 0, 0, 0, time.UTC)) {
			t.Errorf("got %d comments, first %+v", len(comments), comments[0])
		}
		var pages []string
		for _, r := range rp.Requests() {
			pages = append(pages, r.Path)
		}
		want := []string{"/api/v3/repos/acme/requests/issues/1/comments?per_page=100"}
		for p := 2; p <= 5; p++ {
			want = append(want, fmt.Sprintf("/api/v3/repos/acme/requests/issues/1/comments?page=%d&per_page=100", p))
		}
		if diff := cmp.Diff(want, pages); diff != "" {
			t.Errorf("requests (-want +got):\n%s", diff)
		}
	})
	t.Run("reports a recorded validation error", func(t *testing.T) {
		gh, _ := replay(t, "errors")
		_, err := gh.CreateComment(ctx, acme, 1, "x")
		if err == nil || !strings.Contains(err.Error(), "422 Validation Failed") {
			t.Errorf("err = %v, want GitHub's 422 Validation Failed", err)
		}
	})
}

func TestMergedSince(t *testing.T) {
	s, gh, _ := fakeGitHub(t, false)
	ctx := context.Background()
	// 150 pull requests merged, so the list takes two pages; then one that
	// stays open.
	var first time.Time
	for i := range 150 {
		n := s.OpenPR(fakeRepo, githubapi.PR{Author: "dan", HeadSHA: fmt.Sprintf("%040d", i+2)})
		s.AddStatus(fakeRepo, githubapi.Status{SHA: fmt.Sprintf("%040d", i+2), State: "success", Context: review.CheckName})
		if _, err := gh.Merge(ctx, acme, n, fmt.Sprintf("%040d", i+2), review.MergeCommit, "merge"); err != nil {
			t.Fatal(err)
		}
		if i == 99 {
			first = s.Now()
		}
	}
	merged, err := gh.MergedSince(ctx, acme, first)
	if err != nil {
		t.Fatal(err)
	}
	if len(merged) != 51 { // since counts: the 100th merge is at that time
		t.Fatalf("%d merged since the 100th merge, want it and the 50 after it", len(merged))
	}
	for i, pr := range merged {
		if !pr.Merged || pr.MergeCommitSHA == "" || pr.State != "closed" {
			t.Errorf("pull request %d: %+v, want merged with its merge commit", pr.Number, pr)
		}
		if i > 0 && pr.Number > merged[i-1].Number {
			t.Errorf("not newest first: #%d after #%d", pr.Number, merged[i-1].Number)
		}
	}
	all, err := gh.MergedSince(ctx, acme, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 150 {
		t.Errorf("%d merged in all, want 150 over two pages", len(all))
	}
}
