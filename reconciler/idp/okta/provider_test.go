package okta_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/allot-dev/allot/reconciler/idp"
	"github.com/allot-dev/allot/reconciler/idp/idptest"
	"github.com/allot-dev/allot/reconciler/idp/okta"
)

// options points a provider at the fake. The fake caps pages at two
// whatever limit the provider asks for, as Okta may.
func options(o *idptest.Okta) okta.Options {
	return okta.Options{URL: o.URL(), Token: o.Token()}
}

func newProvider(t *testing.T, opts okta.Options) *okta.Provider {
	t.Helper()
	p, err := okta.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func backend(t *testing.T, fake idptest.OktaOptions) idptest.Backend {
	o := idptest.NewOkta(t, fake)
	bad := options(o)
	bad.Token = "not-" + bad.Token
	good := options(o)
	var slept func() []time.Duration
	good.Retry, slept = idptest.RecordWaits()
	return idptest.Backend{
		Provider:     newProvider(t, good),
		Unauthorized: newProvider(t, bad),
		AddUser:      func(t *testing.T, email string) { o.AddUser(email) },
		AddGroup: func(t *testing.T, name string, emails ...string) {
			var ids []string
			for _, e := range emails {
				ids = append(ids, o.UserID(e))
			}
			o.AddGroup(idptest.OktaGroup, name, "Data team", ids...)
		},
		RateLimit: func(t *testing.T, d time.Duration) { o.RateLimitNext(d) },
		Slept:     slept,
	}
}

func TestOktaConformance(t *testing.T) {
	idptest.Run(t, func(t *testing.T) idptest.Backend { return backend(t, idptest.OktaOptions{}) })
}

// Okta itself sends X-Rate-Limit-Reset; a proxy in front may add
// Retry-After, which then wins. The conformance suite checks both give 7s.
func TestOktaConformanceBehindAProxyThatSendsRetryAfter(t *testing.T) {
	idptest.Run(t, func(t *testing.T) idptest.Backend { return backend(t, idptest.OktaOptions{RetryAfter: true}) })
}

func TestOktaChangesOnlyOktaGroups(t *testing.T) {
	ctx := context.Background()
	o := idptest.NewOkta(t, idptest.OktaOptions{})
	ada := o.AddUser("ada@example.com")
	// An imported directory group that happens to carry the marker.
	o.AddGroup(idptest.OktaAppGroup, "allot-imported", okta.DefaultMarker, ada)
	p := newProvider(t, options(o))
	groups, err := p.ListGroups(ctx, "allot-")
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || groups[0].Managed {
		t.Fatalf("groups = %+v, want allot-imported listed as not managed", groups)
	}
	deletes := o.Requests("DELETE", "/api/v1/groups/"+groups[0].ID)
	if err := p.DeleteGroup(ctx, groups[0]); !errors.Is(err, idp.ErrConflict) {
		t.Errorf("DeleteGroup of an APP_GROUP: error = %v, want one wrapping ErrConflict", err)
	}
	if err := p.RemoveMembers(ctx, groups[0], []idp.User{{ID: ada}}); !errors.Is(err, idp.ErrConflict) {
		t.Errorf("RemoveMembers of an APP_GROUP: error = %v, want one wrapping ErrConflict", err)
	}
	if n := o.Requests("DELETE", "/api/v1/groups/"+groups[0].ID) - deletes; n != 0 {
		t.Errorf("%d DELETE requests reached Okta for an APP_GROUP", n)
	}
}

func TestOktaListsOnlyNamesWithTheExactPrefix(t *testing.T) {
	// Okta's sw ignores case.
	o := idptest.NewOkta(t, idptest.OktaOptions{})
	for _, name := range []string{"allot-a", "ALLOT-b", "allot-c", "other"} {
		o.AddGroup(idptest.OktaGroup, name, "")
	}
	groups, err := newProvider(t, options(o)).ListGroups(context.Background(), "allot-")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range groups {
		names = append(names, g.Name)
	}
	if strings.Join(names, ",") != "allot-a,allot-c" {
		t.Errorf("names = %v, want [allot-a allot-c]", names)
	}
}

func TestOktaDoesNotFollowLinksToAnotherHost(t *testing.T) {
	var leaked bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked = r.Header.Get("Authorization") != ""
		w.Write([]byte("[]"))
	}))
	defer other.Close()
	org := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Link", `<`+other.URL+`/api/v1/groups?after=x>; rel="next"`)
		w.Write([]byte("[]"))
	}))
	defer org.Close()
	_, err := newProvider(t, okta.Options{URL: org.URL, Token: "secret-token"}).ListGroups(context.Background(), "allot-")
	if err == nil || strings.Contains(err.Error(), "secret-token") {
		t.Errorf("ListGroups with a next link to another host: error = %v, want a refusal without the token", err)
	}
	if leaked {
		t.Error("the API token was sent to another host")
	}
}

func TestOktaNew(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts okta.Options
		ok   bool
	}{
		{"accepts https", okta.Options{URL: "https://example.okta.com", Token: "t"}, true},
		{"accepts http to loopback", okta.Options{URL: "http://127.0.0.1:9", Token: "t"}, true},
		{"refuses http across the network", okta.Options{URL: "http://example.okta.com", Token: "t"}, false},
		{"refuses an empty token", okta.Options{URL: "https://example.okta.com"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := okta.New(tc.opts); (err == nil) != tc.ok {
				t.Errorf("New: error = %v, want ok = %v", err, tc.ok)
			}
		})
	}
}
