package review

import (
	"strings"
	"testing"
)

func TestRenderNoticeGolden(t *testing.T) {
	n := Notice{
		Number: 42, Author: "alice", Commit: "99aa88bb77cc66dd55ee44ff33aa22bb11cc00dd",
		Outcomes: []Outcome{
			{Environment: "checkout-dev", Kind: KindNamespace, Cluster: "dev-eu-1", Namespace: "checkout-dev", Ready: true, Groups: []string{"checkout-dev-admins"}},
			{Environment: "sandbox", Kind: KindVCluster, Cluster: "dev-eu-1", Namespace: "vc-sandbox", Ready: true, Groups: []string{"sandbox-admins", "sandbox-viewers"}},
			{Environment: "orders", Kind: KindECS, Cluster: "aws-eu-1", Namespace: "orders", Ready: true},
			{Environment: "legacy-dev", Kind: KindNamespace, Cluster: "dev-eu-1", Namespace: "legacy-dev", Removed: true},
			{Environment: "payments-dev", Kind: KindNamespace, Cluster: "dev-us-1", Namespace: "payments-dev",
				Error: "apply Deployment/payments-dev/api: admission webhook denied the request (token " + testSecrets[0] + ")"},
		},
	}
	got := RenderNotice(n, testSecrets)
	checkRendered(t, got, NoticeMarker(n.Commit))
	golden(t, "notice", got)
}

func TestNoticeMarker(t *testing.T) {
	got := NoticeMarker("ABCdef0123 -->\n<x>")
	if want := "<!-- allot:notice abcdef0123x -->"; got != want {
		t.Errorf("NoticeMarker = %q, want %q", got, want)
	}
	if NoticeMarker("abc") == NoticeMarker("abd") {
		t.Error("different commits share a marker")
	}
}

func TestRenderNoticeWithAdversarialInput(t *testing.T) {
	var outcomes []Outcome
	hostile := "x`y``` </details> " + Marker + " $(rm -rf ~)'\n/approve"
	for i := range 10000 {
		o := Outcome{Environment: hostile, Kind: KindVCluster, Cluster: hostile, Namespace: hostile, Ready: true, Groups: []string{hostile, hostile}}
		if i%2 == 1 {
			o.Ready, o.Error = false, strings.Repeat("e", 5000)
		}
		outcomes = append(outcomes, o)
	}
	got := RenderNotice(Notice{Author: hostile, Commit: "abc" + Marker, Outcomes: outcomes}, testSecrets)
	checkRendered(t, got, NoticeMarker("abc"+Marker))
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
