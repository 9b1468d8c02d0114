package comment_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/allot-dev/allot/review/comment"
	"github.com/allot-dev/allot/schemas"
	"github.com/allot-dev/allot/schemas/budget"
)

func TestRenderCommentShowsWhatRequestsReserve(t *testing.T) {
	cpu := corev1.ResourceList{"requests.cpu": resource.MustParse("2")}
	r := sampleReport()
	r.Costs = &budget.Summary{
		Environments: []budget.Reservation{{Environment: "checkout-dev", Team: "payments", Clusters: 2, Resources: cpu, Awake: 0.4, Monthly: 16}},
		Teams:        []*budget.Team{budget.NewTeam("payments", &schemas.Budget{Environments: 5, Resources: map[string]any{"cpu": "16"}}, "")},
	}
	r.Costs.Teams[0].Files, r.Costs.Teams[0].Resources = []string{"a.yaml", "b.yaml"}, cpu
	got := comment.Render(comment.View{Report: r}, nil)
	for _, want := range []string{
		"#### Reserved\n\n| Environment | Clusters | Reserves |\n|---|---|---|\n| `checkout-dev` | 2 | requests.cpu 2 |\n",
		"- **Team `payments`** once merged: 2 environments of 5 · requests.cpu 2 of 16\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("without prices, the comment lacks %q:\n%s", want, got)
		}
	}
	r.Costs.Prices = &schemas.Prices{Currency: "EUR", CPU: 20}
	r.Costs.Teams[0].Monthly = 40
	got = comment.Render(comment.View{Report: r}, nil)
	for _, want := range []string{
		"| `checkout-dev` | 2 | requests.cpu 2 | EUR 16.00 (awake 40% of the week) |\n",
		"requests.cpu 2 of 16 · EUR 40.00 a month\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("with prices, the comment lacks %q:\n%s", want, got)
		}
	}
	checkRendered(t, got, comment.Marker)
}
