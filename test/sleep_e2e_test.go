package test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/cmd/allot/app"
	"github.com/allot-dev/allot/environments"
	"github.com/allot-dev/allot/internal/testfs"
	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/test/harness"
)

// TestVclusterSleepsWithItsControlPlane renders the built-in vcluster
// type with the real chart and a nightly schedule, and drives the clock:
// at night the chart's StatefulSet (the control plane, and so every
// workload of the vcluster) has 0 replicas, a hand edit that starts it
// again is repaired back to 0, and in the morning the chart's own replicas
// are back.
func TestVclusterSleepsWithItsControlPlane(t *testing.T) {
	repo, cache, _ := vclusterRepo(t)
	request := vclusterRequest + "  sleep: {schedule: \"daily 20:00-08:00\", timeZone: America/New_York}\n"
	if err := os.WriteFile(filepath.Join(repo, "environments/payments/team-vc.yaml"), []byte(request), 0o644); err != nil {
		t.Fatal(err)
	}
	host, err := harness.Start(harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = host.Stop() }()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	go harness.RunWorkloadStatus(ctx, host.Client, 200*time.Millisecond)

	newYork, _ := time.LoadLocation("America/New_York")
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, newYork)
	r := &reconciler.Reconciler{
		Source: &idpFolder{dir: repo}, Connector: &reconciler.Connector{Kubeconfigs: map[string]string{"dev-us-1": host.Kubeconfig}},
		Builtin: environments.Templates(), ChartCache: cache, OnlyClusters: []string{"dev-us-1"},
		WaitInterval: 200 * time.Millisecond, Now: func() time.Time { return now },
	}
	replicas := func() int32 {
		t.Helper()
		var sts appsv1.StatefulSet
		if err := host.Client.Get(ctx, client.ObjectKey{Namespace: "team-vc", Name: "team-vc"}, &sts); err != nil {
			t.Fatal(err)
		}
		if sts.Spec.Replicas == nil {
			return 1
		}
		return *sts.Spec.Replicas
	}
	pass := func() reconciler.EnvResult {
		t.Helper()
		res := r.Pass(ctx)
		if res.Err != nil || len(res.Clusters) != 1 || res.Clusters[0].Err != nil {
			t.Fatalf("pass: %v %+v", res.Err, res.Clusters)
		}
		for _, e := range res.Clusters[0].Environments {
			if e.Environment == "team-vc" {
				return e
			}
		}
		t.Fatal("no result for team-vc")
		return reconciler.EnvResult{}
	}

	pass()
	day := replicas()
	if day < 1 {
		t.Fatalf("the control plane has %d replicas by day", day)
	}
	now = time.Date(2026, 11, 24, 20, 30, 0, 0, newYork)
	if e := pass(); !e.Asleep || e.Err != nil {
		t.Fatalf("at 20:30 New York: asleep %v, error %v", e.Asleep, e.Err)
	}
	if n := replicas(); n != 0 {
		t.Fatalf("the control plane has %d replicas asleep, want 0", n)
	}

	// A hand edit, as kubectl edit makes it; the kubelet stand-in writes the
	// StatefulSet's status meanwhile, so read again on a conflict.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var sts appsv1.StatefulSet
		if err := host.Client.Get(ctx, client.ObjectKey{Namespace: "team-vc", Name: "team-vc"}, &sts); err != nil {
			return err
		}
		one := int32(1)
		sts.Spec.Replicas = &one
		return host.Client.Update(ctx, &sts)
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Invalidate()
	now = now.Add(time.Hour)
	pass()
	if n := replicas(); n != 0 {
		t.Fatalf("the control plane has %d replicas after a hand edit during the sleep, want 0", n)
	}

	now = time.Date(2026, 11, 25, 8, 1, 0, 0, newYork)
	if e := pass(); e.Asleep {
		t.Fatal("asleep at 08:01 New York")
	}
	if n := replicas(); n != day {
		t.Fatalf("the control plane has %d replicas in the morning, want the chart's %d", n, day)
	}
}

// TestWakeCommand wakes a sleeping environment with `allot wake --for`,
// puts it back to sleep with `allot sleep`, and reads both in `allot
// status`, through the CLI against a real control plane: the tenant's
// Deployment gets its replicas back and loses them again.
func TestWakeCommand(t *testing.T) {
	repo := t.TempDir()
	// Asleep at any time of the year but the first minute: it sleeps
	// every minute and wakes on the first of January only.
	files := map[string]string{
		"allot.yaml": "apiVersion: allot.dev/v1alpha1\nkind: Platform\nmetadata: {name: acme}\nspec:\n  clusters: [{name: dev, inCluster: true}]\n  idp: {provider: none}\n  defaultSize: small\n  sizes: {small: {quota: {pods: 10}}}\n",
		"environments/web/nap.yaml": "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: nap}\nspec:\n  type: namespace\n  owner: dev@example.com\n  team: web\n  cluster: dev\n" +
			"  sleep: {sleepAt: \"* * * * *\", wakeAt: \"0 0 1 1 *\"}\n",
	}
	testfs.Write(t, repo, files)
	// Its own control plane: the records of the shared one belong to the
	// other tests' repositories.
	cp := ownControlPlane(t)
	flags := []string{"--repo", repo, "--kubeconfig", "dev=" + cp.Kubeconfig}
	allot(t, append([]string{"reconcile", "--once"}, flags...)...)
	ctx := context.Background()
	two := int32(2)
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "nap"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &two, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example.com/web:1"}}}},
		},
	}
	if err := cp.Client.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	replicas := func() int32 {
		t.Helper()
		var d appsv1.Deployment
		if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: "nap", Name: "web"}, &d); err != nil {
			t.Fatal(err)
		}
		return *d.Spec.Replicas
	}
	allot(t, append([]string{"reconcile", "--once"}, flags...)...)
	if n := replicas(); n != 0 {
		t.Fatalf("%d replicas asleep, want 0", n)
	}
	if out := allot(t, append([]string{"status"}, flags...)...); !strings.Contains(out, "(asleep until ") {
		t.Errorf("allot status does not say nap is asleep:\n%s", out)
	}

	out := allot(t, append([]string{"wake", "nap", "--for", "2h"}, flags...)...)
	if !strings.Contains(out, "nap: wake recorded on dev, until ") || !strings.Contains(out, "nap on dev: updated, awake until ") {
		t.Errorf("allot wake printed:\n%s", out)
	}
	if n := replicas(); n != 2 {
		t.Fatalf("%d replicas after allot wake, want 2", n)
	}
	if out := allot(t, append([]string{"status", "nap"}, flags...)...); !strings.Contains(out, "awake until ") || !strings.Contains(out, "woken early") {
		t.Errorf("allot status nap does not say it was woken:\n%s", out)
	}

	out = allot(t, append([]string{"sleep", "nap"}, flags...)...)
	if !strings.Contains(out, "nap: sleep recorded on dev, until the next scheduled wake") {
		t.Errorf("allot sleep printed:\n%s", out)
	}
	if n := replicas(); n != 0 {
		t.Fatalf("%d replicas after allot sleep, want 0", n)
	}
}

// TestServeSleepsOnTheScheduleEdge runs allot serve with an hour between
// passes and a request that sleeps at the next minute: serve runs a pass
// at that time, not at the next periodic one, and its metrics count the
// sleeping environment and say when it wakes.
func TestServeSleepsOnTheScheduleEdge(t *testing.T) {
	cp := ownControlPlane(t)
	at := time.Now().UTC().Truncate(time.Minute).Add(time.Minute)
	if time.Until(at) < 20*time.Second {
		at = at.Add(time.Minute)
	}
	wake := at.Add(2 * time.Minute)
	cron := func(t time.Time) string {
		return fmt.Sprintf("%d %d %d %d *", t.Minute(), t.Hour(), t.Day(), int(t.Month()))
	}
	repo := writeRepo(t, map[string]string{
		"allot.yaml":                 "apiVersion: allot.dev/v1alpha1\nkind: Platform\nmetadata: {name: t}\nspec:\n  clusters: [{name: dev, inCluster: true}]\n  idp: {provider: none}\n  defaultSize: small\n  sizes: {small: {quota: {pods: 10}}}\n",
		"environments/web/edge.yaml": fmt.Sprintf("apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: edge}\nspec:\n  type: namespace\n  owner: dev@example.com\n  team: web\n  cluster: dev\n  sleep: {sleepAt: %q, wakeAt: %q}\n", cron(at), cron(wake)),
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.Serve(ctx, app.Streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}, app.ServeOptions{
			ReconcileOptions: app.ReconcileOptions{Repo: repo, Kubeconfigs: map[string]string{"dev": cp.Kubeconfig}, ChartCache: t.TempDir(), MaxDeleteShare: 0.5, Interval: time.Hour},
			Listen:           "127.0.0.1:0", Debounce: 100 * time.Millisecond, Ready: ready,
		})
	}()
	addr := <-ready
	asleep := `allot_environments_asleep{cluster="dev"} 1`
	eventually(t, 30*time.Second, "the first pass", func() bool {
		_, m := get(t, "http://"+addr+"/metrics")
		return strings.Contains(m, `allot_passes_total{result="ok"}`)
	})
	if _, m := get(t, "http://"+addr+"/metrics"); strings.Contains(m, asleep) {
		t.Fatalf("asleep before %s:\n%s", at, m)
	}
	eventually(t, time.Until(at)+30*time.Second, "asleep at "+at.Format(time.RFC3339), func() bool {
		_, m := get(t, "http://"+addr+"/metrics")
		return strings.Contains(m, asleep)
	})
	_, m := get(t, "http://"+addr+"/metrics")
	if want := fmt.Sprintf(`allot_environment_wake_time_seconds{cluster="dev",environment="edge"} %g`, float64(wake.Unix())); !strings.Contains(m, want) {
		t.Errorf("/metrics has no %s", want)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve returned %v", err)
	}
}
