package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTool writes an executable script named name into dir.
func fakeTool(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// The README's two commands install what a bare machine lacks: make test
// and make demo run test/tools/system-deps.sh, which asks apt-get for the
// missing Debian packages without starting their services.
func TestSystemDepsInstallWhatIsMissing(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, bin string) (string, string) {
		t.Helper()
		calls := filepath.Join(t.TempDir(), "apt-calls")
		cmd := exec.Command(bash, "tools/system-deps.sh")
		cmd.Env = []string{"PATH=" + bin, "ALLOT_SLAPD=" + filepath.Join(bin, "slapd"), "ALLOT_POLICY_RC=" + filepath.Join(t.TempDir(), "policy-rc.d"), "CALLS=" + calls}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("system-deps.sh: %v\n%s", err, out)
		}
		got, _ := os.ReadFile(calls)
		return string(got), string(out)
	}
	// A machine with the shell's own tools only.
	bare := t.TempDir()
	for _, tool := range []string{"tee", "chmod", "rm", "env", "id", "cat"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(p, filepath.Join(bare, tool)); err != nil {
			t.Fatal(err)
		}
	}
	fakeTool(t, bare, "apt-get", `echo "$*" >> "$CALLS"; cat "$ALLOT_POLICY_RC" >> "$CALLS" 2>/dev/null; echo >> "$CALLS"`)
	if os.Geteuid() != 0 {
		fakeTool(t, bare, "sudo", `exec "$@"`)
	}

	calls, out := run(t, bare)
	if !strings.Contains(calls, "update -y") {
		t.Errorf("no apt-get update:\n%s\n%s", calls, out)
	}
	install := ""
	for _, line := range strings.Split(calls, "\n") {
		if strings.HasPrefix(line, "install -y") {
			install = line
		}
	}
	asked := map[string]bool{}
	for _, f := range strings.Fields(install) {
		asked[f] = true
	}
	for _, pkg := range []string{"git", "make", "gcc", "slapd", "ldap-utils", "nodejs", "npm"} {
		if !asked[pkg] {
			t.Errorf("apt-get %q lacks %s", install, pkg)
		}
	}
	if !strings.Contains(calls, "exit 101") {
		t.Errorf("packages installed without a policy-rc.d that stops their services:\n%s", calls)
	}

	// A machine with everything asks for nothing.
	full := t.TempDir()
	for _, tool := range []string{"git", "make", "gcc", "ldapsearch", "node", "npm", "slapd"} {
		fakeTool(t, full, tool, "exit 0")
	}
	fakeTool(t, full, "apt-get", `echo "$*" >> "$CALLS"`)
	if calls, out := run(t, full); calls != "" {
		t.Errorf("apt-get called on a machine that has everything: %q\n%s", calls, out)
	}
}
