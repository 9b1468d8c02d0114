package okta

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/allot-dev/allot/reconciler/idp"
)

// group is the part of Okta's Group object allot reads and writes.
type group struct {
	ID      string       `json:"id,omitempty"`
	Type    string       `json:"type,omitempty"`
	Profile groupProfile `json:"profile"`
}

type groupProfile struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// ListGroups pages through the groups whose name starts with prefix
// (Okta's sw ignores case; the result is narrowed to the exact prefix)
// and reads each one's members.
func (p *Provider) ListGroups(ctx context.Context, prefix string) ([]idp.Group, error) {
	q := url.Values{"limit": {strconv.Itoa(p.opts.PageSize)}}
	if prefix != "" {
		q.Set("search", "profile.name sw "+searchValue(prefix))
	}
	found, err := pageOf[group](ctx, p, "/api/v1/groups?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("list groups %s*: %w", prefix, err)
	}
	var groups []idp.Group
	for _, g := range found {
		if !strings.HasPrefix(g.Profile.Name, prefix) {
			continue
		}
		members, err := p.members(ctx, g.ID)
		if err != nil {
			return nil, fmt.Errorf("list members of group %s: %w", g.Profile.Name, err)
		}
		groups = append(groups, idp.Group{ID: g.ID, Name: g.Profile.Name, Managed: p.marked(g), Members: members})
	}
	return groups, nil
}

// members pages through a group's members.
func (p *Provider) members(ctx context.Context, groupID string) ([]idp.User, error) {
	q := url.Values{"limit": {strconv.Itoa(p.opts.PageSize)}}
	users, err := pageOf[user](ctx, p, "/api/v1/groups/"+url.PathEscape(groupID)+"/users?"+q.Encode())
	if err != nil {
		return nil, err
	}
	members := make([]idp.User, 0, len(users))
	for _, u := range users {
		members = append(members, idp.User{ID: u.ID, Email: u.Profile.Email})
	}
	return members, nil
}

// CreateGroup creates an OKTA_GROUP with the marker as its description. A
// taken name is an error wrapping idp.ErrConflict.
func (p *Provider) CreateGroup(ctx context.Context, name string) (idp.Group, error) {
	if name == "" {
		return idp.Group{}, errors.New("create group: the name is empty")
	}
	var created group
	in := group{Profile: groupProfile{Name: name, Description: p.opts.Marker}}
	if _, err := p.do(ctx, "POST", "/api/v1/groups", in, &created); err != nil {
		return idp.Group{}, fmt.Errorf("create group %s: %w", name, err)
	}
	if created.ID == "" {
		return idp.Group{}, fmt.Errorf("create group %s: the answer has no group ID", name)
	}
	return idp.Group{ID: created.ID, Name: created.Profile.Name, Managed: p.marked(created)}, nil
}

// DeleteGroup deletes a group allot created.
func (p *Provider) DeleteGroup(ctx context.Context, g idp.Group) error {
	if !g.Managed {
		return p.errNotManaged(g.Name)
	}
	if _, err := p.do(ctx, "DELETE", "/api/v1/groups/"+url.PathEscape(g.ID), nil, nil); err != nil {
		return fmt.Errorf("delete group %s: %w", g.Name, err)
	}
	return nil
}

// marked says whether g is an OKTA_GROUP whose description is the marker.
func (p *Provider) marked(g group) bool {
	return g.Type == OktaGroup && strings.TrimSpace(g.Profile.Description) == p.opts.Marker
}
