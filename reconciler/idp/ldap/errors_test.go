package ldap

import (
	"context"
	"errors"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/allot-dev/allot/reconciler/idp"
)

// The result codes slapd cannot be made to return on demand (busy) are
// checked here; the rest are met against a real slapd in provider_test.go.
func TestFailMapsResultCodes(t *testing.T) {
	p := &Provider{opts: Options{BusyRetryAfter: 45 * time.Second}}
	for _, tc := range []struct {
		code uint16
		want error
	}{
		{goldap.LDAPResultInvalidCredentials, idp.ErrUnauthorized},
		{goldap.LDAPResultInsufficientAccessRights, idp.ErrUnauthorized},
		{goldap.LDAPResultConfidentialityRequired, idp.ErrUnauthorized},
		{goldap.LDAPResultNoSuchObject, idp.ErrNotFound},
		{goldap.LDAPResultEntryAlreadyExists, idp.ErrConflict},
		{goldap.LDAPResultAttributeOrValueExists, idp.ErrConflict},
		{goldap.LDAPResultBusy, idp.ErrRateLimited},
	} {
		err := p.fail(context.Background(), "op", goldap.NewError(tc.code, errors.New("server said so")))
		if !errors.Is(err, tc.want) {
			t.Errorf("result code %d: error %v does not wrap %v", tc.code, err, tc.want)
		}
		var ldapErr *goldap.Error
		if !errors.As(err, &ldapErr) || ldapErr.ResultCode != tc.code {
			t.Errorf("result code %d: error %v lost the LDAP error", tc.code, err)
		}
	}
	var rl *idp.RateLimitError
	err := p.fail(context.Background(), "op", goldap.NewError(goldap.LDAPResultBusy, errors.New("busy")))
	if !errors.As(err, &rl) || rl.RetryAfter != 45*time.Second {
		t.Errorf("busy: error = %v, want an *idp.RateLimitError of 45s", err)
	}
}
