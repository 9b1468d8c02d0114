package keycloak

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/allot-dev/allot/reconciler/idp"
)

// groupRep is the part of Keycloak's GroupRepresentation allot reads and
// writes.
type groupRep struct {
	ID         string              `json:"id,omitempty"`
	Name       string              `json:"name"`
	Attributes map[string][]string `json:"attributes,omitempty"`
}

// ListGroups pages through the top-level groups Keycloak's search (a
// case-insensitive substring match) finds for prefix, keeps those whose
// name starts with prefix, and reads each one's members.
func (p *Provider) ListGroups(ctx context.Context, prefix string) ([]idp.Group, error) {
	var groups []idp.Group
	for first := 0; ; first += p.opts.PageSize {
		q := url.Values{
			"first":               {strconv.Itoa(first)},
			"max":                 {strconv.Itoa(p.opts.PageSize)},
			"briefRepresentation": {"false"},
		}
		if prefix != "" {
			q.Set("search", prefix)
		}
		var page []groupRep
		if _, err := p.do(ctx, "GET", "/groups", q, nil, &page); err != nil {
			return nil, fmt.Errorf("list groups %s*: %w", prefix, err)
		}
		for _, g := range page {
			if strings.HasPrefix(g.Name, prefix) {
				groups = append(groups, idp.Group{ID: g.ID, Name: g.Name, Managed: p.marked(g)})
			}
		}
		if len(page) < p.opts.PageSize {
			break
		}
	}
	for i := range groups {
		members, err := p.members(ctx, groups[i].ID)
		if err != nil {
			return nil, fmt.Errorf("list members of group %s: %w", groups[i].Name, err)
		}
		groups[i].Members = members
	}
	return groups, nil
}

// members pages through a group's direct members.
func (p *Provider) members(ctx context.Context, groupID string) ([]idp.User, error) {
	var members []idp.User
	for first := 0; ; first += p.opts.PageSize {
		q := url.Values{
			"first":               {strconv.Itoa(first)},
			"max":                 {strconv.Itoa(p.opts.PageSize)},
			"briefRepresentation": {"true"},
		}
		var page []userRep
		if _, err := p.do(ctx, "GET", "/groups/"+url.PathEscape(groupID)+"/members", q, nil, &page); err != nil {
			return nil, err
		}
		for _, u := range page {
			members = append(members, idp.User{ID: u.ID, Email: u.Email})
		}
		if len(page) < p.opts.PageSize {
			return members, nil
		}
	}
}

// CreateGroup creates a top-level group with the marker attribute. A
// group of that name already there is an error wrapping idp.ErrConflict.
func (p *Provider) CreateGroup(ctx context.Context, name string) (idp.Group, error) {
	if name == "" {
		return idp.Group{}, errors.New("create group: the name is empty")
	}
	rep := groupRep{Name: name, Attributes: map[string][]string{p.opts.MarkerAttribute: {p.opts.MarkerValue}}}
	h, err := p.do(ctx, "POST", "/groups", nil, rep, nil)
	if err != nil {
		return idp.Group{}, fmt.Errorf("create group %s: %w", name, err)
	}
	// Keycloak answers 201 with the new group's URL and no body.
	loc, err := url.Parse(h.Get("Location"))
	if err != nil || loc.Path == "" {
		return idp.Group{}, fmt.Errorf("create group %s: the answer has no Location of the new group", name)
	}
	return idp.Group{ID: path.Base(loc.Path), Name: name, Managed: true}, nil
}

// DeleteGroup deletes a group allot created.
func (p *Provider) DeleteGroup(ctx context.Context, g idp.Group) error {
	if !g.Managed {
		return p.errNotManaged(g.Name)
	}
	if _, err := p.do(ctx, "DELETE", "/groups/"+url.PathEscape(g.ID), nil, nil, nil); err != nil {
		return fmt.Errorf("delete group %s: %w", g.Name, err)
	}
	return nil
}

// marked says whether the group carries allot's marker attribute.
func (p *Provider) marked(g groupRep) bool {
	return slices.Contains(g.Attributes[p.opts.MarkerAttribute], p.opts.MarkerValue)
}
