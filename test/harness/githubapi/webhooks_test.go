package githubapi_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/allot-dev/allot/review"
	"github.com/allot-dev/allot/review/ghclient"
	"github.com/allot-dev/allot/test/harness"
	"github.com/allot-dev/allot/test/harness/githubapi"
)

// receiver is allot's webhook handler on a loopback port, remembering the
// events it accepted.
type receiver struct {
	mu     sync.Mutex
	events []review.Event
	agents []string
}

func newReceiver(t *testing.T, s *githubapi.Server, secret []byte) *receiver {
	t.Helper()
	rc := &receiver{}
	h, err := review.NewHandler(secret, func(ev review.Event) {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.events = append(rc.events, ev)
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		rc.agents = append(rc.agents, r.Header.Get("User-Agent"))
		rc.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(h.Wait)
	s.DeliverTo(srv.URL, secret)
	return rc
}

// take returns the events received so far, waiting for at least one: the
// handler answers a delivery first and handles it after.
func (rc *receiver) take() []review.Event {
	deadline := time.Now().Add(10 * time.Second)
	for {
		rc.mu.Lock()
		out := rc.events
		if len(out) > 0 || time.Now().After(deadline) {
			rc.events = nil
			rc.mu.Unlock()
			return out
		}
		rc.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
}

var guid = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestWebhooks(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	examples, err := harness.LoadWebhookExamples(root)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := setup(t)
	key := s.App(42)
	s.Install(42, 7, repoName)
	rc := newReceiver(t, s, []byte("It's a Secret to Everybody"))
	clients, err := ghclient.NewAppClients(42, key, s.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	app, _ := clients.For(7)
	ctx := context.Background()

	// delivered checks the deliveries since the last call: accepted by
	// allot's handler, signed, with GitHub's headers and a payload with
	// the keys of a real one.
	seen := 0
	delivered := func(t *testing.T, want ...string) []map[string]any {
		t.Helper()
		s.Wait()
		all := s.Deliveries()
		var got []string
		var payloads []map[string]any
		for _, d := range all[seen:] {
			got = append(got, strings.TrimSuffix(d.Event+"."+d.Action, "."))
			if d.Status != http.StatusAccepted || d.Err != nil {
				t.Errorf("%s delivery answered %d, %v; want 202", d.Event, d.Status, d.Err)
			}
			if !guid.MatchString(d.ID) {
				t.Errorf("X-GitHub-Delivery %q is not a GUID", d.ID)
			}
			var p map[string]any
			if err := json.Unmarshal(d.Payload, &p); err != nil {
				t.Fatal(err)
			}
			real, err := examples.Find(d.Event, d.Action)
			if err != nil {
				t.Fatal(err)
			}
			var r map[string]any
			_ = json.Unmarshal(real, &r)
			delete(r, "installation")
			delete(r, "organization")
			delete(p, "installation")
			if diff := cmp.Diff(slices.Sorted(maps.Keys(r)), slices.Sorted(maps.Keys(p))); diff != "" {
				t.Errorf("%s keys differ from the real payload's (-real +fake):\n%s", d.Event, diff)
			}
			payloads = append(payloads, p)
		}
		seen = len(all)
		if !slices.Equal(got, want) {
			t.Fatalf("deliveries = %v, want %v", got, want)
		}
		return payloads
	}

	number := s.OpenPR(repoName, githubapi.PR{Author: "alice", HeadSHA: "h1",
		Files: []githubapi.File{{Filename: "teams/a.yaml", Status: "added"}, {Filename: "teams/b.yaml"}, {Filename: "teams/c.yaml", Status: "removed"}}})

	t.Run("delivers pull_request opened when a pull request is opened", func(t *testing.T) {
		delivered(t, "pull_request.opened")
		if diff := cmp.Diff([]review.Event{{Name: "pull_request", Action: "opened", Repo: repoName, PR: number}}, rc.take(),
			cmpIgnorePayloadAndID); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		last, _ := s.LastDelivery()
		var p struct {
			Installation struct{ ID int64 } `json:"installation"`
		}
		_ = json.Unmarshal(last.Payload, &p)
		if p.Installation.ID != 7 {
			t.Errorf("installation = %d, want 7", p.Installation.ID)
		}
		if !strings.HasPrefix(rc.agents[0], "GitHub-Hookshot/") {
			t.Errorf("User-Agent = %q", rc.agents[0])
		}
	})
	t.Run("delivers synchronize on a push to the head branch", func(t *testing.T) {
		s.Push(repoName, number, "h2")
		p := delivered(t, "pull_request.synchronize")[0]
		if p["before"] != "h1" || p["after"] != "h2" {
			t.Errorf("before %v, after %v", p["before"], p["after"])
		}
	})
	t.Run("delivers issue_comment created for a comment on the pull request", func(t *testing.T) {
		c := s.AddComment(repoName, number, "bob", "/approve")
		p := delivered(t, "issue_comment.created")[0]
		events := rc.take()
		if events[len(events)-1].PR != number || p["comment"].(map[string]any)["id"] != float64(c.ID) {
			t.Errorf("event %+v for comment %v", events[len(events)-1], p["comment"])
		}
	})
	t.Run("delivers the comments made through the API, by the app's bot", func(t *testing.T) {
		if _, err := app.CreateComment(ctx, repo, number, "Report"); err != nil {
			t.Fatal(err)
		}
		p := delivered(t, "issue_comment.created")[0]
		if user := p["comment"].(map[string]any)["user"].(map[string]any); user["login"] != "allot[bot]" || user["type"] != "Bot" {
			t.Errorf("comment user = %v", user)
		}
	})
	t.Run("delivers closed and a push to the default branch after a merge", func(t *testing.T) {
		s.AddStatus(repoName, githubapi.Status{SHA: "h2", State: "success"})
		sha, err := app.Merge(ctx, repo, number, "h2", review.MergeCommit, "Add teams (#1)")
		if err != nil {
			t.Fatal(err)
		}
		ps := delivered(t, "pull_request.closed", "push")
		if pr := ps[0]["pull_request"].(map[string]any); pr["merged"] != true || pr["merge_commit_sha"] != sha {
			t.Errorf("closed pull request: merged %v, merge commit %v", pr["merged"], pr["merge_commit_sha"])
		}
		var push struct {
			Ref, Before, After string
			Commits            []struct{ Added, Modified, Removed []string }
		}
		body, _ := json.Marshal(ps[1])
		_ = json.Unmarshal(body, &push)
		if push.Ref != "refs/heads/main" || push.After != sha || push.Before == "" || len(push.Commits) != 1 {
			t.Fatalf("push = %+v", push)
		}
		c := push.Commits[0]
		if !slices.Equal(c.Added, []string{"teams/a.yaml"}) || !slices.Equal(c.Modified, []string{"teams/b.yaml"}) || !slices.Equal(c.Removed, []string{"teams/c.yaml"}) {
			t.Errorf("commit files = %+v", c)
		}
	})
	t.Run("redelivers with the same ID, which allot drops", func(t *testing.T) {
		first := s.Deliveries()[0]
		again := s.Redeliver(first)
		if again.ID != first.ID || again.Status != http.StatusOK {
			t.Errorf("redelivery %s answered %d, want %s answered 200", again.ID, again.Status, first.ID)
		}
	})
}

var cmpIgnorePayloadAndID = cmp.FilterPath(func(p cmp.Path) bool {
	f := p.Last().String()
	return f == ".Payload" || f == ".Delivery"
}, cmp.Ignore())
