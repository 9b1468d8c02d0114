package keycloak

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/allot-dev/allot/reconciler/idp"
)

// userRep is the part of Keycloak's UserRepresentation allot reads.
type userRep struct {
	ID    string `json:"id"`
	Email string `json:"email"`
}

// FindUser finds the user whose e-mail is email (exact search). Two or
// more, possible when the realm allows duplicate e-mails, are an error
// wrapping idp.ErrConflict.
func (p *Provider) FindUser(ctx context.Context, email string) (idp.User, error) {
	var users []userRep
	q := url.Values{"email": {email}, "exact": {"true"}, "briefRepresentation": {"true"}}
	if _, err := p.do(ctx, "GET", "/users", q, nil, &users); err != nil {
		return idp.User{}, fmt.Errorf("find user %s: %w", email, err)
	}
	var found []idp.User
	for _, u := range users {
		if strings.EqualFold(u.Email, email) {
			found = append(found, idp.User{ID: u.ID, Email: u.Email})
		}
	}
	switch len(found) {
	case 0:
		return idp.User{}, fmt.Errorf("find user %s in realm %s: %w", email, p.opts.Realm, idp.ErrNotFound)
	case 1:
		return found[0], nil
	}
	return idp.User{}, fmt.Errorf("find user %s: %d users in realm %s have this e-mail: %w",
		email, len(found), p.opts.Realm, idp.ErrConflict)
}
