package budget

import (
	"math"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/allot-dev/allot/environments"
	"github.com/allot-dev/allot/internal/testfs"
	"github.com/allot-dev/allot/schemas"
	"github.com/allot-dev/allot/schemas/load"
)

const platform = `apiVersion: allot.dev/v1alpha1
kind: Platform
metadata: {name: acme}
spec:
  clusters:
    - {name: eu, labels: {tier: dev}, inCluster: true}
    - {name: us, labels: {tier: dev}, inCluster: true}
    - {name: mgmt, labels: {allot.dev/role: management}, inCluster: true}
  sizes:
    small: {quota: {requests.cpu: "2", requests.memory: 4Gi, pods: 10}}
    capped: {quota: {cpu: "8", requests.cpu: 3, limits.cpu: "1500m", limits.memory: 1536Mi}}
  defaultSize: small
  prices: {currency: EUR, cpu: 20, memoryGiB: 2.5, types: {ecs: 40, namespace: 1}}
`

func load1(t *testing.T, files map[string]string) *load.Repository {
	t.Helper()
	root := t.TempDir()
	files["allot.yaml"] = platform
	testfs.Write(t, root, files)
	repo, err := load.Load(root, load.Options{Builtin: environments.Templates()})
	if err != nil {
		t.Fatal(err)
	}
	if len(repo.Problems) > 0 {
		t.Fatalf("the test repository does not load: %v", repo.Problems)
	}
	return repo
}

func TestReservationsAndCost(t *testing.T) {
	repo := load1(t, map[string]string{
		// small on two clusters: 4 CPU, 8Gi; (4×20 + 8×2.5 + 2×1) = 102.
		"environments/web/spread.yaml": "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: spread}\nspec: {type: namespace, owner: jane@acme.example, team: web, expires: 7d, placement: {clusterSelector: {matchLabels: {tier: dev}}}}\n",
		// capped on one: requests.cpu the lowest of 8, 3 and 1.5; memory 1.5Gi from its limit.
		"environments/web/capped.yaml": "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: capped}\nspec: {type: namespace, owner: jane@acme.example, team: web, expires: 7d, size: capped, cluster: eu}\n",
		// ECS reserves no quota: its flat price only.
		"environments/shop/stack.yaml": "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: stack}\nspec: {type: ecs, owner: jane@acme.example, team: shop, expires: 7d, cluster: mgmt, values: {image: nginx}}\n",
	})
	awake := map[string]float64{"capped": 0.25}
	opts := Options{Awake: func(ef *load.EnvironmentFile) float64 {
		if a, ok := awake[ef.Environment.Metadata.Name]; ok {
			return a
		}
		return 1
	}}
	want := map[string]struct {
		clusters  int
		resources string
		monthly   float64
	}{
		"spread": {2, "requests.cpu 4, requests.memory 8Gi, pods 20", 102},
		// (1.5×20 + 1.5×2.5 + 1) × 0.25
		"capped": {1, "requests.cpu 1500m, requests.memory 1536Mi, limits.cpu 1500m, limits.memory 1536Mi", 8.69},
		"stack":  {1, "", 40},
	}
	for _, ef := range repo.Environments {
		r, err := Of(repo, ef, opts)
		if err != nil {
			t.Fatalf("%s: %v", ef.Doc.File, err)
		}
		w := want[r.Environment]
		if r.Clusters != w.clusters || Describe(r.Resources) != w.resources || r.Monthly != w.monthly {
			t.Errorf("%s: %d clusters, %q, %.2f a month; want %d, %q, %.2f", r.Environment, r.Clusters, Describe(r.Resources), r.Monthly, w.clusters, w.resources, w.monthly)
		}
	}
	teams := Teams(repo, opts)
	web := teams["web"]
	if web == nil || len(web.Files) != 2 || web.Monthly != 110.69 || Describe(web.Resources) != "requests.cpu 5500m, requests.memory 9728Mi, pods 20, limits.cpu 1500m, limits.memory 1536Mi" {
		t.Errorf("team web: %+v", web)
	}
	if got := Money(repo.Platform.Platform.Spec.Prices, web.Monthly); got != "EUR 110.69" {
		t.Errorf("Money = %q", got)
	}
}

func TestOverNamesEachResourcePastTheBudget(t *testing.T) {
	team := &Team{Name: "web", Files: []string{"a.yaml"}, Resources: corev1.ResourceList{"requests.cpu": resource.MustParse("5")}}
	r := Reservation{Resources: corev1.ResourceList{"requests.cpu": resource.MustParse("2"), "pods": resource.MustParse("10")}}
	if got := team.Over(r); got != nil {
		t.Errorf("no budget: %v", got)
	}
	budgeted := NewTeam("web", &schemas.Budget{Environments: 1, Resources: map[string]any{"cpu": "6", "pods": 10}}, "")
	budgeted.Files, budgeted.Resources = team.Files, team.Resources
	team = budgeted
	got := team.Over(r)
	if len(got) != 2 || got[0] != "environments: 2 of 1" || got[1] != "requests.cpu: 7 of 6" {
		t.Errorf("Over = %q", got)
	}
}

// TestSleepingHoursAreFree: an environment asleep weeknights from 20:00 to
// 08:00 and all weekend is awake 60 of the week's 168 hours.
func TestSleepingHoursAreFree(t *testing.T) {
	repo := load1(t, map[string]string{
		"environments/web/night.yaml": "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: night}\nspec: {type: namespace, owner: jane@acme.example, team: web, expires: 7d, cluster: eu, sleep: {schedule: \"weekdays 20:00-08:00\", timeZone: Europe/Berlin}}\n",
	})
	// A Monday in winter, Berlin an hour ahead of UTC.
	r, err := Of(repo, repo.Environments[0], Options{Now: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	// Awake 08:00-20:00 Monday to Friday: 60 of 168 hours.
	if want := 60.0 / 168; math.Abs(r.Awake-want) > 0.01 {
		t.Errorf("awake %.3f of the time, want %.3f", r.Awake, want)
	}
	// Small on one cluster: 2 CPU × 20 + 4 GiB × 2.5 + 1 = 51 a month awake.
	if want := math.Round(51*r.Awake*100) / 100; r.Monthly != want {
		t.Errorf("%.2f a month, want %.2f", r.Monthly, want)
	}
}
