package comment_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/allot-dev/allot/review"
	"github.com/allot-dev/allot/review/comment"
)

func TestRenderHelp(t *testing.T) {
	got := comment.RenderHelp()
	checkRendered(t, got, "")
	golden(t, "help", got)
}

func TestRenderRefusals(t *testing.T) {
	tests := []struct {
		name    string
		refused []comment.Refused
		unknown []comment.Unknown
		want    string
	}{
		{
			name:    "mentions the author of a refused command and says why",
			refused: []comment.Refused{{Author: "mallory", Command: "approve", Reason: review.ReasonNotApprover, NotApprover: true}},
			want:    "@mallory: `/approve` was not applied: not an approver. Approvers are the logins and teams that `allot.yaml` on the base branch names.\n",
		},
		{
			name:    "explains self-approval",
			refused: []comment.Refused{{Author: "alice", Command: "approve", Reason: review.ReasonSelfApproval}},
			want:    "@alice: `/approve` was not applied: authors cannot approve their own request.\n",
		},
		{
			name:    "names an unknown word and points to help",
			unknown: []comment.Unknown{{Word: "/lgtm"}},
			want:    "`/lgtm` is not an allot command; `/help` lists the commands.\n",
		},
		{
			name:    "says a known command takes no such argument",
			unknown: []comment.Unknown{{Word: "/approve", Args: "please"}, {Word: "/plan", Args: "now"}},
			want: "`/approve please` was not understood: `/approve` takes no argument but `cancel`; `/help` lists the commands.\n\n" +
				"`/plan now` was not understood: `/plan` takes no arguments; `/help` lists the commands.\n",
		},
		{
			name: "says the same thing once",
			refused: []comment.Refused{
				{Author: "alice", Command: "approve", Reason: review.ReasonSelfApproval},
				{Author: "alice", Command: "approve", Reason: review.ReasonSelfApproval},
			},
			want: "@alice: `/approve` was not applied: authors cannot approve their own request.\n",
		},
		{
			name:    "keeps arguments from breaking out of code",
			unknown: []comment.Unknown{{Word: "/hold", Args: "`<!-- allot:review -->` ``` <b>"}},
			want:    "````/hold `<\u200b!-- allot:review -->` ``` <b>```` was not understood: `/hold` takes no argument but `cancel`; `/help` lists the commands.\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := comment.RenderRefusals(tt.refused, tt.unknown)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	t.Run("stays short with thousands of commands", func(t *testing.T) {
		var unknown []comment.Unknown
		for i := range 10000 {
			unknown = append(unknown, comment.Unknown{Word: fmt.Sprintf("/w%d", i), Args: strings.Repeat("a", 1000)})
		}
		got := comment.RenderRefusals(nil, unknown)
		if len(got) > 4096 || !strings.Contains(got, "9,980 more replies not shown") {
			t.Errorf("got %d bytes:\n%s", len(got), got)
		}
		checkRendered(t, got, "")
	})
}
