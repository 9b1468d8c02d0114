package keycloak_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/allot-dev/allot/reconciler/idp"
	"github.com/allot-dev/allot/reconciler/idp/idptest"
	"github.com/allot-dev/allot/reconciler/idp/keycloak"
)

// options points a provider at the fake, with pages of two.
func options(kc *idptest.Keycloak) keycloak.Options {
	return keycloak.Options{
		URL:          kc.URL(),
		Realm:        kc.Realm(),
		ClientID:     kc.ClientID(),
		ClientSecret: kc.ClientSecret(),
		PageSize:     2,
	}
}

func newProvider(t *testing.T, opts keycloak.Options) *keycloak.Provider {
	t.Helper()
	p, err := keycloak.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKeycloakConformance(t *testing.T) {
	idptest.Run(t, func(t *testing.T) idptest.Backend {
		kc := idptest.NewKeycloak(t, idptest.KeycloakOptions{})
		bad := options(kc)
		bad.ClientSecret = "not-" + bad.ClientSecret
		good := options(kc)
		var slept func() []time.Duration
		good.Retry, slept = idptest.RecordWaits()
		return idptest.Backend{
			Provider:     newProvider(t, good),
			Unauthorized: newProvider(t, bad),
			AddUser:      func(t *testing.T, email string) { kc.AddUser(email) },
			AddGroup: func(t *testing.T, name string, emails ...string) {
				var ids []string
				for _, e := range emails {
					ids = append(ids, kc.UserID(e))
				}
				kc.AddGroup(name, map[string][]string{"owner": {"data-team"}}, ids...)
			},
			RateLimit: func(t *testing.T, d time.Duration) { kc.RateLimitNext(d) },
			Slept:     slept,
		}
	})
}

func TestKeycloakTokens(t *testing.T) {
	ctx := context.Background()

	t.Run("reuses one token across calls", func(t *testing.T) {
		kc := idptest.NewKeycloak(t, idptest.KeycloakOptions{})
		kc.AddUser("ada@example.com")
		p := newProvider(t, options(kc))
		for range 3 {
			if _, err := p.FindUser(ctx, "ada@example.com"); err != nil {
				t.Fatal(err)
			}
		}
		if n := kc.TokenRequests(); n != 1 {
			t.Errorf("token requests = %d, want 1", n)
		}
	})

	t.Run("gets a new token once when the server refuses the old one", func(t *testing.T) {
		kc := idptest.NewKeycloak(t, idptest.KeycloakOptions{})
		kc.AddUser("ada@example.com")
		p := newProvider(t, options(kc))
		if _, err := p.FindUser(ctx, "ada@example.com"); err != nil {
			t.Fatal(err)
		}
		kc.RevokeTokens()
		if _, err := p.FindUser(ctx, "ada@example.com"); err != nil {
			t.Fatalf("FindUser after the token was revoked: %v", err)
		}
		if n := kc.TokenRequests(); n != 2 {
			t.Errorf("token requests = %d, want 2", n)
		}
	})

	t.Run("uses the token realm for a client in another realm", func(t *testing.T) {
		kc := idptest.NewKeycloak(t, idptest.KeycloakOptions{})
		opts := options(kc)
		opts.TokenRealm = "master"
		_, err := newProvider(t, opts).FindUser(ctx, "ada@example.com")
		if err == nil || !strings.Contains(err.Error(), "/realms/master/protocol/openid-connect/token") {
			t.Errorf("FindUser with token realm master: error = %v, want one from master's token endpoint", err)
		}
	})

	t.Run("does not show the client secret in errors", func(t *testing.T) {
		kc := idptest.NewKeycloak(t, idptest.KeycloakOptions{})
		opts := options(kc)
		opts.ClientSecret = "very-secret-value"
		_, err := newProvider(t, opts).ListGroups(ctx, "allot-")
		if !errors.Is(err, idp.ErrUnauthorized) || strings.Contains(err.Error(), opts.ClientSecret) {
			t.Errorf("error = %v, want ErrUnauthorized without the secret", err)
		}
	})
}

func TestKeycloakListsOnlyTopLevelNamesWithThePrefix(t *testing.T) {
	// Keycloak's search matches anywhere in the name, ignoring case.
	kc := idptest.NewKeycloak(t, idptest.KeycloakOptions{})
	for _, name := range []string{"allot-a", "team-allot-b", "ALLOT-c", "allot-d"} {
		kc.AddGroup(name, nil)
	}
	groups, err := newProvider(t, options(kc)).ListGroups(context.Background(), "allot-")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range groups {
		names = append(names, g.Name)
	}
	if strings.Join(names, ",") != "allot-a,allot-d" {
		t.Errorf("names = %v, want [allot-a allot-d]", names)
	}
}

func TestKeycloakMarkerNeedsTheAttributeValue(t *testing.T) {
	kc := idptest.NewKeycloak(t, idptest.KeycloakOptions{})
	kc.AddGroup("allot-other", map[string][]string{keycloak.DefaultMarkerAttribute: {"someone-else"}})
	groups, err := newProvider(t, options(kc)).ListGroups(context.Background(), "allot-")
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || groups[0].Managed {
		t.Errorf("groups = %+v, want allot-other listed as not managed", groups)
	}
}

func TestKeycloakNew(t *testing.T) {
	valid := keycloak.Options{URL: "https://sso.example.com/", Realm: "r", ClientID: "c", ClientSecret: "s"}
	for _, tc := range []struct {
		name   string
		change func(*keycloak.Options)
		ok     bool
	}{
		{"accepts https", func(*keycloak.Options) {}, true},
		{"accepts http to loopback", func(o *keycloak.Options) { o.URL = "http://127.0.0.1:8080" }, true},
		{"refuses http across the network", func(o *keycloak.Options) { o.URL = "http://sso.example.com" }, false},
		{"refuses a missing realm", func(o *keycloak.Options) { o.Realm = "" }, false},
		{"refuses a missing secret", func(o *keycloak.Options) { o.ClientSecret = "" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := valid
			tc.change(&opts)
			if _, err := keycloak.New(opts); (err == nil) != tc.ok {
				t.Errorf("New: error = %v, want ok = %v", err, tc.ok)
			}
		})
	}
}
