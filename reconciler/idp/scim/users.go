package scim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/allot-dev/allot/reconciler/idp"
)

// user is the part of a SCIM User resource allot reads.
type user struct {
	ID       string `json:"id"`
	UserName string `json:"userName"`
	Emails   []struct {
		Value   string `json:"value"`
		Primary bool   `json:"primary"`
	} `json:"emails"`
}

// email is the address allot knows the user by: the user name when it is
// an e-mail (as FindUser looks first), else the primary e-mail, else the
// first.
func (u user) email() string {
	if strings.Contains(u.UserName, "@") {
		return strings.ToLower(u.UserName)
	}
	for _, e := range u.Emails {
		if e.Primary {
			return strings.ToLower(e.Value)
		}
	}
	if len(u.Emails) > 0 {
		return strings.ToLower(u.Emails[0].Value)
	}
	return ""
}

// listResponse is a SCIM ListResponse (RFC 7644 section 3.4.2).
type listResponse[T any] struct {
	TotalResults int `json:"totalResults"`
	StartIndex   int `json:"startIndex"`
	ItemsPerPage int `json:"itemsPerPage"`
	Resources    []T `json:"Resources"`
}

// FindUser finds the user with this e-mail: by userName, then by
// emails.value. An error wrapping idp.ErrNotFound when there is none.
func (p *Provider) FindUser(ctx context.Context, email string) (idp.User, error) {
	for _, attr := range []string{"userName", "emails.value"} {
		q := url.Values{"filter": {attr + " eq " + literal(email)}, "count": {"2"}}
		var lr listResponse[user]
		err := p.do(ctx, http.MethodGet, "/Users", q, nil, &lr)
		if attr == "emails.value" && badRequest(err) {
			// The server does not filter on e-mails; userName was the
			// only way to find the user.
			break
		}
		if err != nil {
			return idp.User{}, fmt.Errorf("find user %s: %w", email, err)
		}
		switch n := max(len(lr.Resources), lr.TotalResults); {
		case n == 0:
			continue
		case n > 1 || len(lr.Resources) != 1:
			return idp.User{}, fmt.Errorf("find user %s: %d users have this %s; make it unique in the identity provider", email, n, attr)
		}
		if lr.Resources[0].ID == "" {
			return idp.User{}, fmt.Errorf("find user %s: the server answered a user without an id", email)
		}
		return idp.User{ID: lr.Resources[0].ID, Email: email}, nil
	}
	return idp.User{}, fmt.Errorf("find user %s: %w", email, idp.ErrNotFound)
}

// memberEmail is the e-mail of the user with this ID, read once and then
// remembered; empty when the user is gone.
func (p *Provider) memberEmail(ctx context.Context, id string) (string, error) {
	p.mu.Lock()
	email, ok := p.emails[id]
	p.mu.Unlock()
	if ok {
		return email, nil
	}
	var u user
	err := p.do(ctx, http.MethodGet, "/Users/"+url.PathEscape(id), nil, nil, &u)
	if errors.Is(err, idp.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read member %s: %w", id, err)
	}
	email = u.email()
	p.mu.Lock()
	if p.emails == nil {
		p.emails = map[string]string{}
	}
	p.emails[id] = email
	p.mu.Unlock()
	return email, nil
}
