package keycloak

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/allot-dev/allot/reconciler/idp/restapi"
)

// do sends one admin API request: path is below the realm's admin URL,
// in is sent as JSON, a 2xx answer's JSON body is decoded into out. It
// returns the answer's headers.
func (p *Provider) do(ctx context.Context, method, path string, query url.Values, in, out any) (http.Header, error) {
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	return p.api.Do(ctx, restapi.Request{Method: method, Target: path, JSON: in}, out)
}

// keycloakError reads a Keycloak error body: {"errorMessage"} from the
// admin API, or OAuth's {"error", "error_description"}.
func keycloakError(data []byte) (code, message string) {
	var body struct {
		ErrorMessage string `json:"errorMessage"`
		Error        string `json:"error"`
		Description  string `json:"error_description"`
	}
	if json.Unmarshal(data, &body) != nil {
		return "", ""
	}
	if body.ErrorMessage != "" {
		return "", body.ErrorMessage
	}
	return body.Error, body.Description
}
