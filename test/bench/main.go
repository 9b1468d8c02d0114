// Command bench measures allot on a real kube-apiserver and prints the
// figures: converging N namespace environments from empty with `allot
// reconcile`, the same objects with `kubectl apply --server-side`, a no-op
// pass, drift repair latency under `allot serve`, and allot's peak memory.
// allot runs as its own process, built from this tree, so that its memory is
// its own. `make bench` runs it; nothing here asserts on time.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/allot-dev/allot/test/harness"
)

func main() {
	n := flag.Int("n", 1000, "namespace environments")
	edits := flag.Int("edits", 50, "hand edits for the drift latency")
	concurrency := flag.Int("concurrency", 0, "allot's --concurrency (0: its default)")
	memprofile = flag.String("memprofile", "", "write the heap profile of the no-op pass at its largest live heap here")
	cpuprofile = flag.String("cpuprofile", "", "write the no-op pass's CPU profile here")
	convergeProfile = flag.String("converge-cpuprofile", "", "write the CPU profile of the reconcile from empty here (with -scale, here.N for each fleet size N)")
	serverProfile = flag.String("apiserver-cpuprofile", "", "write CPU profiles of the API server over the first 8 s of allot's reconcile from empty and of kubectl's apply to FILE.allot and FILE.kubectl")
	serveProfile = flag.String("serve-memprofile", "", "write a heap profile of allot serve, taken after the drift edits, here, and print its top in-use entries; its heap at the largest goes to FILE.peak when it stops")
	goMemLimit = flag.String("gomemlimit", "", "GOMEMLIMIT for the allot processes only, as a deployment would set it")
	scale := flag.String("scale", "", "instead: converge and no-op figures for each of these fleet sizes, comma-separated (e.g. 100,1000,5000)")
	pairCount := flag.Int("pairs", 0, "instead: converge -n environments this many times with allot and with kubectl, and print the median ratio")
	flag.Parse()
	stopOnSignals()
	// envtest logs through controller-runtime's logger; the bench prints
	// figures only.
	ctrllog.SetLogger(logr.Discard())
	extra = []string{fmt.Sprintf("--concurrency=%d", *concurrency)}
	if *pairCount > 0 {
		if err := pairs(*n, *pairCount); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if *scale != "" {
		if err := series(*scale); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*n, *edits); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// extra are flags given to every allot command; memprofile and cpuprofile
// are where the no-op pass writes its profiles.
var (
	extra           []string
	memprofile      *string
	cpuprofile      *string
	convergeProfile *string
	serverProfile   *string
	serveProfile    *string
	goMemLimit      *string
)

// serverProfileTime is how long the API server is profiled from the start
// of a converge: less than either takes at 1,000 environments.
const serverProfileTime = 8 * time.Second

// profileServer starts a CPU profile of cp's API server, with
// -apiserver-cpuprofile, to the file suffixed by who; the function it
// returns waits for it.
func profileServer(ctx context.Context, cp *harness.ControlPlane, who string) func() error {
	if *serverProfile == "" {
		return func() error { return nil }
	}
	done := make(chan error, 1)
	go func() { done <- cp.CPUProfile(ctx, serverProfileTime, *serverProfile+"."+who) }()
	return func() error { return <-done }
}

// buildAllot builds allot as `make build` does, so that its figures are
// those of the binary users run.
func buildAllot(out string) error {
	build := exec.Command("go", "build", "-trimpath", "-tags", "kustomize_disable_go_plugin_support", "-ldflags", "-s -w", "-o", out, "./cmd/allot")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build allot: %w", err)
	}
	return nil
}

// allotEnv is the environment of the allot processes.
func allotEnv() []string {
	env := os.Environ()
	if *goMemLimit != "" {
		env = append(env, "GOMEMLIMIT="+*goMemLimit)
	}
	return env
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

// stops are what the bench must stop however it ends: its control planes.
var (
	stopsMu sync.Mutex
	stops   []func()
)

// stopOnExit registers stop to run when the bench is interrupted, and
// returns it, run at most once, for the caller to defer.
func stopOnExit(stop func()) func() {
	once := sync.OnceFunc(stop)
	stopsMu.Lock()
	defer stopsMu.Unlock()
	stops = append(stops, once)
	return once
}

// stopOnSignals stops the control planes on an interrupt, so that none is
// left running. A closed standard output (the bench piped into head) makes
// writes fail instead of killing the bench before it stops them.
func stopOnSignals() {
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	interrupted := make(chan os.Signal, 1)
	signal.Notify(interrupted, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-interrupted
		stopsMu.Lock()
		for _, stop := range stops {
			stop()
		}
		os.Exit(130)
	}()
}

// printRequests prints the requests cp served since before, by verb, and
// returns the counts now.
func printRequests(ctx context.Context, cp *harness.ControlPlane, before map[string]int) (map[string]int, error) {
	now, err := cp.RequestCounts(ctx)
	if err != nil {
		return nil, err
	}
	var parts []string
	for verb, n := range now {
		if verb == harness.ServerCPUMillis || verb == harness.EtcdCPUMillis {
			continue
		}
		if d := n - before[verb]; d > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", verb, d))
		}
	}
	slices.Sort(parts)
	fmt.Printf("    CPU: client %.1f s, API server %.1f s, etcd %.1f s; requests: %s\n", lastCPU.Seconds(),
		cpuDelta(before, now, harness.ServerCPUMillis).Seconds(), cpuDelta(before, now, harness.EtcdCPUMillis).Seconds(), strings.Join(parts, ", "))
	return now, nil
}

// cpuDelta is the CPU time under key (harness.ServerCPUMillis or
// harness.EtcdCPUMillis) spent between two RequestCounts.
func cpuDelta(before, now map[string]int, key string) time.Duration {
	return time.Duration(now[key]-before[key]) * time.Millisecond
}

// forKubectl returns what kubectl's runs need: the rendered manifests and
// kubectl itself.
func forKubectl(allot, dir string) (manifests, kubectl string, err error) {
	if manifests, err = renderManifests(allot, dir); err != nil {
		return "", "", err
	}
	assets, err := harness.AssetsDir()
	if err != nil {
		return "", "", err
	}
	return manifests, filepath.Join(assets, "kubectl"), nil
}

// renderManifests writes what allot renders of the repository in dir as
// one YAML file, for kubectl, and returns its path.
func renderManifests(allot, dir string) (string, error) {
	manifests := filepath.Join(dir, "rendered.yaml")
	out, err := os.Create(manifests)
	if err != nil {
		return "", err
	}
	render := exec.Command(allot, "render", "--repo", filepath.Join(dir, "work"), "--cluster", "dev", "--chart-cache", filepath.Join(dir, "charts"))
	render.Stdout, render.Stderr = out, os.Stderr
	err = render.Run()
	out.Close()
	if err != nil {
		return "", fmt.Errorf("allot render: %w", err)
	}
	return manifests, nil
}

// pairs converges n environments count times, each time with allot and
// with kubectl on fresh control planes, and prints each pair and the
// median ratio: on a shared machine one pair can be off by half.
func pairs(n, count int) error {
	dir, allot, err := repoAndAllot(n)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	manifests, kubectlBin, err := forKubectl(allot, dir)
	if err != nil {
		return err
	}
	fmt.Printf("%d namespace environments of 6 objects each (%d objects), converged %d times by allot and by kubectl, each on a fresh kube-apiserver\n\n", n, 6*n, count)
	var ratios []float64
	for i := range count {
		took, cpu, err := pair(allot, kubectlBin, dir, manifests, i)
		if err != nil {
			return err
		}
		fmt.Printf("run %d: allot %6.2f s, kubectl apply --server-side %6.2f s: %.2f   (CPU of client, API server and etcd: allot's %.1f s, kubectl's %.1f s)\n",
			i+1, took[0].Seconds(), took[1].Seconds(), took[0].Seconds()/took[1].Seconds(), cpu[0].Seconds(), cpu[1].Seconds())
		ratios = append(ratios, took[0].Seconds()/took[1].Seconds())
	}
	slices.Sort(ratios)
	fmt.Printf("median: allot takes %.2f of kubectl's time\n", ratios[len(ratios)/2])
	return nil
}

// cpuSince is the CPU time cp's API server and etcd used since before,
// and the client's of the last timed run.
func cpuSince(ctx context.Context, cp *harness.ControlPlane, before map[string]int) (time.Duration, error) {
	now, err := cp.RequestCounts(ctx)
	if err != nil {
		return 0, err
	}
	return lastCPU + cpuDelta(before, now, harness.ServerCPUMillis) + cpuDelta(before, now, harness.EtcdCPUMillis), nil
}

// pair is one run of pairs: allot's converge from empty (render cache
// empty too) and kubectl's apply of the same objects, their times and the
// CPU time each took of client, API server and etcd together.
func pair(allot, kubectl, dir, manifests string, i int) (took, cpu [2]time.Duration, err error) {
	ctx := context.Background()
	cps, err := harness.StartN(2, harness.Options{})
	if err != nil {
		return took, cpu, err
	}
	defer stopOnExit(func() {
		for _, cp := range cps {
			_ = cp.Stop()
		}
	})()
	var before [2]map[string]int
	for j, cp := range cps {
		if before[j], err = cp.RequestCounts(ctx); err != nil {
			return took, cpu, err
		}
	}
	run := fmt.Sprintf("run%d", i)
	took[0], _, err = timed(allot, append([]string{"reconcile", "--once", "--no-idp", "--repo", "file://" + filepath.Join(dir, "requests.git"), "--kubeconfig", "dev=" + cps[0].Kubeconfig,
		"--chart-cache", filepath.Join(dir, "charts"), "--render-cache", filepath.Join(dir, run, "renders"), "--workdir", filepath.Join(dir, run, "wc")}, extra...)...)
	if err != nil {
		return took, cpu, err
	}
	if cpu[0], err = cpuSince(ctx, cps[0], before[0]); err != nil {
		return took, cpu, err
	}
	if took[1], _, err = timed(kubectl, "--kubeconfig", cps[1].Kubeconfig, "apply", "--server-side", "--field-manager", "allot", "-f", manifests); err != nil {
		return took, cpu, err
	}
	cpu[1], err = cpuSince(ctx, cps[1], before[1])
	return took, cpu, err
}

// repoAndAllot writes a repository of n requests and builds allot in its
// folder; the caller removes the folder.
func repoAndAllot(n int) (dir, allot string, err error) {
	if dir, err = writeRepo(n); err != nil {
		return "", "", err
	}
	allot = filepath.Join(dir, "allot")
	if err := buildAllot(allot); err != nil {
		os.RemoveAll(dir)
		return "", "", err
	}
	return dir, allot, nil
}

// writeRepo writes n requests into a git repository and returns its folder.
func writeRepo(n int) (string, error) {
	dir, err := os.MkdirTemp("", "allot-bench-")
	if err != nil {
		return "", err
	}
	repo, err := harness.NewGitRepo(filepath.Join(dir, "requests.git"), filepath.Join(dir, "work"), "main")
	if err != nil {
		return "", err
	}
	if err := repo.WriteFile("allot.yaml", platform); err != nil {
		return "", err
	}
	for i := range n {
		team := fmt.Sprintf("team-%d", i%20)
		body := fmt.Sprintf("apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: env-%d}\nspec:\n  type: namespace\n  owner: dev-%d@example.com\n  team: %s\n  cluster: dev\n  members: [a@example.com]\n  values: {allowDNSEgress: true}\n", i, i, team)
		if err := repo.WriteFile(fmt.Sprintf("environments/%s/env-%d.yaml", team, i), body); err != nil {
			return "", err
		}
	}
	_, err = repo.Commit("bench requests")
	return dir, err
}

func run(n, edits int) error {
	ctx := context.Background()
	dir, allot, err := repoAndAllot(n)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cps, err := harness.StartN(2, harness.Options{})
	if err != nil {
		return err
	}
	defer stopOnExit(func() {
		for _, cp := range cps {
			_ = cp.Stop()
		}
	})()
	cp, kubectlCP := cps[0], cps[1]
	repoURL := "file://" + filepath.Join(dir, "requests.git")
	// The render cache starts empty: converging renders every environment.
	common := append([]string{"--no-idp", "--repo", repoURL, "--kubeconfig", "dev=" + cp.Kubeconfig, "--chart-cache", filepath.Join(dir, "charts"), "--render-cache", filepath.Join(dir, "renders")}, extra...)
	fmt.Printf("%d namespace environments of 6 objects each (%d objects), on one kube-apiserver 1.37.1, 2 cores", n, 6*n)
	if *goMemLimit != "" {
		fmt.Printf(", allot with GOMEMLIMIT=%s", *goMemLimit)
	}
	fmt.Print("\n\n")

	before, err := cp.RequestCounts(ctx)
	if err != nil {
		return err
	}
	convergeArgs := append([]string{"reconcile", "--once", "--workdir", filepath.Join(dir, "wc1")}, common...)
	if *convergeProfile != "" {
		convergeArgs = append(convergeArgs, "--cpuprofile", *convergeProfile)
	}
	profiled := profileServer(ctx, cp, "allot")
	converge, rssConverge, err := timed(allot, convergeArgs...)
	if err != nil {
		return err
	}
	if err := profiled(); err != nil {
		return err
	}
	fmt.Printf("allot reconcile, from empty:             %7.2f s   peak RSS %4d MiB (anon %d)\n", converge.Seconds(), rssConverge/1024, lastAnon/1024)
	if before, err = printRequests(ctx, cp, before); err != nil {
		return err
	}

	manifests, kubectlBin, err := forKubectl(allot, dir)
	if err != nil {
		return err
	}
	kubectlBefore, err := kubectlCP.RequestCounts(ctx)
	if err != nil {
		return err
	}
	profiled = profileServer(ctx, kubectlCP, "kubectl")
	kubectl, _, err := timed(kubectlBin, "--kubeconfig", kubectlCP.Kubeconfig, "apply", "--server-side", "--field-manager", "allot", "-f", manifests)
	if err != nil {
		return err
	}
	if err := profiled(); err != nil {
		return err
	}
	fmt.Printf("kubectl apply --server-side of render:   %7.2f s   (allot takes %.2f of kubectl's time)\n", kubectl.Seconds(), converge.Seconds()/kubectl.Seconds())
	if _, err = printRequests(ctx, kubectlCP, kubectlBefore); err != nil {
		return err
	}

	// The first pass over unchanged environments checks each in full (a
	// dry run per object) and notes what the cluster showed; the passes
	// after it read one list per kind instead.
	first, rssFirst, err := timed(allot, append([]string{"reconcile", "--once", "--workdir", filepath.Join(dir, "wc2")}, common...)...)
	if err != nil {
		return err
	}
	fmt.Printf("allot reconcile, first check after it:   %7.2f s   peak RSS %4d MiB (anon %d)   (notes what the cluster shows)\n", first.Seconds(), rssFirst/1024, lastAnon/1024)
	if before, err = printRequests(ctx, cp, before); err != nil {
		return err
	}
	noopArgs := append([]string{"reconcile", "--once", "--workdir", filepath.Join(dir, "wc2")}, common...)
	if *memprofile != "" {
		noopArgs = append(noopArgs, "--memprofile", *memprofile)
	}
	if *cpuprofile != "" {
		noopArgs = append(noopArgs, "--cpuprofile", *cpuprofile)
	}
	noop, rssNoop, err := timed(allot, noopArgs...)
	if err != nil {
		return err
	}
	fmt.Printf("allot reconcile, nothing to do:          %7.2f s   peak RSS %4d MiB (anon %d)   (%.3f of converging; one list per kind, no dry run: the periodic safety net)\n", noop.Seconds(), rssNoop/1024, lastAnon/1024, noop.Seconds()/converge.Seconds())
	if _, err = printRequests(ctx, cp, before); err != nil {
		return err
	}

	// A pull request's check plans the environments it touches.
	planOne, _, err := timed(allot, append([]string{"plan", "--environment", "env-7", "--workdir", filepath.Join(dir, "wc3")}, common...)...)
	if err != nil {
		return err
	}
	fmt.Printf("allot plan, one environment of %d:     %7.2f s   (what a pull request's check plans)\n", n, planOne.Seconds())

	// allot serve: the drift watch vouches for what did not change.
	serveArgs := append([]string{"serve", "--listen", "127.0.0.1:18088", "--interval", "1h", "--drift-debounce", "50ms", "--workdir", filepath.Join(dir, "wc3")}, common...)
	if *serveProfile != "" {
		serveArgs = append(serveArgs, "--pprof", "--memprofile", *serveProfile+".peak")
	}
	serve := exec.Command(allot, serveArgs...)
	serve.Stdout, serve.Stderr = io.Discard, io.Discard
	serve.Env = allotEnv()
	if err := serve.Start(); err != nil {
		return err
	}
	defer func() { _ = serve.Process.Signal(syscall.SIGTERM); _ = serve.Wait() }()
	if err := waitReady("http://127.0.0.1:18088/readyz", 2*time.Minute); err != nil {
		return err
	}
	// The second pass, once the watch has listed everything, vouches for
	// the environments; edits start after it.
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if _, count := passDurations("http://127.0.0.1:18088/metrics"); count >= 2 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("allot serve did not run its second pass")
		}
		time.Sleep(100 * time.Millisecond)
	}
	sum0, count0 := passDurations("http://127.0.0.1:18088/metrics")
	lists0, err := cp.Requests(ctx, configMapLists...)
	if err != nil {
		return err
	}
	var lat []time.Duration
	for i := range edits {
		ns := fmt.Sprintf("env-%d", (i*37)%n)
		var q corev1.ResourceQuota
		if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "quota"}, &q); err != nil {
			return err
		}
		q.Spec.Hard[corev1.ResourcePods] = resource.MustParse("999")
		if err := cp.Client.Update(ctx, &q, client.FieldOwner("kubectl-edit")); err != nil {
			return err
		}
		start := time.Now()
		for {
			if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "quota"}, &q); err == nil && q.Spec.Hard.Pods().String() == "20" {
				break
			}
			if time.Since(start) > time.Minute {
				return fmt.Errorf("edit %d in %s not repaired within a minute", i, ns)
			}
			time.Sleep(5 * time.Millisecond)
		}
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	// Each edit's pass repairs it before it ends: wait for the last to end,
	// so that it counts and the heap profile is not of a pass under way.
	for deadline := time.Now().Add(time.Minute); ; {
		if _, count := passDurations("http://127.0.0.1:18088/metrics"); count-count0 >= float64(edits) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	sum, count := passDurations("http://127.0.0.1:18088/metrics")
	sum, count = sum-sum0, count-count0
	fmt.Printf("allot serve, pass after one drift event: %7.3f s mean over %d passes (1 environment checked, %d vouched for by the watch; %.1f%% of converge)\n", sum/count, int(count), n-1, 100*sum/count/converge.Seconds())
	fmt.Printf("allot serve, drift repaired after edit:  p50 %.3f s   p95 %.3f s   max %.3f s   (%d edits)\n", pct(0.5).Seconds(), pct(0.95).Seconds(), lat[len(lat)-1].Seconds(), edits)
	lists, err := cp.Requests(ctx, configMapLists...)
	if err != nil {
		return err
	}
	fmt.Printf("allot serve, lists of inventory records: %d in those %d passes (the API server's own count of config map lists)\n", lists-lists0, int(count))
	fmt.Printf("allot serve, peak RSS:                   %4d MiB   (now %d MiB, anon %d)\n", vmHWM(serve.Process.Pid)/1024,
		statusField(serve.Process.Pid, "VmRSS:")/1024, statusField(serve.Process.Pid, "RssAnon:")/1024)
	if *serveProfile != "" {
		return serveHeap("http://127.0.0.1:18088/debug/pprof/heap?gc=1", *serveProfile)
	}
	return nil
}

// serveHeap saves serve's heap profile (after a collection) to file and
// prints where its in-use memory goes.
func serveHeap(url, file string) error {
	resp, err := http.Get(url)
	if err != nil {
		return fmt.Errorf("heap profile of allot serve: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("heap profile of allot serve: %s", resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	top := exec.Command("go", "tool", "pprof", "-sample_index=inuse_space", "-top", "-nodecount=25", file)
	top.Stdout, top.Stderr = os.Stdout, os.Stderr
	fmt.Printf("\nallot serve, heap in use after the edits (%s):\n", file)
	return top.Run()
}

// series prints how converging and a no-op pass grow with the fleet: per
// size, a fresh control plane, allot reconcile from empty, the first check
// after it, and a pass with nothing to do.
func series(sizes string) error {
	build, err := os.MkdirTemp("", "allot-bench-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(build)
	allot := filepath.Join(build, "allot")
	if err := buildAllot(allot); err != nil {
		return err
	}
	fmt.Println("(RSS: peak resident memory, the binary's own pages included; anon: peak heap, stacks and runtime)")
	fmt.Println("environments  objects   converge s  RSS/anon MiB   first check s  RSS/anon MiB   no-op s  RSS/anon MiB   no-op/converge")
	// prev is the last size's row, prevN its size.
	var prev [3]measure
	prevN := 0
	for _, field := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || n <= 0 {
			return fmt.Errorf("-scale: %q is not a fleet size", field)
		}
		row, err := scaleRow(allot, n)
		if err != nil {
			return err
		}
		converge, first, noop := row[0], row[1], row[2]
		fmt.Printf("%12d  %7d   %10.2f  %5d/%-5d    %13.2f  %5d/%-5d    %7.2f  %5d/%-5d    %14.3f\n", n, 6*n,
			converge.took.Seconds(), converge.rss/1024, converge.anon/1024, first.took.Seconds(), first.rss/1024, first.anon/1024,
			noop.took.Seconds(), noop.rss/1024, noop.anon/1024, noop.took.Seconds()/converge.took.Seconds())
		fmt.Printf("              converge CPU: allot %.1f s, API server %.1f s, etcd %.1f s; no-op CPU: allot %.2f s, API server %.2f s\n",
			converge.cpu.Seconds(), converge.serverCPU.Seconds(), converge.etcdCPU.Seconds(), noop.cpu.Seconds(), noop.serverCPU.Seconds())
		if prevN > 0 {
			fmt.Printf("              x%.0f environments: converge x%.2f (allot's CPU x%.2f), no-op x%.2f (allot's CPU x%.2f), no-op RSS x%.2f\n", float64(n)/float64(prevN),
				converge.took.Seconds()/prev[0].took.Seconds(), converge.cpu.Seconds()/prev[0].cpu.Seconds(),
				noop.took.Seconds()/prev[2].took.Seconds(), noop.cpu.Seconds()/prev[2].cpu.Seconds(), float64(noop.rss)/float64(prev[2].rss))
		}
		prev, prevN = row, n
	}
	return nil
}

// measure is one allot run: its wall time and peak RSS in KiB.
type measure struct {
	took time.Duration
	rss  int64
	// anon is the peak anonymous memory in KiB: the heap, stacks and
	// runtime, without the binary's own pages, which RSS counts too.
	anon int64
	// cpu is its CPU time, user and system.
	cpu time.Duration
	// serverCPU and etcdCPU are what the API server and etcd spent while
	// it ran (scale series only).
	serverCPU, etcdCPU time.Duration
}

// scaleRow measures one fleet size: converge, first check and no-op.
func scaleRow(allot string, n int) ([3]measure, error) {
	var row [3]measure
	dir, err := writeRepo(n)
	if err != nil {
		return row, err
	}
	defer os.RemoveAll(dir)
	cp, err := harness.Start(harness.Options{})
	if err != nil {
		return row, err
	}
	defer stopOnExit(func() { _ = cp.Stop() })()
	common := append([]string{"reconcile", "--once", "--no-idp", "--repo", "file://" + filepath.Join(dir, "requests.git"), "--kubeconfig", "dev=" + cp.Kubeconfig,
		"--chart-cache", filepath.Join(dir, "charts"), "--render-cache", filepath.Join(dir, "renders"), "--workdir", filepath.Join(dir, "wc")}, extra...)
	for i := range 3 {
		args := common
		if i == 0 && *convergeProfile != "" {
			args = append(slices.Clip(common), "--cpuprofile", fmt.Sprintf("%s.%d", *convergeProfile, n))
		}
		before, err := cp.RequestCounts(context.Background())
		if err != nil {
			return row, err
		}
		m, err := timedM(allot, args...)
		if err != nil {
			return row, err
		}
		after, err := cp.RequestCounts(context.Background())
		if err != nil {
			return row, err
		}
		m.serverCPU, m.etcdCPU = cpuDelta(before, after, harness.ServerCPUMillis), cpuDelta(before, after, harness.EtcdCPUMillis)
		row[i] = m
	}
	return row, nil
}

// timed runs a command and returns its wall time and peak RSS in KiB,
// and records its peak anonymous memory (heap and stacks, without the
// pages of the binary itself) for anonPeak.
func timed(name string, args ...string) (time.Duration, int64, error) {
	m, err := timedM(name, args...)
	lastAnon, lastCPU = m.anon, m.cpu
	return m.took, m.rss, err
}

// lastAnon is the peak anonymous memory, in KiB, of the last timed run;
// lastCPU its CPU time.
var (
	lastAnon int64
	lastCPU  time.Duration
)

// timedM runs a command and measures it; its anonymous memory is sampled
// from /proc every 10 ms while it runs.
func timedM(name string, args ...string) (measure, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = allotEnv()
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return measure{}, err
	}
	done := make(chan struct{})
	anon := make(chan int64, 1)
	go func() {
		peak := int64(0)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if kb := int64(statusField(cmd.Process.Pid, "RssAnon:")); kb > peak {
				peak = kb
			}
			select {
			case <-done:
				anon <- peak
				return
			case <-tick.C:
			}
		}
	}()
	err := cmd.Wait()
	took := time.Since(start)
	close(done)
	m := measure{took: took, anon: <-anon}
	if err != nil {
		return m, fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), args[0], err, stderr.String())
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.rss = ru.Maxrss
	}
	m.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return m, nil
}

func waitReady(url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready within %s", url, within)
}

// configMapLists are the labels of the API server's count of config map
// lists; inventory records are config maps, and the bench's environments
// hold none.
var configMapLists = []string{`verb="LIST"`, `resource="configmaps"`}

var durationLine = regexp.MustCompile(`^allot_pass_duration_seconds_(sum|count) ([0-9.e+-]+)$`)

// passDurations returns the sum and count of pass durations, leaving out
// the first (converging) pass.
func passDurations(url string) (float64, float64) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, 1
	}
	defer resp.Body.Close()
	var sum, count float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if m := durationLine.FindStringSubmatch(sc.Text()); m != nil {
			v, _ := strconv.ParseFloat(m[2], 64)
			if m[1] == "sum" {
				sum = v
			} else {
				count = v
			}
		}
	}
	return sum, count
}

// vmHWM reads a process's peak resident set, in KiB.
func vmHWM(pid int) int { return statusField(pid, "VmHWM:") }

// statusField reads a figure, in KiB, from /proc/PID/status; 0 when gone.
func statusField(pid int, field string) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			if fields := strings.Fields(v); len(fields) > 0 {
				kb, _ := strconv.Atoi(fields[0])
				return kb
			}
		}
	}
	return 0
}
