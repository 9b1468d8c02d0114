package review

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/allot-dev/allot/review/comment"
)

// turn is the bot's work on one event.
type turn struct {
	bot    *Bot
	gh     GitHub
	repo   Repo
	number int
	ev     Event
	p      payload

	// newHead is set when the event says the head changed; recheck when
	// the head must be checked again although it did not.
	newHead, recheck bool
	// comment and commands are the comment that triggered the turn.
	comment  int64
	commands []Command
}

// review brings a pull request up to date: check the head if needed, work
// out the approval state from the comments, answer the triggering comment,
// merge when everything allows it, and edit the bot comment.
func (t *turn) review(ctx context.Context) error {
	pr, err := t.gh.PullRequest(ctx, t.repo, t.number)
	if err != nil {
		return err
	}
	if pr.State != "open" {
		return nil
	}
	for _, c := range t.commands {
		if c.Name == Plan {
			t.recheck = true
		}
	}
	c, err := t.check(ctx, pr)
	if err != nil {
		return err
	}
	comments, err := t.gh.Comments(ctx, t.repo, t.number)
	if err != nil {
		return err
	}
	since, sinceOK, err := t.gh.HeadSince(ctx, t.repo, pr.HeadSHA)
	if err != nil {
		return err
	}
	for i := range comments {
		// GitHub does not record which commit was the head when a comment
		// was made. A comment made after allot first saw the head was
		// made on it; one made in the same second is treated as older.
		if sinceOK && comments[i].CreatedAt.After(since) {
			comments[i].CommitSHA = pr.HeadSHA
		}
	}
	state := State(comments, pr.Author, pr.HeadSHA, c.policy.Approvers, t.isMember(ctx))
	if !state.Approved && c.report.Passed() && t.extensionApproved(ctx, pr) {
		state.Approved, state.ApprovedBy = true, append(state.ApprovedBy, ApprovedByPolicy)
	}
	if err := t.answer(ctx, state); err != nil {
		return err
	}
	if waitingFor(pr, c, state) == "" {
		// Merging lands the change on the base branch as it is now: when
		// the base moved since the check, check again on top of it, so two
		// pull requests that are each fine alone (the same name, say)
		// cannot both merge.
		tip, err := t.gh.BranchHead(ctx, t.repo, pr.BaseRef)
		if err != nil {
			return err
		}
		if c.report.BaseSHA != "" && !strings.EqualFold(tip, c.report.BaseSHA) {
			t.recheck = true
			if c, err = t.check(ctx, pr); err != nil {
				return err
			}
		}
	}
	merge := t.merge(ctx, pr, c, state)
	view := comment.View{Report: c.report, Approval: state.Approval, Approvers: c.policy.Approvers.Logins, ApproverTeams: c.policy.Approvers.Teams,
		Author: pr.Author, Merge: merge, Fork: pr.FromFork(t.repo)}
	return t.upsertComment(ctx, comments, view)
}

// check returns the check of the pull request's head, running it when the
// head or base is new to this bot or a new check was asked for.
func (t *turn) check(ctx context.Context, pr *PullRequest) (checked, error) {
	last, ok := t.bot.lastCheck(t.repo, t.number)
	if ok && !t.newHead && !t.recheck && last.report.SHA == pr.HeadSHA {
		return last, nil
	}
	// A head allot never checked is new to it; after a restart, GitHub
	// still has the checks allot made before.
	newHead := t.newHead
	if !newHead {
		_, seen, err := t.gh.HeadSince(ctx, t.repo, pr.HeadSHA)
		if err != nil {
			return checked{}, err
		}
		newHead = !seen
	}
	pending := Check{SHA: pr.HeadSHA, State: CheckPending, Title: "Validating and planning", NewHead: newHead}
	if err := t.gh.SetCheck(ctx, t.repo, pending); err != nil {
		return checked{}, err
	}
	files, err := t.gh.Files(ctx, t.repo, t.number)
	if err != nil {
		return checked{}, err
	}
	tip, err := t.gh.BranchHead(ctx, t.repo, pr.BaseRef)
	if err != nil {
		return checked{}, err
	}
	fork := pr.FromFork(t.repo)
	report, policy, err := t.bot.Checker.Check(ctx, CheckRequest{Repo: t.repo, PR: pr, Files: files, Fork: fork, BaseTip: tip})
	if err != nil {
		report = &comment.Report{SHA: pr.HeadSHA, Err: err.Error()}
	}
	report.SHA = cmp.Or(report.SHA, pr.HeadSHA)
	report.BaseSHA = cmp.Or(report.BaseSHA, tip)
	title, summary := comment.RenderCheck(report, t.bot.Secrets)
	final := Check{SHA: pr.HeadSHA, State: CheckFailure, Title: title, Summary: summary, DetailsURL: pr.HTMLURL}
	if report.Passed() {
		final.State = CheckSuccess
	}
	if err := t.gh.SetCheck(ctx, t.repo, final); err != nil {
		return checked{}, err
	}
	c := checked{report: report, policy: policy}
	t.bot.remember(t.repo, t.number, c)
	return c, nil
}

// isMember asks GitHub about team membership; an error counts as not a
// member, and is logged.
func (t *turn) isMember(ctx context.Context) TeamMember {
	return func(login, orgTeam string) bool {
		org, team, ok := strings.Cut(orgTeam, "/")
		if !ok {
			return false
		}
		member, err := t.gh.IsTeamMember(ctx, org, team, login)
		if err != nil {
			t.bot.log().Warn("team membership", "team", orgTeam, "login", login, "error", err)
			return false
		}
		return member
	}
}

// answer reacts to the comment that triggered the turn: a thumbs-up when
// every command in it was taken, otherwise a confused reaction and a
// short reply that says why; /help gets the help text.
func (t *turn) answer(ctx context.Context, state PRState) error {
	if t.comment == 0 {
		return nil
	}
	var refused []comment.Refused
	for _, r := range state.Refusals {
		if r.CommentID == t.comment {
			refused = append(refused, comment.Refused{Author: r.Author, Command: string(r.Command), Reason: r.Reason, NotApprover: r.Reason == ReasonNotApprover})
		}
	}
	var unknown []comment.Unknown
	help := false
	for _, c := range t.commands {
		switch c.Name {
		case Unknown:
			unknown = append(unknown, comment.Unknown{Word: c.Word, Args: c.Args})
		case Help:
			help = true
		}
	}
	reaction := ReactionAck
	if len(refused) > 0 || len(unknown) > 0 {
		reaction = ReactionConfused
	}
	if err := t.gh.React(ctx, t.repo, t.comment, reaction); err != nil {
		return err
	}
	var replies []string
	if len(refused) > 0 || len(unknown) > 0 {
		replies = append(replies, comment.RenderRefusals(refused, unknown))
	}
	if help {
		replies = append(replies, comment.RenderHelp())
	}
	if len(replies) == 0 {
		return nil
	}
	_, err := t.gh.CreateComment(ctx, t.repo, t.number, replyMarker+"\n"+comment.Mask(strings.Join(replies, "\n\n"), t.bot.Secrets))
	return err
}

// replyMarker starts the bot's replies to commands.
const replyMarker = allotPrefix + "reply -->"

// waitingFor says what allot's own rules still wait for before a merge,
// or "" when they allow it.
func waitingFor(pr *PullRequest, c checked, state PRState) string {
	switch {
	case !c.report.Passed():
		return "allot's check to pass"
	case state.Held:
		return "the hold to be lifted"
	case !state.Approved:
		return "approval from an approver"
	case pr.Draft:
		return "the pull request to be marked ready for review"
	case c.report.SHA != pr.HeadSHA:
		return "the new head to be checked"
	case !c.policy.AutoMerge:
		return "someone to merge it"
	}
	return ""
}

// merge merges the pull request when it is approved, not held, green and
// mergeable, with the checked head pinned, and says where it stands.
func (t *turn) merge(ctx context.Context, pr *PullRequest, c checked, state PRState) comment.MergeStatus {
	ms := comment.MergeStatus{AutoMergeOff: !c.policy.AutoMerge, Waiting: waitingFor(pr, c, state)}
	switch {
	case ms.Waiting != "":
	case pr.Mergeable == nil || pr.MergeableState == "unknown" || pr.MergeableState == "":
		ms.Waiting = "GitHub to work out whether it can be merged"
		t.recheckLater()
	case !*pr.Mergeable || !mergeableState(pr.MergeableState):
		ms.Waiting = fmt.Sprintf("the pull request to become mergeable (GitHub says %q)", pr.MergeableState)
		if pr.MergeableState == "blocked" {
			// Branch protection may not have seen allot's check yet.
			t.recheckLater()
		}
	default:
		sha, err := t.gh.Merge(ctx, t.repo, t.number, c.report.SHA, c.policy.MergeMethod, fmt.Sprintf("%s (#%d)", pr.Title, t.number))
		switch {
		case err == nil:
			ms.Merged, ms.Commit = true, sha
		case errors.Is(err, ErrHeadChanged):
			ms.Waiting = "the new head to be checked and approved"
		default:
			ms.Waiting = "the merge to succeed: " + err.Error()
			t.bot.log().Warn("merge", "repository", t.repo.String(), "pr", t.number, "error", comment.Mask(err.Error(), t.bot.Secrets))
		}
	}
	return ms
}

// mergeableState reports whether GitHub's mergeable_state allows merging:
// unstable means only checks that are not required failed.
func mergeableState(s string) bool {
	return s == "clean" || s == "unstable" || s == "has_hooks"
}

// recheckLater looks at the pull request again after MergeRetry, at most
// MergeAttempts times in a row.
func (t *turn) recheckLater() {
	attempts := cmp.Or(t.bot.MergeAttempts, 5)
	attempt := 0
	if t.ev.Name == EventRecheck {
		attempt = t.p.Attempt
	}
	if attempt >= attempts {
		return
	}
	t.bot.requeue(t.recheckEvent(t.number, attempt+1, false), cmp.Or(t.bot.MergeRetry, 3*time.Second))
}

// recheckEvent is the EventRecheck that looks at pull request n again,
// through the same installation; again asks for a new check of its head.
func (t *turn) recheckEvent(n, attempt int, again bool) Event {
	// A map of plain values always marshals.
	body, _ := json.Marshal(map[string]any{"installation": t.p.Installation, "allot_attempt": attempt, "allot_recheck": again})
	return Event{Name: EventRecheck, Delivery: t.ev.Delivery, Repo: t.repo.String(), PR: n, Payload: body}
}

// upsertComment edits the bot comment, or posts it when there is none.
func (t *turn) upsertComment(ctx context.Context, comments []Comment, view comment.View) error {
	body := comment.Render(view, t.bot.Secrets)
	existing := botComment(comments, t.bot.commentID(t.repo, t.number))
	if existing != nil {
		if existing.Body == body {
			return nil
		}
		err := t.gh.EditComment(ctx, t.repo, existing.ID, body)
		if err == nil {
			return nil
		}
		// Someone may have deleted it meanwhile; post a new one.
		t.bot.log().Warn("edit bot comment", "repository", t.repo.String(), "pr", t.number, "error", err)
	}
	id, err := t.gh.CreateComment(ctx, t.repo, t.number, body)
	if err == nil {
		t.bot.rememberComment(t.repo, t.number, id)
	}
	return err
}

// botComment finds the bot comment: the one the bot posted, if it
// remembers it; else the first comment by a bot that starts with Marker;
// else, for a token that acts as a user, the first one by anyone.
func botComment(comments []Comment, id int64) *Comment {
	var byBot, byUser *Comment
	for i := range comments {
		c := &comments[i]
		if !strings.HasPrefix(c.Body, comment.Marker) {
			continue
		}
		switch {
		case c.ID == id:
			return c
		case byBot == nil && (c.AuthorIsBot || strings.HasSuffix(c.Author, "[bot]")):
			byBot = c
		case byUser == nil:
			byUser = c
		}
	}
	return cmp.Or(byBot, byUser)
}
