// Package idp keeps the identity provider's groups in step with the
// environments: every environment gets a group, named with a prefix, holding
// its owner and members. Backends (scim, ldap, keycloak, okta, entra) live in
// sub-packages and implement Provider; Syncer implements the reconciler's
// GroupSyncer on top of any of them with allot's ownership rules and guards.
package idp

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// User is a person in the identity provider.
type User struct {
	// ID is the provider's identifier (SCIM id, LDAP DN, Okta id...).
	ID    string
	Email string
}

// Group is a group in the identity provider.
type Group struct {
	ID   string
	Name string
	// Managed is true when the group carries allot's marker (a description,
	// attribute or externalId, depending on the backend). allot never
	// changes a group without it.
	Managed bool
	Members []User
}

// Provider knows how to read and change groups in one identity provider.
// Every call is safe to retry.
type Provider interface {
	// FindUser finds a user by e-mail; an error wrapping ErrNotFound when
	// there is none.
	FindUser(ctx context.Context, email string) (User, error)
	// ListGroups lists the groups whose name starts with prefix, with their
	// members, managed or not.
	ListGroups(ctx context.Context, prefix string) ([]Group, error)
	// CreateGroup creates an empty group carrying allot's marker.
	CreateGroup(ctx context.Context, name string) (Group, error)
	// AddMembers adds users to a group.
	AddMembers(ctx context.Context, g Group, users []User) error
	// RemoveMembers removes users from a group.
	RemoveMembers(ctx context.Context, g Group, users []User) error
	// DeleteGroup deletes a group.
	DeleteGroup(ctx context.Context, g Group) error
}

// Errors every backend returns, wrapped, so that callers can tell them
// apart with errors.Is.
var (
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("conflict")
	ErrUnauthorized = errors.New("unauthorized")
	ErrRateLimited  = errors.New("rate limited")
)

// RateLimitError is returned on HTTP 429 (or a backend's equivalent); it
// wraps ErrRateLimited and says how long to wait.
type RateLimitError struct {
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("rate limited; retry after %s", e.RetryAfter)
}

// Unwrap makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Unwrap() error { return ErrRateLimited }
