package githubapi_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/allot-dev/allot/test/harness"
	"github.com/allot-dev/allot/test/harness/githubapi"
)

// recorded returns the exchanges of an @octokit/fixtures scenario.
func recorded(t *testing.T, scenario string) []githubapi.Exchange {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	xs, err := githubapi.LoadFixture(root, scenario)
	if err != nil {
		t.Fatal(err)
	}
	return xs
}

// keys returns the sorted keys of a JSON object.
func keys(t *testing.T, v any) []string {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%v is not a JSON object", v)
	}
	return slices.Sorted(maps.Keys(m))
}

func object(t *testing.T, raw json.RawMessage) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestShapesMatchRecordedExchanges compares what the server answers with
// what api.github.com answered the same requests, as @octokit/fixtures
// recorded them.
func TestShapesMatchRecordedExchanges(t *testing.T) {
	s, token := setup(t)
	auth := "token " + token

	t.Run("a created commit status", func(t *testing.T) {
		x := recorded(t, "create-status")[0]
		var body map[string]any
		_ = json.Unmarshal(x.RequestBody, &body)
		req, _ := json.Marshal(body)
		status, header, got := call(t, http.MethodPost, s.URL()+"repos/"+repoName+"/statuses/"+strings.Repeat("0", 39)+"1", auth, string(req))
		if status != x.Status {
			t.Fatalf("status = %d, recorded %d", status, x.Status)
		}
		want := object(t, x.Response)
		if diff := cmp.Diff(keys(t, want), keys(t, got)); diff != "" {
			t.Errorf("status keys (-recorded +fake):\n%s", diff)
		}
		if diff := cmp.Diff(keys(t, want.(map[string]any)["creator"]), keys(t, got.(map[string]any)["creator"])); diff != "" {
			t.Errorf("creator keys (-recorded +fake):\n%s", diff)
		}
		if header.Get("Location") == "" || x.Header.Get("Location") == "" {
			t.Error("no Location header")
		}
		for _, k := range []string{"state", "description", "target_url", "context"} {
			if got.(map[string]any)[k] != body[k] {
				t.Errorf("%s = %v, sent %v", k, got.(map[string]any)[k], body[k])
			}
		}
	})
	t.Run("the statuses of a commit", func(t *testing.T) {
		x := recorded(t, "create-status")[2]
		status, _, got := call(t, http.MethodGet, s.URL()+"repos/"+repoName+"/commits/"+strings.Repeat("0", 39)+"1/statuses", auth, "")
		if status != x.Status {
			t.Fatalf("status = %d, recorded %d", status, x.Status)
		}
		if diff := cmp.Diff(keys(t, object(t, x.Response).([]any)[0]), keys(t, got.([]any)[0])); diff != "" {
			t.Errorf("keys (-recorded +fake):\n%s", diff)
		}
	})
	t.Run("a validation error", func(t *testing.T) {
		x := recorded(t, "errors")[0]
		status, _, got := call(t, http.MethodPost, s.URL()+"repos/"+repoName+"/statuses/abc", auth, `{"state":"invalid"}`)
		if status != x.Status {
			t.Fatalf("status = %d, recorded %d", status, x.Status)
		}
		want := object(t, x.Response)
		if diff := cmp.Diff(keys(t, want), keys(t, got)); diff != "" {
			t.Errorf("keys (-recorded +fake):\n%s", diff)
		}
		wantErr, gotErr := want.(map[string]any)["errors"].([]any)[0], got.(map[string]any)["errors"].([]any)[0]
		for _, k := range keys(t, wantErr) {
			if _, ok := gotErr.(map[string]any)[k]; !ok {
				t.Errorf("errors[0] has no %q: %v", k, gotErr)
			}
		}
	})
	t.Run("pagination links", func(t *testing.T) {
		number := s.OpenPR(repoName, githubapi.PR{Author: "alice"})
		for i := range 15 {
			s.AddComment(repoName, number, "alice", fmt.Sprint(i))
		}
		x := recorded(t, "paginate-issues")[1]
		_, header, _ := call(t, http.MethodGet, fmt.Sprintf("%srepos/%s/issues/%d/comments?per_page=3&page=2", s.URL(), repoName, number), auth, "")
		if diff := cmp.Diff(rels(x.Header.Get("Link")), rels(header.Get("Link"))); diff != "" {
			t.Errorf("Link rels (-recorded +fake):\n%s", diff)
		}
	})
	t.Run("a repository", func(t *testing.T) {
		x := recorded(t, "get-repository")[0]
		_, _, got := call(t, http.MethodGet, s.URL()+"repos/"+repoName, auth, "")
		// The full repository has more than the one pull requests and
		// webhooks embed, which the server answers; what it has must
		// be recorded, but for custom_properties, which GitHub added
		// after the recording.
		want := append(keys(t, object(t, x.Response)), "custom_properties")
		for _, k := range keys(t, got) {
			if !slices.Contains(want, k) {
				t.Errorf("key %q is not in the recorded repository", k)
			}
		}
	})
	t.Run("rate limit headers", func(t *testing.T) {
		x := recorded(t, "get-repository")[0]
		_, header, _ := call(t, http.MethodGet, s.URL()+"repos/"+repoName, auth, "")
		for k := range x.Header {
			if strings.HasPrefix(k, "X-Ratelimit-") && header.Get(k) == "" {
				t.Errorf("no %s header", k)
			}
		}
	})
}

// rels lists the relations of a Link header.
func rels(link string) []string {
	var out []string
	for part := range strings.SplitSeq(link, ",") {
		_, rel, _ := strings.Cut(part, "rel=")
		out = append(out, strings.Trim(rel, `"`))
	}
	slices.Sort(out)
	return out
}

func TestLoadFixtureMissing(t *testing.T) {
	_, err := githubapi.LoadFixture(t.TempDir(), "create-status")
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), githubapi.FixturesInstallCommand) {
		t.Errorf("err = %v, want one that wraps fs.ErrNotExist and says to run %q", err, githubapi.FixturesInstallCommand)
	}
}
