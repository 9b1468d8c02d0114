package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/review"
	"github.com/allot-dev/allot/test/harness"
	"github.com/allot-dev/allot/test/harness/githubapi"
)

// clock is a settable clock for serve.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

const expiryPlatform = reviewPlatform +
	"  notices: {expiry: [48h, 2h]}\n" +
	"  policy: {maxTTL: 30d, extensions: {maxDuration: 7d, maxCount: 1}}\n"

func expiringRequest(name, team string, expires time.Time) string {
	return fmt.Sprintf("apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: %s}\nspec: {type: namespace, owner: dan@example.com, team: %s, cluster: dev, expires: %q}\n",
		name, team, expires.UTC().Format(time.RFC3339))
}

// commentsWith returns the comments on pull request n that start with
// prefix.
func (w *reviewWorld) commentsWith(n int, prefix string) []githubapi.Comment {
	var out []githubapi.Comment
	for _, c := range w.gh.Comments(reviewRepo, n) {
		if strings.HasPrefix(c.Body, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// waitReply waits for a reply on pull request n that contains want.
func (w *reviewWorld) waitReply(n int, want string) string {
	w.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		replies := w.commentsWith(n, "<!-- allot:reply")
		for _, c := range replies {
			if strings.Contains(c.Body, want) {
				return c.Body
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("no reply on #%d says %q within a minute; the replies: %+v", n, want, replies)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// recordExpires is spec.expires as the record of env on the cluster has it.
func (w *reviewWorld) recordExpires(env string) string {
	var cm corev1.ConfigMap
	if err := w.cp.Client.Get(context.Background(), client.ObjectKey{Namespace: reconciler.SystemNamespace, Name: env}, &cm); err != nil {
		return ""
	}
	var rec reconciler.Record
	if err := json.Unmarshal([]byte(cm.Data["record.json"]), &rec); err != nil {
		return ""
	}
	return rec.Expires
}

// TestExpiryNoticesAndExtension runs an environment's last days through
// allot serve with a clock the test sets: the notice two days before and
// the one two hours before its expiry, each once, also across a restart;
// /extend refused for each reason the policy names; /extend within the
// policy, which opens a pull request that allot checks and merges, so the
// new expiry is in git and the environment outlives the old one; and the
// last notice after the teardown.
func TestExpiryNoticesAndExtension(t *testing.T) {
	clk := &clock{now: time.Now().UTC().Truncate(time.Minute)}
	expires := clk.Now().Add(72 * time.Hour)
	w := startReviewWorldWith(t, reviewWorldOptions{Platform: expiryPlatform, GitBacked: true, Now: clk.Now, Interval: 300 * time.Millisecond})
	ctx := context.Background()

	w.openPR(1, "environments/web/shop.yaml", expiringRequest("shop", "web", expires))
	eventually(t, 60*time.Second, "the plan comment", func() bool { return strings.Contains(w.botComment(1), "Passed") })
	w.gh.AddComment(reviewRepo, 1, "alice", "/approve")
	eventually(t, 90*time.Second, "the ready notice", func() bool {
		return len(w.commentsWith(1, "<!-- allot:notice")) == 1
	})
	eventually(t, 30*time.Second, "the record", func() bool { return w.recordExpires("shop") != "" })

	first := review.ExpiryMarker("shop", expires, 48*time.Hour)
	second := review.ExpiryMarker("shop", expires, 2*time.Hour)
	if n := len(w.commentsWith(1, "<!-- allot:expiry")); n != 0 {
		t.Fatalf("%d expiry notices three days before the expiry, want none", n)
	}

	clk.Set(expires.Add(-47 * time.Hour))
	eventually(t, 30*time.Second, "the notice two days before", func() bool { return len(w.commentsWith(1, first)) == 1 })
	notice := w.commentsWith(1, first)[0].Body
	t.Logf("notice:\n%s", notice)
	for _, want := range []string{"@dan", "`shop`", "environments/web/shop.yaml", "`dev`", expires.Format("2006-01-02 15:04") + " UTC", "in 1 day 23 hours", "`/extend 7d`", "1 time"} {
		if !strings.Contains(notice, want) {
			t.Errorf("the notice does not say %q:\n%s", want, notice)
		}
	}

	// A restarted allot reads the marks from GitHub: it lists the
	// comments once, finds the notice, and posts none again.
	listings := w.gh.CountRequests("GET", "/repos/acme/requests/issues/1/comments")
	w.restart()
	eventually(t, 30*time.Second, "the restarted allot looking for its notice", func() bool {
		return w.gh.CountRequests("GET", "/repos/acme/requests/issues/1/comments") > listings
	})
	clk.Set(expires.Add(-time.Hour))
	eventually(t, 30*time.Second, "the notice two hours before", func() bool { return len(w.commentsWith(1, second)) == 1 })
	if n := len(w.commentsWith(1, first)); n != 1 {
		t.Errorf("%d notices two days before, want 1", n)
	}

	// Refused, each with its reason and the limit.
	for _, tc := range []struct{ login, command, want string }{
		{"mallory", "/extend 3d", review.ReasonExtendNotAllowed},
		{"dan", "/extend 8d", "policy.extensions.maxDuration allows 7 days"},
		{"dan", "/extend " + expires.Add(-48*time.Hour).Format(time.DateOnly), review.ReasonExtendNotLater},
		{"dan", "/extend nope 3d", review.ReasonExtendUnknown + ": this pull request created no environment nope"},
		{"dan", "/extend soon", review.ReasonExtendBadValue},
	} {
		w.gh.AddComment(reviewRepo, 1, tc.login, tc.command)
		w.waitReply(1, tc.want)
	}
	if n := w.gh.CountRequests("POST", "/repos/acme/requests/pulls"); n != 0 {
		t.Fatalf("refused /extend commands opened %d pull requests", n)
	}

	// Within the policy, by one of the team's approvers: a member of
	// acme/web-leads.
	w.gh.AddTeamMember("acme", "web-leads", "lee")
	w.gh.AddComment(reviewRepo, 1, "lee", "/extend 3d")
	extended := expires.Add(72 * time.Hour)
	reply := w.waitReply(1, "allot opened #2 to extend `shop` until "+extended.Format("2006-01-02 15:04")+" UTC (extension 1 of 1); it merges once its check passes.")
	eventually(t, 90*time.Second, "the extension merged", func() bool { return len(w.gh.Merges()) == 2 })
	ext := w.gh.PullRequest(reviewRepo, 2)
	if !strings.HasPrefix(ext.HeadRef, review.ExtensionBranchPrefix) || len(ext.Files) != 1 || ext.Files[0].Filename != "environments/web/shop.yaml" {
		t.Errorf("extension pull request %+v: want one change to the request on an %s branch", ext, review.ExtensionBranchPrefix)
	}
	passed := false
	for _, st := range w.gh.Statuses(reviewRepo, ext.HeadSHA) {
		passed = passed || st.Context == "allot" && st.State == "success"
	}
	if !passed {
		t.Errorf("the extension's head %s has no passing allot check: %+v", ext.HeadSHA, w.gh.Statuses(reviewRepo, ext.HeadSHA))
	}
	if _, err := w.repo.Git("fetch", "-q", "origin"); err != nil {
		t.Fatal(err)
	}
	inGit, err := w.repo.Git("show", "origin/main:environments/web/shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{extended.Format(time.RFC3339), `allot.dev/extensions: "1"`, "owner: dan@example.com"} {
		if !strings.Contains(inGit, want) {
			t.Errorf("the request on main does not say %q (reply %q):\n%s", want, reply, inGit)
		}
	}
	eventually(t, 60*time.Second, "the new expiry applied", func() bool { return w.recordExpires("shop") == extended.Format(time.RFC3339) })

	// Past the old expiry, the environment lives on, and its notices
	// count from the new one.
	clk.Set(extended.Add(-time.Hour))
	eventually(t, 30*time.Second, "the notice two hours before the new expiry", func() bool {
		return len(w.commentsWith(1, review.ExpiryMarker("shop", extended, 2*time.Hour))) == 1
	})
	var ns corev1.Namespace
	if err := w.cp.Client.Get(ctx, client.ObjectKey{Name: "shop"}, &ns); err != nil || ns.DeletionTimestamp != nil {
		t.Fatalf("the extended environment is gone past its old expiry: %v %v", err, ns.DeletionTimestamp)
	}

	w.gh.AddComment(reviewRepo, 1, "dan", "/extend 1d")
	w.waitReply(1, review.ReasonExtendTooMany+": shop was extended 1 time, the most policy.extensions.maxCount (1) allows")

	// After the teardown, the last notice, even when GitHub fails the
	// first try (every attempt of the pass that tore it down).
	w.gh.FailNext(4, http.StatusBadGateway)
	clk.Set(extended.Add(time.Minute))
	gone := review.ExpiredMarker("shop", extended)
	eventually(t, 60*time.Second, "the notice that the environment is gone", func() bool { return len(w.commentsWith(1, gone)) == 1 })
	body := w.commentsWith(1, gone)[0].Body
	if !strings.Contains(body, "@dan") || !strings.Contains(body, "torn down") {
		t.Errorf("the last notice:\n%s", body)
	}
	if w.recordExpires("shop") != "" {
		t.Error("the record of the expired environment is still there")
	}
	failed := 0
	for _, r := range w.gh.Requests() {
		if r.Status == http.StatusBadGateway {
			failed++
		}
	}
	if failed != 4 {
		t.Errorf("%d requests failed, want the 4 injected", failed)
	}
}

// TestExtensionPullRequestsThatNeedAnApprover checks what an extension
// pull request may not do on its own: with policy.extensions
// requireApproval it waits for an approver; and a pull request on an
// extension branch that changes more than the expiry waits for one even
// when the policy needs none. The environment's TTL becomes a date when
// it is extended.
func TestExtensionPullRequestsThatNeedAnApprover(t *testing.T) {
	for _, tc := range []struct {
		name, policy string
		tamper       bool
	}{
		{"the policy asks for an approver", "{maxDuration: 7d, requireApproval: true}", false},
		{"the pull request changes more than the expiry", "{maxDuration: 7d}", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{now: time.Now().UTC().Truncate(time.Minute)}
			w := startReviewWorldWith(t, reviewWorldOptions{
				Platform: reviewPlatform + "  policy: {maxTTL: 30d, extensions: " + tc.policy + "}\n", GitBacked: true, Now: clk.Now, Interval: 300 * time.Millisecond,
			})
			w.openPR(1, "environments/web/shop.yaml", "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: shop\nspec:\n  type: namespace\n  owner: dan@example.com\n  team: web\n  cluster: dev\n  # two days after the merge\n  expires: 2d\n")
			eventually(t, 60*time.Second, "the plan comment", func() bool { return strings.Contains(w.botComment(1), "Passed") })
			w.gh.AddComment(reviewRepo, 1, "alice", "/approve")
			eventually(t, 90*time.Second, "the ready notice", func() bool { return len(w.commentsWith(1, "<!-- allot:notice")) == 1 })
			eventually(t, 30*time.Second, "the record", func() bool { return w.recordExpires("shop") == "2d" })

			w.gh.AddComment(reviewRepo, 1, "dan", "/extend 1d")
			w.waitReply(1, "allot opened #2")
			if !tc.tamper && !strings.Contains(w.waitReply(1, "allot opened #2"), "an approver approves it") {
				t.Error("the reply does not say the extension waits for an approver")
			}
			ext := w.gh.PullRequest(reviewRepo, 2)
			if tc.tamper {
				// Someone who can push to the repository adds a member on
				// the extension's branch.
				if _, err := w.repo.Git("fetch", "-q", "origin", "+refs/heads/*:refs/remotes/origin/*"); err != nil {
					t.Fatal(err)
				}
				if _, err := w.repo.Git("checkout", "-q", "origin/"+ext.HeadRef); err != nil {
					t.Fatal(err)
				}
				changed, err := w.repo.Git("show", "HEAD:environments/web/shop.yaml")
				if err != nil {
					t.Fatal(err)
				}
				if err := w.repo.WriteFile("environments/web/shop.yaml", strings.Replace(changed, "team: web", "team: web\n  members: [eve@example.com]", 1)); err != nil {
					t.Fatal(err)
				}
				for _, args := range [][]string{{"commit", "-qam", "add eve"}, {"push", "-q", "origin", "HEAD:refs/pull/2/head"}, {"push", "-q", "origin", "HEAD:" + ext.HeadRef}} {
					if _, err := w.repo.Git(args...); err != nil {
						t.Fatal(err)
					}
				}
				head, err := w.repo.Git("rev-parse", "HEAD")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := w.repo.Git("checkout", "-q", "main"); err != nil {
					t.Fatal(err)
				}
				w.gh.Push(reviewRepo, 2, head)
				ext = w.gh.PullRequest(reviewRepo, 2)
			}
			deadline := time.Now().Add(60 * time.Second)
			for body := w.botComment(2); !strings.Contains(body, ext.HeadSHA[:7]) || !strings.Contains(body, "Passed") || !strings.Contains(body, "waiting for approval"); body = w.botComment(2) {
				if time.Now().After(deadline) {
					t.Fatalf("the extension's comment does not say it passed and waits for approval within a minute:\n%s", body)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if m := w.gh.Merges(); len(m) != 1 {
				t.Fatalf("merges %+v: the extension merged without an approver", m)
			}
			if !tc.tamper {
				raw, err := harness.RunGit(w.repo.Bare, "show", ext.HeadSHA+":environments/web/shop.yaml")
				if err != nil {
					t.Fatal(err)
				}
				// The TTL counted from the merge becomes the date it ends,
				// one day later; the comment stays.
				if !strings.Contains(raw, "# two days after the merge") || !strings.Contains(raw, "expires: \"20") || strings.Contains(raw, "expires: 2d") {
					t.Errorf("the extension's request:\n%s", raw)
				}
			}
			w.gh.AddComment(reviewRepo, 2, "alice", "/approve")
			eventually(t, 60*time.Second, "the approved extension merged", func() bool { return len(w.gh.Merges()) == 2 })
		})
	}
}
