package validate

import (
	"fmt"
	"strings"
	"testing"

	"github.com/allot-dev/allot/environments"
	"github.com/allot-dev/allot/internal/testfs"
	"github.com/allot-dev/allot/schemas"
	"github.com/allot-dev/allot/schemas/load"
)

// budgeted is allot.yaml with two sizes and a budget for team web: 6 CPU
// of requests, 3 environments.
const budgeted = `apiVersion: allot.dev/v1alpha1
kind: Platform
metadata: {name: acme}
spec:
  clusters:
    - {name: eu, labels: {region: eu, tier: dev}, inCluster: true}
    - {name: us, labels: {region: us, tier: dev}, inCluster: true}
  sizes:
    small: {quota: {requests.cpu: "2", requests.memory: 4Gi, pods: 10}}
    large: {quota: {cpu: "4", limits.memory: 8Gi, pods: 20}}
  defaultSize: small
  policy:
    budgets:
      teams:
        web: {environments: 3, resources: {requests.cpu: "6", memory: 16Gi}}
`

func request(name, team, tail string) string {
	return fmt.Sprintf("apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: %s}\nspec:\n  type: namespace\n  owner: jane@acme.example\n  team: %s\n  expires: 7d\n%s", name, team, tail)
}

// repoOf writes files into a repository and loads it.
func repoOf(t *testing.T, files map[string]string) *load.Repository {
	t.Helper()
	root := t.TempDir()
	testfs.Write(t, root, files)
	repo, err := load.Load(root, load.Options{Builtin: environments.Templates()})
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

func TestTeamBudgets(t *testing.T) {
	base := map[string]string{
		"allot.yaml":               budgeted,
		"environments/web/a.yaml":  request("a", "web", "  cluster: eu\n"),                 // 2 CPU
		"environments/web/b.yaml":  request("b", "web", "  cluster: us\n"),                 // 2 CPU
		"environments/shop/c.yaml": request("c", "shop", "  size: large\n  cluster: eu\n"), // no budget
	}
	t.Run("within the budget", func(t *testing.T) {
		expect(t, Repository(repoOf(t, base), Options{Now: now}))
	})
	t.Run("a request that takes the team over a resource is refused, naming the total and the budget", func(t *testing.T) {
		files := clone(base)
		// large on both dev clusters: 8 CPU more, 12 in all, over 6.
		files["environments/web/new.yaml"] = request("new", "web", "  size: large\n  placement: {clusterSelector: {matchLabels: {tier: dev}}}\n")
		got := Repository(repoOf(t, files), Options{Now: now, Selected: changed("environments/web/new.yaml")})
		expect(t, got, "environments/web/new.yaml:9: team web would go over its budget (requests.cpu: 12 of 6; requests.memory: 24Gi of 16Gi)")
		all := got[0].String()
		for _, want := range []string{"this request reserves requests.cpu 8, requests.memory 16Gi, pods 40, limits.memory 16Gi on 2 cluster(s)", "already reserve requests.cpu 4, requests.memory 8Gi, pods 20 in 2 environment(s) (environments/web/a.yaml, environments/web/b.yaml)", "raise policy.budgets.teams.web"} {
			if !strings.Contains(all, want) {
				t.Errorf("the refusal does not say %q:\n%s", want, all)
			}
		}
		if got[0].Rule != schemas.RuleBudget {
			t.Errorf("rule %s, want %s", got[0].Rule, schemas.RuleBudget)
		}
	})
	t.Run("a request past the team's count is refused", func(t *testing.T) {
		files := clone(base)
		files["environments/web/c.yaml"] = request("c2", "web", "  cluster: eu\n")
		files["environments/web/d.yaml"] = request("d", "web", "  cluster: eu\n")
		got := Repository(repoOf(t, files), Options{Now: now, Selected: changed("environments/web/d.yaml")})
		expect(t, got, "environments/web/d.yaml:7: team web would go over its budget (environments: 4 of 3")
	})
	t.Run("a team already over its budget fails only the pull requests that add to it", func(t *testing.T) {
		files := clone(base)
		files["allot.yaml"] = strings.Replace(budgeted, `requests.cpu: "6"`, `requests.cpu: "3"`, 1) // a and b reserve 4
		repo := repoOf(t, files)
		if got := Repository(repo, Options{Now: now, Selected: changed("environments/shop/c.yaml")}); len(got) != 0 {
			t.Errorf("a change to another team's request: %v", got)
		}
		got := Repository(repo, Options{Now: now})
		expect(t, got, "environments/web/b.yaml:7: team web would go over its budget (requests.cpu: 4 of 3)")
	})
	t.Run("the default budget holds for teams without their own", func(t *testing.T) {
		files := clone(base)
		files["allot.yaml"] = strings.Replace(budgeted, "      teams:\n", "      default: {resources: {pods: \"25\"}}\n      teams:\n", 1)
		files["environments/shop/e.yaml"] = request("e", "shop", "  cluster: us\n")
		got := Repository(repoOf(t, files), Options{Now: now, Selected: changed("environments/shop/e.yaml")})
		expect(t, got, "environments/shop/e.yaml:7: team shop would go over its budget (pods: 30 of 25)")
		if !strings.Contains(got[0].Message, "raise policy.budgets.default") {
			t.Errorf("the refusal does not name the default budget: %s", got[0].Message)
		}
	})
}

func TestBudgetsInAllotYAML(t *testing.T) {
	const line = `web: {environments: 3, resources: {requests.cpu: "6", memory: 16Gi}}`
	for name, tc := range map[string]struct{ edit, want string }{
		"a resource no size bounds": {
			edit: `web: {resources: {services: "6"}}`,
			want: "allot.yaml:15: spec.policy.budgets.teams.web.resources.services: sizes large, small set no services in the quota",
		},
		"a resource one size does not bound": {
			edit: `web: {resources: {limits.memory: 1Ti}}`,
			want: "allot.yaml:15: spec.policy.budgets.teams.web.resources.limits.memory: size small sets no limits.memory",
		},
		"a quantity that is not one": {
			edit: `web: {resources: {requests.cpu: "six"}}`,
			want: `allot.yaml:15: spec.policy.budgets.teams.web.resources.requests.cpu: "six" is not a resource quantity`,
		},
		"a name that is no quota resource": {
			edit: `web: {resources: {request.cpu: "6"}}`,
			want: "did you mean requests.cpu?",
		},
		"a team name that is not one": {
			edit: `Web_Team: {resources: {pods: "6"}}`,
			want: `team name "Web_Team" is not a valid name`,
		},
		"a price for a type that does not exist": {
			edit: "web: {resources: {pods: \"40\"}}\n  prices: {cpu: 20, types: {ecz: 40}}",
			want: "prices.types.ecz: there is no environment type ecz; the types are ecs, namespace, vcluster",
		},
	} {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(budgeted, line) {
				t.Fatal("budgeted has no line to edit")
			}
			p := strings.Replace(budgeted, line, tc.edit, 1)
			got := Repository(repoOf(t, map[string]string{"allot.yaml": p}), Options{Now: now})
			var lines []string
			for _, pr := range got {
				lines = append(lines, pr.String())
			}
			if all := strings.Join(lines, "\n"); !strings.Contains(all, tc.want) {
				t.Errorf("want a problem containing %q, got:\n%s", tc.want, all)
			}
		})
	}
}

func changed(file string) func(*load.EnvironmentFile) bool {
	return func(ef *load.EnvironmentFile) bool { return ef.Doc.File == file }
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
