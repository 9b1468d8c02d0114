package app

import (
	"bufio"
	"encoding/json"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// deprecatedKustomization copies the example requests and gives checkout-dev's
// kustomization a deprecated field, which kustomize warns of on stderr.
func deprecatedKustomization(t *testing.T) string {
	t.Helper()
	repo := t.TempDir()
	copyDir(t, examples(t, "requests"), repo)
	k := filepath.Join(repo, "addons", "checkout-config", "kustomization.yaml")
	data, err := os.ReadFile(k)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, k, string(data)+"commonLabels:\n  tier: web\n")
	return repo
}

// records parses JSON log lines.
func records(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("stderr line is not a JSON record: %v\n%s", err, sc.Text())
		}
		recs = append(recs, rec)
	}
	return recs
}

// TestKustomizeWarningIsAStructuredLogRecord renders a kustomization with
// a deprecated field the way Main runs allot: kustomize's warning comes
// out once, as a warning record of allot's JSON log naming the file that
// has the field, not as the raw line kustomize prints on stderr.
func TestKustomizeWarningIsAStructuredLogRecord(t *testing.T) {
	repo := deprecatedKustomization(t)
	lib := captureLibraryOutput()
	var out, errOut strings.Builder
	s := Streams{In: strings.NewReader(""), Out: &out, Err: &errOut, logs: &logFlags{onLogger: lib.setLogger}}
	code := Run(s, []string{"render", "--log-format", "json", "--repo", repo, "--chart-cache", chartCache(t), "checkout-dev"}, func(string) string { return "" })
	// What the standard log package prints goes the same way.
	log.Print("a library's own line")
	lib.close()
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, errOut.String())
	}
	var kustomize, logged bool
	for _, rec := range records(t, errOut.String()) {
		msg, _ := rec["msg"].(string)
		switch {
		case strings.Contains(msg, "'commonLabels' is deprecated"):
			if kustomize {
				t.Errorf("kustomize's warning is logged twice:\n%s", errOut.String())
			}
			kustomize = rec["level"] == "WARN" && rec["component"] == "kustomize" && rec["file"] == "addons/checkout-config/kustomization.yaml"
		case msg == "a library's own line":
			logged = rec["level"] == "WARN" && rec["source"] == "log"
		}
	}
	if !kustomize || !logged {
		t.Errorf("kustomize's warning (%v) or the log package's line (%v) is not a WARN record:\n%s", kustomize, logged, errOut.String())
	}
}

func TestKustomizeWarningIsAValidateWarning(t *testing.T) {
	repo := deprecatedKustomization(t)
	want := "::warning file=addons/checkout-config/kustomization.yaml,title=allot validate (render)::kustomize: 'commonLabels' is deprecated. Please use 'labels' instead."
	code, out, errOut := run(t, map[string]string{"GITHUB_ACTIONS": "true"}, "validate", "--repo", repo, "--chart-cache", chartCache(t))
	if code != ExitOK || !strings.Contains(out, want) {
		t.Errorf("exit %d, output:\n%s%s\nwant a line starting %q", code, out, errOut, want)
	}
	code, out, _ = run(t, nil, "validate", "--repo", repo, "--chart-cache", chartCache(t))
	if want := "addons/checkout-config/kustomization.yaml: warning: kustomize: 'commonLabels' is deprecated"; code != ExitOK || !strings.Contains(out, want) {
		t.Errorf("exit %d, output:\n%s\nwant %q", code, out, want)
	}
}
