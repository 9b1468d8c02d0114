package ldap

import (
	"context"
	"errors"
	"fmt"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/allot-dev/allot/reconciler/idp"
)

// fail wraps an error of operation op with the idp error its LDAP result
// code stands for, keeping the *goldap.Error for errors.As. When ctx has
// ended, the connection was closed under the operation, and ctx's error
// is what matters.
func (p *Provider) fail(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", op, ctxErr)
	}
	var ldapErr *goldap.Error
	if !errors.As(err, &ldapErr) {
		return fmt.Errorf("%s: %w", op, err)
	}
	switch ldapErr.ResultCode {
	case goldap.LDAPResultInvalidCredentials,
		goldap.LDAPResultInsufficientAccessRights,
		goldap.LDAPResultInappropriateAuthentication,
		goldap.LDAPResultStrongAuthRequired,
		goldap.LDAPResultConfidentialityRequired:
		return fmt.Errorf("%s: %w: %w", op, idp.ErrUnauthorized, err)
	case goldap.LDAPResultNoSuchObject:
		return fmt.Errorf("%s: %w: %w", op, idp.ErrNotFound, err)
	case goldap.LDAPResultEntryAlreadyExists,
		goldap.LDAPResultAttributeOrValueExists,
		goldap.LDAPResultNoSuchAttribute:
		return fmt.Errorf("%s: %w: %w", op, idp.ErrConflict, err)
	case goldap.LDAPResultBusy:
		return fmt.Errorf("%s: %w (%w)", op, &idp.RateLimitError{RetryAfter: p.opts.BusyRetryAfter}, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// errNotManaged refuses a change to a group without allot's marker.
func (p *Provider) errNotManaged(name string) error {
	return fmt.Errorf("group %s has no description %q, so allot did not create it and does not change it: %w",
		name, p.opts.Marker, idp.ErrConflict)
}
