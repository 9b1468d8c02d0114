// Command bench measures the reconciler on a real kube-apiserver and prints
// the figures: converging N namespace environments from empty, the same with
// kubectl apply --server-side of allot render's output, a no-op pass with and
// without the drift watch, drift repair latency, and peak memory. `make
// bench` runs it; nothing here asserts on time.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/cmd/allot/app"
	"github.com/allot-dev/allot/environments"
	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/test/harness"
)

func main() {
	n := flag.Int("n", 1000, "namespace environments")
	edits := flag.Int("edits", 50, "hand edits for the drift latency")
	flag.Parse()
	if err := run(*n, *edits); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

const platform = `apiVersion: allot.dev/v1alpha1
kind: Platform
metadata: {name: bench}
spec:
  clusters: [{name: dev, inCluster: true}]
  idp: {provider: scim, url: https://idp.example/scim/v2, token: {env: T}}
  defaultSize: small
  sizes:
    small:
      quota: {requests.cpu: "2", requests.memory: 4Gi, pods: 20}
      limitRange: {default: {cpu: 500m, memory: 512Mi}, defaultRequest: {cpu: 100m, memory: 128Mi}}
`

func writeRepo(n int) (string, error) {
	dir, err := os.MkdirTemp("", "allot-bench-")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "allot.yaml"), []byte(platform), 0o644); err != nil {
		return "", err
	}
	for i := range n {
		team := fmt.Sprintf("team-%d", i%20)
		p := filepath.Join(dir, "environments", team, fmt.Sprintf("env-%d.yaml", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		body := fmt.Sprintf("apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: env-%d}\nspec:\n  type: namespace\n  owner: dev-%d@example.com\n  team: %s\n  cluster: dev\n  members: [a@example.com]\n  values: {allowDNSEgress: true}\n", i, i, team)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

type dirSource string

func (d dirSource) Fetch(context.Context) (reconciler.Snapshot, error) {
	return reconciler.Snapshot{Dir: string(d), Commit: "bench"}, nil
}

func run(n, edits int) error {
	ctx := context.Background()
	repo, err := writeRepo(n)
	if err != nil {
		return err
	}
	defer os.RemoveAll(repo)
	cps, err := harness.StartN(2, harness.Options{})
	if err != nil {
		return err
	}
	defer func() {
		for _, cp := range cps {
			_ = cp.Stop()
		}
	}()
	allotCP, kubectlCP := cps[0], cps[1]
	fmt.Printf("environments: %d namespace environments of 6 objects each, on one kube-apiserver 1.37.1\n", n)

	r := &reconciler.Reconciler{
		Source: dirSource(repo), Connector: &reconciler.Connector{Kubeconfigs: map[string]string{"dev": allotCP.Kubeconfig}},
		Builtin: environments.Templates(), ChartCache: filepath.Join(repo, ".charts"),
		WaitInterval: 200 * time.Millisecond,
	}
	start := time.Now()
	res := r.Pass(ctx)
	converge := time.Since(start)
	if res.Failed() {
		return fmt.Errorf("converge pass failed: %v %v", res.Err, firstError(res))
	}
	fmt.Printf("allot converge from empty:            %8.2f s\n", converge.Seconds())

	// kubectl: the same objects, rendered by allot, applied by kubectl.
	manifests := filepath.Join(repo, "rendered.yaml")
	f, err := os.Create(manifests)
	if err != nil {
		return err
	}
	code := app.Run(app.Streams{In: strings.NewReader(""), Out: f, Err: os.Stderr}, []string{"render", "--repo", repo, "--cluster", "dev", "--chart-cache", filepath.Join(repo, ".charts")}, func(string) string { return "" })
	f.Close()
	if code != 0 {
		return fmt.Errorf("allot render exit %d", code)
	}
	assets, err := harness.AssetsDir()
	if err != nil {
		return err
	}
	start = time.Now()
	cmd := exec.Command(filepath.Join(assets, "kubectl"), "--kubeconfig", kubectlCP.Kubeconfig, "apply", "--server-side", "--field-manager", "allot", "-f", manifests)
	cmd.Stdout = io.Discard
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kubectl apply: %w", err)
	}
	kubectl := time.Since(start)
	fmt.Printf("kubectl apply --server-side (1.37.1): %8.2f s   (allot/kubectl %.2f)\n", kubectl.Seconds(), converge.Seconds()/kubectl.Seconds())

	start = time.Now()
	res = r.Pass(ctx)
	noop := time.Since(start)
	if res.Failed() {
		return fmt.Errorf("no-op pass failed: %v", res.Err)
	}
	fmt.Printf("no-op pass, every object dry-run:     %8.2f s   (%.0f%% of converge)\n", noop.Seconds(), 100*noop.Seconds()/converge.Seconds())

	// With the drift watch: the first watched pass starts the informers,
	// the second vouches for every environment, the third is the no-op.
	drifts := make(chan reconciler.Drift, 1024)
	r.OnDrift = func(d reconciler.Drift) {
		select {
		case drifts <- d:
		default:
		}
	}
	defer r.StopWatching()
	r.Pass(ctx)
	time.Sleep(2 * time.Second)
	r.Pass(ctx)
	start = time.Now()
	res = r.Pass(ctx)
	watched := time.Since(start)
	if res.Failed() {
		return fmt.Errorf("watched no-op pass failed: %v", res.Err)
	}
	fmt.Printf("no-op pass with the drift watch:      %8.3f s   (%.1f%% of converge)\n", watched.Seconds(), 100*watched.Seconds()/converge.Seconds())

	// Drift: a serve-like loop, a pass per drift event.
	loopCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		for {
			select {
			case <-loopCtx.Done():
				return
			case <-drifts:
				time.Sleep(50 * time.Millisecond)
				for len(drifts) > 0 {
					<-drifts
				}
				r.Pass(loopCtx)
			}
		}
	}()
	var lat []time.Duration
	for i := range edits {
		ns := fmt.Sprintf("env-%d", (i*37)%n)
		var q corev1.ResourceQuota
		if err := allotCP.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "quota"}, &q); err != nil {
			return err
		}
		q.Spec.Hard[corev1.ResourcePods] = resource.MustParse("999")
		if err := allotCP.Client.Update(ctx, &q, client.FieldOwner("kubectl-edit")); err != nil {
			return err
		}
		start := time.Now()
		for {
			if err := allotCP.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "quota"}, &q); err == nil && q.Spec.Hard.Pods().String() == "20" {
				break
			}
			if time.Since(start) > 60*time.Second {
				return fmt.Errorf("edit %d in %s not repaired within a minute", i, ns)
			}
			time.Sleep(5 * time.Millisecond)
		}
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	fmt.Printf("drift repair latency over %d edits:   p50 %6.3f s   p95 %6.3f s   max %6.3f s\n", edits, p(0.5).Seconds(), p(0.95).Seconds(), lat[len(lat)-1].Seconds())
	fmt.Printf("peak RSS of this process (allot + benchmark driver): %d MiB\n", peakRSS()/1024)
	return nil
}

func firstError(res *reconciler.PassResult) error {
	for _, c := range res.Clusters {
		if c.Err != nil {
			return c.Err
		}
		for _, e := range c.Environments {
			if e.Err != nil {
				return e.Err
			}
		}
	}
	return nil
}

// peakRSS reads VmHWM, in KiB.
func peakRSS() int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			var kb int
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb
		}
	}
	return 0
}

