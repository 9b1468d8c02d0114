package entra

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/allot-dev/allot/reconciler/idp"
)

// group is the part of a Graph group allot reads.
type group struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Description string `json:"description"`
}

// newGroup is the body that creates a security group.
type newGroup struct {
	DisplayName     string   `json:"displayName"`
	Description     string   `json:"description"`
	MailEnabled     bool     `json:"mailEnabled"`
	MailNickname    string   `json:"mailNickname"`
	SecurityEnabled bool     `json:"securityEnabled"`
	GroupTypes      []string `json:"groupTypes"`
}

// ListGroups pages through the groups whose displayName starts with
// prefix (Graph's startswith ignores case; the result is narrowed to the
// exact prefix) and reads each one's members.
func (p *Provider) ListGroups(ctx context.Context, prefix string) ([]idp.Group, error) {
	q := odata{}
	if prefix != "" {
		q = q.with("$filter", "startswith(displayName,"+literal(prefix)+")")
	}
	q = q.with("$select", "id,displayName,description").with("$top", strconv.Itoa(p.opts.PageSize))
	found, err := pageOf[group](ctx, p, "/v1.0/groups"+q.String())
	if err != nil {
		return nil, fmt.Errorf("list groups %s*: %w", prefix, err)
	}
	var groups []idp.Group
	for _, g := range found {
		if !strings.HasPrefix(g.DisplayName, prefix) {
			continue
		}
		members, err := p.members(ctx, g.ID)
		if err != nil {
			return nil, fmt.Errorf("list members of group %s: %w", g.DisplayName, err)
		}
		groups = append(groups, idp.Group{ID: g.ID, Name: g.DisplayName, Managed: p.marked(g), Members: members})
	}
	return groups, nil
}

// members pages through a group's direct members. Members that are not
// users (groups, service principals, devices) are listed with their ID
// only.
func (p *Provider) members(ctx context.Context, groupID string) ([]idp.User, error) {
	q := odata{}.with("$select", "id,mail").with("$top", strconv.Itoa(p.opts.PageSize))
	objects, err := pageOf[directoryObject](ctx, p, "/v1.0/groups/"+url.PathEscape(groupID)+"/members"+q.String())
	if err != nil {
		return nil, err
	}
	members := make([]idp.User, 0, len(objects))
	for _, o := range objects {
		members = append(members, idp.User{ID: o.ID, Email: o.Mail})
	}
	return members, nil
}

// CreateGroup creates a security group with the marker as its
// description, after checking that no group has the name already (Entra
// would make a second one).
func (p *Provider) CreateGroup(ctx context.Context, name string) (idp.Group, error) {
	if name == "" {
		return idp.Group{}, errors.New("create group: the name is empty")
	}
	q := odata{}.with("$filter", "displayName eq "+literal(name)).with("$select", "id,displayName")
	same, err := pageOf[group](ctx, p, "/v1.0/groups"+q.String())
	if err != nil {
		return idp.Group{}, fmt.Errorf("create group %s: look for one of that name: %w", name, err)
	}
	if len(same) > 0 {
		return idp.Group{}, fmt.Errorf("create group %s: group %s already has this name: %w", name, same[0].ID, idp.ErrConflict)
	}
	in := newGroup{
		DisplayName:     name,
		Description:     p.opts.Marker,
		MailNickname:    mailNickname(name),
		SecurityEnabled: true,
		GroupTypes:      []string{},
	}
	var created group
	if err := p.do(ctx, "POST", "/v1.0/groups", in, &created); err != nil {
		return idp.Group{}, fmt.Errorf("create group %s: %w", name, err)
	}
	if created.ID == "" {
		return idp.Group{}, fmt.Errorf("create group %s: the answer has no group ID", name)
	}
	return idp.Group{ID: created.ID, Name: name, Managed: true}, nil
}

// DeleteGroup deletes a group allot created. Entra keeps it among the
// deleted items for 30 days.
func (p *Provider) DeleteGroup(ctx context.Context, g idp.Group) error {
	if !g.Managed {
		return p.errNotManaged(g.Name)
	}
	if err := p.do(ctx, "DELETE", "/v1.0/groups/"+url.PathEscape(g.ID), nil, nil); err != nil {
		return fmt.Errorf("delete group %s: %w", g.Name, err)
	}
	return nil
}

// marked says whether the group's description is the marker.
func (p *Provider) marked(g group) bool {
	return strings.TrimSpace(g.Description) == p.opts.Marker
}

// mailNickname makes the mailNickname Graph requires of every group from
// its name: at most 64 ASCII characters, none of @()\[]";:<>, or space.
func mailNickname(name string) string {
	var b strings.Builder
	for _, r := range name {
		if b.Len() == 64 {
			break
		}
		if r > ' ' && r < 0x7f && !strings.ContainsRune(`@()\[]";:<>,`, r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 {
		return "allot-group"
	}
	return b.String()
}
