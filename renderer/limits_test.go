package renderer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/allot-dev/allot/renderer/sources"
)

// TestBundleLimitsFromPolicy renders a request whose add-on holds 30
// ConfigMaps under the limits allot.yaml's policy.bundles sets.
func TestBundleLimitsFromPolicy(t *testing.T) {
	var docs strings.Builder
	for i := range 30 {
		fmt.Fprintf(&docs, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c%d}\ndata: {k: %s}\n", i, strings.Repeat("v", 100))
	}
	tests := []struct {
		name   string
		policy string
		want   []string
	}{
		{name: "the defaults leave room for a development environment", policy: ""},
		{
			name:   "maxObjects lower than the bundle refuses it and says how to raise it",
			policy: "    bundles: {maxObjects: 20}\n",
			want:   []string{"environments/shop/many.yaml", `add-on "many"`, "renders more than 20 objects", "raise policy.bundles.maxObjects in allot.yaml"},
		},
		{
			name:   "maxBytes lower than the bundle refuses it and says how to raise it",
			policy: "    bundles: {maxBytes: 2Ki}\n",
			want:   []string{"environments/shop/many.yaml", `add-on "many"`, "renders more than 2048 bytes", "raise policy.bundles.maxBytes in allot.yaml"},
		},
		{name: "raised limits admit more", policy: "    bundles: {maxObjects: 5000, maxBytes: 64Mi}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeRepo(t, map[string]string{
				"allot.yaml":                  benchPlatform + "  policy:\n" + cmp.Or(tt.policy, "    maxTTL: 90d\n"),
				"environments/shop/many.yaml": "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: many}\nspec:\n  type: namespace\n  owner: dev@example.com\n  team: shop\n  cluster: dev\n  addons:\n    - {name: many, manifests: {path: addons/many}}\n",
				"addons/many/cms.yaml":        docs.String(),
			})
			r := newRenderer(t, dir)
			targets, errs := r.Targets()
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			b, err := r.Render(context.Background(), targets[0])
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if b.Count() < 30 {
					t.Errorf("bundle has %d objects, want the 30 ConfigMaps and the template's", b.Count())
				}
				return
			}
			if err == nil {
				t.Fatal("rendered, want the limit refused")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if !errors.Is(err, sources.ErrLimitExceeded) {
				t.Errorf("error %q is not ErrLimitExceeded", err)
			}
		})
	}
}
