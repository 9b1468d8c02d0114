package idp

import (
	"context"
	"fmt"

	"github.com/allot-dev/allot/renderer"
)

// GroupChange is what a pass would do to one group.
type GroupChange struct {
	Group string `json:"group"`
	// Action is create, update or delete.
	Action string   `json:"action"`
	Add    []string `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
}

// Verb says the change in the future tense, as a plan speaks: would
// create, would change, would delete.
func (g GroupChange) Verb() string {
	if g.Action == "update" {
		return "would change"
	}
	return "would " + g.Action
}

// PlanGroups works out what SyncGroups would change, without changing
// anything: groups to create, members to add and remove, groups to delete,
// and the problems (foreign groups, unknown users, a held mass removal).
func (s *Syncer) PlanGroups(ctx context.Context, want []renderer.Group) ([]GroupChange, []error, error) {
	if s.Provider == nil || s.State == nil {
		return nil, nil, fmt.Errorf("idp syncer: Provider and State must be set")
	}
	record, err := s.State.Load(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("load the record of IdP members allot added: %w", err)
	}
	existing, err := Retrying(ctx, s.Retry, func(ctx context.Context) ([]Group, error) {
		return s.Provider.ListGroups(ctx, s.Prefix)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list the IdP groups named %s*: %w", s.Prefix, err)
	}
	p := s.plan(ctx, want, existing, newRecord(record))
	var out []GroupChange
	for _, gp := range p.groups {
		c := GroupChange{Group: gp.name, Action: "update"}
		if gp.group == nil {
			c.Action = "create"
		}
		for _, u := range gp.add {
			c.Add = append(c.Add, userLabel(u))
		}
		for _, u := range gp.remove {
			c.Remove = append(c.Remove, userLabel(u))
		}
		if c.Action == "create" || len(c.Add) > 0 || len(c.Remove) > 0 {
			out = append(out, c)
		}
	}
	for _, g := range p.deletes {
		c := GroupChange{Group: g.Name, Action: "delete"}
		for _, u := range g.Members {
			c.Remove = append(c.Remove, userLabel(u))
		}
		out = append(out, c)
	}
	return out, p.errs, nil
}

func userLabel(u User) string {
	if u.Email != "" {
		return u.Email
	}
	return u.ID
}
