package entra

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"

	"github.com/allot-dev/allot/reconciler/idp/restapi"
)

// do sends one Graph request to target, a path with query below the Graph
// URL (for example /v1.0/groups?...) or an absolute @odata.nextLink on the
// same origin, sends in as JSON and decodes a 2xx answer's JSON body into
// out.
func (p *Provider) do(ctx context.Context, method, target string, in, out any) error {
	_, err := p.api.Do(ctx, restapi.Request{Method: method, Target: target, JSON: in}, out)
	return err
}

// graphError reads Graph's error body, {"error": {"code", "message"}}.
func graphError(data []byte) (code, message string) {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(data, &body)
	return body.Error.Code, body.Error.Message
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
