package test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/cmd/allot/app"
	"github.com/allot-dev/allot/test/harness"
)

// Issue 16: a branch force-pushed back to an older commit does not tear
// down what the newer one added without a word: deletions are held, with
// the reason, until --allow-history-rewrite; a fast-forward that deletes
// goes through.
func TestRewrittenHistoryHoldsDeletions(t *testing.T) {
	cp := ownControlPlane(t)
	base := t.TempDir()
	repo, err := harness.NewGitRepo(filepath.Join(base, "bare"), filepath.Join(base, "work"), "main")
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	commit := func(msg string) string {
		t.Helper()
		head, err := repo.Commit(msg)
		must(err)
		return strings.TrimSpace(head)
	}
	reconcile := func(want int, extra ...string) string {
		t.Helper()
		args := append([]string{"reconcile", "--once", "--no-idp", "--repo", "file://" + repo.Bare, "--branch", "main",
			"--workdir", filepath.Join(base, "workdir"), "--chart-cache", filepath.Join(base, "charts"),
			"--kubeconfig", "a=" + cp.Kubeconfig}, extra...)
		var out, errOut bytes.Buffer
		code := app.Run(app.Streams{In: strings.NewReader(""), Out: &out, Err: &errOut}, args, func(string) string { return "" })
		if code != want {
			t.Fatalf("allot %s: exit %d, want %d\n%s\n%s", strings.Join(extra, " "), code, want, out.String(), errOut.String())
		}
		return out.String() + errOut.String()
	}
	exists := func(ns string) bool {
		t.Helper()
		var n corev1.Namespace
		err := cp.Client.Get(context.Background(), client.ObjectKey{Name: ns}, &n)
		return err == nil && n.DeletionTimestamp == nil
	}

	must(repo.WriteFile("allot.yaml", faultPlatform))
	must(repo.WriteFile("addons/config/config.yaml", faultConfig(1)))
	for i := range 4 {
		must(repo.WriteFile(fmt.Sprintf("environments/web/keep-%d.yaml", i), faultRequest(fmt.Sprintf("keep-%d", i))))
	}
	older := commit("four environments")
	reconcile(app.ExitOK)
	for i := range 2 {
		must(repo.WriteFile(fmt.Sprintf("environments/web/new-%d.yaml", i), faultRequest(fmt.Sprintf("new-%d", i))))
	}
	newer := commit("two more")
	reconcile(app.ExitOK)

	// Force-push back to the older commit: the two newer environments are
	// not in it, but deleting them is held.
	_, err = repo.Git("reset", "--quiet", "--hard", older)
	must(err)
	_, err = repo.Git("push", "--quiet", "--force", "origin", "HEAD:refs/heads/main")
	must(err)
	out := reconcile(app.ExitInvalid)
	if !strings.Contains(out, "history was rewritten") || !strings.Contains(out, newer[:12]) {
		t.Errorf("the output does not say history was rewritten from %s:\n%s", newer[:12], out)
	}
	for i := range 2 {
		if !exists(fmt.Sprintf("new-%d", i)) {
			t.Errorf("new-%d was torn down after a force-push", i)
		}
	}
	// The hold lasts: the next pass compares with the same commit.
	if out := reconcile(app.ExitInvalid); !strings.Contains(out, "history was rewritten") {
		t.Errorf("the second pass after the force-push does not hold:\n%s", out)
	}
	out = reconcile(app.ExitOK, "--allow-history-rewrite")
	for i := range 2 {
		if exists(fmt.Sprintf("new-%d", i)) {
			t.Errorf("new-%d is still there with --allow-history-rewrite:\n%s", i, out)
		}
	}

	// A fast-forward that deletes is not held.
	must(repo.Remove("environments/web/keep-3.yaml"))
	commit("one fewer")
	reconcile(app.ExitOK)
	if exists("keep-3") {
		t.Error("keep-3 is still there after its request was deleted in a fast-forward")
	}
}
