package comment

import (
	"fmt"
	"strings"

	"github.com/allot-dev/allot/schemas/budget"
)

// writeCosts writes what the pull request's environments reserve and an
// estimate of what they cost a month, then their teams' totals next to
// their budgets.
func writeCosts(b *strings.Builder, c *budget.Summary, l limits) {
	if c == nil || len(c.Environments) == 0 {
		return
	}
	b.WriteString("#### Reserved\n\n")
	priced := c.Prices != nil
	if priced {
		b.WriteString("| Environment | Clusters | Reserves | Estimated per month |\n|---|---|---|---|\n")
	} else {
		b.WriteString("| Environment | Clusters | Reserves |\n|---|---|---|\n")
	}
	shown, more := firstN(c.Environments, listLimit(l))
	for _, r := range shown {
		what := budget.Describe(r.Resources)
		if what == "" {
			what = "no quota"
		}
		fmt.Fprintf(b, "| %s | %d | %s |", Code(r.Environment), r.Clusters, Escape(what))
		if priced {
			cost := budget.Money(c.Prices, r.Monthly)
			if r.Awake < 1 {
				cost += fmt.Sprintf(" (awake %.0f%% of the week)", r.Awake*100)
			}
			fmt.Fprintf(b, " %s |", Escape(cost))
		}
		b.WriteString("\n")
	}
	if more > 0 {
		fmt.Fprintf(b, "\n… %s not shown.\n", Count(more, "more environment"))
	}
	b.WriteString("\n")
	teams, more := firstN(c.Teams, listLimit(l))
	for _, t := range teams {
		fmt.Fprintf(b, "- **Team %s** once merged: %s\n", Code(t.Name), Escape(teamLine(c, t)))
	}
	if more > 0 {
		fmt.Fprintf(b, "- … %s not shown\n", Count(more, "more team"))
	}
	if len(teams) > 0 {
		b.WriteString("\n")
	}
}

// teamLine is a team's total: "3 environments of 5 · requests.cpu 6 of 16
// · … · USD 175.20 a month", each resource its budget caps next to its cap.
func teamLine(c *budget.Summary, t *budget.Team) string {
	n := Count(len(t.Files), "environment")
	if t.Budget != nil && t.Budget.Environments > 0 {
		n += fmt.Sprintf(" of %d", t.Budget.Environments)
	}
	parts := []string{n}
	for _, k := range budget.Names(t.Resources) {
		q := t.Resources[k]
		part := string(k) + " " + q.String()
		if limit, ok := t.Caps[k]; ok {
			part += " of " + limit.String()
		}
		parts = append(parts, part)
	}
	if c.Prices != nil {
		parts = append(parts, budget.Money(c.Prices, t.Monthly)+" a month")
	}
	return strings.Join(parts, " · ")
}
