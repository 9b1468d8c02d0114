package scim

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/allot-dev/allot/reconciler/idp"
)

// maxPages bounds a listing, so a server that never reaches totalResults
// cannot keep allot paging for ever.
const maxPages = 10000

// group is the part of a SCIM Group resource allot reads.
type group struct {
	ID          string   `json:"id"`
	DisplayName string   `json:"displayName"`
	ExternalID  string   `json:"externalId,omitempty"`
	Members     []member `json:"members,omitempty"`
}

type member struct {
	Value string `json:"value"`
	// Type is "User" or "Group"; nested groups are not users.
	Type string `json:"type,omitempty"`
}

// patchOp is a SCIM PATCH request (RFC 7644 section 3.5.2).
type patchOp struct {
	Schemas    []string    `json:"schemas"`
	Operations []operation `json:"Operations"`
}

type operation struct {
	Op    string   `json:"op"`
	Path  string   `json:"path"`
	Value []member `json:"value,omitempty"`
}

// marker is the externalId that marks a group as allot's.
func marker(name string) string { return MarkerPrefix + name }

func (g group) idp() idp.Group {
	return idp.Group{ID: g.ID, Name: g.DisplayName, Managed: g.ExternalID == marker(g.DisplayName)}
}

// ListGroups lists the groups whose displayName starts with prefix, page by
// page, with their user members and the members' e-mails.
func (p *Provider) ListGroups(ctx context.Context, prefix string) ([]idp.Group, error) {
	q := url.Values{}
	if prefix != "" {
		q.Set("filter", "displayName sw "+literal(prefix))
	}
	var found []group
	seen := map[string]bool{}
	start := 1
	for page := 0; ; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("list groups %s*: still not at the end after %d pages", prefix, maxPages)
		}
		q.Set("startIndex", strconv.Itoa(start))
		q.Set("count", strconv.Itoa(p.pageSize()))
		var lr listResponse[group]
		if err := p.do(ctx, http.MethodGet, "/Groups", q, nil, &lr); err != nil {
			return nil, fmt.Errorf("list groups %s*: %w", prefix, err)
		}
		for _, g := range lr.Resources {
			// The server's sw may ignore case; allot's names are exact.
			if g.ID != "" && !seen[g.ID] && strings.HasPrefix(g.DisplayName, prefix) {
				seen[g.ID] = true
				found = append(found, g)
			}
		}
		start += len(lr.Resources)
		if len(lr.Resources) == 0 || start > lr.TotalResults {
			break
		}
	}
	out := make([]idp.Group, 0, len(found))
	for _, g := range found {
		ig := g.idp()
		for _, m := range g.Members {
			if m.Type != "" && m.Type != "User" {
				continue
			}
			email, err := p.memberEmail(ctx, m.Value)
			if err != nil {
				return nil, fmt.Errorf("list groups %s*: group %s: %w", prefix, g.DisplayName, err)
			}
			ig.Members = append(ig.Members, idp.User{ID: m.Value, Email: email})
		}
		out = append(out, ig)
	}
	return out, nil
}

// CreateGroup creates an empty group with allot's marker as externalId.
// A group of that name already there is an error wrapping idp.ErrConflict
// on servers that keep names unique.
func (p *Provider) CreateGroup(ctx context.Context, name string) (idp.Group, error) {
	body := map[string]any{
		"schemas":     []string{schemaGroup},
		"displayName": name,
		"externalId":  marker(name),
		"members":     []member{},
	}
	var g group
	if err := p.do(ctx, http.MethodPost, "/Groups", nil, body, &g); err != nil {
		return idp.Group{}, fmt.Errorf("create group %s: %w", name, err)
	}
	if g.ID == "" {
		return idp.Group{}, fmt.Errorf("create group %s: the server answered a group without an id", name)
	}
	created := g.idp()
	if !created.Managed {
		// Without the marker allot would take its own group for someone
		// else's next time; take it back out.
		_ = p.do(ctx, http.MethodDelete, "/Groups/"+url.PathEscape(g.ID), nil, nil, nil)
		return idp.Group{}, fmt.Errorf("create group %s: the server did not keep externalId %q, which is how allot marks its groups; this SCIM server cannot be used", name, marker(name))
	}
	return created, nil
}

// AddMembers adds users to a group allot created; adding a member again is
// not an error.
func (p *Provider) AddMembers(ctx context.Context, g idp.Group, users []idp.User) error {
	if err := managed(g); err != nil {
		return err
	}
	for chunk := range slices.Chunk(users, p.membersPerPatch()) {
		values := make([]member, len(chunk))
		for i, u := range chunk {
			values[i] = member{Value: u.ID}
		}
		op := patchOp{Schemas: []string{schemaPatchOp}, Operations: []operation{{Op: "add", Path: "members", Value: values}}}
		if err := p.do(ctx, http.MethodPatch, "/Groups/"+url.PathEscape(g.ID), nil, op, nil); err != nil {
			return fmt.Errorf("add members to group %s: %w", g.Name, err)
		}
	}
	return nil
}

// RemoveMembers removes users from a group allot created; removing someone
// who is not a member is not an error.
func (p *Provider) RemoveMembers(ctx context.Context, g idp.Group, users []idp.User) error {
	if err := managed(g); err != nil {
		return err
	}
	for chunk := range slices.Chunk(users, p.membersPerPatch()) {
		op := patchOp{Schemas: []string{schemaPatchOp}}
		for _, u := range chunk {
			op.Operations = append(op.Operations, operation{Op: "remove", Path: "members[value eq " + literal(u.ID) + "]"})
		}
		if err := p.do(ctx, http.MethodPatch, "/Groups/"+url.PathEscape(g.ID), nil, op, nil); err != nil {
			return fmt.Errorf("remove members from group %s: %w", g.Name, err)
		}
	}
	return nil
}

// DeleteGroup deletes a group allot created; an error wrapping
// idp.ErrNotFound when it is gone already.
func (p *Provider) DeleteGroup(ctx context.Context, g idp.Group) error {
	if err := managed(g); err != nil {
		return err
	}
	if err := p.do(ctx, http.MethodDelete, "/Groups/"+url.PathEscape(g.ID), nil, nil, nil); err != nil {
		return fmt.Errorf("delete group %s: %w", g.Name, err)
	}
	return nil
}

// managed refuses a group without allot's marker, whatever the caller
// meant: the last line of allot's promise to leave other groups alone.
func managed(g idp.Group) error {
	if g.ID == "" {
		return fmt.Errorf("group %s: no id", g.Name)
	}
	if !g.Managed {
		return fmt.Errorf("group %s: %w", g.Name, idp.ErrForeignGroup)
	}
	return nil
}
