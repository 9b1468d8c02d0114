// Package okta keeps allot's groups in an Okta org through the Users and
// Groups APIs, authenticating with an API token (Authorization: SSWS
// TOKEN).
//
// A group is allot's when it is an OKTA_GROUP (the only type whose
// members Okta lets the API change; APP_GROUPs are imported from a
// directory and BUILT_IN groups belong to Okta) and its profile
// description is the marker. Groups are found with the search parameter
// (profile.name sw "PREFIX") rather than q, since Okta documents that q
// results cannot be paged and stop at 300. IDs are Okta's IDs.
package okta

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/allot-dev/allot/reconciler/idp"
)

// Defaults for Options.
const (
	DefaultMarker   = "managed-by=allot"
	DefaultPageSize = 200
	DefaultTimeout  = 30 * time.Second
)

// The group types of Okta; only OktaGroup groups are ever changed.
const (
	OktaGroup = "OKTA_GROUP"
)

// Options configures a Provider.
type Options struct {
	// URL is the org's base URL, for example https://example.okta.com.
	// It must be https:// unless the host is a loopback address.
	URL string
	// Token is the API token. It is never logged.
	Token string
	// Marker is the profile description that marks allot's groups;
	// DefaultMarker when empty.
	Marker string
	// PageSize is the limit of each paged request; DefaultPageSize (the
	// most Okta recommends) when zero.
	PageSize int
	// HTTPClient sends the requests; a client with a DefaultTimeout
	// timeout when nil.
	HTTPClient *http.Client
}

// Provider is an idp.Provider for an Okta org. It is safe for concurrent use.
type Provider struct {
	opts   Options
	base   *url.URL
	client *http.Client
	now    func() time.Time
}

var _ idp.Provider = (*Provider)(nil)

// New checks opts and returns a Provider. It does not connect.
func New(opts Options) (*Provider, error) {
	base, err := url.Parse(strings.TrimSuffix(opts.URL, "/"))
	if err != nil || base.Host == "" || (base.Scheme != "https" && base.Scheme != "http") {
		return nil, fmt.Errorf("okta: URL %q is not an https:// address", opts.URL)
	}
	if base.Scheme == "http" && !isLoopback(base.Hostname()) {
		return nil, fmt.Errorf("okta: %s would send the API token in clear; use https://", opts.URL)
	}
	if opts.Token == "" {
		return nil, errors.New("okta: the API token is empty")
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
	return &Provider{opts: opts, base: base, client: client, now: time.Now}, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// errNotManaged refuses a change to a group that is not allot's.
func (p *Provider) errNotManaged(name string) error {
	return fmt.Errorf("group %s is not an %s with the description %q, so allot did not create it and does not change it: %w",
		name, OktaGroup, p.opts.Marker, idp.ErrConflict)
}
