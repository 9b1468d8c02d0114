package entra

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/allot-dev/allot/reconciler/idp"
)

// memberRef is the body that adds a member by reference.
type memberRef struct {
	ID string `json:"@odata.id"`
}

// AddMembers adds each user by reference. Graph answers 400 for a user
// already in the group; that is taken as done, so a retry is harmless.
func (p *Provider) AddMembers(ctx context.Context, g idp.Group, users []idp.User) error {
	if len(users) == 0 {
		return nil
	}
	if !g.Managed {
		return p.errNotManaged(g.Name)
	}
	for _, u := range users {
		ref := memberRef{ID: p.opts.GraphURL + "/v1.0/directoryObjects/" + url.PathEscape(u.ID)}
		err := p.do(ctx, "POST", "/v1.0/groups/"+url.PathEscape(g.ID)+"/members/$ref", ref, nil)
		if err != nil && !isAPIError(err, http.StatusBadRequest, "Request_BadRequest", "already exist") {
			return fmt.Errorf("add user %s to group %s: %w", u.ID, g.Name, err)
		}
	}
	return nil
}

// RemoveMembers removes each user's reference. Graph answers 404 for a
// user not in the group; that is taken as done, so a retry is harmless
// (a group that is gone altogether shows at the next ListGroups).
func (p *Provider) RemoveMembers(ctx context.Context, g idp.Group, users []idp.User) error {
	if len(users) == 0 {
		return nil
	}
	if !g.Managed {
		return p.errNotManaged(g.Name)
	}
	for _, u := range users {
		err := p.do(ctx, "DELETE", "/v1.0/groups/"+url.PathEscape(g.ID)+"/members/"+url.PathEscape(u.ID)+"/$ref", nil, nil)
		if err != nil && !isAPIError(err, http.StatusNotFound, "Request_ResourceNotFound", "") {
			return fmt.Errorf("remove user %s from group %s: %w", u.ID, g.Name, err)
		}
	}
	return nil
}
