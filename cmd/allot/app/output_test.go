package app

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/allot-dev/allot/test/harness"
)

// lowerCamel is a JSON field name as Kubernetes writes them.
var lowerCamel = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)

// checkCamelCase fails on every key of doc that is not lowerCamelCase.
func checkCamelCase(t *testing.T, where string, doc any) {
	t.Helper()
	for _, bad := range notCamelCase(where, doc) {
		t.Errorf("key %s is not lowerCamelCase", bad)
	}
}

// notCamelCase walks doc and returns where each key that is not
// lowerCamelCase is. Kubernetes objects (render's output) are passed
// over: their labels and data are the users', not allot's field names.
func notCamelCase(where string, doc any) []string {
	var bad []string
	switch v := doc.(type) {
	case map[string]any:
		if _, ok := v["apiVersion"]; ok {
			if _, ok := v["kind"]; ok {
				return nil
			}
		}
		for k, child := range v {
			if !lowerCamel.MatchString(k) {
				bad = append(bad, fmt.Sprintf("%s.%q", where, k))
			}
			bad = append(bad, notCamelCase(where+"."+k, child)...)
		}
	case []any:
		for _, child := range v {
			bad = append(bad, notCamelCase(where+"[]", child)...)
		}
	}
	return bad
}

// printingCommand is one command that prints, with the arguments it needs
// and the exit codes that mean it ran.
type printingCommand struct {
	args []string
	ok   []int
	// ownYAML: -o yaml is the command's own form (render's manifests),
	// not the JSON document in YAML.
	ownYAML bool
}

// TestEveryPrintingCommandTakesJSONAndYAMLAndRefusesOthers runs every
// command that prints, the cluster commands against a real control plane:
// -o json is one JSON document whose keys are all lowerCamelCase, -o yaml
// the same document in YAML, and -o bogus a usage error (exit 2) naming the
// formats the command takes.
// oneEnvironmentRepo writes a repository with one environment, "one", on
// cluster dev, a control plane of its own, and returns the flags that
// reach both.
func oneEnvironmentRepo(t *testing.T) []string {
	t.Helper()
	cp, err := harness.Start(harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	repo := t.TempDir()
	writeFile(t, filepath.Join(repo, "allot.yaml"), planPlatform)
	writeFile(t, filepath.Join(repo, "environments/web/one.yaml"), planRequest("small", ""))
	return []string{"--repo", repo, "--kubeconfig", "dev=" + cp.Kubeconfig, "--chart-cache", t.TempDir(), "--workdir", t.TempDir()}
}

func TestEveryPrintingCommandTakesJSONAndYAMLAndRefusesOthers(t *testing.T) {
	cluster := oneEnvironmentRepo(t)
	requests := examples(t, "requests")
	commands := map[string]printingCommand{
		"validate":  {args: []string{"validate", "--repo", requests, "--chart-cache", chartCache(t)}, ok: []int{ExitOK}},
		"list":      {args: []string{"list", "--repo", requests}, ok: []int{ExitOK}},
		"render":    {args: []string{"render", "--repo", requests, "--chart-cache", chartCache(t), "checkout-dev"}, ok: []int{ExitOK}, ownYAML: true},
		"version":   {args: []string{"version"}, ok: []int{ExitOK}},
		"plan":      {args: append([]string{"plan"}, cluster...), ok: []int{ExitPlanNoChanges, ExitPlanChanges}},
		"reconcile": {args: append([]string{"reconcile"}, cluster...), ok: []int{ExitOK}},
		"status":    {args: append([]string{"status"}, cluster...), ok: []int{ExitOK}},
		"describe":  {args: append([]string{"status", "one"}, cluster...), ok: []int{ExitOK}},
	}
	for _, name := range []string{"validate", "list", "render", "version", "plan", "reconcile", "status", "describe"} {
		c := commands[name]
		t.Run(name, func(t *testing.T) {
			code, out, errOut := run(t, nil, append(c.args, "-o", "json")...)
			if !containsInt(c.ok, code) {
				t.Fatalf("-o json: exit %d\n%s%s", code, out, errOut)
			}
			var doc any
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("-o json is not one JSON document: %v\n%s", err, out)
			}
			if _, ok := doc.(map[string]any); !ok {
				t.Errorf("-o json is a %T, want an object", doc)
			}
			checkCamelCase(t, name, doc)

			code, out, errOut = run(t, nil, append(c.args, "-o", "yaml")...)
			if !containsInt(c.ok, code) {
				t.Fatalf("-o yaml: exit %d\n%s%s", code, out, errOut)
			}
			if !c.ownYAML {
				var fromYAML any
				if err := yaml.Unmarshal([]byte(out), &fromYAML); err != nil {
					t.Fatalf("-o yaml is not YAML: %v\n%s", err, out)
				}
				if _, ok := fromYAML.(map[string]any); !ok {
					t.Errorf("-o yaml is a %T, want the JSON document's object", fromYAML)
				}
				checkCamelCase(t, name+" (yaml)", fromYAML)
			}

			code, out, errOut = run(t, nil, append(c.args, "-o", "bogus")...)
			if code != ExitUsage || !strings.Contains(errOut, `unknown output format "bogus": want one of `) || !strings.Contains(errOut, "json") || !strings.Contains(errOut, "yaml") {
				t.Errorf("-o bogus: exit %d, stderr %q; want %d and the formats allowed", code, errOut, ExitUsage)
			}
			if out != "" {
				t.Errorf("-o bogus printed %q", out)
			}
		})
	}
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestCamelCaseCheckCatchesOtherKeys(t *testing.T) {
	for _, key := range []string{"Cluster", "cluster_errors", "cluster-errors", "file:a.yaml", "ID"} {
		var doc any
		if err := json.Unmarshal([]byte(`{"items":[{"`+key+`":1}]}`), &doc); err != nil {
			t.Fatal(err)
		}
		if bad := notCamelCase("doc", doc); len(bad) != 1 {
			t.Errorf("key %q: found %v", key, bad)
		}
	}
	var obj any
	if err := json.Unmarshal([]byte(`{"bundles":[{"phases":{"install":[{"apiVersion":"v1","kind":"ConfigMap","data":{"LOG_LEVEL":"x"}}]}}]}`), &obj); err != nil {
		t.Fatal(err)
	}
	if bad := notCamelCase("doc", obj); len(bad) != 0 {
		t.Errorf("a Kubernetes object's own keys count: %v", bad)
	}
}

func TestUsageErrorsAreTypedNotMatchedByText(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"unknown flag":      {[]string{"list", "--frobnicate"}, "unknown flag: --frobnicate"},
		"unknown shortand":  {[]string{"list", "-Z"}, "unknown shorthand flag"},
		"missing argument":  {[]string{"schema"}, "takes one kind"},
		"unknown command":   {[]string{"frobnicate"}, `unknown command "frobnicate" for "allot"`},
		"mistyped command":  {[]string{"reconclie"}, "Did you mean this?\n\treconcile\n"},
		"unknown log level": {[]string{"version", "--log-level", "loud"}, `unknown log level "loud": want one of debug, info, warn, error`},
		"unknown log form":  {[]string{"version", "--log-format", "xml"}, `unknown log format "xml": want one of text, json`},
	} {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := run(t, nil, tc.args...)
			if code != ExitUsage || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, ExitUsage, tc.want)
			}
			if out != "" {
				t.Errorf("stdout %q", out)
			}
		})
	}
}

func TestVersionJSON(t *testing.T) {
	code, out, _ := run(t, nil, "version", "-o", "json")
	var v map[string]string
	if err := json.Unmarshal([]byte(out), &v); code != ExitOK || err != nil {
		t.Fatalf("exit %d, %v: %s", code, err, out)
	}
	for _, k := range []string{"version", "commit", "goVersion"} {
		if v[k] == "" {
			t.Errorf("no %s in %s", k, out)
		}
	}
	if !strings.HasPrefix(v["goVersion"], "go") || len(v) != 3 {
		t.Errorf("version document %v", v)
	}
}

func TestListSaysWhichRequestsAreLeftOut(t *testing.T) {
	repo := examples(t, "invalid", "unknown-field")
	code, out, errOut := run(t, nil, "list", "--repo", repo)
	want := "allot: environments/web/demo.yaml:9: left out: unknown field \"sise\" in spec; did you mean \"size\"?\n"
	if code != ExitInvalid || errOut != want {
		t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, ExitInvalid, want)
	}
	if !strings.HasPrefix(out, "NAME") {
		t.Errorf("no table: %q", out)
	}
	code, out, _ = run(t, nil, "list", "--repo", repo, "-o", "json")
	var doc listReport
	if err := json.Unmarshal([]byte(out), &doc); code != ExitInvalid || err != nil {
		t.Fatalf("exit %d, %v: %s", code, err, out)
	}
	if len(doc.Broken) != 1 || doc.Broken[0].File != "environments/web/demo.yaml" || doc.Broken[0].Line != 9 || !strings.Contains(doc.Broken[0].Problem, `"sise"`) {
		t.Errorf("broken = %+v", doc.Broken)
	}
	if code, _, errOut := run(t, nil, "list", "--repo", examples(t, "requests")); code != ExitOK || errOut != "" {
		t.Errorf("a valid repository: exit %d, stderr %q", code, errOut)
	}
}

func TestRenderRefusesAnUnknownCluster(t *testing.T) {
	code, out, errOut := run(t, nil, "render", "--repo", examples(t, "requests"), "--cluster", "dev-eu-9")
	want := "allot: --cluster dev-eu-9: allot.yaml has no such cluster; its clusters are dev-eu-1, dev-us-1, mgmt\n"
	if code != ExitUsage || errOut != want || out != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want %d and %q", code, out, errOut, ExitUsage, want)
	}
}

// Issue 12: `allot status ENV` says why an environment is (not) ready, as
// kubectl describe does; an environment no cluster has is an error.
func TestStatusDescribesOneEnvironment(t *testing.T) {
	cluster := oneEnvironmentRepo(t)
	if code, out, errOut := run(t, nil, append([]string{"reconcile"}, cluster...)...); code != ExitOK {
		t.Fatalf("reconcile: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut := run(t, nil, append([]string{"status", "one"}, cluster...)...)
	if code != ExitOK {
		t.Fatalf("status one: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"Environment:  one", "Ready:        True", "Conditions:", "Objects:", "ResourceQuota/one/quota", "ready", "Expires:"} {
		if !strings.Contains(out, want) {
			t.Errorf("status one lacks %q:\n%s", want, out)
		}
	}
	code, _, errOut = run(t, nil, append([]string{"status", "nothing"}, cluster...)...)
	if code != ExitInvalid || !strings.Contains(errOut, `no cluster has a record of environment "nothing"`) {
		t.Errorf("status nothing: exit %d, %s", code, errOut)
	}
	if code, _, _ := run(t, nil, append([]string{"status", "one", "two"}, cluster...)...); code != ExitUsage {
		t.Errorf("status with two names: exit %d, want %d", code, ExitUsage)
	}
}
