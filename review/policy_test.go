package review

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/allot-dev/allot/schemas"
)

func TestPolicyFromRoutesApprovals(t *testing.T) {
	spec := &schemas.PlatformSpec{Approvers: schemas.Approvers{
		Default: []string{"alice", "acme/platform"},
		Teams:   map[string][]string{"payments": {"@pat", "acme/payments-leads"}},
	}}
	defaults := Approvers{Logins: []string{"alice"}, Teams: []string{"acme/platform"}}
	for _, tc := range []struct {
		name         string
		teams        []string
		requestsOnly bool
		want         Approvers
	}{
		{"one team's requests go to its approvers", []string{"payments"}, true, Approvers{Logins: []string{"pat"}, Teams: []string{"acme/payments-leads"}}},
		{"a team without its own list goes to the default", []string{"web"}, true, defaults},
		{"several teams need a default approver", []string{"payments", "web"}, true, defaults},
		{"a request plus a platform change needs a default approver", []string{"payments"}, false, defaults},
		{"a platform change alone needs a default approver", nil, false, defaults},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := PolicyFrom(spec, tc.teams, tc.requestsOnly).Approvers
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("approvers (-want +got):\n%s", diff)
			}
		})
	}
}
