package entra_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/allot-dev/allot/reconciler/idp"
	"github.com/allot-dev/allot/reconciler/idp/entra"
	"github.com/allot-dev/allot/reconciler/idp/idptest"
)

// options points a provider at the fake. The fake caps pages at two
// whatever $top the provider asks for, as Graph may.
func options(e *idptest.Entra) entra.Options {
	return entra.Options{
		ClientID:     e.ClientID(),
		ClientSecret: e.ClientSecret(),
		TokenURL:     e.TokenURL(),
		GraphURL:     e.GraphURL(),
	}
}

func newProvider(t *testing.T, opts entra.Options) *entra.Provider {
	t.Helper()
	p, err := entra.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEntraConformance(t *testing.T) {
	idptest.Run(t, func(t *testing.T) idptest.Backend {
		e := idptest.NewEntra(t, idptest.EntraOptions{})
		bad := options(e)
		bad.ClientSecret = "not-" + bad.ClientSecret
		good := options(e)
		var slept func() []time.Duration
		good.Retry, slept = idptest.RecordWaits()
		return idptest.Backend{
			Provider:     newProvider(t, good),
			Unauthorized: newProvider(t, bad),
			AddUser:      func(t *testing.T, email string) { e.AddUser(email) },
			AddGroup: func(t *testing.T, name string, emails ...string) {
				var ids []string
				for _, m := range emails {
					ids = append(ids, e.UserID(m))
				}
				e.AddGroup(name, "Data team", ids...)
			},
			RateLimit: func(t *testing.T, d time.Duration) { e.RateLimitNext(d) },
			Slept:     slept,
		}
	})
}

func TestEntraTokens(t *testing.T) {
	ctx := context.Background()

	t.Run("reuses one token across calls", func(t *testing.T) {
		e := idptest.NewEntra(t, idptest.EntraOptions{})
		e.AddUser("ada@example.com")
		p := newProvider(t, options(e))
		for range 3 {
			if _, err := p.FindUser(ctx, "ada@example.com"); err != nil {
				t.Fatal(err)
			}
		}
		if n := e.TokenRequests(); n != 1 {
			t.Errorf("token requests = %d, want 1", n)
		}
	})

	t.Run("gets a new token once when Graph refuses the old one", func(t *testing.T) {
		e := idptest.NewEntra(t, idptest.EntraOptions{})
		e.AddUser("ada@example.com")
		p := newProvider(t, options(e))
		if _, err := p.FindUser(ctx, "ada@example.com"); err != nil {
			t.Fatal(err)
		}
		e.RevokeTokens()
		if _, err := p.FindUser(ctx, "ada@example.com"); err != nil {
			t.Fatalf("FindUser after the token was revoked: %v", err)
		}
		if n := e.TokenRequests(); n != 2 {
			t.Errorf("token requests = %d, want 2", n)
		}
	})

	t.Run("reports an unknown client as ErrUnauthorized without the secret", func(t *testing.T) {
		e := idptest.NewEntra(t, idptest.EntraOptions{})
		opts := options(e)
		opts.ClientID, opts.ClientSecret = "someone-else", "very-secret-value"
		_, err := newProvider(t, opts).ListGroups(ctx, "allot-")
		if !errors.Is(err, idp.ErrUnauthorized) || strings.Contains(err.Error(), opts.ClientSecret) {
			t.Errorf("error = %v, want ErrUnauthorized without the secret", err)
		}
	})
}

func TestEntraCreateGroup(t *testing.T) {
	ctx := context.Background()

	t.Run("refuses a display name a group made by hand already has", func(t *testing.T) {
		e := idptest.NewEntra(t, idptest.EntraOptions{})
		e.AddGroup("allot-team", "made in the portal")
		p := newProvider(t, options(e))
		if _, err := p.CreateGroup(ctx, "allot-team"); !errors.Is(err, idp.ErrConflict) {
			t.Errorf("CreateGroup of a taken name: error = %v, want one wrapping ErrConflict", err)
		}
		if n := e.Requests("POST", "/v1.0/groups"); n != 0 {
			t.Errorf("%d groups were created", n)
		}
	})

	t.Run("makes a valid mailNickname of any name", func(t *testing.T) {
		e := idptest.NewEntra(t, idptest.EntraOptions{})
		p := newProvider(t, options(e))
		name := "allot: team (ops) " + strings.Repeat("x", 80)
		if _, err := p.CreateGroup(ctx, name); err != nil {
			t.Errorf("CreateGroup(%q): %v", name, err)
		}
	})
}

func TestEntraGroupsWithQuotesInNames(t *testing.T) {
	e := idptest.NewEntra(t, idptest.EntraOptions{})
	e.AddGroup("allot-o'brien", "")
	groups, err := newProvider(t, options(e)).ListGroups(context.Background(), "allot-o'")
	if err != nil || len(groups) != 1 {
		t.Errorf("ListGroups(allot-o') = %v, %v; want the one group", groups, err)
	}
}

func TestEntraThrottling(t *testing.T) {
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/token") {
					w.Write([]byte(`{"token_type":"Bearer","expires_in":3599,"access_token":"t"}`))
					return
				}
				w.Header().Set("Retry-After", "12")
				w.WriteHeader(status)
				w.Write([]byte(`{"error":{"code":"TooManyRequests","message":"slow down"}}`))
			}))
			defer graph.Close()
			retry, slept := idptest.RecordWaits()
			retry.Attempts = 2
			p := newProvider(t, entra.Options{ClientID: "c", ClientSecret: "s", TokenURL: graph.URL + "/t/oauth2/v2.0/token", GraphURL: graph.URL, Retry: retry})
			_, err := p.FindUser(context.Background(), "ada@example.com")
			if diff := cmp.Diff([]time.Duration{12 * time.Second}, slept()); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
			var rl *idp.RateLimitError
			if !errors.As(err, &rl) || rl.RetryAfter != 12*time.Second {
				t.Errorf("error = %v, want an *idp.RateLimitError of 12s", err)
			}
		})
	}
}

func TestEntraDoesNotFollowLinksToAnotherHost(t *testing.T) {
	var leaked bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked = r.Header.Get("Authorization") != ""
		w.Write([]byte(`{"value":[]}`))
	}))
	defer other.Close()
	graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/token") {
			w.Write([]byte(`{"token_type":"Bearer","expires_in":3599,"access_token":"t"}`))
			return
		}
		w.Write([]byte(`{"value":[],"@odata.nextLink":"` + other.URL + `/v1.0/groups?$skiptoken=x"}`))
	}))
	defer graph.Close()
	p := newProvider(t, entra.Options{ClientID: "c", ClientSecret: "s", TokenURL: graph.URL + "/t/oauth2/v2.0/token", GraphURL: graph.URL})
	if _, err := p.ListGroups(context.Background(), "allot-"); err == nil {
		t.Error("ListGroups followed a next link to another host")
	}
	if leaked {
		t.Error("the token was sent to another host")
	}
}

func TestEntraNew(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts entra.Options
		ok   bool
	}{
		{"accepts a tenant", entra.Options{Tenant: "contoso.onmicrosoft.com", ClientID: "c", ClientSecret: "s"}, true},
		{"refuses no tenant and no token URL", entra.Options{ClientID: "c", ClientSecret: "s"}, false},
		{"refuses a missing secret", entra.Options{Tenant: "t", ClientID: "c"}, false},
		{"refuses http Graph across the network", entra.Options{Tenant: "t", ClientID: "c", ClientSecret: "s", GraphURL: "http://graph.example.com"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := entra.New(tc.opts); (err == nil) != tc.ok {
				t.Errorf("New: error = %v, want ok = %v", err, tc.ok)
			}
		})
	}
}
