package restapi

import (
	"context"
	"fmt"

	"github.com/allot-dev/allot/reconciler/idp"
)

// ChangeMembers changes a group's members one request a user, as the
// APIs of Okta, Keycloak and Microsoft Graph want. A group without
// allot's marker gets notManaged and no request. request builds a user's
// request; settled, when not nil, says which errors mean the change is
// there already (Graph's 400 for a member added before), so that a retry
// is harmless. It stops at the first other error.
func (c *Client) ChangeMembers(ctx context.Context, g idp.Group, users []idp.User, notManaged error, request func(idp.User) Request, settled func(error) bool) error {
	if len(users) == 0 {
		return nil
	}
	if !g.Managed {
		return notManaged
	}
	for _, u := range users {
		_, err := c.Do(ctx, request(u), nil)
		if err != nil && (settled == nil || !settled(err)) {
			return fmt.Errorf("change the membership of user %s in group %s: %w", u.ID, g.Name, err)
		}
	}
	return nil
}
