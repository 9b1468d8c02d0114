package test

import (
	"strings"
	"testing"
	"time"
)

const negativeReplicas = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: -1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
`

// TestPullRequestCheckFailsOnWhatTheClusterRefuses: a request whose
// add-on the API server would refuse validates offline, but its plan's dry
// run does not pass: the check goes red, and the comment names the object
// with the API server's message.
func TestPullRequestCheckFailsOnWhatTheClusterRefuses(t *testing.T) {
	w := startReviewWorld(t)
	head := w.openPRFiles(1, map[string]string{
		"environments/web/refused.yaml": "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: refused}\n" +
			"spec:\n  type: namespace\n  owner: dan@example.com\n  team: web\n  cluster: dev\n  addons:\n    - name: web\n      manifests: {path: addons/refused}\n",
		"addons/refused/deployment.yaml": negativeReplicas,
	})
	eventually(t, 60*time.Second, "the plan comment", func() bool {
		return strings.Contains(w.botComment(1), "refused")
	})
	body := w.botComment(1)
	for _, want := range []string{"rejected `Deployment/refused/web`", "spec.replicas: Invalid value: -1: must be greater than or equal to 0", "1 plan error"} {
		if !strings.Contains(body, want) {
			t.Errorf("the comment does not say %q:\n%s", want, body)
		}
	}
	w.waitStatus(head, "failure")
	if strings.Contains(body, "Passed.\n\n#### Plan\n\nNothing") {
		t.Errorf("the comment passes the plan:\n%s", body)
	}
}
