package test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/cmd/allot/app"
	"github.com/allot-dev/allot/internal/testfs"
)

func writeRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	return testfs.Dir(t, files)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(body)
}

func eventually(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestServeRepairsDriftAndServesProbes runs allot serve against a real
// control plane: it reconciles at start, answers its probes, repairs a hand
// edit within seconds without waiting for the interval, and counts it.
func TestServeRepairsDriftAndServesProbes(t *testing.T) {
	cp := ownControlPlane(t)
	repo := writeRepo(t, map[string]string{
		"allot.yaml": "apiVersion: allot.dev/v1alpha1\nkind: Platform\nmetadata: {name: t}\nspec:\n  clusters: [{name: dev, inCluster: true}]\n  idp: {provider: none}\n  defaultSize: small\n  sizes: {small: {quota: {pods: 10}}}\n" +
			"  prices: {types: {namespace: 5}}\n  policy: {budgets: {default: {environments: 4, resources: {pods: \"40\"}}}}\n",
		"environments/web/served.yaml": "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: served}\nspec: {type: namespace, owner: dev@example.com, team: web, cluster: dev}\n",
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.Serve(ctx, app.Streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}, app.ServeOptions{
			ReconcileOptions: app.ReconcileOptions{
				Repo: repo, Kubeconfigs: map[string]string{"dev": cp.Kubeconfig}, ChartCache: t.TempDir(),
				MaxDeleteShare: 0.5, Interval: time.Hour,
			},
			Listen: "127.0.0.1:0", Debounce: 100 * time.Millisecond, Ready: ready,
		})
	}()
	addr := <-ready
	if code, _ := get(t, "http://"+addr+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
	eventually(t, 30*time.Second, "/readyz after the first pass", func() bool {
		code, _ := get(t, "http://"+addr+"/readyz")
		return code == http.StatusOK
	})
	var quota corev1.ResourceQuota
	if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: "served", Name: "quota"}, &quota); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the drift watch synced", func() bool {
		_, metricsText := get(t, "http://"+addr+"/metrics")
		return strings.Contains(metricsText, `allot_drift_watch_synced{cluster="dev"} 1`)
	})
	quota.Spec.Hard["pods"] = mustQuantity(t, "999")
	if err := cp.Client.Update(ctx, &quota, client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	eventually(t, 10*time.Second, "the hand edit repaired", func() bool {
		var q corev1.ResourceQuota
		if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: "served", Name: "quota"}, &q); err != nil {
			return false
		}
		return q.Spec.Hard.Pods().String() == "10"
	})
	t.Logf("drift repaired in %s", time.Since(start))
	_, metricsText := get(t, "http://"+addr+"/metrics")
	for _, want := range []string{`allot_drift_total{cluster="dev"}`, `allot_passes_total{result="ok"}`, `allot_objects_applied_total{cluster="dev"}`, "allot_pass_duration_seconds_bucket",
		`allot_team_environments{team="web"} 1`, `allot_team_reserved{resource="pods",team="web"} 10`, `allot_team_budget{resource="pods",team="web"} 40`,
		`allot_team_budget{resource="environments",team="web"} 4`, `allot_team_cost_monthly{currency="USD",team="web"} 5`} {
		if !strings.Contains(metricsText, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("serve did not stop")
	}
}
