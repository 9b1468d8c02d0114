package entra

import (
	"context"
	"fmt"
	"strings"

	"github.com/allot-dev/allot/reconciler/idp"
)

// directoryObject is the part of a user (or other member) allot reads.
type directoryObject struct {
	Type string `json:"@odata.type"`
	ID   string `json:"id"`
	Mail string `json:"mail"`
}

// FindUser finds the user whose mail is email. Two or more are an error
// wrapping idp.ErrConflict.
func (p *Provider) FindUser(ctx context.Context, email string) (idp.User, error) {
	q := odata{}.with("$filter", "mail eq "+literal(email)).with("$select", "id,mail")
	users, err := pageOf[directoryObject](ctx, p, "/v1.0/users"+q.String())
	if err != nil {
		return idp.User{}, fmt.Errorf("find user %s: %w", email, err)
	}
	var found []idp.User
	for _, u := range users {
		if strings.EqualFold(u.Mail, email) {
			found = append(found, idp.User{ID: u.ID, Email: u.Mail})
		}
	}
	switch len(found) {
	case 0:
		return idp.User{}, fmt.Errorf("find user %s: %w", email, idp.ErrNotFound)
	case 1:
		return found[0], nil
	}
	return idp.User{}, fmt.Errorf("find user %s: %d users have this mail: %w", email, len(found), idp.ErrConflict)
}
