package okta

import (
	"context"
	"fmt"
	"net/url"

	"github.com/allot-dev/allot/reconciler/idp"
)

// AddMembers puts each user in the group. Okta answers 204 for a user
// already there, so a retry is harmless.
func (p *Provider) AddMembers(ctx context.Context, g idp.Group, users []idp.User) error {
	return p.changeMembers(ctx, "PUT", g, users)
}

// RemoveMembers takes each user out of the group. Okta answers 204 for a
// user not there, so a retry is harmless.
func (p *Provider) RemoveMembers(ctx context.Context, g idp.Group, users []idp.User) error {
	return p.changeMembers(ctx, "DELETE", g, users)
}

// changeMembers sends method to each user's membership of the group; the
// Groups API changes one membership per request.
func (p *Provider) changeMembers(ctx context.Context, method string, g idp.Group, users []idp.User) error {
	if len(users) == 0 {
		return nil
	}
	if !g.Managed {
		return p.errNotManaged(g.Name)
	}
	for _, u := range users {
		membership := "/api/v1/groups/" + url.PathEscape(g.ID) + "/users/" + url.PathEscape(u.ID)
		if _, err := p.do(ctx, method, membership, nil, nil); err != nil {
			return fmt.Errorf("change membership of user %s in group %s: %w", u.ID, g.Name, err)
		}
	}
	return nil
}
