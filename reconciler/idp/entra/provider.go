// Package entra keeps allot's groups in Microsoft Entra ID through
// Microsoft Graph v1.0.
//
// allot authenticates as an app registration with a client secret
// (client-credentials grant at the tenant's v2.0 token endpoint); the app
// needs the application permissions User.Read.All and
// GroupMember.ReadWrite.All (or Group.ReadWrite.All) with admin consent.
// allot's groups are security groups (securityEnabled, not mail-enabled)
// whose description is the marker. IDs are Entra object IDs.
//
// Entra does not keep display names unique, so CreateGroup looks for the
// name first and reports a taken one as idp.ErrConflict; two allot
// processes racing can still both create it. Graph reads are eventually
// consistent: a group just created may take a few seconds to be listed.
//
// The access token is kept until shortly before it expires; a 401 gets
// one fresh token and one more try.
package entra

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
	DefaultGraphURL = "https://graph.microsoft.com"
	DefaultScope    = "https://graph.microsoft.com/.default"
	DefaultMarker   = "managed-by=allot"
	DefaultPageSize = 100
)

// Options configures a Provider.
type Options struct {
	// Tenant is the tenant ID or domain, used in the default TokenURL.
	Tenant string
	// ClientID and ClientSecret are the app registration's credentials.
	// They are never logged.
	ClientID     string
	ClientSecret string
	// TokenURL is the token endpoint;
	// https://login.microsoftonline.com/TENANT/oauth2/v2.0/token when
	// empty. Set it for a national cloud or a test server.
	TokenURL string
	// GraphURL is Microsoft Graph's base URL, without /v1.0;
	// DefaultGraphURL when empty.
	GraphURL string
	// Scope is the token's scope; DefaultScope when empty. A national
	// cloud has its own, for example https://graph.microsoft.us/.default.
	Scope string
	// Marker is the description that marks allot's groups; DefaultMarker
	// when empty.
	Marker string
	// PageSize is the $top of each paged request; DefaultPageSize when
	// zero. Graph may return fewer and page with @odata.nextLink.
	PageSize int
	// HTTPClient sends the requests; a client with
	// restapi.DefaultTimeout when nil.
	HTTPClient *http.Client
	// Retry says how each request, a token request too, is retried (see
	// restapi); the zero value is idp.Retry's defaults.
	Retry idp.Retry
}

// Provider is an idp.Provider for an Entra ID tenant. It is safe for concurrent use.
type Provider struct {
	opts Options
	api  *restapi.Client
}

var _ idp.Provider = (*Provider)(nil)

// New checks opts and returns a Provider. It does not connect.
func New(opts Options) (*Provider, error) {
	if opts.ClientID == "" || opts.ClientSecret == "" {
		return nil, errors.New("entra: a client ID and secret are required")
	}
	if opts.TokenURL == "" {
		if opts.Tenant == "" {
			return nil, errors.New("entra: the tenant is empty")
		}
		opts.TokenURL = "https://login.microsoftonline.com/" + url.PathEscape(opts.Tenant) + "/oauth2/v2.0/token"
	}
	if opts.GraphURL == "" {
		opts.GraphURL = DefaultGraphURL
	}
	tokenURL, err := restapi.ParseURL("entra", "token URL", opts.TokenURL)
	if err != nil {
		return nil, err
	}
	graph, err := restapi.ParseURL("entra", "Graph URL", opts.GraphURL)
	if err != nil {
		return nil, err
	}
	opts.GraphURL = graph.String()
	if opts.Scope == "" {
		opts.Scope = DefaultScope
	}
	if opts.Marker == "" {
		opts.Marker = DefaultMarker
	}
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultPageSize
	}
	api := &restapi.Client{
		Backend:          "entra",
		Base:             graph,
		HTTP:             opts.HTTPClient,
		Retry:            opts.Retry,
		ErrorBody:        graphError,
		UnauthorizedHint: "check the client ID, the secret idp.clientSecret names, and the app's Graph permissions and admin consent",
		Secrets:          []string{opts.ClientSecret},
	}
	api.Auth = restapi.ClientCredentials(api, tokenURL, opts.ClientID, opts.ClientSecret, opts.Scope)
	return &Provider{opts: opts, api: api}, nil
}

// errNotManaged refuses a change to a group without allot's marker.
func (p *Provider) errNotManaged(name string) error {
	return fmt.Errorf("group %s has no description %q, so allot did not create it and does not change it: %w",
		name, p.opts.Marker, idp.ErrConflict)
}
