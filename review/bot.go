package review

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/review/comment"
	"github.com/allot-dev/allot/schemas"
)

// Checker knows how to validate and plan the head commit of a pull request,
// and how to read the platform's review policy from allot.yaml on its base
// branch.
type Checker interface {
	Check(ctx context.Context, req CheckRequest) (*comment.Report, Policy, error)
}

// CheckRequest is one pull request head to check.
type CheckRequest struct {
	Repo Repo
	PR   *PullRequest
	// Files are the paths the pull request changes (GitHub.Files).
	Files []string
	// Fork is set for pull requests from forks: they are checked without
	// secrets, and planned only when Policy.PlanForks allows it.
	Fork bool
	// BaseTip is the base branch's commit when the check started. The
	// checker validates and plans the pull request's changes on top of the
	// base branch, and reports the base it used in Report.BaseSHA.
	BaseTip string
}

// Policy is what allot.yaml on the base branch says about reviews.
type Policy struct {
	// Approvers may approve the environments the pull request touches:
	// their team's approvers, or the default ones.
	Approvers Approvers
	// PlanForks lets pull requests from forks be planned against the
	// clusters.
	PlanForks bool
	// AutoMerge merges approved, green pull requests.
	AutoMerge bool
	// MergeMethod is how allot merges.
	MergeMethod MergeMethod
}

// PolicyFrom reads the review policy of a platform for a pull request that
// touches environments of the given teams. One team's approvers are its
// own list, or the default list when it has none; a pull request that
// touches the environments of several teams, or changes anything but
// request files (requestsOnly false: allot.yaml, templates/, add-on
// folders), needs a default approver.
func PolicyFrom(spec *schemas.PlatformSpec, teams []string, requestsOnly bool) Policy {
	p := Policy{AutoMerge: true, MergeMethod: MergeCommit}
	if spec == nil {
		return p
	}
	list := spec.Approvers.Default
	if len(teams) == 1 && requestsOnly {
		if own, ok := spec.Approvers.Teams[teams[0]]; ok && len(own) > 0 {
			list = own
		}
	}
	for _, a := range list {
		if strings.Contains(a, "/") {
			p.Approvers.Teams = append(p.Approvers.Teams, a)
		} else {
			p.Approvers.Logins = append(p.Approvers.Logins, strings.TrimPrefix(a, "@"))
		}
	}
	if r := spec.Review; r != nil {
		p.PlanForks = r.PlanForks
		if r.AutoMerge != nil {
			p.AutoMerge = *r.AutoMerge
		}
		if r.MergeMethod != "" {
			p.MergeMethod = MergeMethod(r.MergeMethod)
		}
	}
	return p
}

// Applier knows how to run a reconcile pass that includes commit and tell
// how the environments that files name came out.
type Applier interface {
	Apply(ctx context.Context, commit string, files []string) ([]comment.Outcome, error)
}

// Bot runs the pull-request workflow for the events Handler accepts: it
// checks pull requests, keeps one comment on each up to date, acts on
// comment commands, merges what is approved and green, and, after a merge,
// tells the pull request when its environments are ready. Its state lives
// on GitHub (comments, checks), so a restarted bot carries on where it was.
type Bot struct {
	// BaseContext, when set, is the context every event is handled in, so
	// that serve's shutdown cancels the handling in flight; nil means
	// context.Background. Each event is also bounded by HandleTimeout.
	BaseContext func() context.Context
	Clients     Clients
	Checker     Checker
	// Applier runs the pass after a merge; nil means no ready notices.
	Applier Applier
	// Waker wakes environments on /wake; nil answers that it cannot.
	Waker Waker
	// Repository limits the bot to the requests repository, "owner/name";
	// empty accepts any repository the installation sends.
	Repository string
	// Branch is the branch allot reconciles; pushes to it and pull
	// requests merged into it get ready notices. Empty means the
	// repository's default branch.
	Branch string
	// Secrets are masked in everything the bot writes to GitHub.
	Secrets []string
	// Requeue runs ev again after delay, through the same serialisation
	// as webhook events; the bot uses it to wait for GitHub to compute
	// mergeability. Nil means time.AfterFunc calling Handle.
	Requeue func(ev Event, delay time.Duration)
	// MergeRetry is the wait before looking at mergeability again; zero
	// means 3 seconds. MergeAttempts bounds those looks; zero means 5.
	MergeRetry    time.Duration
	MergeAttempts int
	// Now is the clock of expiry notices and extensions; nil means
	// time.Now.
	Now func() time.Time
	Log *slog.Logger

	mu       sync.Mutex
	checked  map[string]checked // by repo#number
	comments map[string]int64   // the bot comment, by repo#number
	// expiries are the environments' expiries as the last pass reported
	// them; notices the expiry notice markers seen on GitHub; origins the
	// pull request that created an environment, by commit and file.
	expiries map[string]reconciler.Expiry
	notices  map[string]bool
	origins  map[string]int
	// gone holds the notices of environments torn down, by marker, until
	// they are posted.
	gone map[string]expiryNotice
}

// checked is the last check of a pull request's head: the head is
// report.SHA.
type checked struct {
	report *comment.Report
	policy Policy
}

// EventRecheck is a synthetic event the bot queues for itself to look at a
// pull request again, for example while GitHub computes mergeability.
const EventRecheck = "allot_recheck"

// payload holds the fields of webhook payloads the bot reads.
type payload struct {
	Action       string `json:"action"`
	Installation *struct {
		ID int64 `json:"id"`
	} `json:"installation"`
	Changes *struct {
		Base json.RawMessage `json:"base"`
	} `json:"changes"`
	Comment *struct {
		ID   int64  `json:"id"`
		Body string `json:"body"`
		User struct {
			Login string `json:"login"`
			Type  string `json:"type"`
		} `json:"user"`
	} `json:"comment"`
	// Push events.
	Ref        string `json:"ref"`
	After      string `json:"after"`
	Deleted    bool   `json:"deleted"`
	Repository *struct {
		DefaultBranch string `json:"default_branch"`
	} `json:"repository"`
	Commits []struct {
		Added    []string `json:"added"`
		Modified []string `json:"modified"`
		Removed  []string `json:"removed"`
	} `json:"commits"`
	// Attempt counts rechecks; Recheck asks for the head to be checked
	// again, because the base moved (EventRecheck only).
	Attempt int  `json:"allot_attempt"`
	Recheck bool `json:"allot_recheck"`
}

// HandleTimeout bounds the handling of one event: a check that fetches,
// renders and plans, or a merge and the pass after it.
const HandleTimeout = 15 * time.Minute

// Handle processes one event; pass it to Serializer.Handle. Errors are
// logged: GitHub does not retry deliveries, and the next event about the
// pull request recomputes everything.
func (b *Bot) Handle(ev Event) {
	base := context.Background()
	if b.BaseContext != nil {
		base = b.BaseContext()
	}
	ctx, cancel := context.WithTimeout(base, HandleTimeout)
	defer cancel()
	if err := b.handle(ctx, ev); err != nil {
		b.log().Error("review", "event", ev.Name, "action", ev.Action, "delivery", ev.Delivery, "repository", ev.Repo, "pr", ev.PR, "error", comment.Mask(err.Error(), b.Secrets))
	}
}

func (b *Bot) handle(ctx context.Context, ev Event) error {
	if ev.Repo == "" || b.Repository != "" && !strings.EqualFold(ev.Repo, b.Repository) {
		return nil
	}
	repo, err := ParseRepo(ev.Repo)
	if err != nil {
		return err
	}
	var p payload
	if err := json.Unmarshal(ev.Payload, &p); err != nil {
		return fmt.Errorf("parse %s payload: %w", ev.Name, err)
	}
	var installation int64
	if p.Installation != nil {
		installation = p.Installation.ID
	}
	gh, err := b.Clients.For(installation)
	if err != nil {
		return err
	}
	t := &turn{bot: b, gh: gh, repo: repo, number: ev.PR, ev: ev, p: p}
	switch ev.Name {
	case "pull_request":
		switch ev.Action {
		case "opened", "synchronize":
			t.newHead = true
		case "reopened", "ready_for_review":
			t.recheck = true
		case "edited":
			if p.Changes == nil || len(p.Changes.Base) == 0 {
				return nil // a new title or body changes nothing
			}
			t.recheck = true
		case "closed":
			b.forget(repo, ev.PR)
			return nil
		default:
			return nil
		}
		return t.review(ctx)
	case "issue_comment":
		if ev.PR == 0 || p.Comment == nil {
			return nil
		}
		if p.Comment.User.Type == "Bot" || strings.HasSuffix(p.Comment.User.Login, "[bot]") || fromAllot(p.Comment.Body) {
			return nil
		}
		switch ev.Action {
		case "edited", "deleted":
			// An edited or deleted command changes the state, which is
			// read from the comments as they are now; no reply is due.
			return t.review(ctx)
		case "created":
		default:
			return nil
		}
		t.comment = p.Comment.ID
		t.commands = ParseCommands(p.Comment.Body)
		// /wake is for the merged pull request, which review leaves alone.
		if i := slices.IndexFunc(t.commands, func(c Command) bool { return c.Name == Wake }); i >= 0 {
			if err := t.wake(ctx, t.commands[i]); err != nil {
				return err
			}
			t.commands = slices.DeleteFunc(t.commands, func(c Command) bool { return c.Name == Wake })
		}
		if len(t.commands) == 0 {
			return nil
		}
		if slices.ContainsFunc(t.commands, func(c Command) bool { return c.Name == Extend }) {
			// /extend goes on the merged pull request; it is the
			// comment's only business.
			return t.extend(ctx)
		}
		return t.review(ctx)
	case EventRecheck:
		t.recheck = p.Recheck
		return t.review(ctx)
	case "push":
		return t.pushed(ctx)
	}
	return nil
}

func (b *Bot) log() *slog.Logger {
	if b.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return b.Log
}

func key(repo Repo, number int) string {
	return fmt.Sprintf("%s#%d", strings.ToLower(repo.String()), number)
}

func (b *Bot) lastCheck(repo Repo, number int) (checked, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.checked[key(repo, number)]
	return c, ok
}

func (b *Bot) remember(repo Repo, number int, c checked) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.checked == nil {
		b.checked = map[string]checked{}
	}
	b.checked[key(repo, number)] = c
}

func (b *Bot) forget(repo Repo, number int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.checked, key(repo, number))
	delete(b.comments, key(repo, number))
}

func (b *Bot) commentID(repo Repo, number int) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.comments[key(repo, number)]
}

func (b *Bot) rememberComment(repo Repo, number int, id int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.comments == nil {
		b.comments = map[string]int64{}
	}
	b.comments[key(repo, number)] = id
}

func (b *Bot) requeue(ev Event, delay time.Duration) {
	if b.Requeue != nil {
		b.Requeue(ev, delay)
		return
	}
	time.AfterFunc(delay, func() { b.Handle(ev) })
}
