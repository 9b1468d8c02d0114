package ldap

import (
	"context"
	"errors"
	"fmt"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/allot-dev/allot/reconciler/idp"
)

// ListGroups lists the groups of the configured class directly under
// GroupsBaseDN whose cn starts with prefix (compared case-sensitively,
// though the server matches case-insensitively), with their members. The
// search is paged.
func (p *Provider) ListGroups(ctx context.Context, prefix string) ([]idp.Group, error) {
	conn, done, err := p.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	filter := fmt.Sprintf("(&(objectClass=%s)(cn=%s*))", p.opts.GroupClass, goldap.EscapeFilter(prefix))
	req := goldap.NewSearchRequest(p.opts.GroupsBaseDN, goldap.ScopeSingleLevel, goldap.NeverDerefAliases,
		0, 0, false, filter, []string{"cn", "description", p.memberAttr}, nil)
	res, err := conn.SearchWithPaging(req, p.opts.PageSize)
	if err != nil {
		return nil, p.fail(ctx, "search groups under "+p.opts.GroupsBaseDN, err)
	}
	users := map[string]idp.User{}
	var groups []idp.Group
	for _, e := range res.Entries {
		name := groupName(e)
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		g := idp.Group{ID: e.DN, Name: name, Managed: p.marked(e)}
		for _, value := range e.GetEqualFoldAttributeValues(p.memberAttr) {
			if isPlaceholder(e.DN, value) {
				continue
			}
			u, err := p.resolve(ctx, conn, users, value)
			if err != nil {
				return nil, err
			}
			g.Members = append(g.Members, u)
		}
		groups = append(groups, g)
	}
	return groups, nil
}

// CreateGroup adds cn=NAME under GroupsBaseDN with the marker as its
// description and the placeholder as its only member.
func (p *Provider) CreateGroup(ctx context.Context, name string) (idp.Group, error) {
	if name == "" {
		return idp.Group{}, errors.New("create group: the name is empty")
	}
	conn, done, err := p.connect(ctx)
	if err != nil {
		return idp.Group{}, err
	}
	defer done()
	dn := p.groupDN(name)
	req := goldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"top", string(p.opts.GroupClass)})
	req.Attribute("cn", []string{name})
	req.Attribute("description", []string{p.opts.Marker})
	req.Attribute(p.memberAttr, []string{dn})
	if err := conn.Add(req); err != nil {
		return idp.Group{}, p.fail(ctx, "create group "+dn, err)
	}
	return idp.Group{ID: dn, Name: name, Managed: true}, nil
}

// DeleteGroup deletes the group's entry after checking, on the entry as
// it is now, that it still carries the marker.
func (p *Provider) DeleteGroup(ctx context.Context, g idp.Group) error {
	if !g.Managed {
		return p.errNotManaged(g.Name)
	}
	conn, done, err := p.connect(ctx)
	if err != nil {
		return err
	}
	defer done()
	if _, err := p.readGroup(ctx, conn, g); err != nil {
		return err
	}
	if err := conn.Del(goldap.NewDelRequest(g.ID, nil)); err != nil {
		return p.fail(ctx, "delete group "+g.ID, err)
	}
	return nil
}

// readGroup reads the group's entry and refuses it when it lacks the
// marker.
func (p *Provider) readGroup(ctx context.Context, conn *goldap.Conn, g idp.Group) (*goldap.Entry, error) {
	req := goldap.NewSearchRequest(g.ID, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, 0, false,
		fmt.Sprintf("(objectClass=%s)", p.opts.GroupClass), []string{"cn", "description", p.memberAttr}, nil)
	res, err := conn.Search(req)
	if err != nil {
		return nil, p.fail(ctx, "read group "+g.ID, err)
	}
	if len(res.Entries) != 1 {
		return nil, fmt.Errorf("read group %s: it is not a %s: %w", g.ID, p.opts.GroupClass, idp.ErrNotFound)
	}
	e := res.Entries[0]
	if !p.marked(e) {
		return nil, p.errNotManaged(g.Name)
	}
	return e, nil
}

// marked says whether one of the entry's descriptions is the marker.
func (p *Provider) marked(e *goldap.Entry) bool {
	for _, d := range e.GetEqualFoldAttributeValues("description") {
		if strings.TrimSpace(d) == p.opts.Marker {
			return true
		}
	}
	return false
}

// groupDN is the DN of the group called name.
func (p *Provider) groupDN(name string) string {
	return "cn=" + goldap.EscapeDN(name) + "," + p.opts.GroupsBaseDN
}

// groupName is the cn of the entry's RDN, which is the group's name even
// when cn has further values.
func groupName(e *goldap.Entry) string {
	dn, err := goldap.ParseDN(e.DN)
	if err == nil && len(dn.RDNs) > 0 {
		for _, a := range dn.RDNs[0].Attributes {
			if strings.EqualFold(a.Type, "cn") {
				return a.Value
			}
		}
	}
	return e.GetEqualFoldAttributeValue("cn")
}
