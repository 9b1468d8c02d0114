package validate

import (
	"fmt"
	"testing"
)

// TestNamespaceLabelsCannotOptOutOfThePlatform: a request may label its
// namespace, but not with the keys that set Pod Security levels or other
// Kubernetes behaviour, nor allot's own.
func TestNamespaceLabelsCannotOptOutOfThePlatform(t *testing.T) {
	tail := "  expires: 7d\n  cluster: eu\n  values:\n    labels:\n"
	t.Run("accepts an ordinary label", func(t *testing.T) {
		expect(t, check(t, "", tail+"      cost-center: \"42\"\n", nil))
	})
	for _, key := range []string{
		"pod-security.kubernetes.io/enforce",
		"pod-security.kubernetes.io/warn",
		"kubernetes.io/metadata.name",
		"node-restriction.kubernetes.io/x",
		"example.k8s.io/x",
		"allot.dev/team",
		"allot.dev/environment",
	} {
		t.Run("refuses "+key, func(t *testing.T) {
			expect(t, check(t, "", tail+"      "+key+": privileged\n", nil), "values.labels")
		})
	}
}

// TestPerOwnerLimitSeesThroughPlusAddressing: jane+2@ reaches jane's
// mailbox, so it counts as jane.
func TestPerOwnerLimitSeesThroughPlusAddressing(t *testing.T) {
	limited := platform + "    maxEnvironmentsPerOwner: 1\n"
	extra := map[string]string{}
	for i, owner := range []string{"jane+2@acme.example", "JANE+dev@acme.example"} {
		extra[fmt.Sprintf("environments/web/more%d.yaml", i)] = fmt.Sprintf("apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: more%d\nspec:\n  type: namespace\n  owner: %s\n  team: web\n  expires: 7d\n  cluster: eu\n", i, owner)
	}
	got := check(t, limited, "  expires: 7d\n  cluster: eu\n", extra)
	expect(t, got, "already has 1 environments", "already has 1 environments")
}

func TestOwnerKey(t *testing.T) {
	for in, want := range map[string]string{
		"jane@acme.example":     "jane@acme.example",
		" Jane+2@Acme.Example ": "jane@acme.example",
		"jane+a+b@acme.example": "jane@acme.example",
		"not-an-address":        "not-an-address",
		"+leading@acme.example": "@acme.example",
	} {
		if got := OwnerKey(in); got != want {
			t.Errorf("OwnerKey(%q) = %q, want %q", in, got, want)
		}
	}
}
