package app

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestRenderYAMLIsAppliableAndCommentsTheRest(t *testing.T) {
	code, out, errOut := run(t, nil, "render", "--repo", examples(t, "requests"), "--chart-cache", chartCache(t), "ledger-vc")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"# environment ledger-vc on cluster dev-us-1",
		"# idp group allot-ledger-vc: dana.kim@acme.example",
		"# import: kubeconfig in Secret ledger-vc/vc-ledger-vc key config",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output has no %q", want)
		}
	}
	docs := strings.Split(out, "\n---\n")
	kinds := map[string]int{}
	for _, d := range docs[1:] {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(d), &obj); err != nil {
			t.Fatalf("document is not YAML: %v\n%s", err, d)
		}
		kinds[obj["kind"].(string)]++
	}
	if kinds["StatefulSet"] != 1 || kinds["Secret"] != 1 || kinds["ClusterRoleBinding"] != 0 {
		t.Errorf("kinds %v: want the vcluster chart's StatefulSet and config Secret, not the inside bundle", kinds)
	}
}

func TestRenderOutWritesOneFilePerPhase(t *testing.T) {
	dir := t.TempDir()
	code, _, errOut := run(t, nil, "render", "--repo", examples(t, "requests"), "--chart-cache", chartCache(t), "--out", dir, "--cluster", "dev-us-1")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, f := range []string{
		"dev-us-1/ledger-vc/01-install.yaml",
		"dev-us-1/ledger-vc/inside/01-install.yaml", "dev-us-1/ledger-vc/bundle.json", "dev-us-1/relevance-vc/bundle.json",
	} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "dev-eu-1")); err == nil {
		t.Error("--cluster dev-us-1 wrote dev-eu-1 too")
	}
	data, err := os.ReadFile(filepath.Join(dir, "dev-us-1/ledger-vc/bundle.json"))
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		Digest string `json:"digest"`
		Import struct {
			Server string `json:"server"`
		} `json:"import"`
	}
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.Digest, "sha256:") || b.Import.Server != "https://ledger-vc.ledger-vc:443" {
		t.Errorf("bundle.json = %s", data)
	}
}

func TestRenderJSONAndUnknownEnvironment(t *testing.T) {
	code, out, _ := run(t, nil, "render", "--repo", examples(t, "requests"), "--chart-cache", chartCache(t), "-o", "json", "payments-ecs")
	if code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	var doc struct{ Bundles []map[string]any }
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Bundles) != 1 || doc.Bundles[0]["environment"] != "payments-ecs" {
		t.Fatalf("json output: %v\n%s", err, out)
	}
	code, _, errOut := run(t, nil, "render", "--repo", examples(t, "requests"), "--chart-cache", chartCache(t), "no-such-env")
	if code == ExitOK || !strings.Contains(errOut, `no environment "no-such-env"`) {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}
