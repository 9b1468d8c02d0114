package restapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/allot-dev/allot/reconciler/idp"
	"github.com/allot-dev/allot/reconciler/idp/entra"
	"github.com/allot-dev/allot/reconciler/idp/idptest"
	"github.com/allot-dev/allot/reconciler/idp/keycloak"
	"github.com/allot-dev/allot/reconciler/idp/okta"
	"github.com/allot-dev/allot/reconciler/idp/restapi"
	"github.com/allot-dev/allot/reconciler/idp/scim"
)

const secret = "the-secret-value"

// backend is one HTTP backend, pointed at a server that answers with a
// scenario's answers.
type backend struct {
	name string
	// start returns the backend for a server at url.
	start func(t *testing.T, url string, retry idp.Retry) idp.Provider
	// empty is the backend's answer to ListGroups that lists nothing.
	empty string
	// tokens says the backend gets access tokens from a token endpoint
	// (under a path ending in /token) rather than sending a fixed one.
	tokens bool
}

func must(t *testing.T, p idp.Provider, err error) idp.Provider {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var backends = []backend{
	{name: "scim", empty: `{"totalResults":0,"Resources":[]}`, start: func(t *testing.T, url string, retry idp.Retry) idp.Provider {
		p, err := scim.New(url+"/scim/v2", secret, nil)
		if err == nil {
			p.Retry = retry
		}
		return must(t, p, err)
	}},
	{name: "okta", empty: `[]`, start: func(t *testing.T, url string, retry idp.Retry) idp.Provider {
		p, err := okta.New(okta.Options{URL: url, Token: secret, Retry: retry})
		return must(t, p, err)
	}},
	{name: "entra", empty: `{"value":[]}`, tokens: true, start: func(t *testing.T, url string, retry idp.Retry) idp.Provider {
		p, err := entra.New(entra.Options{ClientID: "allot", ClientSecret: secret, TokenURL: url + "/tenant/oauth2/v2.0/token", GraphURL: url, Retry: retry})
		return must(t, p, err)
	}},
	{name: "keycloak", empty: `[]`, tokens: true, start: func(t *testing.T, url string, retry idp.Retry) idp.Provider {
		p, err := keycloak.New(keycloak.Options{URL: url, Realm: "r", ClientID: "allot", ClientSecret: secret, Retry: retry})
		return must(t, p, err)
	}},
}

// server answers token requests with a new token each and API requests
// with api, counting both.
type server struct {
	mu            sync.Mutex
	tokens, calls int
	api           func(w http.ResponseWriter, r *http.Request, call int)
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if strings.HasSuffix(r.URL.Path, "/token") {
		s.tokens++
		n := s.tokens
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer","expires_in":3600}`, n)
		return
	}
	s.calls++
	n := s.calls
	s.mu.Unlock()
	s.api(w, r, n)
}

func start(t *testing.T, b backend, api func(w http.ResponseWriter, r *http.Request, call int)) (*server, idp.Provider, func() []time.Duration) {
	t.Helper()
	s := &server{api: api}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	retry, slept := idptest.RecordWaits()
	return s, b.start(t, ts.URL, retry), slept
}

// The behaviours the HTTP backends used to disagree on, now one in all.
func TestHTTPBackendsAgree(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Run("waits DefaultRetryAfter after a 429 without Retry-After", func(t *testing.T) {
				s, p, slept := start(t, b, func(w http.ResponseWriter, _ *http.Request, call int) {
					if call == 1 {
						w.WriteHeader(http.StatusTooManyRequests)
						return
					}
					fmt.Fprint(w, b.empty)
				})
				if _, err := p.ListGroups(ctx, "allot-"); err != nil {
					t.Fatalf("ListGroups: %v", err)
				}
				if diff := cmp.Diff([]time.Duration{restapi.DefaultRetryAfter}, slept()); diff != "" {
					t.Errorf("waits (-want +got):\n%s", diff)
				}
				if s.calls != 2 {
					t.Errorf("%d API requests, want 2", s.calls)
				}
			})
			t.Run("retries a read after a 5xx, with backoff", func(t *testing.T) {
				_, p, slept := start(t, b, func(w http.ResponseWriter, _ *http.Request, call int) {
					if call == 1 {
						w.WriteHeader(http.StatusBadGateway)
						return
					}
					fmt.Fprint(w, b.empty)
				})
				if _, err := p.ListGroups(ctx, "allot-"); err != nil {
					t.Fatalf("ListGroups: %v", err)
				}
				if w := slept(); len(w) != 1 || w[0] > idp.DefaultInitialWait {
					t.Errorf("waits %v, want one backoff of at most %s", w, idp.DefaultInitialWait)
				}
			})
			t.Run("reads an answer of restapi.MaxResponse bytes", func(t *testing.T) {
				_, p, _ := start(t, b, func(w http.ResponseWriter, _ *http.Request, _ int) {
					fmt.Fprint(w, b.empty+strings.Repeat(" ", restapi.MaxResponse-len(b.empty)))
				})
				if _, err := p.ListGroups(ctx, "allot-"); err != nil {
					t.Errorf("ListGroups: %v", err)
				}
			})
			t.Run("refuses an answer one byte larger, naming the backend and the limit", func(t *testing.T) {
				_, p, _ := start(t, b, func(w http.ResponseWriter, _ *http.Request, _ int) {
					fmt.Fprint(w, b.empty+strings.Repeat(" ", restapi.MaxResponse+1-len(b.empty)))
				})
				_, err := p.ListGroups(ctx, "allot-")
				if !errors.Is(err, restapi.ErrTooLarge) || !strings.Contains(err.Error(), b.name+" GET ") || !strings.Contains(err.Error(), "16 MiB") {
					t.Errorf("ListGroups: %v, want ErrTooLarge naming %s and 16 MiB", err, b.name)
				}
			})
			t.Run("gets a new token once after a 401", func(t *testing.T) {
				s, p, _ := start(t, b, func(w http.ResponseWriter, _ *http.Request, call int) {
					if call == 1 {
						w.WriteHeader(http.StatusUnauthorized)
						return
					}
					fmt.Fprint(w, b.empty)
				})
				_, err := p.ListGroups(ctx, "allot-")
				switch {
				case b.tokens && (err != nil || s.tokens != 2 || s.calls != 2):
					t.Errorf("ListGroups: %v after %d tokens and %d requests; want success after 2 and 2", err, s.tokens, s.calls)
				case !b.tokens && (!errors.Is(err, idp.ErrUnauthorized) || s.calls != 1):
					t.Errorf("ListGroups: %v after %d requests; a fixed token has no other to try, want ErrUnauthorized after 1", err, s.calls)
				}
			})
			t.Run("fails clearly when a new token is refused too", func(t *testing.T) {
				s, p, slept := start(t, b, func(w http.ResponseWriter, _ *http.Request, _ int) {
					w.WriteHeader(http.StatusUnauthorized)
				})
				_, err := p.ListGroups(ctx, "allot-")
				if !errors.Is(err, idp.ErrUnauthorized) || !strings.Contains(err.Error(), "check ") {
					t.Fatalf("ListGroups: %v, want ErrUnauthorized saying what to check", err)
				}
				want := 1
				if b.tokens {
					want = 2
					if !strings.Contains(err.Error(), "refused a new token as well") || s.tokens != 2 {
						t.Errorf("ListGroups: %v after %d tokens; want 2, and an error saying the new one was refused too", err, s.tokens)
					}
				}
				if s.calls != want || len(slept()) != 0 {
					t.Errorf("%d API requests and waits %v, want %d and none", s.calls, slept(), want)
				}
			})
			t.Run("shows a bounded error body without the secret", func(t *testing.T) {
				_, p, _ := start(t, b, func(w http.ResponseWriter, r *http.Request, _ int) {
					w.WriteHeader(http.StatusBadRequest)
					fmt.Fprintf(w, "bad request with %s and secret=%s %s", r.Header.Get("Authorization"), secret, strings.Repeat("x", 5000))
				})
				_, err := p.ListGroups(ctx, "allot-")
				var se *restapi.StatusError
				if !errors.As(err, &se) || se.Backend != b.name || se.StatusCode != http.StatusBadRequest {
					t.Fatalf("ListGroups: %v, want a %s StatusError of 400", err, b.name)
				}
				if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "tok-") {
					t.Errorf("the error shows a credential: %v", err)
				}
				if len(se.Detail) > restapi.MaxErrorDetail+40 {
					t.Errorf("the error shows %d bytes of the body", len(se.Detail))
				}
			})
		})
	}
}
