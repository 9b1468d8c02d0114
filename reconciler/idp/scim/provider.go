package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/allot-dev/allot/reconciler/idp"
)

// Defaults of Provider's settings.
const (
	DefaultPageSize         = 100
	DefaultMembersPerPatch  = 20
	DefaultMaxResponseBytes = 16 << 20
	// DefaultTimeout bounds one request when New makes the HTTP client.
	DefaultTimeout = 30 * time.Second
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
	base   *url.URL
	token  string
	client *http.Client

	// PageSize is how many groups one list request asks for; zero means
	// DefaultPageSize.
	PageSize int
	// MembersPerPatch bounds the members one PATCH adds or removes; zero
	// means DefaultMembersPerPatch.
	MembersPerPatch int
	// MaxResponseBytes bounds how much of one response is read; zero means
	// DefaultMaxResponseBytes.
	MaxResponseBytes int64

	mu sync.Mutex
	// emails remembers the e-mail of each user ID seen as a group member.
	emails map[string]string
}

// New returns a Provider for the SCIM service at baseURL (the URL that
// /Users and /Groups are under, such as https://idp.example.com/scim/v2),
// authenticating with token as a bearer token. httpClient may be nil for a
// client with DefaultTimeout.
func New(baseURL, token string, httpClient *http.Client) (*Provider, error) {
	u, err := url.Parse(strings.TrimSuffix(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("scim: the URL %q does not parse: %w", baseURL, err)
	}
	if u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("scim: the URL %q must be https://host/path", baseURL)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("scim: the URL %q must have no user, query or fragment; the token goes in idp.token", u.Redacted())
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("scim: the URL %q is plain http; use https so the token is not sent in clear", baseURL)
	}
	if token == "" {
		return nil, errors.New("scim: the bearer token is empty; set the variable or file idp.token names")
	}
	if strings.ContainsAny(token, "\r\n") {
		return nil, errors.New("scim: the bearer token contains a line break; check the file idp.token names")
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: DefaultTimeout}
	}
	return &Provider{base: u, token: token, client: httpClient}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// scimError is the body of a SCIM error answer (RFC 7644 section 3.12).
type scimError struct {
	Detail   string `json:"detail"`
	ScimType string `json:"scimType"`
}

// do sends one request and decodes a successful answer into out (if not
// nil). path is relative to the base URL. Failures map to idp's errors.
func (p *Provider) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	// path is escaped already (ids go through url.PathEscape), and the
	// base has no query or fragment.
	target := p.base.String() + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	what := method + " " + path

	var reader io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		reader = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, reader)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Accept", contentType+", application/json")
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
		// The URL in the error holds no secret: the token is a header.
		return fmt.Errorf("%s: %w: %w", what, idp.ErrTransient, err)
	}
	defer resp.Body.Close()
	limit := p.maxResponseBytes()
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fmt.Errorf("%s: reading the answer: %w: %w", what, idp.ErrTransient, err)
	}
	if int64(len(data)) > limit {
		return fmt.Errorf("%s: the answer is larger than %d bytes", what, limit)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if out == nil || len(bytes.TrimSpace(data)) == 0 {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s: the answer is not the SCIM JSON expected: %w", what, err)
		}
		return nil
	}
	return statusError(what, resp, data)
}

// StatusError is a SCIM server's refusal: the request, the HTTP status and
// the SCIM error's detail. It wraps the idp error the status maps to, so
// callers check it with errors.Is(err, idp.ErrNotFound) and the like.
type StatusError struct {
	Request    string // method and path, such as "PATCH /Groups/42"
	StatusCode int
	ScimType   string
	Detail     string
	err        error
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s: %d %s", e.Request, e.StatusCode, http.StatusText(e.StatusCode))
	if e.ScimType != "" {
		msg += ": " + e.ScimType
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	switch {
	case errors.Is(e.err, idp.ErrUnauthorized):
		msg += ": unauthorized; check the token idp.token names and its rights"
	case e.err != nil:
		msg += ": " + e.err.Error()
	}
	return msg
}

// Unwrap returns the idp error the status maps to, if any.
func (e *StatusError) Unwrap() error { return e.err }

// statusError maps a failed answer to idp's errors, with the server's
// detail for the reader.
func statusError(what string, resp *http.Response, data []byte) error {
	var se scimError
	_ = json.Unmarshal(data, &se)
	e := &StatusError{Request: what, StatusCode: resp.StatusCode, ScimType: se.ScimType, Detail: se.Detail}
	if len(e.Detail) > 300 {
		e.Detail = e.Detail[:300] + "..."
	}
	switch code := resp.StatusCode; {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		e.err = idp.ErrUnauthorized
	case code == http.StatusNotFound:
		e.err = idp.ErrNotFound
	case code == http.StatusConflict:
		e.err = idp.ErrConflict
	case code == http.StatusTooManyRequests:
		e.err = &idp.RateLimitError{RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	case code >= 500:
		e.err = idp.ErrTransient
	}
	return e
}

// badRequest reports whether err is a 400 answer.
func badRequest(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.StatusCode == http.StatusBadRequest
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date
// (RFC 9110 section 10.2.3). Zero when absent or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

func (p *Provider) maxResponseBytes() int64 {
	if p.MaxResponseBytes > 0 {
		return p.MaxResponseBytes
	}
	return DefaultMaxResponseBytes
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
