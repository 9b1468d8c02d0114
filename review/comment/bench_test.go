package comment_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/review/comment"
)

// BenchmarkRender renders the comment of a pull request that
// touches 1,000 environments with a diff each, cut to GitHub's limit.
func BenchmarkRender(b *testing.B) {
	plan := &reconciler.Plan{}
	for i := range 1000 {
		plan.Entries = append(plan.Entries, reconciler.PlanEntry{Cluster: "dev", Environment: fmt.Sprintf("env-%d", i), Action: reconciler.ActionUpdated,
			Changes: []reconciler.Change{{Object: fmt.Sprintf("v1/ConfigMap/env-%d/settings", i), Action: "update", Diff: strings.Repeat("-a: one\n+a: two\n", 20)}}})
	}
	v := comment.View{Report: &comment.Report{SHA: "1111111111111111111111111111111111111111", Plan: plan}, Approvers: []string{"alice"}, Author: "dan"}
	b.ReportAllocs()
	for b.Loop() {
		if body := comment.Render(v, []string{"secret-value"}); len(body) > comment.MaxBody {
			b.Fatalf("%d bytes", len(body))
		}
	}
}
