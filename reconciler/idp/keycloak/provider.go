// Package keycloak keeps allot's groups in a Keycloak realm through the
// admin REST API.
//
// allot authenticates as a confidential client with a service account
// (client-credentials grant); the service account needs the realm-
// management roles view-users, query-groups and manage-users (or
// manage-groups with fine-grained permissions). Groups are top-level
// groups; a group is allot's when its attribute allot.dev/managed-by
// holds "allot". IDs of users and groups are Keycloak's UUIDs. Members
// are added and removed one request a user; Keycloak answers 204 whether
// the membership was there or not, so a retry is harmless.
//
// The access token is kept until shortly before it expires; a 401 from
// the admin API gets one fresh token and one more try.
package keycloak

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/allot-dev/allot/reconciler/idp"
	"github.com/allot-dev/allot/reconciler/idp/restapi"
)

// Defaults for Options.
const (
	DefaultMarkerAttribute = "allot.dev/managed-by"
	DefaultMarkerValue     = "allot"
	DefaultPageSize        = 100
)

// Options configures a Provider.
type Options struct {
	// URL is the server's base URL, for example https://sso.example.com
	// (with /auth appended for Keycloak before version 17). It must be
	// https:// unless the host is a loopback address.
	URL string
	// Realm holds the users and groups allot manages.
	Realm string
	// TokenRealm is the realm of the client allot authenticates as;
	// Realm when empty. Use "master" for a client there that manages
	// another realm.
	TokenRealm string
	// ClientID and ClientSecret are the confidential client's
	// credentials. They are never logged.
	ClientID     string
	ClientSecret string
	// MarkerAttribute and MarkerValue mark allot's groups;
	// DefaultMarkerAttribute and DefaultMarkerValue when empty.
	MarkerAttribute string
	MarkerValue     string
	// PageSize is the max of each paged request; DefaultPageSize when
	// zero.
	PageSize int
	// HTTPClient sends the requests; a client with
	// restapi.DefaultTimeout when nil.
	HTTPClient *http.Client
	// Retry says how each request, a token request too, is retried (see
	// restapi); the zero value is idp.Retry's defaults.
	Retry idp.Retry
}

// Provider is an idp.Provider for a Keycloak realm. It is safe for concurrent use.
type Provider struct {
	// Memberships adds and removes members, one request a user.
	restapi.Memberships
	opts Options
	api  *restapi.Client // below the realm's admin API, URL/admin/realms/REALM
}

var _ idp.Provider = (*Provider)(nil)

// New checks opts and returns a Provider. It does not connect.
func New(opts Options) (*Provider, error) {
	base, err := restapi.ParseURL("keycloak", "URL", opts.URL)
	if err != nil {
		return nil, err
	}
	if opts.Realm == "" {
		return nil, errors.New("keycloak: the realm is empty")
	}
	if opts.ClientID == "" || opts.ClientSecret == "" {
		return nil, errors.New("keycloak: a client ID and secret are required")
	}
	if opts.TokenRealm == "" {
		opts.TokenRealm = opts.Realm
	}
	if opts.MarkerAttribute == "" {
		opts.MarkerAttribute = DefaultMarkerAttribute
	}
	if opts.MarkerValue == "" {
		opts.MarkerValue = DefaultMarkerValue
	}
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultPageSize
	}
	api := &restapi.Client{
		Backend:          "keycloak",
		Base:             base.JoinPath("admin", "realms", url.PathEscape(opts.Realm)),
		HTTP:             opts.HTTPClient,
		Retry:            opts.Retry,
		ErrorBody:        keycloakError,
		UnauthorizedHint: "check the client ID, the secret idp.clientSecret names, and the service account's realm-management roles",
		Secrets:          []string{opts.ClientSecret},
	}
	tokenURL := base.JoinPath("realms", url.PathEscape(opts.TokenRealm), "protocol", "openid-connect", "token")
	api.Auth = restapi.ClientCredentials(api, tokenURL, opts.ClientID, opts.ClientSecret, "")
	p := &Provider{opts: opts, api: api}
	// The admin API files a membership under the user.
	p.Memberships = restapi.Memberships{API: api, NotManaged: p.errNotManaged, Path: func(groupID, userID string) string {
		return "/users/" + url.PathEscape(userID) + "/groups/" + url.PathEscape(groupID)
	}}
	return p, nil
}

// errNotManaged refuses a change to a group without allot's marker.
func (p *Provider) errNotManaged(name string) error {
	return fmt.Errorf("group %s has no attribute %s=%s, so allot did not create it and does not change it: %w",
		name, p.opts.MarkerAttribute, p.opts.MarkerValue, idp.ErrConflict)
}
