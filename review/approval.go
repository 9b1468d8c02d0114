package review

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/allot-dev/allot/review/comment"
)

// Comment is one pull-request comment, as the approval state needs it.
type Comment struct {
	ID          int64
	Author      string
	AuthorIsBot bool
	Body        string
	CreatedAt   time.Time
	// CommitSHA is the pull request's head commit when the comment was made.
	CommitSHA string
}

// Approvers are who may approve and hold a pull request, read from
// allot.yaml on the base branch, never from the pull request itself.
type Approvers struct {
	Logins []string
	// Teams are "org/team" slugs.
	Teams []string
}

// TeamMember reports whether login belongs to the "org/team" team.
type TeamMember func(login, orgTeam string) bool

// Refusal is a command State did not act on, and why, so the bot can reply.
type Refusal struct {
	CommentID int64
	Author    string
	Command   CommandName
	Reason    string
}

// Reasons a command is refused.
const (
	ReasonSelfApproval = "authors cannot approve their own request"
	ReasonNotApprover  = "not an approver"
)

// PRState is the approval state of a pull request: what the bot comment
// shows of it, and the commands refused on the way.
type PRState struct {
	comment.Approval
	Refusals []Refusal
}

// State recomputes a pull request's approval state from its comment history,
// so a restart loses nothing. author is the pull request's author and
// headSHA its current head commit; isMember may be nil when approvers has no
// teams.
//
// Comments are read in CreatedAt order, ties broken by ID. Comments by bots
// are ignored, and so are comments allot wrote. The rules:
//   - Only approvers (a login matching case-insensitively, or a member of one
//     of the teams) may /approve, /hold and lift a hold; others are refused.
//   - The author cannot approve their own request, even as an approver.
//   - A person's latest /approve stands until their /approve cancel. It
//     counts only if given on headSHA: a new push resets every approval.
//     Withdrawing needs no permission and is never refused.
//   - A hold is not tied to a commit. /hold cancel or /unhold by any
//     approver lifts all holds, so one reviewer's hold never strands a pull
//     request when that reviewer is away.
//
// Membership is checked once per login and call against the approvers
// given, so someone removed from them loses their standing approval.
func State(comments []Comment, author, headSHA string, approvers Approvers, isMember TeamMember) PRState {
	ordered := slices.Clone(comments)
	slices.SortStableFunc(ordered, func(a, b Comment) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})

	isApprover := approverCheck(approvers, isMember)
	approvals := map[string]approval{} // by lower-case login
	holds := map[string]string{}       // lower-case login to login
	var refusals []Refusal

	for _, c := range ordered {
		if c.AuthorIsBot || strings.HasSuffix(c.Author, "[bot]") || c.Author == "" || fromAllot(c.Body) {
			continue
		}
		key := strings.ToLower(c.Author)
		for _, cmd := range ParseCommands(c.Body) {
			refuse := func(reason string) {
				refusals = append(refusals, Refusal{CommentID: c.ID, Author: c.Author, Command: cmd.Name, Reason: reason})
			}
			switch {
			case cmd.Name == Approve && cmd.Cancel:
				delete(approvals, key)
			case cmd.Name == Approve && strings.EqualFold(c.Author, author):
				refuse(ReasonSelfApproval)
			case (cmd.Name == Approve || cmd.Name == Hold) && !isApprover(c.Author):
				refuse(ReasonNotApprover)
			case cmd.Name == Approve:
				approvals[key] = approval{login: c.Author, sha: c.CommitSHA}
			case cmd.Name == Hold && cmd.Cancel:
				clear(holds)
			case cmd.Name == Hold:
				holds[key] = c.Author
			}
		}
	}

	var s PRState
	for _, a := range approvals {
		if a.sha != "" && strings.EqualFold(a.sha, headSHA) {
			s.ApprovedBy = append(s.ApprovedBy, a.login)
		} else {
			s.Stale = append(s.Stale, a.login)
		}
	}
	for _, login := range holds {
		s.HeldBy = append(s.HeldBy, login)
	}
	for _, logins := range [][]string{s.ApprovedBy, s.Stale, s.HeldBy} {
		slices.SortFunc(logins, func(a, b string) int {
			return cmp.Or(cmp.Compare(strings.ToLower(a), strings.ToLower(b)), cmp.Compare(a, b))
		})
	}
	s.Approved = len(s.ApprovedBy) > 0
	s.Held = len(s.HeldBy) > 0
	s.Refusals = refusals
	return s
}

// allotPrefix starts every comment allot writes, so that allot never reads
// its own comments as commands, even with a token that acts as a user.
const allotPrefix = comment.MarkerPrefix

// fromAllot reports whether a comment body is one allot wrote.
func fromAllot(body string) bool { return strings.HasPrefix(body, allotPrefix) }

// approval is one person's standing /approve.
type approval struct {
	login string // as last written
	sha   string
}

// approverCheck returns a function that reports whether login is an
// approver, asking isMember at most once per login (in any case) and team:
// it may be an API call.
func approverCheck(approvers Approvers, isMember TeamMember) func(login string) bool {
	known := map[string]bool{}
	return func(login string) bool {
		key := strings.ToLower(login)
		if ok, seen := known[key]; seen {
			return ok
		}
		ok := slices.ContainsFunc(approvers.Logins, func(l string) bool { return strings.EqualFold(l, login) })
		if !ok && isMember != nil {
			ok = slices.ContainsFunc(approvers.Teams, func(team string) bool { return isMember(login, team) })
		}
		known[key] = ok
		return ok
	}
}
