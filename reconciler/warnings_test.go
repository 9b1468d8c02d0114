package reconciler

import (
	"context"
	"log/slog"
	"strings"
	"testing"
)

// TestKustomizeWarningsAreLoggedWithTheirFile: a deprecated field in a
// kustomization that two environments use is logged once, with the file
// that has it.
func TestKustomizeWarningsAreLoggedWithTheirFile(t *testing.T) {
	f := newFixture(t, "a")
	var logs strings.Builder
	f.r.Log = slog.New(slog.NewTextHandler(&logs, nil))
	f.src.write(t, "addons/shared/kustomization.yaml", "resources: [config.yaml]\ncommonLabels: {tier: web}\n")
	f.src.write(t, "addons/shared/config.yaml", configMap("settings", "v", ""))
	for _, env := range []string{"one", "two"} {
		f.src.write(t, "environments/web/"+env+".yaml", request(env, "a", "  addons: [{name: shared, kustomize: {path: addons/shared}}]\n"))
	}
	if _, err := f.r.prepare(context.Background(), &Kept{}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Count(logs.String(), "'commonLabels' is deprecated")
	if lines != 1 || !strings.Contains(logs.String(), "file=addons/shared/kustomization.yaml") {
		t.Errorf("%d warnings, want one naming the file:\n%s", lines, logs.String())
	}
}
