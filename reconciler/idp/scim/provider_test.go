package scim

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/allot-dev/allot/reconciler/idp"
	"github.com/allot-dev/allot/reconciler/idp/idptest"
	"github.com/allot-dev/allot/reconciler/idp/restapi"
	"github.com/allot-dev/allot/test/harness"
)

// server is a real SCIM server (scimmy) for one test, with a Provider
// pointed at it.
type server struct {
	*harness.SCIMServer
	p *Provider
}

func startServer(t *testing.T, opts harness.SCIMServerOptions) *server {
	t.Helper()
	s, err := harness.StartSCIMServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return &server{SCIMServer: s, p: newProvider(t, s.URL(), s.Token())}
}

func newProvider(t *testing.T, url, token string) *Provider {
	t.Helper()
	p, err := New(url, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// user creates a user whose userName is its e-mail and returns its id.
func (s *server) user(t *testing.T, email string) string {
	t.Helper()
	id, err := s.CreateUser(context.Background(), email, email)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestNewRefusesUnsafeSettings(t *testing.T) {
	for _, tc := range []struct {
		name, url, token, want string
	}{
		{"a URL that is not http", "ftp://idp.example/scim", "t", "must be https"},
		{"plain http to another host", "http://idp.example/scim/v2", "t", "plain http"},
		{"credentials in the URL", "https://user:pw@idp.example/scim/v2", "t", "no user"},
		{"an empty token", "https://idp.example/scim/v2", "", "token is empty"},
		{"a token with a line break", "https://idp.example/scim/v2", "abc\n", "line break"},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			_, err := New(tc.url, tc.token, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New(%q): %v, want an error saying %q", tc.url, err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "pw") {
				t.Errorf("the error shows the URL's password: %v", err)
			}
		})
	}
	for _, ok := range []string{"https://idp.example/scim/v2/", "http://127.0.0.1:8080/scim/v2", "http://localhost/scim", "http://[::1]:80/scim"} {
		if _, err := New(ok, "t", nil); err != nil {
			t.Errorf("New(%q): %v", ok, err)
		}
	}
}

func TestWrongTokenIsUnauthorized(t *testing.T) {
	s := startServer(t, harness.SCIMServerOptions{Token: "the-right-token"})
	s.user(t, "ada@example.com")
	wrong := newProvider(t, s.URL(), "the-wrong-token")
	ctx := context.Background()
	_, err := wrong.FindUser(ctx, "ada@example.com")
	if !errors.Is(err, idp.ErrUnauthorized) {
		t.Fatalf("FindUser with a wrong token: %v, want ErrUnauthorized", err)
	}
	var se *restapi.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusUnauthorized {
		t.Errorf("error %v is not a 401 StatusError", err)
	}
	for _, tok := range []string{"the-right-token", "the-wrong-token"} {
		if strings.Contains(err.Error(), tok) {
			t.Errorf("the error shows a token: %v", err)
		}
	}
	if _, err := wrong.ListGroups(ctx, "allot-"); !errors.Is(err, idp.ErrUnauthorized) {
		t.Errorf("ListGroups with a wrong token: %v, want ErrUnauthorized", err)
	}
}

// TestConformance runs the suite every idp backend passes against the real
// SCIM server, with pages capped at two and a proxy for rate limits.
func TestConformance(t *testing.T) {
	idptest.Run(t, func(t *testing.T) idptest.Backend {
		s := startServer(t, harness.SCIMServerOptions{MaxPageSize: 2})
		proxy := s.StartProxy()
		t.Cleanup(proxy.Close)
		ctx := context.Background()
		p := newProvider(t, proxy.URL(), s.Token())
		var slept func() []time.Duration
		p.Retry, slept = idptest.RecordWaits()
		return idptest.Backend{
			Provider:     p,
			Unauthorized: newProvider(t, s.URL(), "not-"+s.Token()),
			AddUser: func(t *testing.T, email string) {
				s.user(t, email)
			},
			AddGroup: func(t *testing.T, name string, memberEmails ...string) {
				var ids []string
				for _, e := range memberEmails {
					u, err := s.p.FindUser(ctx, e)
					idptest.Must(t, err)
					ids = append(ids, u.ID)
				}
				_, err := s.CreateGroup(ctx, name, "", ids...)
				idptest.Must(t, err)
			},
			RateLimit: func(t *testing.T, retryAfter time.Duration) {
				proxy.Inject(harness.SCIMFault{Status: http.StatusTooManyRequests, RetryAfter: strconv.Itoa(int(retryAfter.Seconds()))})
			},
			Slept: slept,
		}
	})
}
