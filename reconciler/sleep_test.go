package reconciler

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/test/harness"
)

// nightly sleeps from 20:00 to 08:00 UTC every day.
const nightly = "  sleep: {schedule: \"daily 20:00-08:00\"}\n"

func ptr[T any](v T) *T { return &v }

func podTemplate(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/app:1"}}},
	}
}

// tenantWorkloadsIn creates, as the tenant would, a Deployment with 3
// replicas and a StatefulSet with 2 in the environment's namespace.
func tenantWorkloadsIn(t *testing.T, c client.Client, ns string) {
	t.Helper()
	ctx := context.Background()
	sel := func(app string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
	}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: ns}, Spec: appsv1.DeploymentSpec{Replicas: ptr[int32](3), Selector: sel("api"), Template: podTemplate("api")}}
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns}, Spec: appsv1.StatefulSetSpec{Replicas: ptr[int32](2), Selector: sel("db"), Template: podTemplate("db"), ServiceName: "db"}}
	for _, o := range []client.Object{dep, sts} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
}

// replicas reads the replicas of the tenant's api Deployment and db
// StatefulSet.
func (f *fixture) replicas(t *testing.T, cluster, ns string) (api, db int32) {
	t.Helper()
	var dep appsv1.Deployment
	var sts appsv1.StatefulSet
	if err := f.get(t, cluster, &dep, ns, "api"); err != nil {
		t.Fatal(err)
	}
	if err := f.get(t, cluster, &sts, ns, "db"); err != nil {
		t.Fatal(err)
	}
	return *dep.Spec.Replicas, *sts.Spec.Replicas
}

func (f *fixture) wake(t *testing.T, env string, w Wake) {
	t.Helper()
	if _, errs := f.r.Wake(context.Background(), f.r.Platform().Clusters, env, w); len(errs) > 0 {
		t.Fatal(errs)
	}
}

// TestNamespaceSleepsAndWakesOnSchedule drives a namespace environment
// with a nightly schedule through the injected clock: at night the
// tenant's own Deployment and StatefulSet go to zero, a hand edit during
// the sleep is scaled back down, and in the morning each gets back exactly
// the replicas it had.
func TestNamespaceSleepsAndWakesOnSchedule(t *testing.T) {
	f := newFixture(t, "a")
	c := f.cps["a"].Client
	f.src.write(t, "environments/web/shop.yaml", request("shop", "a", nightly))
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	f.now = day.Add(12 * time.Hour)

	res := f.mustPass(t)
	if e := result(res, "a", "shop"); e.Asleep || !e.SleepUntil.Equal(day.Add(20*time.Hour)) {
		t.Fatalf("at noon: asleep %v until %s, want awake until 20:00", e.Asleep, e.SleepUntil)
	}
	if next := res.NextSleepChange(); !next.Equal(day.Add(20 * time.Hour)) {
		t.Errorf("NextSleepChange = %s, want 20:00", next)
	}
	tenantWorkloadsIn(t, c, "shop")

	f.now = day.Add(21 * time.Hour)
	res = f.mustPass(t)
	if e := result(res, "a", "shop"); !e.Asleep || !e.SleepUntil.Equal(day.Add(32*time.Hour)) {
		t.Fatalf("at 21:00: asleep %v until %s, want asleep until 08:00", e.Asleep, e.SleepUntil)
	}
	if api, db := f.replicas(t, "a", "shop"); api != 0 || db != 0 {
		t.Fatalf("asleep: api %d, db %d replicas; want 0 and 0", api, db)
	}
	if rec := f.record(t, "shop"); rec.Sleep == nil || !rec.Sleep.Asleep || !rec.Sleep.Until.Equal(day.Add(32*time.Hour)) {
		t.Errorf("record says %+v", rec.Sleep)
	}

	t.Run("a hand edit during the sleep is scaled back down", func(t *testing.T) {
		var dep appsv1.Deployment
		if err := f.get(t, "a", &dep, "shop", "api"); err != nil {
			t.Fatal(err)
		}
		dep.Spec.Replicas = ptr[int32](5)
		if err := c.Update(context.Background(), &dep); err != nil {
			t.Fatal(err)
		}
		f.now = day.Add(23 * time.Hour)
		f.mustPass(t)
		if api, _ := f.replicas(t, "a", "shop"); api != 0 {
			t.Errorf("api has %d replicas after the pass, want 0", api)
		}
	})

	f.now = day.Add(32*time.Hour + 30*time.Minute)
	res = f.mustPass(t)
	if e := result(res, "a", "shop"); e.Asleep || !e.SleepUntil.Equal(day.Add(44*time.Hour)) {
		t.Fatalf("at 08:30: asleep %v until %s, want awake until 20:00", e.Asleep, e.SleepUntil)
	}
	if api, db := f.replicas(t, "a", "shop"); api != 3 || db != 2 {
		t.Fatalf("awake: api %d, db %d replicas; want 3 and 2", api, db)
	}
	var dep appsv1.Deployment
	if err := f.get(t, "a", &dep, "shop", "api"); err != nil {
		t.Fatal(err)
	}
	if _, left := dep.Annotations[AnnotationSleepReplicas]; left {
		t.Errorf("the annotation is left after the wake: %v", dep.Annotations)
	}

	t.Run("an early wake lasts until the next scheduled sleep", func(t *testing.T) {
		night := day.Add(24 * time.Hour)
		f.now = night.Add(21 * time.Hour)
		f.mustPass(t)
		if api, _ := f.replicas(t, "a", "shop"); api != 0 {
			t.Fatalf("not asleep at 21:00: api %d", api)
		}
		f.wake(t, "shop", Wake{By: "test"})
		f.now = night.Add(21*time.Hour + time.Minute)
		res := f.mustPass(t)
		if api, db := f.replicas(t, "a", "shop"); api != 3 || db != 2 {
			t.Fatalf("woken: api %d, db %d replicas; want 3 and 2", api, db)
		}
		// Woken until the next sleep, 20:00 the day after.
		next := night.Add(44 * time.Hour)
		if e := result(res, "a", "shop"); e.Asleep || !e.SleepUntil.Equal(next) {
			t.Errorf("woken: asleep %v until %s, want awake until %s", e.Asleep, e.SleepUntil, next)
		}
		if rec := f.record(t, "shop"); rec.Sleep == nil || !rec.Sleep.WokenUntil.Equal(next) {
			t.Errorf("record says %+v", rec.Sleep)
		}
		f.now = night.Add(32 * time.Hour) // 08:00: the schedule wakes it anyway
		f.mustPass(t)
		f.now = next.Add(time.Minute)
		f.mustPass(t)
		if api, db := f.replicas(t, "a", "shop"); api != 0 || db != 0 {
			t.Errorf("after the wake ended: api %d, db %d replicas; want 0 and 0", api, db)
		}
	})

	t.Run("a wake for a duration ends after it", func(t *testing.T) {
		f.wake(t, "shop", Wake{By: "test", Until: f.now.Add(2 * time.Hour)})
		f.now = f.now.Add(time.Hour)
		if res := f.mustPass(t); result(res, "a", "shop").Asleep {
			t.Fatal("asleep during the two-hour wake")
		}
		if api, _ := f.replicas(t, "a", "shop"); api != 3 {
			t.Fatalf("api has %d replicas during the wake, want 3", api)
		}
		f.now = f.now.Add(90 * time.Minute)
		if res := f.mustPass(t); !result(res, "a", "shop").Asleep {
			t.Fatal("awake after the two-hour wake")
		}
		if api, _ := f.replicas(t, "a", "shop"); api != 0 {
			t.Fatalf("api has %d replicas after the wake, want 0", api)
		}
	})

	t.Run("a tenant's annotation above the bound is not restored", func(t *testing.T) {
		var dep appsv1.Deployment
		if err := f.get(t, "a", &dep, "shop", "api"); err != nil {
			t.Fatal(err)
		}
		dep.Annotations[AnnotationSleepReplicas] = "1000000"
		if err := c.Update(context.Background(), &dep); err != nil {
			t.Fatal(err)
		}
		f.wake(t, "shop", Wake{By: "test", Until: f.now.Add(time.Hour)})
		f.now = f.now.Add(time.Minute)
		res := f.mustPass(t)
		if api, db := f.replicas(t, "a", "shop"); api != 0 || db != 2 {
			t.Errorf("api %d, db %d replicas; want 0 (refused) and 2", api, db)
		}
		if msg := result(res, "a", "shop").Message; !strings.Contains(msg, "Deployment/shop/api not restored") {
			t.Errorf("message %q does not say api was not restored", msg)
		}
	})
}

// TestWakeWithoutRecord names the environment no cluster knows.
func TestWakeWithoutRecord(t *testing.T) {
	f := newFixture(t, "a")
	f.src.write(t, "environments/web/shop.yaml", request("shop", "a", nightly))
	f.mustPass(t)
	_, errs := f.r.Wake(context.Background(), f.r.Platform().Clusters, "nope", Wake{})
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `no cluster has a record of the environment "nope"`) {
		t.Errorf("errors %v", errs)
	}
}

var (
	ackService     = schema.GroupVersionKind{Group: "ecs.services.k8s.aws", Version: "v1alpha1", Kind: "Service"}
	ecsPlatform    = "apiVersion: allot.dev/v1alpha1\nkind: Platform\nmetadata: {name: test}\nspec:\n  clusters:\n    - {name: a, labels: {allot.dev/role: management}, inCluster: true}\n  idp: {provider: none}\n  defaultSize: small\n  sizes:\n    small: {quota: {pods: 10}, sleep: {schedule: \"weekdays 19:00-07:00\", timeZone: Europe/Berlin}}\n"
	ecsSleepRquest = "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: api}\nspec:\n  type: ecs\n  owner: dev@example.com\n  team: web\n  cluster: a\n  values: {image: registry.example.com/api:1, desiredCount: 2, region: eu-central-1, cidr: 10.40.0.0/16}\n"
)

// TestECSSleepsOnItsSizesSchedule sleeps an ECS stack on the schedule of
// its size, in Berlin time: desiredCount 0 on the ACK Service at night, a
// hand edit repaired back to 0, and the request's 2 in the morning.
func TestECSSleepsOnItsSizesSchedule(t *testing.T) {
	f := newFixture(t, "a")
	c := f.cps["a"].Client
	files, err := filepath.Glob("../environments/testdata/crds/*.services.k8s.aws.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no ACK CRDs: %v", err)
	}
	if err := harness.InstallCRDFiles(context.Background(), c, files...); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go harness.RunACKStatus(ctx, c, 100*time.Millisecond)
	f.src.write(t, "allot.yaml", ecsPlatform)
	f.src.write(t, "environments/web/api.yaml", ecsSleepRquest)
	desiredCount := func() int64 {
		t.Helper()
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(ackService)
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: "api", Name: "api"}, u); err != nil {
			t.Fatal(err)
		}
		n, _, _ := unstructured.NestedInt64(u.Object, "spec", "desiredCount")
		return n
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	// Wednesday 25 November 2026.
	f.now = time.Date(2026, 11, 25, 12, 0, 0, 0, berlin)
	f.pass(t)
	if n := desiredCount(); n != 2 {
		t.Fatalf("desiredCount %d by day, want 2", n)
	}
	f.now = time.Date(2026, 11, 25, 19, 30, 0, 0, berlin)
	res := f.pass(t)
	if e := result(res, "a", "api"); !e.Asleep || !e.SleepUntil.Equal(time.Date(2026, 11, 26, 7, 0, 0, 0, berlin)) {
		t.Fatalf("at 19:30 Berlin: asleep %v until %s\n%s", e.Asleep, e.SleepUntil, describe(res))
	}
	if n := desiredCount(); n != 0 {
		t.Fatalf("desiredCount %d asleep, want 0", n)
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(ackService)
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "api", Name: "api"}, u); err != nil {
		t.Fatal(err)
	}
	_ = unstructured.SetNestedField(u.Object, int64(4), "spec", "desiredCount")
	if err := c.Update(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	f.r.Invalidate()
	f.now = f.now.Add(time.Hour)
	f.pass(t)
	if n := desiredCount(); n != 0 {
		t.Fatalf("desiredCount %d after a hand edit during the sleep, want 0", n)
	}
	f.now = time.Date(2026, 11, 26, 7, 5, 0, 0, berlin)
	f.pass(t)
	if n := desiredCount(); n != 2 {
		t.Fatalf("desiredCount %d in the morning, want 2", n)
	}
}

// TestPlanSaysTheScheduleAndPlansTheSleep plans an asleep environment as
// a pass applies it: with its schedule, and no change to bring it back up.
func TestPlanSaysTheScheduleAndPlansTheSleep(t *testing.T) {
	f := newFixture(t, "a")
	f.src.write(t, "environments/web/shop.yaml", request("shop", "a", "  sleep: {schedule: \"weekdays 20:00-08:00\", timeZone: Europe/Berlin}\n"))
	f.now = time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC)
	f.mustPass(t)
	plan, err := f.r.PlanOnly(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Entries) != 1 {
		t.Fatalf("entries %+v", plan.Entries)
	}
	e := plan.Entries[0]
	if e.Sleep != "weekdays 20:00-08:00 (Europe/Berlin)" || !e.Asleep || e.Action != ActionUnchanged {
		t.Errorf("plan entry: sleep %q, asleep %v, action %s; want the schedule, asleep, unchanged", e.Sleep, e.Asleep, e.Action)
	}
}
