package app

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/allot-dev/allot/schemas"
)

func TestValidateExampleRepository(t *testing.T) {
	code, out, errOut := run(t, nil, "validate", "--repo", examples(t, "requests"), "--chart-cache", chartCache(t))
	if code != ExitOK {
		t.Fatalf("exit %d, want 0\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "is valid: 6 environments, 3 templates") {
		t.Errorf("summary %q", out)
	}
}

// TestInvalidExamples runs every case in examples/invalid: each must exit 1
// and print exactly the problems its want.txt lists.
func TestInvalidExamples(t *testing.T) {
	dirs, err := os.ReadDir(examples(t, "invalid"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		n++
		t.Run(d.Name(), func(t *testing.T) {
			dir := examples(t, "invalid", d.Name())
			want, err := os.ReadFile(filepath.Join(dir, "want.txt"))
			if err != nil {
				t.Fatal(err)
			}
			code, out, errOut := run(t, nil, "validate", "--repo", dir)
			if code != ExitInvalid {
				t.Errorf("exit %d, want %d (stderr %q)", code, ExitInvalid, errOut)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			summary := lines[len(lines)-1]
			if !strings.HasSuffix(summary, " in 1 file") {
				t.Errorf("last line %q, want a summary", summary)
			}
			if diff := cmp.Diff(strings.TrimSpace(string(want)), strings.Join(lines[:len(lines)-1], "\n")); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
	if n < 30 {
		t.Errorf("found %d cases in examples/invalid, want one per rule (at least 30)", n)
	}
}

func TestValidateJSONOutput(t *testing.T) {
	code, out, _ := run(t, nil, "validate", "--repo", examples(t, "invalid", "unknown-field"), "-o", "json")
	if code != ExitInvalid {
		t.Fatalf("exit %d, want 1", code)
	}
	var got validateReport
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	want := validateReport{Valid: false, Environments: 0, Problems: []schemas.Problem{{
		Position: schemas.Position{File: "environments/web/demo.yaml", Line: 9, Column: 3},
		Rule:     schemas.RuleSchema, Severity: schemas.SeverityError,
		Message: `unknown field "sise" in spec; did you mean "size"?`,
	}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
}

func TestValidateGitHubAnnotations(t *testing.T) {
	// A requests repository in a subfolder of a git work tree, as in a
	// monorepo: annotations must name files from the top of the work tree.
	top := gitRepo(t)
	copyDir(t, examples(t, "invalid", "unknown-field"), filepath.Join(top, "platform", "requests"))
	repo := filepath.Join(top, "platform", "requests")
	want := "::error file=platform/requests/environments/web/demo.yaml,line=9,col=3,title=allot validate (schema)::unknown field \"sise\" in spec; did you mean \"size\"?\n"

	for _, flag := range []string{"--github-annotations", "-o=github"} {
		t.Run("with "+flag, func(t *testing.T) {
			code, out, _ := run(t, nil, "validate", "--repo", repo, flag)
			if code != ExitInvalid || !strings.HasPrefix(out, want) {
				t.Errorf("exit %d, output:\n%s\nwant it to start with:\n%s", code, out, want)
			}
		})
	}
	t.Run("on stderr beside JSON", func(t *testing.T) {
		code, out, errOut := run(t, nil, "validate", "--repo", repo, "--github-annotations", "-o", "json")
		var report validateReport
		if code != ExitInvalid || json.Unmarshal([]byte(out), &report) != nil || !strings.HasPrefix(errOut, want) {
			t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s\nwant JSON on stdout and stderr starting with:\n%s", code, out, errOut, want)
		}
	})
	t.Run("by default in GitHub Actions", func(t *testing.T) {
		code, out, _ := run(t, map[string]string{"GITHUB_ACTIONS": "true"}, "validate", "--repo", repo)
		if code != ExitInvalid || !strings.HasPrefix(out, want) {
			t.Errorf("exit %d, output:\n%s\nwant it to start with:\n%s", code, out, want)
		}
	})
	for _, flag := range []string{"--github-annotations=false", "-o=text"} {
		t.Run("unless told otherwise with "+flag, func(t *testing.T) {
			_, out, _ := run(t, map[string]string{"GITHUB_ACTIONS": "true"}, "validate", "--repo", repo, flag)
			if strings.Contains(out, "::error") {
				t.Errorf("text output has annotations:\n%s", out)
			}
		})
	}
	t.Run("escapes what would end the command", func(t *testing.T) {
		if got := escapeData("a%b\nc\r"); got != "a%25b%0Ac%0D" {
			t.Errorf("escapeData = %q", got)
		}
		if got := escapeProperty("a,b:c"); got != "a%2Cb%3Ac" {
			t.Errorf("escapeProperty = %q", got)
		}
	})
}

const platformForChanges = `apiVersion: allot.dev/v1alpha1
kind: Platform
metadata:
  name: acme
spec:
  clusters:
    - name: dev
      inCluster: true
  sizes:
    small:
      quota:
        pods: 10
  defaultSize: small
  policy:
    allowedOwnerDomains: [acme.example]
    maxEnvironmentsPerOwner: 2
`

func request(name, owner, expires string) string {
	return `apiVersion: allot.dev/v1alpha1
kind: Environment
metadata:
  name: ` + name + `
spec:
  type: namespace
  owner: ` + owner + `
  team: web
  cluster: dev
  expires: ` + expires + "\n"
}

func TestValidateChangedFrom(t *testing.T) {
	// main holds a request that has expired since it merged; a branch adds
	// new requests on top.
	dir := gitRepo(t)
	writeFile(t, filepath.Join(dir, "allot.yaml"), platformForChanges)
	writeFile(t, filepath.Join(dir, "environments/web/old.yaml"), request("old", "jane@acme.example", "2020-01-31"))
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "old request")
	git(t, dir, "checkout", "-q", "-b", "feature")

	t.Run("checks only the changed requests", func(t *testing.T) {
		writeFile(t, filepath.Join(dir, "environments/web/new.yaml"), request("new", "omar@acme.example", "7d"))
		code, out, errOut := run(t, nil, "validate", "--repo", dir, "--changed-from", "main")
		if code != ExitOK {
			t.Errorf("exit %d, want 0: the expired request did not change\n%s%s", code, out, errOut)
		}
		code, out, _ = run(t, nil, "validate", "--repo", dir)
		if code != ExitInvalid || !strings.Contains(out, "environments/web/old.yaml:10: expires 2020-01-31 is in the past") {
			t.Errorf("without --changed-from: exit %d, want 1 with the expired request\n%s", code, out)
		}
	})
	t.Run("still checks names across the repository, and reports a clash on the new request", func(t *testing.T) {
		writeFile(t, filepath.Join(dir, "environments/mobile/old.yaml"), request("old", "omar@acme.example", "7d"))
		defer os.Remove(filepath.Join(dir, "environments/mobile/old.yaml"))
		code, out, _ := run(t, nil, "validate", "--repo", dir, "--changed-from", "main")
		if code != ExitInvalid || !strings.Contains(out, `environments/mobile/old.yaml:4: environment name "old" is already used by environments/web/old.yaml:4`) {
			t.Errorf("exit %d, want 1 with a duplicate name\n%s", code, out)
		}
	})
	t.Run("puts the per-owner limit on the new request", func(t *testing.T) {
		writeFile(t, filepath.Join(dir, "environments/web/a-second.yaml"), request("a-second", "jane@acme.example", "7d"))
		writeFile(t, filepath.Join(dir, "environments/web/a-third.yaml"), request("a-third", "jane@acme.example", "7d"))
		git(t, dir, "add", "environments/web/a-second.yaml")
		git(t, dir, "commit", "-q", "-m", "second request")
		defer os.Remove(filepath.Join(dir, "environments/web/a-third.yaml"))
		code, out, _ := run(t, nil, "validate", "--repo", dir, "--changed-from", "HEAD")
		if code != ExitInvalid || !strings.Contains(out, "environments/web/a-third.yaml:7: owner jane@acme.example already has 2 environments (environments/web/a-second.yaml, environments/web/old.yaml)") {
			t.Errorf("exit %d, want the limit reported on a-third.yaml\n%s", code, out)
		}
	})
	t.Run("checks every request when allot.yaml changes", func(t *testing.T) {
		writeFile(t, filepath.Join(dir, "allot.yaml"), strings.Replace(platformForChanges, "pods: 10", "pods: 12", 1))
		code, out, _ := run(t, nil, "validate", "--repo", dir, "--changed-from", "main")
		if code != ExitInvalid || !strings.Contains(out, "old.yaml:10: expires 2020-01-31 is in the past") {
			t.Errorf("exit %d, want the expired request reported\n%s", code, out)
		}
	})
	t.Run("refuses a ref that does not exist", func(t *testing.T) {
		code, _, errOut := run(t, nil, "validate", "--repo", dir, "--changed-from", "no-such-branch")
		if code != ExitUsage || !strings.Contains(errOut, `resolve "no-such-branch"`) {
			t.Errorf("exit %d, stderr %q; want 2 naming the ref", code, errOut)
		}
	})
}

// TestValidateRefusesVclusterRBACValues: values.chartValues cannot reach the
// chart's cluster-wide RBAC (rbac.clusterRole.extraRules would hand the
// control plane's ServiceAccount any right on the host).
func TestValidateRefusesVclusterRBACValues(t *testing.T) {
	repo := t.TempDir()
	copyDir(t, examples(t, "requests"), repo)
	request := filepath.Join(repo, "environments", "payments", "ledger-vc.yaml")
	data, err := os.ReadFile(request)
	if err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.Replace(string(data), "    kubernetesVersion: \"1.33\"\n", "    kubernetesVersion: \"1.33\"\n    chartValues: {rbac: {clusterRole: {extraRules: [{apiGroups: [\"*\"], resources: [\"*\"], verbs: [\"*\"]}]}}}\n", 1))
	if err := os.WriteFile(request, data, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := run(t, nil, "validate", "--repo", repo, "--chart-cache", chartCache(t))
	if code == ExitOK || !strings.Contains(out, "environments/payments/ledger-vc.yaml:18: values.chartValues.rbac does not fit the vcluster template") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}
