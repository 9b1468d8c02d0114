package entra

import (
	"context"
	"net/http"
	"net/url"

	"github.com/allot-dev/allot/reconciler/idp"
	"github.com/allot-dev/allot/reconciler/idp/restapi"
)

// memberRef is the body that adds a member by reference.
type memberRef struct {
	ID string `json:"@odata.id"`
}

// AddMembers adds each user by reference. Graph answers 400 for a user
// already in the group; that is taken as done, so a retry is harmless,
// and so the request may be sent again.
func (p *Provider) AddMembers(ctx context.Context, g idp.Group, users []idp.User) error {
	add := func(u idp.User) restapi.Request {
		ref := memberRef{ID: p.opts.GraphURL + "/v1.0/directoryObjects/" + url.PathEscape(u.ID)}
		return restapi.Request{Method: http.MethodPost, Target: "/v1.0/groups/" + url.PathEscape(g.ID) + "/members/$ref", JSON: ref, Idempotent: true}
	}
	already := func(err error) bool {
		return restapi.IsStatus(err, http.StatusBadRequest, "Request_BadRequest", "already exist")
	}
	return p.api.ChangeMembers(ctx, g, users, p.errNotManaged, add, already)
}

// RemoveMembers removes each user's reference. Graph answers 404 for a
// user not in the group; that is taken as done, so a retry is harmless
// (a group that is gone altogether shows at the next ListGroups).
func (p *Provider) RemoveMembers(ctx context.Context, g idp.Group, users []idp.User) error {
	remove := func(u idp.User) restapi.Request {
		return restapi.Request{Method: http.MethodDelete, Target: "/v1.0/groups/" + url.PathEscape(g.ID) + "/members/" + url.PathEscape(u.ID) + "/$ref"}
	}
	gone := func(err error) bool {
		return restapi.IsStatus(err, http.StatusNotFound, "Request_ResourceNotFound", "")
	}
	return p.api.ChangeMembers(ctx, g, users, p.errNotManaged, remove, gone)
}
