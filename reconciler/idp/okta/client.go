package okta

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/allot-dev/allot/reconciler/idp"
	"github.com/allot-dev/allot/reconciler/idp/restapi"
)

// defaultRetryAfter is the wait reported for a 429 without usable
// rate-limit headers; Okta's limits are per minute.
const defaultRetryAfter = time.Minute

// do sends one API request to target, a path below the org's URL or an
// absolute URL on the same origin (a next link), sends in as JSON and
// decodes a 2xx answer's JSON body into out. It returns the answer's
// headers.
func (p *Provider) do(ctx context.Context, method, target string, in, out any) (http.Header, error) {
	u, err := p.resolve(target)
	if err != nil {
		return nil, err
	}
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "SSWS "+p.opts.Token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	op := "okta " + method + " " + u.Path
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	data, err := restapi.ReadBody(resp)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, p.statusError(op, resp, data)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, fmt.Errorf("%s: decode the answer: %w", op, err)
		}
	}
	return resp.Header, nil
}

// resolve makes target absolute, refusing an absolute URL on another
// origin so that the API token goes nowhere else.
func (p *Provider) resolve(target string) (*url.URL, error) {
	u, err := p.base.Parse(p.base.Path + target)
	if strings.HasPrefix(target, "https://") || strings.HasPrefix(target, "http://") {
		u, err = url.Parse(target)
	}
	if err != nil {
		return nil, fmt.Errorf("okta: bad request URL %q: %w", target, err)
	}
	if u.Scheme != p.base.Scheme || u.Host != p.base.Host {
		return nil, fmt.Errorf("okta: refusing to send the API token to %s://%s, which is not %s", u.Scheme, u.Host, p.opts.URL)
	}
	return u, nil
}

// oktaError is Okta's error body.
type oktaError struct {
	Code    string `json:"errorCode"`
	Summary string `json:"errorSummary"`
	Causes  []struct {
		Summary string `json:"errorSummary"`
	} `json:"errorCauses"`
}

func (e oktaError) String() string {
	s := e.Code + " " + e.Summary
	for _, c := range e.Causes {
		s += "; " + c.Summary
	}
	return s
}

// statusError turns an error answer into an error wrapping the idp error
// it stands for.
func (p *Provider) statusError(op string, resp *http.Response, data []byte) error {
	var body oktaError
	text := strings.TrimSpace(string(data))
	if json.Unmarshal(data, &body) == nil && body.Code != "" {
		text = body.String()
	} else if len(text) > 200 {
		text = text[:200] + "..."
	}
	msg := fmt.Sprintf("%s: %s: %s", op, resp.Status, text)
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%s: %w", msg, idp.ErrUnauthorized)
	case http.StatusNotFound:
		return fmt.Errorf("%s: %w", msg, idp.ErrNotFound)
	case http.StatusConflict:
		return fmt.Errorf("%s: %w", msg, idp.ErrConflict)
	case http.StatusTooManyRequests:
		return fmt.Errorf("%s: %w", msg, &idp.RateLimitError{RetryAfter: retryAfter(resp.Header, p.now())})
	case http.StatusBadRequest:
		// A taken group name is a validation error (E0000001) whose
		// cause says the object already exists.
		if body.Code == "E0000001" && strings.Contains(body.String(), "already exists") {
			return fmt.Errorf("%s: %w", msg, idp.ErrConflict)
		}
	}
	return errors.New(msg)
}

// retryAfter works out the wait of a 429: Retry-After when a proxy sent
// one, else Okta's X-Rate-Limit-Reset (epoch seconds) less the answer's
// Date, as Okta advises, so that clock skew does not matter.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
			return time.Duration(secs) * time.Second
		}
		if at, err := http.ParseTime(v); err == nil {
			return max(at.Sub(serverNow(h, now)), 0)
		}
	}
	if reset, err := strconv.ParseInt(strings.TrimSpace(h.Get("X-Rate-Limit-Reset")), 10, 64); err == nil {
		// The reset has whole seconds; round the wait up to match.
		wait := time.Unix(reset, 0).Sub(serverNow(h, now))
		return max(wait.Truncate(time.Second)+ceilSecond(wait), 0)
	}
	return defaultRetryAfter
}

// ceilSecond is one second when d has a fraction of a second, else zero.
func ceilSecond(d time.Duration) time.Duration {
	if d%time.Second > 0 {
		return time.Second
	}
	return 0
}

// serverNow is the answer's Date, or now without one.
func serverNow(h http.Header, now time.Time) time.Time {
	if date, err := http.ParseTime(h.Get("Date")); err == nil {
		return date
	}
	return now
}

// linkEntry is one <URL>; param=value... entry of a Link header.
var linkEntry = regexp.MustCompile(`<([^>]*)>((?:\s*;\s*[^;,]+)*)`)

// nextLink finds the rel="next" URL among the Link headers, or "".
func nextLink(h http.Header) string {
	for _, value := range h.Values("Link") {
		for _, m := range linkEntry.FindAllStringSubmatch(value, -1) {
			for _, param := range strings.Split(m[2], ";") {
				k, v, ok := strings.Cut(strings.TrimSpace(param), "=")
				if ok && strings.EqualFold(k, "rel") && strings.Trim(v, `"`) == "next" {
					return m[1]
				}
			}
		}
	}
	return ""
}

// searchValue quotes s for an Okta search expression.
func searchValue(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// pageOf runs a paged GET from first, decoding each page into a slice of
// T and following rel="next" until there is none.
func pageOf[T any](ctx context.Context, p *Provider, first string) ([]T, error) {
	var all []T
	for target := first; target != ""; {
		var page []T
		h, err := p.do(ctx, "GET", target, nil, &page)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		target = nextLink(h)
	}
	return all, nil
}
