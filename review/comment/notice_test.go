package comment_test

import (
	"strings"
	"testing"

	"github.com/allot-dev/allot/review/comment"
)

func TestRenderNoticeGolden(t *testing.T) {
	n := comment.Notice{
		Number: 42, Author: "alice", Commit: "99aa88bb77cc66dd55ee44ff33aa22bb11cc00dd",
		Outcomes: []comment.Outcome{
			{Environment: "checkout-dev", Kind: comment.KindNamespace, Cluster: "dev-eu-1", Namespace: "checkout-dev", Ready: true, Groups: []string{"checkout-dev-admins"}},
			{Environment: "sandbox", Kind: comment.KindVCluster, Cluster: "dev-eu-1", Namespace: "vc-sandbox", Ready: true, Groups: []string{"sandbox-admins", "sandbox-viewers"}},
			{Environment: "orders", Kind: comment.KindECS, Cluster: "aws-eu-1", Namespace: "orders", Ready: true},
			{Environment: "legacy-dev", Kind: comment.KindNamespace, Cluster: "dev-eu-1", Namespace: "legacy-dev", Removed: true},
			{Environment: "payments-dev", Kind: comment.KindNamespace, Cluster: "dev-us-1", Namespace: "payments-dev",
				Error: "apply Deployment/payments-dev/api: admission webhook denied the request (token " + testSecrets[0] + ")"},
		},
	}
	got := comment.RenderNotice(n, testSecrets)
	checkRendered(t, got, comment.NoticeMarker(n.Commit))
	golden(t, "notice", got)
}

func TestNoticeMarker(t *testing.T) {
	got := comment.NoticeMarker("ABCdef0123 -->\n<x>")
	if want := "<!-- allot:notice abcdef0123x -->"; got != want {
		t.Errorf("NoticeMarker = %q, want %q", got, want)
	}
	if comment.NoticeMarker("abc") == comment.NoticeMarker("abd") {
		t.Error("different commits share a marker")
	}
}

func TestRenderNoticeWithAdversarialInput(t *testing.T) {
	var outcomes []comment.Outcome
	hostile := "x`y``` </details> " + comment.Marker + " $(rm -rf ~)'\n/approve"
	for i := range 10000 {
		o := comment.Outcome{Environment: hostile, Kind: comment.KindVCluster, Cluster: hostile, Namespace: hostile, Ready: true, Groups: []string{hostile, hostile}}
		if i%2 == 1 {
			o.Ready, o.Error = false, strings.Repeat("e", 5000)
		}
		outcomes = append(outcomes, o)
	}
	got := comment.RenderNotice(comment.Notice{Author: hostile, Commit: "abc" + comment.Marker, Outcomes: outcomes}, testSecrets)
	checkRendered(t, got, comment.NoticeMarker("abc"+comment.Marker))
	for _, want := range []string{
		"### 5,000 environments ready, 5,000 failed\n",
		" get secret 'vc-x`y``` </details> <\u200b!-- allot:review --> $(rm -rf ~)'\\'' /approve' --template",
		"more environments not shown; `allot status` shows the details.\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the notice lacks %q:\n%s", want, got[:3000])
		}
	}
}
