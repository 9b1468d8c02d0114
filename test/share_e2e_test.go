package test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/cmd/allot/app"
	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/reconciler/fleet"
	"github.com/allot-dev/allot/renderer"
	"github.com/allot-dev/allot/test/harness"
)

// The Leases of the shared-fleet run: short, so that the run is bounded.
const (
	shareLease = 4 * time.Second
	shareRenew = 2500 * time.Millisecond
	shareRetry = 500 * time.Millisecond
)

// shareWorld is three replicas of allot serve --share-clusters over six
// control planes; the first control plane is also the home cluster that
// holds the Leases.
type shareWorld struct {
	t        *testing.T
	bin      string
	cps      []*harness.ControlPlane
	names    []string
	repo     *harness.GitRepo
	base     string
	replicas []*shareReplica
	// want is, per cluster, the environments the branch's head places there.
	want map[string][]string
	pods string
}

type shareReplica struct {
	cmd      *exec.Cmd
	log      string
	identity string
	killed   time.Time
}

func sharePlatform(names []string, pods string) string {
	var b strings.Builder
	b.WriteString("apiVersion: allot.dev/v1alpha1\nkind: Platform\nmetadata: {name: t}\nspec:\n  clusters:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "    - {name: %s, kubeconfig: {file: /nowhere}}\n", n)
	}
	fmt.Fprintf(&b, "  idp: {provider: none}\n  defaultSize: small\n  sizes: {small: {quota: {pods: %s}}}\n", pods)
	return b.String()
}

func shareRequest(name, cluster string) string {
	return fmt.Sprintf("apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: %s}\nspec: {type: namespace, owner: dev@example.com, team: web, cluster: %s}\n", name, cluster)
}

func (w *shareWorld) start(i int) *shareReplica {
	w.t.Helper()
	args := []string{"serve", "--log-format", "json", "--log-level", "debug", "--no-idp",
		"--repo", "file://" + w.repo.Bare, "--branch", "main",
		"--workdir", filepath.Join(w.base, fmt.Sprintf("workdir-%d", i)), "--chart-cache", filepath.Join(w.base, "charts"),
		"--listen", "127.0.0.1:0", "--interval", "3s", "--max-delete-share", "0.9", "--delete-window", "0",
		"--share-clusters", "--home-kubeconfig", w.cps[0].Kubeconfig,
		"--lease-duration", shareLease.String(), "--renew-deadline", shareRenew.String(), "--retry-period", shareRetry.String()}
	for j, n := range w.names {
		args = append(args, "--kubeconfig", n+"="+w.cps[j].Kubeconfig)
	}
	r := &shareReplica{log: filepath.Join(w.base, fmt.Sprintf("replica-%d.log", i))}
	out, err := os.Create(r.log)
	if err != nil {
		w.t.Fatal(err)
	}
	r.cmd = exec.Command(w.bin, args...)
	r.cmd.Stdout, r.cmd.Stderr = out, out
	if err := r.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	_ = out.Close()
	w.t.Cleanup(func() {
		if w.t.Failed() {
			data, _ := os.ReadFile(r.log)
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			w.t.Logf("last lines of %s (%s):\n%s", r.log, r.identity, strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
		if r.killed.IsZero() && r.cmd.ProcessState == nil {
			_ = r.cmd.Process.Kill()
			_ = r.cmd.Wait()
		}
	})
	eventually(w.t, 30*time.Second, fmt.Sprintf("replica %d says who it is", i), func() bool {
		for _, l := range readLogLines(w.t, r.log) {
			if l["msg"] == "sharing the clusters with other replicas" {
				r.identity, _ = l["identity"].(string)
				return true
			}
		}
		return false
	})
	return r
}

// readLogLines reads a replica's JSON log lines; lines that are not JSON
// (none should be) are kept as their message.
func readLogLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l map[string]any
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			l = map[string]any{"msg": sc.Text()}
		}
		out = append(out, l)
	}
	return out
}

// holders reads who holds each cluster's Lease.
func (w *shareWorld) holders() map[string]string {
	out := map[string]string{}
	for _, n := range w.names {
		var l coordinationv1.Lease
		if err := w.cps[0].Client.Get(context.Background(), client.ObjectKey{Namespace: reconciler.SystemNamespace, Name: fleet.LeaseName(n)}, &l); err == nil && l.Spec.HolderIdentity != nil {
			out[n] = *l.Spec.HolderIdentity
		}
	}
	return out
}

// converged reports whether every cluster holds exactly the environments
// of the head, each with the head's quota and a record, and no other
// environment that is not on its way out.
func (w *shareWorld) converged() bool {
	ctx := context.Background()
	for i, n := range w.names {
		c := w.cps[i].Client
		var nss corev1.NamespaceList
		if err := c.List(ctx, &nss, client.HasLabels{renderer.LabelManagedBy}); err != nil {
			return false
		}
		var live []string
		for _, ns := range nss.Items {
			if ns.DeletionTimestamp == nil {
				live = append(live, ns.Name)
			}
		}
		var records corev1.ConfigMapList
		if err := c.List(ctx, &records, client.InNamespace(reconciler.SystemNamespace), client.HasLabels{reconciler.LabelInventory}); err != nil {
			return false
		}
		var recorded []string
		for _, cm := range records.Items {
			recorded = append(recorded, cm.Name)
		}
		sort.Strings(live)
		sort.Strings(recorded)
		if !slices.Equal(live, w.want[n]) || !slices.Equal(recorded, w.want[n]) {
			return false
		}
		for _, env := range w.want[n] {
			var q corev1.ResourceQuota
			if err := c.Get(ctx, client.ObjectKey{Namespace: env, Name: "quota"}, &q); err != nil || q.Spec.Hard.Pods().String() != w.pods {
				return false
			}
		}
	}
	return true
}

// leaseHistory records every holder each cluster Lease had, from a watch
// of the home cluster's Leases.
type leaseHistory struct {
	mu      sync.Mutex
	holders map[string][]string
}

func (h *leaseHistory) follow(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	wi, err := cs.CoordinationV1().Leases(reconciler.SystemNamespace).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer wi.Stop()
		for ev := range wi.ResultChan() {
			l, ok := ev.Object.(*coordinationv1.Lease)
			if !ok || ev.Type == watch.Deleted || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
				continue
			}
			h.mu.Lock()
			if hs := h.holders[l.Name]; len(hs) == 0 || hs[len(hs)-1] != *l.Spec.HolderIdentity {
				h.holders[l.Name] = append(hs, *l.Spec.HolderIdentity)
			}
			h.mu.Unlock()
		}
	}()
}

// workInterval is one replica's work on one cluster, from its log.
type workInterval struct {
	identity, cluster string
	start, end        time.Time
	open              bool
}

// intervals reads the per-cluster work of a replica from its log; work
// the replica did not end (it was killed) ends at the kill.
func (w *shareWorld) intervals(r *shareReplica) []workInterval {
	w.t.Helper()
	parse := func(v any) time.Time {
		s, _ := v.(string)
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			w.t.Fatalf("%s: bad time %q in a work line", r.log, s)
		}
		return ts
	}
	open := map[string]workInterval{}
	var out []workInterval
	for _, l := range readLogLines(w.t, r.log) {
		cluster, _ := l["cluster"].(string)
		switch l["msg"] {
		case "cluster work started":
			start := parse(l["at"])
			open[cluster+"@"+start.String()] = workInterval{identity: r.identity, cluster: cluster, start: start}
		case "cluster work ended":
			start := parse(l["started"])
			key := cluster + "@" + start.String()
			iv, ok := open[key]
			if !ok {
				w.t.Fatalf("%s: work on %s ended that never started", r.log, cluster)
			}
			delete(open, key)
			iv.end = parse(l["at"])
			out = append(out, iv)
		}
	}
	for _, iv := range open {
		iv.end, iv.open = r.killed, true
		out = append(out, iv)
	}
	return out
}

// TestReplicasShareTheFleetAndSurviveAKill runs three allot serve
// processes with --share-clusters over six control planes, with
// environments on all six: they divide the clusters two each and converge;
// one is SIGKILLed; its clusters are taken over within about a lease
// duration, and a new commit (a quota change everywhere, a request added
// and one deleted) reaches every cluster. The replicas' own log lines of
// per-cluster work prove that no two replicas worked on one cluster at
// once, and the Leases' holder history that each worked only on clusters
// it held.
func TestReplicasShareTheFleetAndSurviveAKill(t *testing.T) {
	cps, err := harness.StartN(6, harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, cp := range cps {
			_ = cp.Stop()
		}
	})
	if out, err := exec.Command("free", "-m").Output(); err == nil {
		t.Logf("memory with six control planes up:\n%s", out)
	}
	base := t.TempDir()
	repo, err := harness.NewGitRepo(filepath.Join(base, "bare"), filepath.Join(base, "work"), "main")
	if err != nil {
		t.Fatal(err)
	}
	w := &shareWorld{t: t, bin: buildAllot(t), cps: cps, repo: repo, base: base, want: map[string][]string{}, pods: "10"}
	for i := range cps {
		w.names = append(w.names, fmt.Sprintf("c%d", i))
	}
	write := func(rel, content string) {
		t.Helper()
		if err := repo.WriteFile(rel, content); err != nil {
			t.Fatal(err)
		}
	}
	write("allot.yaml", sharePlatform(w.names, w.pods))
	for _, n := range w.names {
		for j := range 3 {
			env := fmt.Sprintf("%s-env%d", n, j)
			write("environments/web/"+env+".yaml", shareRequest(env, n))
			w.want[n] = append(w.want[n], env)
		}
	}
	if _, err := repo.Commit("eighteen requests on six clusters"); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// allot-system exists in the home cluster, as the deployment makes it.
	if err := cps[0].Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: reconciler.SystemNamespace}}); err != nil {
		t.Fatal(err)
	}
	history := &leaseHistory{holders: map[string][]string{}}
	history.follow(ctx, t, kubernetes.NewForConfigOrDie(cps[0].Config))

	for i := range 3 {
		w.replicas = append(w.replicas, w.start(i))
	}
	eventually(t, 90*time.Second, "three replicas hold two clusters each", func() bool {
		count := map[string]int{}
		for _, id := range w.holders() {
			count[id]++
		}
		for _, r := range w.replicas {
			if count[r.identity] != 2 {
				return false
			}
		}
		return true
	})
	eventually(t, 120*time.Second, "all eighteen environments converged", w.converged)

	victim := w.replicas[0]
	var lost []string
	for c, id := range w.holders() {
		if id == victim.identity {
			lost = append(lost, c)
		}
	}
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = victim.cmd.Wait()
	victim.killed = time.Now()
	eventually(t, 30*time.Second, "the killed replica's clusters taken over", func() bool {
		h := w.holders()
		for _, c := range lost {
			if h[c] == "" || h[c] == victim.identity {
				return false
			}
		}
		return true
	})
	took := time.Since(victim.killed)
	t.Logf("clusters %v taken over %s after the kill (lease duration %s)", lost, took.Round(100*time.Millisecond), shareLease)
	if took > 2*shareLease {
		t.Errorf("takeover took %s, more than twice the lease duration %s", took, shareLease)
	}

	t.Run("status and metrics show who holds what", func(t *testing.T) {
		w.checkStatusAndMetrics(t, victim)
	})

	// A new commit: every quota changes, a request is added on a cluster
	// the killed replica held and one is deleted from the other.
	w.pods = "20"
	write("allot.yaml", sharePlatform(w.names, w.pods))
	added := lost[0] + "-env9"
	write("environments/web/"+added+".yaml", shareRequest(added, lost[0]))
	w.want[lost[0]] = append(w.want[lost[0]], added)
	removed := lost[len(lost)-1] + "-env0"
	if err := repo.Remove("environments/web/" + removed + ".yaml"); err != nil {
		t.Fatal(err)
	}
	w.want[lost[len(lost)-1]] = slices.DeleteFunc(w.want[lost[len(lost)-1]], func(e string) bool { return e == removed })
	for _, n := range w.names {
		sort.Strings(w.want[n])
	}
	if _, err := repo.Commit("quota 20, one request added, one deleted"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 120*time.Second, "the new commit on every cluster, nothing missing, nothing left over", w.converged)

	for _, r := range w.replicas[1:] {
		if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := r.cmd.Wait(); err != nil {
			t.Errorf("replica %s did not stop cleanly: %v", r.identity, err)
		}
	}
	cancel()

	byCluster := map[string][]workInterval{}
	for _, r := range w.replicas {
		for _, iv := range w.intervals(r) {
			if iv.open && r != victim {
				t.Errorf("%s never ended its work on %s", r.identity, iv.cluster)
			}
			byCluster[iv.cluster] = append(byCluster[iv.cluster], iv)
		}
	}
	history.mu.Lock()
	defer history.mu.Unlock()
	for _, n := range w.names {
		ivs := byCluster[n]
		if len(ivs) == 0 {
			t.Errorf("no replica logged work on %s", n)
		}
		sort.Slice(ivs, func(i, j int) bool { return ivs[i].start.Before(ivs[j].start) })
		workers := map[string]bool{}
		for i, iv := range ivs {
			workers[iv.identity] = true
			for _, next := range ivs[i+1:] {
				if next.identity != iv.identity && next.start.Before(iv.end) {
					t.Errorf("%s: %s worked %s–%s and %s from %s: at once", n, iv.identity, iv.start.Format(time.StampMicro), iv.end.Format(time.StampMicro), next.identity, next.start.Format(time.StampMicro))
				}
			}
		}
		held := history.holders[fleet.LeaseName(n)]
		for id := range workers {
			if !slices.Contains(held, id) {
				t.Errorf("%s worked on %s, whose Lease it never held (holders %v)", id, n, held)
			}
		}
		if slices.Contains(lost, n) {
			for _, iv := range ivs {
				if iv.start.After(victim.killed) {
					t.Logf("%s: %s began work %s after the kill", n, iv.identity, iv.start.Sub(victim.killed).Round(10*time.Millisecond))
					break
				}
			}
			if len(workers) < 2 {
				t.Errorf("%s was the killed replica's, yet only %v worked on it", n, workers)
			}
			t.Logf("%s: holders %v, %d work intervals", n, held, len(ivs))
		}
	}
}

// checkStatusAndMetrics checks that allot status --holders shows the
// Leases' holders, and that the live replicas' allot_clusters_held add up
// to the fleet.
func (w *shareWorld) checkStatusAndMetrics(t *testing.T, victim *shareReplica) {
	args := []string{"status", "-o", "json", "--repo", "file://" + w.repo.Bare, "--branch", "main",
		"--workdir", filepath.Join(w.base, "workdir-status"), "--holders", "--home-kubeconfig", w.cps[0].Kubeconfig}
	for j, n := range w.names {
		args = append(args, "--kubeconfig", n+"="+w.cps[j].Kubeconfig)
	}
	out, err := exec.Command(w.bin, args...).Output()
	if err != nil {
		t.Fatalf("allot status --holders: %v\n%s", err, out)
	}
	var report struct {
		Holders []fleet.Holding `json:"holders"`
	}
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatal(err)
	}
	want := w.holders()
	if len(report.Holders) != len(w.names) {
		t.Fatalf("status shows %d holders, want one per cluster: %s", len(report.Holders), out)
	}
	for _, h := range report.Holders {
		if h.Holder != want[h.Cluster] || h.Holder == victim.identity || h.Expired {
			t.Errorf("status: %s held by %q (expired %v), the Lease says %q", h.Cluster, h.Holder, h.Expired, want[h.Cluster])
		}
	}
	metrics := map[*shareReplica]string{}
	eventually(t, 10*time.Second, "the live replicas' allot_clusters_held add up to the fleet", func() bool {
		total := 0
		for _, r := range w.replicas {
			if r == victim {
				continue
			}
			var addr string
			for _, l := range readLogLines(t, r.log) {
				if l["msg"] == "serving" {
					addr, _ = l["address"].(string)
				}
			}
			_, metrics[r] = get(t, "http://"+addr+"/metrics")
			var held int
			for _, line := range strings.Split(metrics[r], "\n") {
				if _, err := fmt.Sscanf(line, "allot_clusters_held %d", &held); err == nil {
					break
				}
			}
			total += held
		}
		return total == len(w.names)
	})
	for r, text := range metrics {
		if !strings.Contains(text, `allot_lease_transitions_total{cluster=`) {
			t.Errorf("%s: /metrics has no allot_lease_transitions_total", r.identity)
		}
	}
}

// TestServeLeaderElectStillTakesTurns runs allot serve --leader-elect: it
// takes the one allot Lease and reconciles, as before --share-clusters.
func TestServeLeaderElectStillTakesTurns(t *testing.T) {
	cp := ownControlPlane(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: reconciler.SystemNamespace}}); err != nil {
		t.Fatal(err)
	}
	repo := writeRepo(t, map[string]string{
		"allot.yaml":                   sharePlatform([]string{"dev"}, "10"),
		"environments/web/leader.yaml": shareRequest("leader", "dev"),
	})
	done := make(chan error, 1)
	go func() {
		done <- app.Serve(ctx, app.Streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}, app.ServeOptions{
			ReconcileOptions: app.ReconcileOptions{
				Repo: repo, Kubeconfigs: map[string]string{"dev": cp.Kubeconfig}, ChartCache: t.TempDir(),
				MaxDeleteShare: 0.5, Interval: time.Hour, SkipIdentityProvider: true,
			},
			Listen: "127.0.0.1:0", Debounce: 100 * time.Millisecond, LeaderElect: true, HomeKubeconfig: cp.Kubeconfig,
		})
	}()
	eventually(t, 60*time.Second, "the leader holds the allot Lease and applied its environment", func() bool {
		var l coordinationv1.Lease
		var ns corev1.Namespace
		return cp.Client.Get(ctx, client.ObjectKey{Namespace: reconciler.SystemNamespace, Name: "allot"}, &l) == nil &&
			l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" &&
			cp.Client.Get(ctx, client.ObjectKey{Name: "leader"}, &ns) == nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}

func TestShareClustersRefusesLeaderElect(t *testing.T) {
	repo := writeRepo(t, map[string]string{"allot.yaml": sharePlatform([]string{"dev"}, "10")})
	err := app.Serve(context.Background(), app.Streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}, app.ServeOptions{
		ReconcileOptions: app.ReconcileOptions{Repo: repo, ChartCache: t.TempDir(), Interval: time.Hour},
		Listen:           "127.0.0.1:0", LeaderElect: true,
		Share: app.ShareOptions{Enabled: true, LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second},
	})
	if err == nil || !strings.Contains(err.Error(), "--share-clusters and --leader-elect exclude each other") {
		t.Errorf("serve with both: %v", err)
	}
}
