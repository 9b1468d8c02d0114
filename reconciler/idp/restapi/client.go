package restapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/allot-dev/allot/reconciler/idp"
)

// MaxResponse bounds every answer a backend reads: 16 MiB, room for a page
// of SCIM groups that carry their members inline.
const MaxResponse = 16 << 20

// DefaultTimeout bounds one request when Client.HTTP is nil.
const DefaultTimeout = 30 * time.Second

// ErrTooLarge is wrapped by the error of an answer over MaxResponse.
var ErrTooLarge = errors.New("answer too large")

// Client sends the requests of one backend to one service. Its fields are
// set once, before the first request; the zero value of each is a
// documented default. It is safe for concurrent use.
type Client struct {
	// Backend names the backend in every error, such as "okta".
	Backend string
	// Base is the URL request targets are relative to. An absolute
	// target (a next link) must have Base's scheme and host, so that
	// credentials go nowhere else.
	Base *url.URL
	// HTTP sends the requests; nil means a client with DefaultTimeout.
	HTTP *http.Client
	// Auth puts credentials on each request; nil sends none.
	Auth Auth
	// Retry says how often and how long to retry; see the package doc.
	Retry idp.Retry
	// Accept and ContentType are the media types of the answers asked
	// for and of JSON bodies sent; "application/json" when empty.
	Accept, ContentType string
	// ErrorBody reads the service's own error code and message from an
	// error answer; nil, or an empty message, shows the body's text.
	ErrorBody func(body []byte) (code, message string)
	// Classify, when set, may change the idp error a refusal wraps after
	// the mapping by status, for a service that says "conflict" its own
	// way.
	Classify func(e *StatusError)
	// UnauthorizedHint tells the reader of an idp.ErrUnauthorized what to
	// check, such as "check the token idp.token names and its rights".
	UnauthorizedHint string
	// Secrets are masked wherever a server's text appears in an error.
	Secrets []string
	// Now is the clock Retry-After dates are read with; nil means
	// time.Now.
	Now func() time.Time
}

// Request is one API request.
type Request struct {
	Method string
	// Target is a path below the Client's Base, escaped, with its query
	// if any; or an absolute URL on Base's origin.
	Target string
	// JSON, when not nil, is sent as the JSON body; Form, when not nil,
	// as a form.
	JSON any
	Form url.Values
	// Idempotent says that sending the request twice does no harm, so a
	// 5xx or a failed connection may be retried. GET, HEAD, PUT and
	// DELETE are so without it.
	Idempotent bool
}

func (r Request) idempotent() bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
		return true
	}
	return r.Idempotent
}

// Do sends req, retrying as the package doc says, decodes a 2xx answer's
// JSON into out (when not nil and the answer has a body) and returns the
// answer's headers.
func (c *Client) Do(ctx context.Context, req Request, out any) (http.Header, error) {
	u, err := c.resolve(req.Target)
	if err != nil {
		return nil, err
	}
	k := call{method: req.Method, url: u, request: req.Method + " " + c.shown(u)}
	k.what = c.Backend + " " + k.request
	switch {
	case req.Form != nil:
		k.body, k.contentType = []byte(req.Form.Encode()), "application/x-www-form-urlencoded"
	case req.JSON != nil:
		if k.body, err = json.Marshal(req.JSON); err != nil {
			return nil, fmt.Errorf("%s: %w", k.what, err)
		}
		k.contentType = cmp.Or(c.ContentType, "application/json")
	}
	retryable := idp.Retryable
	if !req.idempotent() {
		// The server may have acted on it; only a rate limit says it
		// did not.
		retryable = func(err error) bool { return errors.Is(err, idp.ErrRateLimited) }
	}
	return idp.RetryingIf(ctx, c.Retry, retryable, func(ctx context.Context) (http.Header, error) {
		return c.once(ctx, k, out)
	})
}

// call is a request made ready to send, once or more.
type call struct {
	method      string
	url         *url.URL
	request     string // method and path, for errors
	what        string // the backend and request, for errors
	body        []byte
	contentType string
}

// once sends the request, and sends it again with a new credential when
// the server refused the first one.
func (c *Client) once(ctx context.Context, k call, out any) (http.Header, error) {
	for renewed := false; ; renewed = true {
		auth := ""
		if c.Auth != nil {
			var err error
			if auth, err = c.Auth.Authorization(ctx); err != nil {
				return nil, fmt.Errorf("%s: %w", k.what, err)
			}
		}
		resp, data, err := c.send(ctx, k, auth)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusUnauthorized && !renewed && c.Auth != nil && c.Auth.Refused(auth) {
			continue
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return nil, c.statusError(k, resp, data, auth, renewed)
		}
		if len(data) > MaxResponse {
			return nil, fmt.Errorf("%s: the answer is larger than %d MiB, the most allot reads of an identity provider's answer: %w",
				k.what, MaxResponse>>20, ErrTooLarge)
		}
		if out != nil && len(bytes.TrimSpace(data)) > 0 {
			if err := json.Unmarshal(data, out); err != nil {
				return nil, fmt.Errorf("%s: the answer is not the JSON expected: %w", k.what, err)
			}
		}
		return resp.Header, nil
	}
}

// send makes one HTTP exchange and reads at most MaxResponse+1 bytes of
// the answer, so that the caller can tell an answer over the bound.
func (c *Client) send(ctx context.Context, k call, auth string) (*http.Response, []byte, error) {
	var rd io.Reader
	if k.body != nil {
		rd = bytes.NewReader(k.body)
	}
	what := k.what
	req, err := http.NewRequestWithContext(ctx, k.method, k.url.String(), rd)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Accept", cmp.Or(c.Accept, "application/json"))
	if k.contentType != "" {
		req.Header.Set("Content-Type", k.contentType)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	client := c.HTTP
	if client == nil {
		client = &http.Client{Timeout: DefaultTimeout}
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("%s: %w", what, ctx.Err())
		}
		// The error names the URL, which holds no credential: those
		// travel in headers.
		return nil, nil, fmt.Errorf("%s: %w: %w", what, idp.ErrTransient, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("%s: reading the answer: %w", what, ctx.Err())
		}
		return nil, nil, fmt.Errorf("%s: reading the answer: %w: %w", what, idp.ErrTransient, err)
	}
	return resp, data, nil
}

// resolve makes target absolute, refusing an absolute URL on another
// origin.
func (c *Client) resolve(target string) (*url.URL, error) {
	raw := strings.TrimSuffix(c.Base.String(), "/") + target
	if strings.HasPrefix(target, "https://") || strings.HasPrefix(target, "http://") {
		raw = target
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: bad request URL %q: %w", c.Backend, target, err)
	}
	if u.Scheme != c.Base.Scheme || u.Host != c.Base.Host {
		return nil, fmt.Errorf("%s: refusing to send credentials to %s://%s, which is not %s://%s",
			c.Backend, u.Scheme, u.Host, c.Base.Scheme, c.Base.Host)
	}
	return u, nil
}

// shown is the path of u for errors: below Base's path, or all of it when
// it is Base itself (a token endpoint).
func (c *Client) shown(u *url.URL) string {
	p := u.EscapedPath()
	if rel := strings.TrimPrefix(p, strings.TrimSuffix(c.Base.EscapedPath(), "/")); rel != "" && rel != p {
		return rel
	}
	return p
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}
