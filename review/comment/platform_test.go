package comment_test

import (
	"strings"
	"testing"

	"github.com/allot-dev/allot/review/comment"
)

func TestCommentShowsAPlatformChangeOnItsOwn(t *testing.T) {
	r := &comment.Report{
		SHA: "0123456789abcdef", Files: []string{"environments/web/a.yaml"}, Environments: []string{"a"},
		Platform: &comment.PlatformChange{
			Files:    []string{"allot.yaml"},
			Diff:     "--- a/allot.yaml\n+++ b/allot.yaml\n@@ -1 +1 @@\n-  url: https://scim.acme.example\n+  url: https://s3cr3t-token@evil.example\n",
			Problems: []comment.Problem{{File: "allot.yaml", Line: 7, Message: "clusters[1].kubeconfig: unknown field"}},
		},
	}
	body := comment.Render(comment.View{Report: r}, []string{"s3cr3t-token"})
	for _, want := range []string{
		"#### Platform change", "`allot.yaml`", "approvers.default",
		"```diff\n--- a/allot.yaml", "+  url: https://***@evil.example",
		"Validation of the platform change", "`allot.yaml:7`: clusters\\[1\\].kubeconfig: unknown field",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the comment lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "s3cr3t-token") {
		t.Error("a secret in the platform diff reached the comment")
	}
	if r.Passed() {
		t.Error("a report whose platform change has errors passes")
	}
	if title := comment.ReportTitle(r); !strings.Contains(title, "1 validation error") {
		t.Errorf("title %q does not count the platform change's error", title)
	}
}
