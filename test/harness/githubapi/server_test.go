package githubapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/allot-dev/allot/review"
	"github.com/allot-dev/allot/review/ghclient"
	"github.com/allot-dev/allot/test/harness/githubapi"
)

const repoName = "acme/requests"

var repo = review.Repo{Owner: "acme", Name: "requests"}

// setup starts a server with acme/requests and a personal token.
func setup(t *testing.T) (*githubapi.Server, string) {
	t.Helper()
	s := githubapi.New(t)
	s.AddRepo(githubapi.Repo{FullName: repoName})
	return s, s.Token("allot-bot")
}

// tokenClient returns the review client for token on s.
func tokenClient(t *testing.T, s *githubapi.Server, token string) review.GitHub {
	t.Helper()
	clients, err := ghclient.NewTokenClients(token, s.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	gh, err := clients.For(0)
	if err != nil {
		t.Fatal(err)
	}
	return gh
}

// call sends a raw API request and decodes the answer.
func call(t *testing.T, method, url, auth, body string) (int, http.Header, any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if len(data) > 0 {
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatalf("%s %s: body is not JSON: %s", method, url, data)
		}
	}
	return resp.StatusCode, resp.Header, v
}

func TestAuthentication(t *testing.T) {
	s, token := setup(t)
	url := s.URL() + "repos/" + repoName
	for _, tc := range []struct {
		name, auth string
		want       int
		message    string
	}{
		{"refuses a request without credentials", "", 401, "Requires authentication"},
		{"refuses an unknown token", "token ghp_nope", 401, "Bad credentials"},
		{"refuses a malformed JWT", "Bearer a.b.c", 401, "A JSON web token could not be decoded"},
		{"accepts a personal token", "token " + token, 200, ""},
		{"accepts a personal token as a bearer token", "Bearer " + token, 200, ""},
		{"refuses a personal token on app endpoints", "token " + token, 401, "A JSON web token could not be decoded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method, u := http.MethodGet, url
			if strings.Contains(tc.name, "app endpoints") {
				method, u = http.MethodPost, s.URL()+"app/installations/1/access_tokens"
			}
			status, header, body := call(t, method, u, tc.auth, "")
			if status != tc.want {
				t.Fatalf("status = %d, want %d (%v)", status, tc.want, body)
			}
			if tc.message != "" {
				want := map[string]any{"message": tc.message, "documentation_url": "https://docs.github.com/rest"}
				if diff := cmp.Diff(want, body); diff != "" {
					t.Errorf("error body (-want +got):\n%s", diff)
				}
				return
			}
			for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-RateLimit-Used"} {
				if header.Get(h) == "" {
					t.Errorf("no %s header", h)
				}
			}
		})
	}

	t.Run("answers unknown endpoints with GitHub's 404", func(t *testing.T) {
		status, _, body := call(t, http.MethodGet, s.URL()+"repos/"+repoName+"/no-such-thing", "token "+token, "")
		if status != 404 || body.(map[string]any)["message"] != "Not Found" {
			t.Errorf("got %d %v, want 404 Not Found", status, body)
		}
	})
}

func TestGitHubApp(t *testing.T) {
	s, _ := setup(t)
	s.AddRepo(githubapi.Repo{FullName: "acme/other"})
	key := s.App(42)
	s.Install(42, 7, repoName)
	clients, err := ghclient.NewAppClients(42, key, s.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	gh, err := clients.For(7)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	number := s.OpenPR(repoName, githubapi.PR{Author: "alice"})

	t.Run("mints an installation token with a verified JWT and reuses it", func(t *testing.T) {
		for range 3 {
			if _, err := gh.PullRequest(ctx, repo, number); err != nil {
				t.Fatal(err)
			}
		}
		if n := s.CountRequests(http.MethodPost, "/app/installations/7/access_tokens"); n != 1 {
			t.Errorf("minted %d tokens, want 1", n)
		}
		for _, r := range s.Requests() {
			if r.Path == "/app/installations/7/access_tokens" && (r.Actor != "app:42" || r.Status != 201) {
				t.Errorf("token request by %q answered %d, want app:42 and 201", r.Actor, r.Status)
			}
		}
	})
	t.Run("comments as the app's bot user", func(t *testing.T) {
		if _, err := gh.CreateComment(ctx, repo, number, "hello"); err != nil {
			t.Fatal(err)
		}
		c := s.Comments(repoName, number)[0]
		if c.Login != "allot[bot]" || c.UserType != "Bot" {
			t.Errorf("comment by %s (%s), want allot[bot] (Bot)", c.Login, c.UserType)
		}
	})
	t.Run("reaches only the repositories it is installed on", func(t *testing.T) {
		_, err := gh.PullRequest(ctx, review.Repo{Owner: "acme", Name: "other"}, 1)
		if err == nil || !strings.Contains(err.Error(), "404") {
			t.Errorf("err = %v, want a 404", err)
		}
	})
	t.Run("refuses a JWT signed with another key", func(t *testing.T) {
		other := githubapi.New(t)
		other.App(42) // same ID, another key
		bad, err := ghclient.NewAppClients(42, key, other.URL(), nil)
		if err != nil {
			t.Fatal(err)
		}
		gh, err := bad.For(7)
		if err != nil {
			t.Fatal(err)
		}
		_, err = gh.PullRequest(ctx, repo, number)
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("err = %v, want the token request refused with 401", err)
		}
	})
	t.Run("does not mint tokens for another app's installation", func(t *testing.T) {
		s.App(43)
		s.Install(43, 8, repoName)
		gh, err := clients.For(8)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := gh.PullRequest(ctx, repo, number); err == nil || !strings.Contains(err.Error(), "404") {
			t.Errorf("err = %v, want a 404 for the token request", err)
		}
	})
}

func TestPagination(t *testing.T) {
	s, token := setup(t)
	number := s.OpenPR(repoName, githubapi.PR{Author: "alice"})
	for i := range 250 {
		s.AddComment(repoName, number, "alice", fmt.Sprintf("comment %d", i))
	}
	url := fmt.Sprintf("%srepos/%s/issues/%d/comments", s.URL(), repoName, number)

	t.Run("links the next and last pages", func(t *testing.T) {
		status, header, body := call(t, http.MethodGet, url+"?per_page=100", "token "+token, "")
		if status != 200 || len(body.([]any)) != 100 {
			t.Fatalf("got %d with %d comments, want 200 with 100", status, len(body.([]any)))
		}
		want := fmt.Sprintf(`<%s?page=2&per_page=100>; rel="next", <%s?page=3&per_page=100>; rel="last"`, url, url)
		if got := header.Get("Link"); got != want {
			t.Errorf("Link = %s\nwant %s", got, want)
		}
	})
	t.Run("links the previous and first pages from the last", func(t *testing.T) {
		_, header, body := call(t, http.MethodGet, url+"?per_page=100&page=3", "token "+token, "")
		if n := len(body.([]any)); n != 50 {
			t.Errorf("last page has %d comments, want 50", n)
		}
		want := fmt.Sprintf(`<%s?page=2&per_page=100>; rel="prev", <%s?page=1&per_page=100>; rel="first"`, url, url)
		if got := header.Get("Link"); got != want {
			t.Errorf("Link = %s\nwant %s", got, want)
		}
	})
	t.Run("defaults to 30 a page", func(t *testing.T) {
		_, _, body := call(t, http.MethodGet, url, "token "+token, "")
		if n := len(body.([]any)); n != 30 {
			t.Errorf("got %d comments, want 30", n)
		}
	})
	t.Run("the client reads every page, oldest first", func(t *testing.T) {
		comments, err := tokenClient(t, s, token).Comments(context.Background(), repo, number)
		if err != nil {
			t.Fatal(err)
		}
		if len(comments) != 250 || comments[0].Body != "comment 0" || comments[249].Body != "comment 249" {
			t.Fatalf("got %d comments, first %q", len(comments), comments[0].Body)
		}
		if got := s.CountRequests(http.MethodGet, "/repos/*/*/issues/*/comments"); got != 3+3 {
			t.Errorf("%d list requests, want 3 by the client after the 3 above", got)
		}
	})
}

func TestEnterpriseURL(t *testing.T) {
	s, token := setup(t)
	number := s.OpenPR(repoName, githubapi.PR{Author: "alice"})
	for _, tc := range []struct {
		name, url string
	}{
		{"serves the API under /api/v3/", s.EnterpriseURL()},
		{"adds /api/v3/ to a bare host as go-github does", s.URL()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(s.Requests())
			clients, err := ghclient.NewTokenClients(token, tc.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			gh, _ := clients.For(0)
			pr, err := gh.PullRequest(context.Background(), repo, number)
			if err != nil {
				t.Fatal(err)
			}
			if pr.Author != "alice" {
				t.Errorf("author = %q", pr.Author)
			}
			if r := s.Requests()[before]; !r.Enterprise || r.Path != fmt.Sprintf("/repos/%s/pulls/%d", repoName, number) {
				t.Errorf("request = %+v, want one under /api/v3/", r)
			}
		})
	}
	t.Run("serves api.github.com paths at the root", func(t *testing.T) {
		hc := &http.Client{Transport: toServer(s)}
		clients, err := ghclient.NewTokenClients(token, "", hc)
		if err != nil {
			t.Fatal(err)
		}
		gh, _ := clients.For(0)
		if _, err := gh.PullRequest(context.Background(), repo, number); err != nil {
			t.Fatal(err)
		}
		if r := s.Requests()[len(s.Requests())-1]; r.Enterprise {
			t.Errorf("request = %+v, want one at the root", r)
		}
	})
}

// toServer sends requests for api.github.com to s.
func toServer(s *githubapi.Server) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		if req.URL.Host != "api.github.com" {
			return nil, fmt.Errorf("request to %s, want api.github.com", req.URL.Host)
		}
		req = req.Clone(req.Context())
		req.URL.Scheme, req.URL.Host = "http", strings.TrimPrefix(strings.TrimSuffix(s.URL(), "/"), "http://")
		return http.DefaultTransport.RoundTrip(req)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestClock(t *testing.T) {
	s, _ := setup(t)
	start := s.Now()
	number := s.OpenPR(repoName, githubapi.PR{Author: "alice"})
	c := s.AddComment(repoName, number, "bob", "hi")
	if want := start.Add(2 * time.Second); !c.CreatedAt.Equal(want) || !s.Now().Equal(want) {
		t.Errorf("comment at %v, clock at %v; want both at %v (one second per write)", c.CreatedAt, s.Now(), want)
	}
	s.Advance(time.Hour)
	if c := s.AddComment(repoName, number, "bob", "later"); !c.CreatedAt.Equal(start.Add(time.Hour + 3*time.Second)) {
		t.Errorf("comment at %v after Advance", c.CreatedAt)
	}
	if start.Location() != time.UTC || start.Nanosecond() != 0 {
		t.Errorf("clock %v is not UTC with second resolution", start)
	}
}
