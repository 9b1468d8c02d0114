package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/allot-dev/allot/reconciler/idp"
	"github.com/allot-dev/allot/reconciler/idp/restapi"
)

// Defaults of Provider's settings.
const (
	DefaultPageSize        = 100
	DefaultMembersPerPatch = 20
)

// SCIM schema URNs (RFC 7643 section 8.7, RFC 7644 section 3.5.2).
const (
	schemaGroup   = "urn:ietf:params:scim:schemas:core:2.0:Group"
	schemaPatchOp = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	contentType   = "application/scim+json"
)

// MarkerPrefix starts the externalId of every group allot creates; the rest
// is the group's name.
const MarkerPrefix = "allot:"

var _ idp.Provider = (*Provider)(nil)

// Provider reads and changes users' group memberships in a SCIM 2.0
// service provider. It is safe for concurrent use.
type Provider struct {
	api *restapi.Client

	// PageSize is how many groups one list request asks for; zero means
	// DefaultPageSize.
	PageSize int
	// MembersPerPatch bounds the members one PATCH adds or removes; zero
	// means DefaultMembersPerPatch.
	MembersPerPatch int
	// Retry says how each request is retried (see restapi); the zero
	// value is idp.Retry's defaults.
	Retry idp.Retry

	mu sync.Mutex
	// emails remembers the e-mail of each user ID seen as a group member.
	emails map[string]string
}

// New returns a Provider for the SCIM service at baseURL (the URL that
// /Users and /Groups are under, such as https://idp.example.com/scim/v2),
// authenticating with token as a bearer token. httpClient may be nil for a
// client with restapi.DefaultTimeout.
func New(baseURL, token string, httpClient *http.Client) (*Provider, error) {
	u, err := restapi.ParseURL("scim", "URL", baseURL)
	if err != nil {
		return nil, err
	}
	if token == "" {
		return nil, errors.New("scim: the bearer token is empty; set the variable or file idp.token names")
	}
	if strings.ContainsAny(token, "\r\n") {
		return nil, errors.New("scim: the bearer token contains a line break; check the file idp.token names")
	}
	return &Provider{api: &restapi.Client{
		Backend:          "scim",
		Base:             u,
		HTTP:             httpClient,
		Auth:             restapi.Static("Bearer " + token),
		Accept:           contentType + ", application/json",
		ContentType:      contentType,
		ErrorBody:        scimError,
		UnauthorizedHint: "check the token idp.token names and its rights",
		Secrets:          []string{token},
	}}, nil
}

// scimError reads the body of a SCIM error answer (RFC 7644 section
// 3.12).
func scimError(data []byte) (code, message string) {
	var body struct {
		Detail   string `json:"detail"`
		ScimType string `json:"scimType"`
	}
	_ = json.Unmarshal(data, &body)
	return body.ScimType, body.Detail
}

// do sends one request below the base URL (path escaped already: ids go
// through url.PathEscape) and decodes a successful answer into out (if
// not nil). Failures map to idp's errors.
func (p *Provider) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	api := *p.api
	api.Retry = p.Retry
	// Adding a member twice or removing one not there is no error, so a
	// PATCH of members may be sent again.
	_, err := api.Do(ctx, restapi.Request{Method: method, Target: path, JSON: body, Idempotent: method == http.MethodPatch}, out)
	return err
}

// badRequest reports whether err is a 400 answer.
func badRequest(err error) bool {
	return restapi.IsStatus(err, http.StatusBadRequest, "", "")
}

func (p *Provider) pageSize() int {
	if p.PageSize > 0 {
		return p.PageSize
	}
	return DefaultPageSize
}

func (p *Provider) membersPerPatch() int {
	if p.MembersPerPatch > 0 {
		return p.MembersPerPatch
	}
	return DefaultMembersPerPatch
}

// literal quotes s as a SCIM filter string value, which is a JSON string
// (RFC 7644 section 3.4.2.2).
func literal(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSpace(b.String())
}
