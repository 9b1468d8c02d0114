package ldap

import (
	"context"
	"fmt"
	"regexp"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/allot-dev/allot/reconciler/idp"
)

// AddMembers adds the users (whose IDs are DNs) to the group in one
// modify operation that also drops the placeholder. Users already in the
// group are left as they are.
func (p *Provider) AddMembers(ctx context.Context, g idp.Group, users []idp.User) error {
	return p.changeMembers(ctx, g, users, true)
}

// RemoveMembers removes the users from the group in one modify operation
// that puts the placeholder back when nobody is left. Users not in the
// group are ignored.
func (p *Provider) RemoveMembers(ctx context.Context, g idp.Group, users []idp.User) error {
	return p.changeMembers(ctx, g, users, false)
}

// changeMembers reads the group as it is now, works out the values to add
// or delete, and writes them in a single modify, so the group always
// keeps at least one member value as its object class requires.
func (p *Provider) changeMembers(ctx context.Context, g idp.Group, users []idp.User, add bool) error {
	if len(users) == 0 {
		return nil
	}
	if !g.Managed {
		return p.errNotManaged(g.Name)
	}
	wanted := make([]*goldap.DN, 0, len(users))
	for _, u := range users {
		dn, err := goldap.ParseDN(u.ID)
		if err != nil {
			return fmt.Errorf("user %s: ID %q is not a DN: %w", u.Email, u.ID, err)
		}
		wanted = append(wanted, dn)
	}
	conn, done, err := p.connect(ctx)
	if err != nil {
		return err
	}
	defer done()
	entry, err := p.readGroup(ctx, conn, g)
	if err != nil {
		return err
	}
	var (
		placeholder  string       // the placeholder's value, when present
		present      []string     // the real members' values
		presentNames []*goldap.DN // the same, parsed
		change       []string     // values to add or delete
		changeNames  []*goldap.DN // the same, parsed
		req          = goldap.NewModifyRequest(g.ID, nil)
	)
	for _, value := range entry.GetEqualFoldAttributeValues(p.memberAttr) {
		if isPlaceholder(entry.DN, value) {
			placeholder = value
			continue
		}
		present = append(present, value)
		presentNames = append(presentNames, parseMember(value))
	}
	if add {
		for i, dn := range wanted {
			if !containsDN(presentNames, dn) && !containsDN(changeNames, dn) {
				change = append(change, users[i].ID)
				changeNames = append(changeNames, dn)
			}
		}
		if len(change) == 0 {
			return nil
		}
		req.Add(p.memberAttr, change)
		if placeholder != "" {
			req.Delete(p.memberAttr, []string{placeholder})
		}
	} else {
		for i, dn := range presentNames {
			if containsDN(wanted, dn) {
				change = append(change, present[i])
			}
		}
		if len(change) == 0 {
			return nil
		}
		if len(change) == len(present) && placeholder == "" {
			req.Add(p.memberAttr, []string{entry.DN})
		}
		req.Delete(p.memberAttr, change)
	}
	if err := conn.Modify(req); err != nil {
		return p.fail(ctx, "change the members of group "+g.ID, err)
	}
	return nil
}

// resolve turns a member value into a user, reading the entry's DN as the
// server writes it and its mail, and remembering both in seen. A value
// that names no entry becomes a user with only an ID.
func (p *Provider) resolve(ctx context.Context, conn *goldap.Conn, seen map[string]idp.User, value string) (idp.User, error) {
	dn := memberDN(value)
	if u, ok := seen[dn]; ok {
		return u, nil
	}
	req := goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{"mail"}, nil)
	res, err := conn.Search(req)
	u := idp.User{ID: dn}
	switch {
	case goldap.IsErrorAnyOf(err, goldap.LDAPResultNoSuchObject, goldap.LDAPResultInvalidDNSyntax):
	case err != nil:
		return idp.User{}, p.fail(ctx, "read member "+dn, err)
	case len(res.Entries) == 1:
		u = idp.User{ID: res.Entries[0].DN, Email: res.Entries[0].GetEqualFoldAttributeValue("mail")}
	}
	seen[dn] = u
	return u, nil
}

// uniqueID is the optional "#'0101'B" unique identifier a uniqueMember
// value (nameAndOptionalUID syntax) may end with.
var uniqueID = regexp.MustCompile(`#'[01]*'B$`)

// memberDN is the DN part of a member or uniqueMember value.
func memberDN(value string) string {
	return uniqueID.ReplaceAllString(value, "")
}

// parseMember parses a member value's DN; a value that is no DN parses as
// nil and matches nothing.
func parseMember(value string) *goldap.DN {
	dn, err := goldap.ParseDN(memberDN(value))
	if err != nil {
		return nil
	}
	return dn
}

// isPlaceholder says whether a member value of the group at groupDN is
// the placeholder, the group's own DN.
func isPlaceholder(groupDN, value string) bool {
	group, err := goldap.ParseDN(groupDN)
	member := parseMember(value)
	return err == nil && member != nil && group.EqualFold(member)
}

// containsDN says whether list holds dn, comparing without case; a nil
// dn (a value that was no DN) is in no list.
func containsDN(list []*goldap.DN, dn *goldap.DN) bool {
	if dn == nil {
		return false
	}
	for _, d := range list {
		if d != nil && d.EqualFold(dn) {
			return true
		}
	}
	return false
}
