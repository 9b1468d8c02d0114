package test

import (
	"strings"
	"testing"
	"time"
)

// TestPlanCommentShowsCostAndBudget: with prices and a budget for team web
// in allot.yaml, the plan comment of a pull request that adds a request
// says what it reserves, its estimated monthly cost and the team's total
// next to the budget; a pull request of two more requests, the second past
// the budget, fails the check,
// naming the team's total and the budget.
func TestPlanCommentShowsCostAndBudget(t *testing.T) {
	platform := strings.Replace(reviewPlatform, "sizes: {small: {quota: {pods: 10}}}", `sizes: {small: {quota: {pods: 10, requests.cpu: "1", requests.memory: 2Gi}}}`, 1)
	if platform == reviewPlatform {
		t.Fatal("the review world's allot.yaml has no size to edit")
	}
	w := startReviewWorldWith(t, reviewWorldOptions{Platform: platform +
		"  prices: {currency: EUR, cpu: 10, memoryGiB: 2.5, types: {namespace: 5}}\n" +
		"  policy: {budgets: {teams: {web: {environments: 2, resources: {requests.cpu: \"2\"}}}}}\n"})
	w.openPR(1, "environments/web/second.yaml", request("second", "web"))
	eventually(t, 60*time.Second, "the plan comment", func() bool {
		return strings.Contains(w.botComment(1), "#### Plan")
	})
	body := w.botComment(1)
	for _, want := range []string{
		"| Environment | Clusters | Reserves | Estimated per month |",
		// 1 CPU × 10 + 2 GiB × 2.5 + 5 for the type.
		"| `second` | 1 | requests.cpu 1, requests.memory 2Gi, pods 10 | EUR 20.00 |",
		"- **Team `web`** once merged: 2 environments of 2 · requests.cpu 2 of 2 · requests.memory 4Gi · pods 20 · EUR 40.00 a month",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the comment does not say %q:\n%s", want, body)
		}
	}

	head := w.openPRFiles(2, map[string]string{
		"environments/web/fourth.yaml": request("fourth", "web"),
		"environments/web/third.yaml":  request("third", "web"),
	})
	eventually(t, 60*time.Second, "the refusal", func() bool {
		return strings.Contains(w.botComment(2), "would go over its budget")
	})
	body = w.botComment(2)
	for _, want := range []string{
		"team web would go over its budget (environments: 3 of 2; requests.cpu: 3 of 2)",
		"already reserve requests.cpu 2, requests.memory 4Gi, pods 20 in 2 environment(s)",
		"raise policy.budgets.teams.web",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the comment does not say %q:\n%s", want, body)
		}
	}
	w.waitStatus(head, "failure")
}
