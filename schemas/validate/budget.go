package validate

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/allot-dev/allot/schemas"
	"github.com/allot-dev/allot/schemas/budget"
	"github.com/allot-dev/allot/schemas/load"
)

// budgets checks policy.budgets and prices in allot.yaml: resource names
// and quantities as a ResourceQuota takes them, team names, and that every
// size bounds what a budget caps (an environment of a size that sets no
// quota for a resource could use any amount of it).
func (c *checker) budgets(pf *load.PlatformFile) {
	spec, doc := &pf.Platform.Spec, pf.Doc
	at := []string{"spec", "policy", "budgets"}
	check := func(b *schemas.Budget, path ...string) {
		caps := c.resources(doc, b.Resources, quotaResource, append(path, "resources")...)
		for _, k := range sortedKeys(caps) {
			var unbounded []string
			for _, size := range sortedKeys(spec.Sizes) {
				reserved, err := budget.Quantities(spec.Sizes[size].Quota)
				if err != nil {
					continue // reported with the size
				}
				if _, ok := reserved[corev1.ResourceName(budget.Canonical(k))]; !ok {
					unbounded = append(unbounded, size)
				}
			}
			if len(unbounded) > 0 {
				sizes := "size " + unbounded[0] + " sets"
				if len(unbounded) > 1 {
					sizes = "sizes " + strings.Join(unbounded, ", ") + " set"
				}
				c.errorf(doc.Pos(append(path, "resources", k)...), schemas.RuleBudget, "%s.resources.%s: %s no %s in the quota, so the budget cannot bound what their environments use; add %s to every size's quota or drop it from the budget",
					schemas.Describe(path), k, sizes, budget.Canonical(k), k)
			}
		}
	}
	if b := spec.Policy.Budgets.Default; b != nil {
		check(b, append(at, "default")...)
	}
	for _, team := range sortedKeys(spec.Policy.Budgets.Teams) {
		if c.dnsLabel(doc.Pos(append(at, "teams", team)...), "team name", team) {
			b := spec.Policy.Budgets.Teams[team]
			check(&b, append(at, "teams", team)...)
		}
	}
	if spec.Prices == nil {
		return
	}
	for _, t := range sortedKeys(spec.Prices.Types) {
		if _, ok := c.repo.Templates[t]; !ok {
			c.errorf(doc.Pos("spec", "prices", "types", t), schemas.RulePlatform, "prices.types.%s: there is no environment type %s; the types are %s", t, t, strings.Join(sortedKeys(c.repo.Templates), ", "))
		}
	}
}

// teamBudgets refuses the requests that would take their team past its
// budget: more environments than it allows, or more of a resource than it
// caps. The requests a change touches are counted last, so that the error
// lands on the new or grown request and names what the team already has;
// a request the change does not touch counts but is not refused, so that a
// team already over its budget (one lowered since) does not fail every
// other pull request.
func (c *checker) teamBudgets() {
	if c.repo.Platform == nil {
		return
	}
	spec := &c.repo.Platform.Platform.Spec
	if spec.Policy.Budgets.Default == nil && len(spec.Policy.Budgets.Teams) == 0 {
		return
	}
	envs := append([]*load.EnvironmentFile(nil), c.repo.Environments...)
	sort.SliceStable(envs, func(i, j int) bool { return !c.selected(envs[i]) && c.selected(envs[j]) })
	teams := map[string]*budget.Team{}
	for _, ef := range envs {
		r, err := budget.Of(c.repo, ef, budget.Options{})
		if err != nil {
			continue // the request's own checks say why
		}
		t := teams[r.Team]
		if t == nil {
			t = budget.NewTeam(r.Team, spec.Policy.Budgets.For(r.Team), "")
			teams[r.Team] = t
		}
		if over := t.Over(r); len(over) > 0 && c.selected(ef) {
			at := ef.Doc.Pos("spec", "team")
			if ef.Environment.Spec.Size != "" {
				at = ef.Doc.Pos("spec", "size")
			}
			c.errorf(at, schemas.RuleBudget, "team %s would go over its budget (%s): %s; the team's environments already reserve %s; pick a smaller size, delete one of them, or ask a platform engineer to raise %s",
				r.Team, strings.Join(over, "; "), reserves(r), held(t), budgetField(spec, r.Team))
			continue
		}
		t.Add(r)
	}
}

func reserves(r budget.Reservation) string {
	what := budget.Describe(r.Resources)
	if what == "" {
		what = "no quota"
	}
	return fmt.Sprintf("this request reserves %s on %d cluster(s)", what, r.Clusters)
}

func held(t *budget.Team) string {
	if len(t.Files) == 0 {
		return "nothing"
	}
	what := budget.Describe(t.Resources)
	if what == "" {
		what = "no quota"
	}
	return fmt.Sprintf("%s in %d environment(s) (%s)", what, len(t.Files), strings.Join(t.Files, ", "))
}

func budgetField(spec *schemas.PlatformSpec, team string) string {
	if _, own := spec.Policy.Budgets.Teams[team]; own {
		return "policy.budgets.teams." + team
	}
	return "policy.budgets.default"
}
