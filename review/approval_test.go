package review

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/allot-dev/allot/review/comment"
)

func TestState(t *testing.T) {
	const (
		author = "alice"
		head   = "bbbb"
		old    = "aaaa"
	)
	approvers := Approvers{Logins: []string{"Bob", "carol", "alice"}, Teams: []string{"acme/platform"}}
	teams := map[string][]string{"acme/platform": {"dave"}}
	isMember := func(login, team string) bool {
		for _, m := range teams[team] {
			if m == login {
				return true
			}
		}
		return false
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	// c builds comment n, made n minutes after t0 on commit sha.
	c := func(n int64, login, sha, body string) Comment {
		return Comment{ID: n, Author: login, Body: body, CreatedAt: t0.Add(time.Duration(n) * time.Minute), CommitSHA: sha}
	}

	tests := []struct {
		name     string
		comments []Comment
		want     PRState
	}{
		{
			name: "is neither approved nor held without comments",
		},
		{
			name:     "counts an approver's approval on the head commit",
			comments: []Comment{c(1, "bob", head, "/approve")},
			want:     PRState{Approval: comment.Approval{Approved: true, ApprovedBy: []string{"bob"}}},
		},
		{
			name:     "matches approver logins in any case",
			comments: []Comment{c(1, "CAROL", head, "/approve")},
			want:     PRState{Approval: comment.Approval{Approved: true, ApprovedBy: []string{"CAROL"}}},
		},
		{
			name:     "refuses self-approval even by an approver",
			comments: []Comment{c(1, "Alice", head, "/approve")},
			want: PRState{Refusals: []Refusal{
				{CommentID: 1, Author: "Alice", Command: Approve, Reason: ReasonSelfApproval},
			}},
		},
		{
			name: "refuses approve and hold by a non-approver",
			comments: []Comment{
				c(1, "mallory", head, "/approve"),
				c(2, "mallory", head, "/hold"),
				c(3, "mallory", head, "/unhold"),
			},
			want: PRState{Refusals: []Refusal{
				{CommentID: 1, Author: "mallory", Command: Approve, Reason: ReasonNotApprover},
				{CommentID: 2, Author: "mallory", Command: Hold, Reason: ReasonNotApprover},
				{CommentID: 3, Author: "mallory", Command: Hold, Reason: ReasonNotApprover},
			}},
		},
		{
			name:     "counts a member of an approving team",
			comments: []Comment{c(1, "dave", head, "/approve")},
			want:     PRState{Approval: comment.Approval{Approved: true, ApprovedBy: []string{"dave"}}},
		},
		{
			name:     "does not count an approval on an older commit",
			comments: []Comment{c(1, "bob", old, "/approve"), c(2, "dave", head, "looks good")},
			want:     PRState{Approval: comment.Approval{Stale: []string{"bob"}}},
		},
		{
			name:     "counts an approval renewed after a new push",
			comments: []Comment{c(1, "bob", old, "/approve"), c(2, "bob", head, "/approve"), c(3, "carol", old, "/approve")},
			want:     PRState{Approval: comment.Approval{Approved: true, ApprovedBy: []string{"bob"}, Stale: []string{"carol"}}},
		},
		{
			name:     "withdraws an approval on cancel by the same person",
			comments: []Comment{c(1, "bob", head, "/approve"), c(2, "carol", head, "/approve"), c(3, "bob", head, "/approve cancel")},
			want:     PRState{Approval: comment.Approval{Approved: true, ApprovedBy: []string{"carol"}}},
		},
		{
			name:     "does not let anyone else cancel an approval",
			comments: []Comment{c(1, "bob", head, "/approve"), c(2, "mallory", head, "/approve cancel")},
			want:     PRState{Approval: comment.Approval{Approved: true, ApprovedBy: []string{"bob"}}},
		},
		{
			name:     "holds on an approver's hold, across pushes",
			comments: []Comment{c(1, "bob", old, "/hold"), c(2, "carol", head, "/approve")},
			want:     PRState{Approval: comment.Approval{Approved: true, ApprovedBy: []string{"carol"}, Held: true, HeldBy: []string{"bob"}}},
		},
		{
			name:     "lifts every hold on any approver's unhold",
			comments: []Comment{c(1, "bob", head, "/hold"), c(2, "dave", head, "/hold"), c(3, "carol", head, "/unhold")},
			want:     PRState{},
		},
		{
			name:     "lifts holds on hold cancel",
			comments: []Comment{c(1, "bob", head, "/hold"), c(2, "bob", head, "/hold cancel")},
			want:     PRState{},
		},
		{
			name:     "holds again after an unhold",
			comments: []Comment{c(1, "bob", head, "/hold"), c(2, "carol", head, "/unhold"), c(3, "dave", head, "/hold")},
			want:     PRState{Approval: comment.Approval{Held: true, HeldBy: []string{"dave"}}},
		},
		{
			name: "ignores bots entirely",
			comments: []Comment{
				{ID: 1, Author: "bob", AuthorIsBot: true, Body: "/approve", CreatedAt: t0, CommitSHA: head},
				c(2, "allot[bot]", head, "/hold"),
			},
		},
		{
			name: "ignores commands in code blocks, quotes and comments",
			comments: []Comment{
				c(1, "bob", head, "Type:\n```\n/approve\n```"),
				c(2, "carol", head, "> /approve\nwhy?"),
				c(3, "dave", head, "    /approve\n<!-- /hold -->"),
			},
		},
		{
			name: "applies comments in creation order, not list order",
			comments: []Comment{
				c(2, "bob", head, "/approve cancel"),
				c(1, "bob", head, "/approve"),
			},
		},
		{
			name: "breaks creation-time ties by comment ID",
			comments: []Comment{
				{ID: 8, Author: "bob", Body: "/approve", CreatedAt: t0, CommitSHA: head},
				{ID: 7, Author: "bob", Body: "/approve cancel", CreatedAt: t0, CommitSHA: head},
			},
			want: PRState{Approval: comment.Approval{Approved: true, ApprovedBy: []string{"bob"}}},
		},
		{
			name:     "applies several commands in one comment in order",
			comments: []Comment{c(1, "bob", head, "/approve\n/hold\n/unhold\n/hold")},
			want:     PRState{Approval: comment.Approval{Approved: true, ApprovedBy: []string{"bob"}, Held: true, HeldBy: []string{"bob"}}},
		},
		{
			name:     "sorts logins",
			comments: []Comment{c(1, "dave", head, "/approve"), c(2, "carol", head, "/approve"), c(3, "Bob", head, "/approve")},
			want:     PRState{Approval: comment.Approval{Approved: true, ApprovedBy: []string{"Bob", "carol", "dave"}}},
		},
		{
			name:     "ignores unknown commands, plan and help",
			comments: []Comment{c(1, "bob", head, "/lgtm\n/plan\n/help\n/approve please")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := State(tt.comments, author, head, approvers, isMember)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("State() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStateDropsApprovalsOfRemovedApprovers(t *testing.T) {
	comments := []Comment{{ID: 1, Author: "bob", Body: "/approve", CommitSHA: "bbbb"}}
	got := State(comments, "alice", "bbbb", Approvers{Logins: []string{"carol"}}, nil)
	if diff := cmp.Diff(PRState{Refusals: []Refusal{{CommentID: 1, Author: "bob", Command: Approve, Reason: ReasonNotApprover}}}, got); diff != "" {
		t.Errorf("State() (-want +got):\n%s", diff)
	}
}

func TestStateAsksTeamMembershipOncePerLogin(t *testing.T) {
	calls := map[string]int{}
	isMember := func(login, team string) bool {
		calls[login+" "+team]++
		return login == "dave"
	}
	comments := []Comment{
		{ID: 1, Author: "dave", Body: "/approve", CommitSHA: "bbbb"},
		{ID: 2, Author: "Dave", Body: "/hold\n/unhold\n/approve", CommitSHA: "bbbb"},
		{ID: 3, Author: "erin", Body: "/approve\n/hold", CommitSHA: "bbbb"},
	}
	State(comments, "alice", "bbbb", Approvers{Teams: []string{"acme/a", "acme/b"}}, isMember)
	want := map[string]int{"dave acme/a": 1, "erin acme/a": 1, "erin acme/b": 1}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("isMember calls (-want +got):\n%s", diff)
	}
}

func TestStateDoesNotReorderTheCallersComments(t *testing.T) {
	comments := []Comment{{ID: 2, CreatedAt: time.Unix(2, 0)}, {ID: 1, CreatedAt: time.Unix(1, 0)}}
	State(comments, "alice", "bbbb", Approvers{}, nil)
	if comments[0].ID != 2 {
		t.Errorf("State sorted its argument in place")
	}
}
