package restapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/allot-dev/allot/reconciler/idp"
)

// ChangeMembers changes a group's members one request a user, as the
// APIs of Okta, Keycloak and Microsoft Graph want. A group without
// allot's marker gets notManaged's error and no request. request builds a
// user's request; settled, when not nil, says which errors mean the
// change is there already (Graph's 400 for a member added before), so
// that a retry is harmless. It stops at the first other error.
func (c *Client) ChangeMembers(ctx context.Context, g idp.Group, users []idp.User, notManaged func(group string) error, request func(idp.User) Request, settled func(error) bool) error {
	if len(users) == 0 {
		return nil
	}
	if !g.Managed {
		return notManaged(g.Name)
	}
	for _, u := range users {
		_, err := c.Do(ctx, request(u), nil)
		if err != nil && (settled == nil || !settled(err)) {
			return fmt.Errorf("change the membership of user %s in group %s: %w", u.ID, g.Name, err)
		}
	}
	return nil
}

// Memberships is how Okta's Groups API and Keycloak's admin API change
// members: one URL per membership, PUT to add and DELETE to remove, and
// 204 whether the membership was there before or not, so that a retry is
// harmless. A backend embeds it for AddMembers and RemoveMembers.
type Memberships struct {
	API *Client
	// Path is the membership's path below API's base, escaped.
	Path func(groupID, userID string) string
	// NotManaged refuses a group without allot's marker.
	NotManaged func(group string) error
}

// AddMembers puts each user in the group.
func (m Memberships) AddMembers(ctx context.Context, g idp.Group, users []idp.User) error {
	return m.change(ctx, http.MethodPut, g, users)
}

// RemoveMembers takes each user out of the group.
func (m Memberships) RemoveMembers(ctx context.Context, g idp.Group, users []idp.User) error {
	return m.change(ctx, http.MethodDelete, g, users)
}

func (m Memberships) change(ctx context.Context, method string, g idp.Group, users []idp.User) error {
	return m.API.ChangeMembers(ctx, g, users, m.NotManaged, func(u idp.User) Request {
		return Request{Method: method, Target: m.Path(g.ID, u.ID)}
	}, nil)
}
