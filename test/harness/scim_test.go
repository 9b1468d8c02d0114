package harness

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func startSCIM(t *testing.T, opts SCIMServerOptions) *SCIMServer {
	t.Helper()
	s, err := StartSCIMServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// scimGet sends GET base+path with token and decodes the JSON answer.
func scimGet(t *testing.T, base, token, path string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, data)
		}
	}
	return resp.StatusCode, out
}

func TestSCIMServerServesUsersAndGroups(t *testing.T) {
	s := startSCIM(t, SCIMServerOptions{MaxPageSize: 2})
	ctx := context.Background()
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") || !strings.HasSuffix(s.URL(), "/scim/v2") {
		t.Errorf("URL() = %s, want http://127.0.0.1:PORT/scim/v2", s.URL())
	}
	ada, err := s.CreateUser(ctx, "ada@example.com", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, "ada@example.com", ""); err == nil || !strings.Contains(err.Error(), "409") {
		t.Errorf("a second user ada@example.com: %v, want 409", err)
	}
	for _, name := range []string{"team-a", "team-b", "team-c"} {
		if _, err := s.CreateGroup(ctx, name, "", ada); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateGroup(ctx, "team-x", "", "no-such-user"); err == nil {
		t.Error("a group with a member that is no user was created")
	}

	code, page := scimGet(t, s.URL(), s.Token(), `/Groups?filter=displayName%20sw%20%22team-%22&count=10`)
	if code != http.StatusOK {
		t.Fatalf("GET /Groups: %d %v", code, page)
	}
	if page["totalResults"] != 3.0 || len(page["Resources"].([]any)) != 2 {
		t.Errorf("first page: totalResults %v, %d resources; want 3 and a page capped at 2", page["totalResults"], len(page["Resources"].([]any)))
	}
	_, second := scimGet(t, s.URL(), s.Token(), `/Groups?filter=displayName%20sw%20%22team-%22&count=10&startIndex=3`)
	if n := len(second["Resources"].([]any)); n != 1 {
		t.Errorf("second page holds %d groups, want 1", n)
	}

	t.Run("refuses a wrong token", func(t *testing.T) {
		if code, _ := scimGet(t, s.URL(), "wrong", "/Users"); code != http.StatusUnauthorized {
			t.Errorf("GET /Users with a wrong token: %d, want 401", code)
		}
	})
}

func TestSCIMProxyInjectsFailures(t *testing.T) {
	s := startSCIM(t, SCIMServerOptions{})
	ctx := context.Background()
	p := s.StartProxy()
	defer p.Close()
	p.Inject(SCIMFault{Method: http.MethodGet, Path: "/Users", Status: http.StatusTooManyRequests, RetryAfter: "3"})
	p.Inject(SCIMFault{Method: http.MethodPost, Path: "/Users", Status: http.StatusBadGateway, AfterForward: true})

	if code, _ := scimGet(t, p.URL(), s.Token(), "/Users"); code != http.StatusTooManyRequests {
		t.Errorf("first GET /Users through the proxy: %d, want the injected 429", code)
	}
	if code, _ := scimGet(t, p.URL(), s.Token(), "/Users"); code != http.StatusOK {
		t.Errorf("second GET /Users through the proxy: %d, want 200", code)
	}
	proxied := &SCIMServer{url: p.URL(), token: s.Token()}
	if _, err := proxied.CreateUser(ctx, "lost@example.com", ""); err == nil || !strings.Contains(err.Error(), "502") {
		t.Errorf("POST /Users with a lost answer: %v, want the injected 502", err)
	}
	// The server did the work although its answer was lost.
	_, users := scimGet(t, s.URL(), s.Token(), `/Users?filter=userName%20eq%20%22lost@example.com%22`)
	if users["totalResults"] != 1.0 {
		t.Errorf("the user whose answer was lost: %v, want it created", users)
	}
	want := []string{"GET /Users 429 (injected)", "GET /Users 200", "POST /Users 502 (injected)"}
	if diff := cmp.Diff(want, p.Requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if p.Pending() != 0 {
		t.Errorf("%d faults left", p.Pending())
	}
}

func TestSCIMServerStopsWithClose(t *testing.T) {
	s, err := StartSCIMServer(SCIMServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	base := s.URL()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		t.Fatal("node still runs after Close")
	}
	if resp, err := http.Get(base + "/ServiceProviderConfig"); err == nil {
		resp.Body.Close()
		t.Errorf("the server still answers after Close: %s", resp.Status)
	}
}
