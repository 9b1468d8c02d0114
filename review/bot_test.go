package review_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/review"
	"github.com/allot-dev/allot/review/comment"
	"github.com/allot-dev/allot/review/ghclient"
	"github.com/allot-dev/allot/test/harness"
	"github.com/allot-dev/allot/test/harness/githubapi"
)

const (
	botRepo      = "acme/requests"
	botSecret    = "whsec-3c1f9e7a"
	planSecret   = "hunter2-plan-value"
	envFile      = "environments/payments/checkout-dev.yaml"
	headSHA      = "1111111111111111111111111111111111111111"
	secondSHA    = "2222222222222222222222222222222222222222"
	mergeCommit  = "9999999999999999999999999999999999999999"
	approverTeam = "acme/payments-leads"
)

// stubChecker is allot's own Checker, replaced so these tests are about the
// conversation with GitHub; the end-to-end test runs the real one.
type stubChecker struct {
	mu     sync.Mutex
	policy review.Policy
	report func(req review.CheckRequest) *comment.Report
	calls  []review.CheckRequest
}

func (c *stubChecker) Check(_ context.Context, req review.CheckRequest) (*comment.Report, review.Policy, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, req)
	r := &comment.Report{SHA: req.PR.HeadSHA, Files: req.Files, Environments: []string{"checkout-dev"},
		Plan: &reconciler.Plan{Entries: []reconciler.PlanEntry{{Cluster: "dev-eu-1", Environment: "checkout-dev", Action: reconciler.ActionCreated,
			Changes: []reconciler.Change{{Object: "v1/Namespace/checkout-dev", Action: "create"}}}}}}
	if c.report != nil {
		r = c.report(req)
	}
	return r, c.policy, nil
}

func (c *stubChecker) requests() []review.CheckRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]review.CheckRequest(nil), c.calls...)
}

// stubApplier records what it was asked to apply.
type stubApplier struct {
	mu       sync.Mutex
	commits  []string
	outcomes []comment.Outcome
}

func (a *stubApplier) Apply(_ context.Context, commit string, _ []string) ([]comment.Outcome, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.commits = append(a.commits, commit)
	return a.outcomes, nil
}

// botWorld is a GitHub API server that delivers its webhooks to a Bot
// behind the real webhook Handler.
type botWorld struct {
	t          testing.TB
	gh         *githubapi.Server
	bot        *review.Bot
	checker    *stubChecker
	applier    *stubApplier
	handler    *review.Handler
	serializer *review.Serializer
}

func newBotWorld(t testing.TB) *botWorld {
	t.Helper()
	gh := githubapi.New(t)
	gh.AddRepo(githubapi.Repo{FullName: botRepo})
	gh.AddTeamMember("acme", "payments-leads", "carol")
	w := &botWorld{t: t, gh: gh,
		checker: &stubChecker{policy: review.Policy{Approvers: review.Approvers{Logins: []string{"alice", "octocat"}, Teams: []string{approverTeam}}, AutoMerge: true, MergeMethod: review.MergeSquash}},
		applier: &stubApplier{outcomes: []comment.Outcome{{Environment: "checkout-dev", Kind: comment.KindNamespace, Cluster: "dev-eu-1", Namespace: "checkout-dev", Ready: true, Groups: []string{"allot-checkout-dev"}}}},
	}
	w.start(gh.Token("allot-bot"))
	return w
}

// start (re)starts the bot with empty memory, as after a restart.
func (w *botWorld) start(token string) {
	w.t.Helper()
	clients, err := ghclient.NewTokenClients(token, w.gh.URL(), nil)
	if err != nil {
		w.t.Fatal(err)
	}
	w.startWith(clients, token)
}

// startWith starts the bot with clients; secret is masked.
func (w *botWorld) startWith(clients review.Clients, token string) {
	w.t.Helper()
	w.bot = &review.Bot{Clients: clients, Checker: w.checker, Applier: w.applier, Repository: botRepo,
		Secrets: []string{botSecret, token, planSecret}, MergeRetry: 10 * time.Millisecond}
	w.serializer = &review.Serializer{Handle: w.bot.Handle}
	w.bot.Requeue = func(ev review.Event, d time.Duration) { time.AfterFunc(d, func() { w.serializer.Dispatch(ev) }) }
	h, err := review.NewHandler([]byte(botSecret), w.serializer.Dispatch, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	w.handler = h
	srv := httptest.NewServer(h)
	w.t.Cleanup(srv.Close)
	w.gh.DeliverTo(srv.URL, []byte(botSecret))
}

// settle waits until every delivery, including those that follow the
// bot's own API calls, has been handled.
func (w *botWorld) settle() {
	w.t.Helper()
	for range 20 {
		w.gh.Wait()
		w.handler.Wait()
		w.serializer.Wait()
		before := len(w.gh.Deliveries())
		time.Sleep(30 * time.Millisecond) // rechecks run on timers
		w.gh.Wait()
		w.handler.Wait()
		w.serializer.Wait()
		if len(w.gh.Deliveries()) == before {
			return
		}
	}
}

func (w *botWorld) open(author string) int {
	w.t.Helper()
	n := w.gh.OpenPR(botRepo, githubapi.PR{Author: author, HeadSHA: headSHA, Title: "Add checkout-dev", Files: []githubapi.File{{Filename: envFile, Status: "added"}}})
	w.settle()
	return n
}

func (w *botWorld) comment(number int, login, body string) githubapi.Comment {
	w.t.Helper()
	c := w.gh.AddComment(botRepo, number, login, body)
	w.settle()
	return c
}

// botComments are the comments that carry Marker.
func (w *botWorld) botComments(number int) []githubapi.Comment {
	var out []githubapi.Comment
	for _, c := range w.gh.Comments(botRepo, number) {
		if strings.HasPrefix(c.Body, comment.Marker) {
			out = append(out, c)
		}
	}
	return out
}

func (w *botWorld) botComment(number int) string {
	w.t.Helper()
	cs := w.botComments(number)
	if len(cs) != 1 {
		w.t.Fatalf("%d bot comments, want exactly one", len(cs))
	}
	return cs[0].Body
}

func (w *botWorld) reactions(commentID int64) []string {
	var out []string
	for _, r := range w.gh.Reactions(botRepo, commentID) {
		out = append(out, r.Content)
	}
	return out
}

func (w *botWorld) replies(number int) []string {
	var out []string
	for _, c := range w.gh.Comments(botRepo, number) {
		if strings.HasPrefix(c.Body, review.ReplyMarker) {
			out = append(out, c.Body)
		}
	}
	return out
}

func TestBotChecksAndCommentsOnANewPullRequest(t *testing.T) {
	w := newBotWorld(t)
	n := w.open("dev-dan")

	statuses := w.gh.Statuses(botRepo, headSHA)
	if len(statuses) < 2 {
		t.Fatalf("statuses %+v: want pending, then the verdict", statuses)
	}
	if got := statuses[len(statuses)-1]; got.Context != review.CheckName || got.State != "success" {
		t.Errorf("latest status %+v, want %s success", got, review.CheckName)
	}
	body := w.botComment(n)
	for _, want := range []string{"checkout-dev", "dev-eu-1", "@alice"} {
		if !strings.Contains(body, want) {
			t.Errorf("the bot comment does not mention %q:\n%s", want, body)
		}
	}
	reqs := w.checker.requests()
	if len(reqs) != 1 || reqs[0].Fork || !cmp.Equal(reqs[0].Files, []string{envFile}) {
		t.Errorf("checks %+v, want one of the pull request's files, not as a fork", reqs)
	}
	if len(w.gh.Merges()) != 0 {
		t.Error("merged without approval")
	}
}

func TestBotCommandsAndApprovals(t *testing.T) {
	t.Run("the author cannot approve their own request", func(t *testing.T) {
		w := newBotWorld(t)
		n := w.open("octocat") // octocat is also an approver
		c := w.comment(n, "octocat", "/approve")
		if got := w.reactions(c.ID); !cmp.Equal(got, []string{"confused"}) {
			t.Errorf("reactions %v, want confused", got)
		}
		if r := w.replies(n); len(r) != 1 || !strings.Contains(r[0], review.ReasonSelfApproval) || strings.Contains(r[0], "Approvers are the logins") {
			t.Errorf("replies %q, want one saying %q, without where approvers are named", r, review.ReasonSelfApproval)
		}
		if len(w.gh.Merges()) != 0 {
			t.Error("a self-approved request was merged")
		}
	})
	t.Run("a non-approver's approval does not count", func(t *testing.T) {
		w := newBotWorld(t)
		n := w.open("dev-dan")
		c := w.comment(n, "mallory", "LGTM\n/approve")
		if got := w.reactions(c.ID); !cmp.Equal(got, []string{"confused"}) {
			t.Errorf("reactions %v, want confused", got)
		}
		if r := w.replies(n); len(r) != 1 || !strings.Contains(r[0], review.ReasonNotApprover) || !strings.Contains(r[0], "@mallory") ||
			!strings.Contains(r[0], "Approvers are the logins and teams that `allot.yaml` on the base branch names") {
			t.Errorf("replies %q, want one telling @mallory %q and where approvers are named", r, review.ReasonNotApprover)
		}
		if len(w.gh.Merges()) != 0 {
			t.Error("merged on a non-approver's approval")
		}
	})
	t.Run("an approver's approval merges with the reviewed head pinned", func(t *testing.T) {
		w := newBotWorld(t)
		n := w.open("dev-dan")
		c := w.comment(n, "alice", "/approve")
		if got := w.reactions(c.ID); !cmp.Equal(got, []string{"+1"}) {
			t.Errorf("reactions %v, want +1", got)
		}
		merges := w.gh.Merges()
		if len(merges) != 1 || merges[0].SHA != headSHA || merges[0].Method != "squash" {
			t.Fatalf("merges %+v, want one of %s by squash", merges, headSHA)
		}
		if !strings.Contains(w.botComment(n), "alice") {
			t.Error("the bot comment does not say who approved")
		}
	})
	t.Run("a team member approves", func(t *testing.T) {
		w := newBotWorld(t)
		n := w.open("dev-dan")
		w.comment(n, "carol", "/approve")
		if len(w.gh.Merges()) != 1 {
			t.Errorf("merges %+v, want one after the approval of a member of %s", w.gh.Merges(), approverTeam)
		}
	})
	t.Run("a hold blocks the merge until lifted", func(t *testing.T) {
		w := newBotWorld(t)
		n := w.open("dev-dan")
		w.comment(n, "carol", "/hold")
		w.comment(n, "alice", "/approve")
		if len(w.gh.Merges()) != 0 {
			t.Fatal("merged while held")
		}
		if body := w.botComment(n); !strings.Contains(body, "carol") {
			t.Errorf("the bot comment does not say who holds it:\n%s", body)
		}
		w.comment(n, "mallory", "/unhold")
		if len(w.gh.Merges()) != 0 {
			t.Fatal("a non-approver lifted the hold")
		}
		w.comment(n, "carol", "/unhold")
		if len(w.gh.Merges()) != 1 {
			t.Errorf("merges %+v, want one once the hold is lifted", w.gh.Merges())
		}
	})
	t.Run("an approval on an older commit does not count", func(t *testing.T) {
		w := newBotWorld(t)
		n := w.open("dev-dan")
		w.comment(n, "carol", "/hold")
		w.comment(n, "alice", "/approve")
		w.gh.Push(botRepo, n, secondSHA)
		w.settle()
		w.comment(n, "carol", "/unhold")
		if len(w.gh.Merges()) != 0 {
			t.Fatal("merged on an approval of the previous head")
		}
		if body := w.botComment(n); !strings.Contains(body, "older commit") && !strings.Contains(body, "again") {
			t.Errorf("the bot comment does not ask alice to approve again:\n%s", body)
		}
		w.comment(n, "alice", "/approve")
		if m := w.gh.Merges(); len(m) != 1 || m[0].SHA != secondSHA {
			t.Errorf("merges %+v, want one of the new head %s", m, secondSHA)
		}
	})
	t.Run("help and unknown commands get a reply", func(t *testing.T) {
		w := newBotWorld(t)
		n := w.open("dev-dan")
		w.comment(n, "dev-dan", "/help")
		c := w.comment(n, "dev-dan", "/lgtm")
		replies := w.replies(n)
		if len(replies) != 2 || !strings.Contains(replies[0], "/approve cancel") || !strings.Contains(replies[1], "/lgtm") {
			t.Errorf("replies %q, want the help and a word about /lgtm", replies)
		}
		if got := w.reactions(c.ID); !cmp.Equal(got, []string{"confused"}) {
			t.Errorf("reactions %v, want confused", got)
		}
	})
	t.Run("plan runs the check again", func(t *testing.T) {
		w := newBotWorld(t)
		n := w.open("dev-dan")
		w.comment(n, "dev-dan", "/plan")
		if got := len(w.checker.requests()); got != 2 {
			t.Errorf("%d checks, want 2", got)
		}
		if got := len(w.botComments(n)); got != 1 {
			t.Errorf("%d bot comments, want one edited in place", got)
		}
	})
}

func TestBotRestartRecoversApprovalsFromComments(t *testing.T) {
	w := newBotWorld(t)
	n := w.open("dev-dan")
	w.comment(n, "carol", "/hold")
	w.comment(n, "alice", "/approve")
	if len(w.gh.Merges()) != 0 {
		t.Fatal("merged while held")
	}
	w.start(w.gh.Token("allot-bot")) // a new process: nothing in memory
	w.comment(n, "carol", "/unhold")
	if m := w.gh.Merges(); len(m) != 1 || m[0].SHA != headSHA {
		t.Errorf("merges %+v, want alice's approval recovered from the comments", m)
	}
	if got := len(w.botComments(n)); got != 1 {
		t.Errorf("%d bot comments after the restart, want the same one edited", got)
	}
	if got := len(w.checker.requests()); got != 2 {
		t.Errorf("%d checks, want the restarted bot to check the head once more", got)
	}
}

func TestBotConcurrentCommentsLeaveConsistentState(t *testing.T) {
	w := newBotWorld(t)
	n := w.open("dev-dan")
	w.comment(n, "carol", "/hold")
	var wg sync.WaitGroup
	for _, login := range []string{"alice", "octocat", "carol"} {
		wg.Go(func() {
			body := "/approve"
			if login == "carol" {
				body = "/approve\n/unhold"
			}
			w.gh.AddComment(botRepo, n, login, body)
		})
	}
	wg.Wait()
	w.settle()
	if m := w.gh.Merges(); len(m) != 1 {
		t.Errorf("merges %+v, want exactly one", m)
	}
	if got := len(w.botComments(n)); got != 1 {
		t.Errorf("%d bot comments, want one", got)
	}
	// Whichever approval came first after the hold was lifted merged it;
	// the comment says so, and later events leave the closed request be.
	if body := w.botComment(n); !strings.Contains(body, "merged as") {
		t.Errorf("the bot comment does not say it merged:\n%s", body)
	}
}

func TestBotIgnoresAReplayedDelivery(t *testing.T) {
	w := newBotWorld(t)
	n := w.open("dev-dan")
	c := w.comment(n, "dev-dan", "/help")
	d, ok := w.gh.LastDelivery()
	for _, dd := range w.gh.Deliveries() {
		if dd.Event == "issue_comment" && strings.Contains(string(dd.Payload), fmt.Sprint(c.ID)) {
			d, ok = dd, true
		}
	}
	if !ok {
		t.Fatal("no delivery")
	}
	again := w.gh.Redeliver(d)
	w.settle()
	if again.Status != 200 && again.Status != 202 {
		t.Errorf("replayed delivery answered %d", again.Status)
	}
	if got := len(w.replies(n)); got != 1 {
		t.Errorf("%d help replies, want the replayed delivery processed once", got)
	}
	if got := w.reactions(c.ID); len(got) != 1 {
		t.Errorf("reactions %v, want one", got)
	}
}

func TestBotMasksSecrets(t *testing.T) {
	w := newBotWorld(t)
	w.checker.report = func(req review.CheckRequest) *comment.Report {
		return &comment.Report{SHA: req.PR.HeadSHA, Environments: []string{"checkout-dev"},
			Problems: []comment.Problem{{File: envFile, Line: 3, Message: "token " + planSecret + " is not allowed here", Warning: true}},
			Plan: &reconciler.Plan{Entries: []reconciler.PlanEntry{{Cluster: "dev-eu-1", Environment: "checkout-dev", Action: reconciler.ActionUpdated,
				Changes: []reconciler.Change{{Object: "v1/ConfigMap/checkout-dev/settings", Action: "update", Diff: "-password: old\n+password: " + planSecret + "\n"}}}}}}
	}
	n := w.open("dev-dan")
	body := w.botComment(n)
	if strings.Contains(body, planSecret) {
		t.Errorf("the bot comment shows a secret:\n%s", body)
	}
	if !strings.Contains(body, "***") {
		t.Errorf("the bot comment does not show where the secret was masked:\n%s", body)
	}
	for _, st := range w.gh.Statuses(botRepo, headSHA) {
		if strings.Contains(st.Description, planSecret) {
			t.Errorf("a status shows a secret: %q", st.Description)
		}
	}
}

func TestBotForkPullRequests(t *testing.T) {
	w := newBotWorld(t)
	w.gh.OpenPR(botRepo, githubapi.PR{Author: "stranger", HeadSHA: headSHA, HeadRepo: "stranger/requests", Files: []githubapi.File{{Filename: envFile, Status: "added"}}})
	w.settle()
	reqs := w.checker.requests()
	if len(reqs) != 1 || !reqs[0].Fork {
		t.Errorf("checks %+v, want one marked as a fork", reqs)
	}
}

func TestBotWaitsForGitHubToComputeMergeability(t *testing.T) {
	w := newBotWorld(t)
	n := w.open("dev-dan")
	w.gh.SetComputing(botRepo, n, true)
	w.gh.AddComment(botRepo, n, "alice", "/approve")
	w.gh.Wait()
	w.handler.Wait()
	w.serializer.Wait()
	if len(w.gh.Merges()) != 0 {
		t.Fatal("merged while GitHub was computing mergeability")
	}
	w.gh.SetComputing(botRepo, n, false)
	deadline := time.Now().Add(10 * time.Second)
	for len(w.gh.Merges()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	w.settle()
	if len(w.gh.Merges()) != 1 {
		t.Errorf("merges %+v, want one once GitHub knows", w.gh.Merges())
	}
}

func TestBotPostsOneReadyNoticeAfterTheMerge(t *testing.T) {
	w := newBotWorld(t)
	n := w.open("dev-dan")
	w.comment(n, "alice", "/approve")
	merges := w.gh.Merges()
	if len(merges) != 1 {
		t.Fatalf("merges %+v", merges)
	}
	var notices []string
	for _, c := range w.gh.Comments(botRepo, n) {
		if strings.HasPrefix(c.Body, comment.NoticeMarker(merges[0].MergeSHA)) {
			notices = append(notices, c.Body)
		}
	}
	if len(notices) != 1 {
		t.Fatalf("%d ready notices, want one; comments: %+v", len(notices), w.gh.Comments(botRepo, n))
	}
	for _, want := range []string{"@dev-dan", "dev-eu-1", "checkout-dev", "allot-checkout-dev", "kubectl"} {
		if !strings.Contains(notices[0], want) {
			t.Errorf("the notice does not mention %q:\n%s", want, notices[0])
		}
	}
	w.applier.mu.Lock()
	commits := w.applier.commits
	w.applier.mu.Unlock()
	if !cmp.Equal(commits, []string{merges[0].MergeSHA}) {
		t.Errorf("applied %v, want the merge commit", commits)
	}

	// The push delivered again gets no second notice.
	for _, d := range w.gh.Deliveries() {
		if d.Event == "push" {
			w.gh.Redeliver(d)
		}
	}
	w.bot.Handle(review.Event{Name: "push", Repo: botRepo, Payload: pushPayload(t, w, merges[0].MergeSHA)})
	count := 0
	for _, c := range w.gh.Comments(botRepo, n) {
		if strings.HasPrefix(c.Body, comment.NoticeMarker(merges[0].MergeSHA)) {
			count++
		}
	}
	if count != 1 {
		t.Errorf("%d notices after the push came again, want 1", count)
	}
}

// pushPayload returns the push delivery the server made for sha.
func pushPayload(t *testing.T, w *botWorld, sha string) []byte {
	t.Helper()
	for _, d := range w.gh.Deliveries() {
		if d.Event == "push" && strings.Contains(string(d.Payload), sha) {
			return d.Payload
		}
	}
	t.Fatal("no push delivery")
	return nil
}

func TestBotAsGitHubAppReportsCheckRuns(t *testing.T) {
	w := newBotWorld(t)
	key := w.gh.App(42)
	w.gh.Install(42, 4242, botRepo)
	clients, err := ghclient.NewAppClients(42, key, w.gh.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	w.startWith(clients, "")
	n := w.open("dev-dan")
	runs := w.gh.CheckRuns(botRepo, headSHA)
	if len(runs) == 0 {
		t.Fatal("no check run on the head")
	}
	if got := runs[len(runs)-1]; got.Name != review.CheckName || got.Conclusion != "success" {
		t.Errorf("check run %+v, want %s completed with success", got, review.CheckName)
	}
	if st := w.gh.Statuses(botRepo, headSHA); len(st) != 0 {
		t.Errorf("a GitHub App reported statuses %+v; it reports check runs", st)
	}
	w.comment(n, "alice", "/approve")
	if m := w.gh.Merges(); len(m) != 1 || m[0].SHA != headSHA {
		t.Errorf("merges %+v, want the head merged through the installation", m)
	}
}

func TestBotRecoverPostsTheNoticesARestartLost(t *testing.T) {
	w := newBotWorld(t)
	key := w.gh.App(42)
	w.gh.Install(42, 4242, botRepo)
	clients, err := ghclient.NewAppClients(42, key, w.gh.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	w.startWith(clients, "")
	w.bot.Applier = nil // the process that merged stopped before its notice
	n := w.open("dev-dan")
	w.comment(n, "alice", "/approve")
	merges := w.gh.Merges()
	if len(merges) != 1 {
		t.Fatalf("merges %+v", merges)
	}
	notices := func() int {
		count := 0
		for _, c := range w.gh.Comments(botRepo, n) {
			if strings.HasPrefix(c.Body, comment.NoticeMarker(merges[0].MergeSHA)) {
				count++
			}
		}
		return count
	}
	if notices() != 0 {
		t.Fatal("a notice without an applier")
	}

	w.startWith(clients, "") // the next process
	since := w.gh.Now().Add(-time.Hour)
	for range 2 {
		if err := w.bot.Recover(context.Background(), since); err != nil {
			t.Fatal(err)
		}
	}
	if got := notices(); got != 1 {
		t.Errorf("%d notices after recovering twice, want 1", got)
	}
	if err := w.bot.Recover(context.Background(), w.gh.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	w.applier.mu.Lock()
	defer w.applier.mu.Unlock()
	if !cmp.Equal(w.applier.commits, []string{merges[0].MergeSHA}) {
		t.Errorf("applied %v, want the merge commit once", w.applier.commits)
	}
}

func TestBotActsOnAnEditedCommand(t *testing.T) {
	w := newBotWorld(t)
	n := w.open("dev-dan")
	hold := w.comment(n, "carol", "/hold")
	w.comment(n, "alice", "/approve")
	if len(w.gh.Merges()) != 0 {
		t.Fatal("merged while held")
	}
	carol, err := ghclient.NewTokenClients(w.gh.Token("carol"), w.gh.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	gh, err := carol.For(0)
	if err != nil {
		t.Fatal(err)
	}
	repo, _ := review.ParseRepo(botRepo)
	if err := gh.EditComment(context.Background(), repo, hold.ID, "never mind, looks fine"); err != nil {
		t.Fatal(err)
	}
	w.settle()
	if m := w.gh.Merges(); len(m) != 1 {
		t.Errorf("merges %+v, want one once the hold was edited away", m)
	}
	if r := w.reactions(hold.ID); len(r) != 1 {
		t.Errorf("reactions %v on the edited comment, want only the first", r)
	}
}

func TestBotChecksOpenPullRequestsAgainWhenTheBaseMoves(t *testing.T) {
	w := newBotWorld(t)
	first := w.open("dev-dan")
	second := w.gh.OpenPR(botRepo, githubapi.PR{Author: "dev-eve", HeadSHA: secondSHA, Files: []githubapi.File{{Filename: "environments/web/other.yaml", Status: "added"}}})
	w.settle()
	checks := func(n int) int {
		count := 0
		for _, r := range w.checker.requests() {
			if r.PR.Number == n {
				count++
			}
		}
		return count
	}
	if checks(second) != 1 {
		t.Fatalf("%d checks of #%d, want 1", checks(second), second)
	}
	w.comment(first, "alice", "/approve")
	if len(w.gh.Merges()) != 1 {
		t.Fatal("the first pull request was not merged")
	}
	if got := checks(second); got != 2 {
		t.Errorf("%d checks of #%d after the base moved, want 2", got, second)
	}
	if got := len(w.botComments(second)); got != 1 {
		t.Errorf("%d bot comments on #%d, want one edited", got, second)
	}
}

// Issue 15: serve's shutdown reaches the events being handled: with its
// base context ended, the bot stops handling an event at its first call
// and says why, instead of running on for up to HandleTimeout.
func TestShutdownCancelsTheEventsInFlight(t *testing.T) {
	w := newBotWorld(t)
	base, stop := context.WithCancel(context.Background())
	stop()
	var logs harness.SyncBuffer
	w.bot.Log = slog.New(slog.NewTextHandler(&logs, nil))
	w.bot.BaseContext = func() context.Context { return base }
	w.gh.OpenPR(botRepo, githubapi.PR{Author: "bob", HeadSHA: "h1", Files: []githubapi.File{{Filename: "environments/payments/checkout-dev.yaml", Status: "added"}}})
	w.settle()
	if got := logs.String(); !strings.Contains(got, "context canceled") {
		t.Errorf("the event was not cut short by the ended context; logs:\n%s", got)
	}
	if n := len(w.checker.requests()); n != 0 {
		t.Errorf("%d checks ran after shutdown", n)
	}
}
