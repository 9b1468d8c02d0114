// Package okta keeps allot's groups in an Okta org through the Users and
// Groups APIs, authenticating with an API token (Authorization: SSWS
// TOKEN).
//
// A group is allot's when it is an OKTA_GROUP (the only type whose
// members Okta lets the API change; APP_GROUPs are imported from a
// directory and BUILT_IN groups belong to Okta) and its profile
// description is the marker. Groups are found with the search parameter
// (profile.name sw "PREFIX") rather than q, since Okta documents that q
// results cannot be paged and stop at 300. IDs are Okta's IDs. Members
// are added and removed one request a user; Okta answers 204 whether the
// membership was there or not, so a retry is harmless.
package okta

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
	DefaultMarker   = "managed-by=allot"
	DefaultPageSize = 200
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
	// HTTPClient sends the requests; a client with
	// restapi.DefaultTimeout when nil.
	HTTPClient *http.Client
	// Retry says how each request is retried (see restapi); the zero
	// value is idp.Retry's defaults.
	Retry idp.Retry
}

// Provider is an idp.Provider for an Okta org. It is safe for concurrent use.
type Provider struct {
	// Memberships adds and removes members, one request a user.
	restapi.Memberships
	opts Options
	api  *restapi.Client
}

var _ idp.Provider = (*Provider)(nil)

// New checks opts and returns a Provider. It does not connect.
func New(opts Options) (*Provider, error) {
	base, err := restapi.ParseURL("okta", "URL", opts.URL)
	if err != nil {
		return nil, err
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
	p := &Provider{opts: opts, api: &restapi.Client{
		Backend:          "okta",
		Base:             base,
		HTTP:             opts.HTTPClient,
		Auth:             restapi.Static("SSWS " + opts.Token),
		Retry:            opts.Retry,
		ErrorBody:        oktaError,
		Classify:         classify,
		UnauthorizedHint: "check the API token idp.token names and its administrator role",
		Secrets:          []string{opts.Token},
	}}
	p.Memberships = restapi.Memberships{API: p.api, NotManaged: p.errNotManaged, Path: func(groupID, userID string) string {
		return "/api/v1/groups/" + url.PathEscape(groupID) + "/users/" + url.PathEscape(userID)
	}}
	return p, nil
}

// errNotManaged refuses a change to a group that is not allot's.
func (p *Provider) errNotManaged(name string) error {
	return fmt.Errorf("group %s is not an %s with the description %q, so allot did not create it and does not change it: %w",
		name, OktaGroup, p.opts.Marker, idp.ErrConflict)
}
