package okta

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"

	"github.com/allot-dev/allot/reconciler/idp"
	"github.com/allot-dev/allot/reconciler/idp/restapi"
)

// do sends one API request to target, a path below the org's URL or an
// absolute URL on the same origin (a next link), sends in as JSON and
// decodes a 2xx answer's JSON body into out. It returns the answer's
// headers.
func (p *Provider) do(ctx context.Context, method, target string, in, out any) (http.Header, error) {
	return p.api.Do(ctx, restapi.Request{Method: method, Target: target, JSON: in}, out)
}

// oktaError reads Okta's error body: the code, and the summary with its
// causes.
func oktaError(data []byte) (code, message string) {
	var body struct {
		Code    string `json:"errorCode"`
		Summary string `json:"errorSummary"`
		Causes  []struct {
			Summary string `json:"errorSummary"`
		} `json:"errorCauses"`
	}
	if json.Unmarshal(data, &body) != nil {
		return "", ""
	}
	message = body.Summary
	for _, c := range body.Causes {
		message += "; " + c.Summary
	}
	return body.Code, message
}

// classify marks a taken group name, which Okta answers as a validation
// error (E0000001) whose cause says the object already exists, as
// idp.ErrConflict.
func classify(e *restapi.StatusError) {
	if e.StatusCode == http.StatusBadRequest && e.Code == "E0000001" && strings.Contains(e.Detail, "already exists") {
		e.Kind = idp.ErrConflict
	}
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
