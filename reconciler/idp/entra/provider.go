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
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/allot-dev/allot/reconciler/idp"
	"github.com/allot-dev/allot/reconciler/idp/restapi"
)

// Defaults for Options.
const (
	DefaultGraphURL = "https://graph.microsoft.com"
	DefaultScope    = "https://graph.microsoft.com/.default"
	DefaultMarker   = "managed-by=allot"
	DefaultPageSize = 100
	DefaultTimeout  = 30 * time.Second
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
	// HTTPClient sends the requests; a client with a DefaultTimeout
	// timeout when nil.
	HTTPClient *http.Client
}

// Provider is an idp.Provider for an Entra ID tenant. It is safe for concurrent use.
type Provider struct {
	opts   Options
	graph  *url.URL
	client *http.Client
	tokens *restapi.TokenSource
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
	opts.GraphURL = strings.TrimSuffix(opts.GraphURL, "/")
	if _, err := checkURL("token URL", opts.TokenURL); err != nil {
		return nil, err
	}
	graph, err := checkURL("Graph URL", opts.GraphURL)
	if err != nil {
		return nil, err
	}
	if opts.Scope == "" {
		opts.Scope = DefaultScope
	}
	if opts.Marker == "" {
		opts.Marker = DefaultMarker
	}
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultPageSize
	}
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: DefaultTimeout}
	}
	p := &Provider{opts: opts, graph: graph, client: client}
	p.tokens = &restapi.TokenSource{
		Fetch: func(ctx context.Context) (string, time.Duration, error) {
			return restapi.ClientCredentials(ctx, client, opts.TokenURL, opts.ClientID, opts.ClientSecret, opts.Scope)
		},
		Now: time.Now,
	}
	return p, nil
}

// checkURL parses an https:// URL, or an http:// one to a loopback
// address.
func checkURL(what, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("entra: %s %q is not an https:// address", what, raw)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("entra: %s %s would carry credentials in clear; use https://", what, raw)
	}
	return u, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// errNotManaged refuses a change to a group without allot's marker.
func (p *Provider) errNotManaged(name string) error {
	return fmt.Errorf("group %s has no description %q, so allot did not create it and does not change it: %w",
		name, p.opts.Marker, idp.ErrConflict)
}
