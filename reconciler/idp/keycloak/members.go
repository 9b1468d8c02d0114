package keycloak

import (
	"context"
	"net/http"
	"net/url"

	"github.com/allot-dev/allot/reconciler/idp"
	"github.com/allot-dev/allot/reconciler/idp/restapi"
)

// AddMembers puts each user in the group. Keycloak answers 204 for a user
// already there, so a retry is harmless.
func (p *Provider) AddMembers(ctx context.Context, g idp.Group, users []idp.User) error {
	return p.api.ChangeMembers(ctx, g, users, p.errNotManaged(g.Name), membership(http.MethodPut, g), nil)
}

// RemoveMembers takes each user out of the group. Keycloak answers 204 for
// a user not there, so a retry is harmless.
func (p *Provider) RemoveMembers(ctx context.Context, g idp.Group, users []idp.User) error {
	return p.api.ChangeMembers(ctx, g, users, p.errNotManaged(g.Name), membership(http.MethodDelete, g), nil)
}

// membership is the request that changes one user's membership of g,
// which the admin API files under the user.
func membership(method string, g idp.Group) func(idp.User) restapi.Request {
	return func(u idp.User) restapi.Request {
		return restapi.Request{Method: method, Target: "/users/" + url.PathEscape(u.ID) + "/groups/" + url.PathEscape(g.ID)}
	}
}
