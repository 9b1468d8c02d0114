package entra

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/allot-dev/allot/reconciler/idp"
	"github.com/allot-dev/allot/reconciler/idp/restapi"
)

// graphError is Graph's error body, {"error": {"code", "message"}}.
type graphError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// apiError is an error answer from Graph, wrapping the idp error its
// status stands for.
type apiError struct {
	Status int
	Code   string
	msg    string
	kind   error
}

func (e *apiError) Error() string { return e.msg }

func (e *apiError) Unwrap() error { return e.kind }

// do sends one Graph request to target, a path with query below the Graph
// URL (for example /v1.0/groups?...) or an absolute @odata.nextLink on the
// same origin, sends in as JSON and decodes a 2xx answer's JSON body into
// out. A 401 gets a fresh token and one more try.
func (p *Provider) do(ctx context.Context, method, target string, in, out any) error {
	u, err := p.resolve(target)
	if err != nil {
		return err
	}
	var body []byte
	if in != nil {
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	op := "graph " + method + " " + u.EscapedPath()
	for attempt := 0; ; attempt++ {
		token, err := p.tokens.Get(ctx)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/json")
		if in != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := p.client.Do(req)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		data, err := restapi.ReadBody(resp)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 {
			p.tokens.Invalidate(token)
			continue
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return statusError(op, resp, data)
		}
		if out != nil && len(data) > 0 {
			if err := json.Unmarshal(data, out); err != nil {
				return fmt.Errorf("%s: decode the answer: %w", op, err)
			}
		}
		return nil
	}
}

// resolve makes target absolute, refusing an absolute URL on another
// origin so that the token goes nowhere else.
func (p *Provider) resolve(target string) (*url.URL, error) {
	raw := p.opts.GraphURL + target
	if strings.HasPrefix(target, "https://") || strings.HasPrefix(target, "http://") {
		raw = target
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("entra: bad request URL %q: %w", target, err)
	}
	if u.Scheme != p.graph.Scheme || u.Host != p.graph.Host {
		return nil, fmt.Errorf("entra: refusing to send the token to %s://%s, which is not %s", u.Scheme, u.Host, p.opts.GraphURL)
	}
	return u, nil
}

// statusError turns an error answer into an *apiError. Graph throttles
// with 429, and sometimes with 503 and a Retry-After; both become an
// *idp.RateLimitError.
func statusError(op string, resp *http.Response, data []byte) error {
	var body graphError
	text := strings.TrimSpace(string(data))
	if json.Unmarshal(data, &body) == nil && body.Error.Code != "" {
		text = body.Error.Code + ": " + body.Error.Message
	} else if len(text) > 200 {
		text = text[:200] + "..."
	}
	e := &apiError{Status: resp.StatusCode, Code: body.Error.Code, msg: fmt.Sprintf("%s: %s: %s", op, resp.Status, text)}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		e.kind = idp.ErrUnauthorized
	case resp.StatusCode == http.StatusNotFound:
		e.kind = idp.ErrNotFound
	case resp.StatusCode == http.StatusConflict:
		e.kind = idp.ErrConflict
	case resp.StatusCode == http.StatusTooManyRequests,
		resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
		e.kind = &idp.RateLimitError{RetryAfter: restapi.RetryAfter(resp.Header, time.Now())}
	}
	return e
}

// isAPIError says whether err is an error answer with this status whose
// Graph code is code and whose message holds text.
func isAPIError(err error, status int, code, text string) bool {
	var e *apiError
	return errors.As(err, &e) && e.Status == status && e.Code == code && strings.Contains(e.msg, text)
}

// odata is a query string of OData options. Graph wants spaces as %20
// and the $ of option names as is.
type odata []string

// with adds name=value.
func (q odata) with(name, value string) odata {
	return append(q, name+"="+strings.ReplaceAll(url.QueryEscape(value), "+", "%20"))
}

// String renders the query with its leading "?", or "".
func (q odata) String() string {
	if len(q) == 0 {
		return ""
	}
	return "?" + strings.Join(q, "&")
}

// literal quotes s as an OData string literal.
func literal(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// collection is one page of a Graph collection.
type collection[T any] struct {
	Value    []T    `json:"value"`
	NextLink string `json:"@odata.nextLink"`
}

// pageOf runs a paged GET from first, following @odata.nextLink until
// there is none.
func pageOf[T any](ctx context.Context, p *Provider, first string) ([]T, error) {
	var all []T
	for target := first; target != ""; {
		var page collection[T]
		if err := p.do(ctx, "GET", target, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Value...)
		target = page.NextLink
	}
	return all, nil
}
