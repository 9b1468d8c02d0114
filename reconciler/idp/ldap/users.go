package ldap

import (
	"context"
	"fmt"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/allot-dev/allot/reconciler/idp"
)

// FindUser finds the one entry under UsersBaseDN whose mail is email. Two
// or more are an error wrapping idp.ErrConflict, since allot cannot tell
// which person is meant.
func (p *Provider) FindUser(ctx context.Context, email string) (idp.User, error) {
	conn, done, err := p.connect(ctx)
	if err != nil {
		return idp.User{}, err
	}
	defer done()
	req := goldap.NewSearchRequest(p.opts.UsersBaseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
		2, 0, false, "(mail="+goldap.EscapeFilter(email)+")", []string{"mail"}, nil)
	res, err := conn.Search(req)
	switch {
	case goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) || (err == nil && len(res.Entries) > 1):
		return idp.User{}, fmt.Errorf("find user %s: more than one entry under %s has this mail: %w",
			email, p.opts.UsersBaseDN, idp.ErrConflict)
	case err != nil:
		return idp.User{}, p.fail(ctx, "find user "+email, err)
	case len(res.Entries) == 0:
		return idp.User{}, fmt.Errorf("find user %s under %s: %w", email, p.opts.UsersBaseDN, idp.ErrNotFound)
	}
	e := res.Entries[0]
	u := idp.User{ID: e.DN, Email: email}
	for _, mail := range e.GetEqualFoldAttributeValues("mail") {
		if strings.EqualFold(mail, email) {
			u.Email = mail
		}
	}
	return u, nil
}
