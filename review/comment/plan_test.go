package comment_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/review/comment"
)

func TestRenderCommentCutsDiffsFirst(t *testing.T) {
	r := sampleReport()
	r.Plan.Entries[1].Changes = append(r.Plan.Entries[1].Changes,
		reconciler.Change{Object: "ConfigMap/payments-dev/big", Action: "update", Diff: strings.Repeat("+ \"a line of the diff\"\n", 10000)})
	got := comment.Render(comment.View{Report: r}, nil)
	for _, want := range []string{
		"<summary>dev-eu-1 / checkout-dev: would be created — 4 to create</summary>",
		"<summary>dev-us-1 / payments-dev: would be updated — 2 to change, 1 to delete, 2 unchanged</summary>",
		configMapDiff,
		"more lines not shown; run `allot plan` for the full diff",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the comment lacks %q", want)
		}
	}
	if strings.Contains(got, "Shown as summaries") {
		t.Error("entries were collapsed although cutting the diff was enough")
	}
}

func TestRenderCommentCollapsesEntriesWhenCuttingDiffsIsNotEnough(t *testing.T) {
	r := sampleReport()
	r.Plan.Entries = nil
	for i := range 2000 {
		r.Plan.Entries = append(r.Plan.Entries, reconciler.PlanEntry{
			Cluster: "dev-eu-1", Environment: fmt.Sprintf("env-%04d", i), Action: reconciler.ActionCreated,
			Changes: []reconciler.Change{{Object: "Namespace/x", Action: "create"}, {Object: "ConfigMap/x/y", Action: "create"}},
		})
	}
	got := comment.Render(comment.View{Report: r}, nil)
	for _, want := range []string{"Shown as summaries", "- dev-eu-1 / env-0000: would be created — 2 to create\n", "more entries not shown"} {
		if !strings.Contains(got, want) {
			t.Errorf("the comment lacks %q", want)
		}
	}
	checkRendered(t, got, comment.Marker)
}

func TestRenderCommentSaysTheSleepSchedule(t *testing.T) {
	r := sampleReport()
	r.Plan.Entries[0].Sleep = "weekdays 20:00-08:00 (Europe/Berlin)"
	got := comment.Render(comment.View{Report: r}, nil)
	if want := "**Sleeps:** `weekdays 20:00-08:00 (Europe/Berlin)` (awake now): scaled to zero while it sleeps; `/wake` on the merged pull request wakes it early."; !strings.Contains(got, want) {
		t.Errorf("the comment lacks %q:\n%s", want, got)
	}
}
