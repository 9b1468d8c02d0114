package okta

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/allot-dev/allot/reconciler/idp"
)

// user is the part of Okta's User object allot reads.
type user struct {
	ID      string `json:"id"`
	Profile struct {
		Email string `json:"email"`
	} `json:"profile"`
}

// FindUser finds the user whose profile.email is email. Two or more are
// an error wrapping idp.ErrConflict.
func (p *Provider) FindUser(ctx context.Context, email string) (idp.User, error) {
	q := url.Values{"search": {"profile.email eq " + searchValue(email)}}
	users, err := pageOf[user](ctx, p, "/api/v1/users?"+q.Encode())
	if err != nil {
		return idp.User{}, fmt.Errorf("find user %s: %w", email, err)
	}
	var found []idp.User
	for _, u := range users {
		if strings.EqualFold(u.Profile.Email, email) {
			found = append(found, idp.User{ID: u.ID, Email: u.Profile.Email})
		}
	}
	switch len(found) {
	case 0:
		return idp.User{}, fmt.Errorf("find user %s: %w", email, idp.ErrNotFound)
	case 1:
		return found[0], nil
	}
	return idp.User{}, fmt.Errorf("find user %s: %d users have this e-mail: %w", email, len(found), idp.ErrConflict)
}
