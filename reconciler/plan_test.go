package reconciler

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/allot-dev/allot/schemas"
)

func findEntry(p *Plan, env string) PlanEntry {
	for _, e := range p.Entries {
		if e.Environment == env {
			return e
		}
	}
	return PlanEntry{}
}

func findChange(e PlanEntry, object string) Change {
	for _, c := range e.Changes {
		if c.Object == object {
			return c
		}
	}
	return Change{}
}

func TestPlanShowsChangesWithoutWriting(t *testing.T) {
	f := newFixture(t, "a")
	secret := "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {password: %s}\n"
	f.src.write(t, "environments/web/shop.yaml", request("shop", "a", fmt.Sprintf(configAddon, "shop")))
	f.src.write(t, "addons/shop/config.yaml", configMap("settings", "one", "")+"---\n"+fmt.Sprintf(secret, "hunter2"))
	f.src.write(t, "environments/web/old.yaml", request("old", "a", ""))
	f.src.write(t, "environments/web/other.yaml", request("other", "a", ""))
	f.mustPass(t)

	f.src.write(t, "addons/shop/config.yaml", configMap("settings", "two", "")+"---\n"+fmt.Sprintf(secret, "correct-horse"))
	f.src.remove(t, "environments/web/old.yaml")
	f.src.write(t, "environments/web/new.yaml", request("new", "a", ""))
	plan, err := f.r.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	shop := findEntry(plan, "shop")
	if shop.Action != ActionUpdated {
		t.Errorf("shop: %s, want updated", shop.Action)
	}
	if c := findChange(shop, "ConfigMap/shop/settings"); c.Action != "update" || !strings.Contains(c.Diff, `value: two`) {
		t.Errorf("settings change = %+v", c)
	}
	c := findChange(shop, "Secret/shop/creds")
	if c.Action != ChangeUpdate || !strings.Contains(c.Diff, "+  password: '*** (after)'") {
		t.Errorf("secret change = %+v", c)
	}
	for _, e := range plan.Entries {
		for _, ch := range e.Changes {
			if strings.Contains(ch.Diff, "hunter2") || strings.Contains(ch.Diff, "correct-horse") ||
				strings.Contains(ch.Diff, "aHVudGVyMg") || strings.Contains(ch.Diff, "Y29ycmVjdC1ob3JzZQ") {
				t.Errorf("a secret value is in the plan: %s", ch.Diff)
			}
		}
	}
	if e := findEntry(plan, "new"); e.Action != ActionCreated || findChange(e, "Namespace/new").Action != "create" {
		t.Errorf("new = %+v", e)
	}
	if e := findEntry(plan, "old"); e.Action != ActionDeleted || findChange(e, "Namespace/old").Action != "delete" {
		t.Errorf("old = %+v", e)
	}
	if e := findEntry(plan, "other"); e.Action != ActionUnchanged {
		t.Errorf("other = %+v", e)
	}
	only, err := f.r.PlanOnly(context.Background(), func(env string) bool { return env == "shop" || env == "old" })
	if err != nil {
		t.Fatal(err)
	}
	var planned []string
	for _, e := range only.Entries {
		planned = append(planned, e.Environment)
	}
	if strings.Join(planned, ",") != "old,shop" {
		t.Errorf("PlanOnly(shop, old) planned %v", planned)
	}
	// Nothing was written: the pass after the plan still has all of it to do.
	res := f.mustPass(t)
	if action(res, "a", "old") != ActionDeleted || action(res, "a", "shop") != ActionUpdated {
		t.Errorf("the pass after the plan did not find the planned changes still to do\n%s", describe(res))
	}
}

func TestStatusListsEveryRecord(t *testing.T) {
	f := newFixture(t, "a")
	f.src.write(t, "environments/web/one.yaml", request("one", "a", ""))
	f.src.write(t, "environments/web/two.yaml", request("two", "a", ""))
	f.mustPass(t)
	rows, errs := f.r.Status(context.Background(), []schemas.Cluster{{Name: "a", InCluster: true}})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var got []string
	for _, r := range rows {
		got = append(got, fmt.Sprintf("%s/%s %s %s %s", r.Cluster, r.Environment, r.Ready, r.Phase, r.Commit))
	}
	want := "a/one True install commit-1\na/two True install commit-1"
	if strings.Join(got, "\n") != want {
		t.Errorf("status:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
}

// TestPlanListsPreDeleteObjects: what runs at teardown is shown when it is
// set (the request's first plan), not shown again while it stays the same,
// and shown before the teardown that runs it.
func TestPlanListsPreDeleteObjects(t *testing.T) {
	f := newFixture(t, "a")
	f.src.write(t, "environments/web/keep.yaml", request("keep", "a", ""))
	f.src.write(t, "environments/web/gone.yaml", request("gone", "a", fmt.Sprintf(configAddon, "gone")))
	f.src.write(t, "addons/gone/config.yaml", configMap("settings", "v", "")+"---\n"+configMap("farewell", "bye", "  annotations: {allot.dev/phase: preDelete}\n"))
	preDelete := func(p *Plan) *Change {
		for _, e := range p.Entries {
			for i, c := range e.Changes {
				if e.Environment == "gone" && c.Action == ChangePreDelete {
					return &e.Changes[i]
				}
			}
		}
		return nil
	}
	plan, err := f.r.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c := preDelete(plan); c == nil || c.Object != "ConfigMap/gone/farewell" || !strings.Contains(c.Diff, "+data:") || !strings.Contains(c.Diff, "bye") {
		t.Fatalf("the first plan shows preDelete %+v; want ConfigMap/gone/farewell with its content", c)
	}
	f.mustPass(t)
	if plan, err = f.r.Plan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c := preDelete(plan); c != nil {
		t.Errorf("an unchanged preDelete phase is shown again: %+v", c)
	}
	f.src.remove(t, "environments/web/gone.yaml")
	if plan, err = f.r.Plan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c := preDelete(plan); c == nil || c.Object != "ConfigMap/gone/farewell" {
		t.Errorf("the teardown's plan does not show what it runs first: %+v", c)
	}
}
