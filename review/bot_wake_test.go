package review_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/allot-dev/allot/environments"
	"github.com/allot-dev/allot/internal/testfs"
	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/review/comment"
	"github.com/allot-dev/allot/test/harness"
)

// folder serves a directory as the requests repository.
type folder struct {
	dir string
	n   int
}

func (f *folder) Fetch(context.Context) (reconciler.Snapshot, error) {
	f.n++
	return reconciler.Snapshot{Dir: f.dir, Commit: fmt.Sprintf("folder-%d", f.n)}, nil
}

// wakeWorld is a bot on the in-process GitHub API whose Waker is a real
// reconciler on a real control plane, with the request of envFile asleep
// on its nightly schedule at the injected 21:00.
func wakeWorld(t *testing.T) (*botWorld, *reconciler.Reconciler, int) {
	t.Helper()
	cp, err := harness.Start(harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	repo := t.TempDir()
	testfs.Write(t, repo, map[string]string{
		"allot.yaml": "apiVersion: allot.dev/v1alpha1\nkind: Platform\nmetadata: {name: acme}\nspec:\n  clusters: [{name: dev-eu-1, inCluster: true}]\n  idp: {provider: none}\n  defaultSize: small\n  sizes: {small: {quota: {pods: 10}, sleep: {schedule: \"daily 20:00-08:00\"}}}\n",
		envFile:      "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: checkout-dev}\nspec:\n  type: namespace\n  owner: jane@acme.example\n  team: payments\n  members: [bob@acme.example]\n  cluster: dev-eu-1\n",
	})
	now := time.Date(2026, 11, 24, 21, 0, 0, 0, time.UTC)
	r := &reconciler.Reconciler{
		Source: &folder{dir: repo}, Connector: &reconciler.Connector{Kubeconfigs: map[string]string{"dev-eu-1": cp.Kubeconfig}},
		Builtin: environments.Templates(), ChartCache: t.TempDir(), WaitInterval: 200 * time.Millisecond,
		Now: func() time.Time { return now },
	}
	if res := r.Pass(context.Background()); res.Failed() || !res.Clusters[0].Environments[0].Asleep {
		t.Fatalf("the first pass: %v %+v", res.Err, res.Clusters)
	}
	w := newBotWorld(t)
	w.bot.Waker = r
	w.gh.SetPublicEmail("jane-gh", "Jane@acme.example")
	w.gh.SetPublicEmail("mallory", "mallory@evil.example")
	n := w.open("dev-dan")
	w.comment(n, "alice", "/approve")
	if len(w.gh.Merges()) != 1 {
		t.Fatal("the request was not merged")
	}
	return w, r, n
}

func TestWakeFromThePullRequest(t *testing.T) {
	w, r, n := wakeWorld(t)

	t.Run("someone who is not the owner or a member is refused", func(t *testing.T) {
		c := w.comment(n, "mallory", "/wake")
		if got := w.reactions(c.ID); !cmp.Equal(got, []string{"confused"}) {
			t.Errorf("reactions %v, want confused", got)
		}
		replies := w.replies(n)
		if len(replies) == 0 || !strings.Contains(replies[len(replies)-1], "@mallory may not wake `checkout-dev`: only "+comment.WhoMayAct) {
			t.Errorf("replies %q", replies)
		}
		res := r.Pass(context.Background())
		if e := res.Clusters[0].Environments[0]; !e.Asleep {
			t.Error("awake after a refused /wake")
		}
	})

	t.Run("the owner wakes it until the next scheduled sleep", func(t *testing.T) {
		c := w.comment(n, "jane-gh", "Need it tonight.\n/wake")
		if got := w.reactions(c.ID); !cmp.Equal(got, []string{"+1"}) {
			t.Errorf("reactions %v, want +1", got)
		}
		replies := w.replies(n)
		if len(replies) == 0 || !strings.Contains(replies[len(replies)-1], "Woke `checkout-dev` until its next scheduled sleep, at the request of @jane-gh") {
			t.Errorf("replies %q", replies)
		}
		res := r.Pass(context.Background())
		e := res.Clusters[0].Environments[0]
		if want := time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC); e.Asleep || !e.SleepUntil.Equal(want) {
			t.Errorf("after /wake: asleep %v until %s, want awake until %s", e.Asleep, e.SleepUntil, want)
		}
	})

	t.Run("the author of the pull request that created it may wake it too", func(t *testing.T) {
		w.comment(n, "dev-dan", "/wake 2h")
		replies := w.replies(n)
		if len(replies) == 0 || !strings.Contains(replies[len(replies)-1], "Woke `checkout-dev` for 2h0m0s, at the request of @dev-dan") {
			t.Errorf("replies %q", replies)
		}
	})

	t.Run("a duration it cannot read is refused", func(t *testing.T) {
		c := w.comment(n, "jane-gh", "/wake soon")
		if got := w.reactions(c.ID); !cmp.Equal(got, []string{"confused"}) {
			t.Errorf("reactions %v, want confused", got)
		}
		// What the commenter wrote stays inside its code span: a backtick
		// in it cannot end the span and write Markdown into the reply.
		w.comment(n, "jane-gh", "/wake `**bold**`")
		replies := w.replies(n)
		if len(replies) == 0 || !strings.Contains(replies[len(replies)-1], "`` /wake `**bold**` ``: write `/wake`") {
			t.Errorf("the reply to a /wake with a backtick does not keep it in code; replies %q", replies)
		}
	})
}
