package harness

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
)

// Requests reads from the API server's own metrics
// (apiserver_request_total) how many requests it has served so far whose
// labels hold every one of labels, such as `verb="LIST"` or
// `dry_run="All"`: what a test or a benchmark counts to show how much
// work a client left to the server.
func (cp *ControlPlane) Requests(ctx context.Context, labels ...string) (int, error) {
	raw, err := cp.metrics(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	for line := range strings.Lines(raw) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "apiserver_request_total{") || !containsAll(line, labels) {
			continue
		}
		n, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("metric line %q: %w", line, err)
		}
		total += int(n)
	}
	return total, nil
}

// RequestCounts reads apiserver_request_total as Requests does and sums it
// by verb and resource ("APPLY configmaps"), a dry run counted as its own
// verb ("dry-run APPLY namespaces"): what a benchmark prints to show which
// requests a client's work took. Under ServerCPUMillis it also gives the
// CPU time the API server has used, in milliseconds, and under
// EtcdCPUMillis etcd's.
func (cp *ControlPlane) RequestCounts(ctx context.Context) (map[string]int, error) {
	raw, err := cp.metrics(ctx)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	if counts[ServerCPUMillis], err = cpuMillis(raw); err != nil {
		return nil, err
	}
	if counts[EtcdCPUMillis], err = cp.etcdCPUMillis(ctx); err != nil {
		return nil, err
	}
	for line := range strings.Lines(raw) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		n, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metric line %q: %w", line, err)
		}
		key := label(line, "verb") + " " + label(line, "resource")
		if label(line, "dry_run") != "" {
			key = "dry-run " + key
		}
		counts[key] += int(n)
	}
	return counts, nil
}

// EtcdCPUMillis is the key of RequestCounts that holds etcd's CPU time so
// far, in milliseconds, from its own metrics.
const EtcdCPUMillis = "etcd cpu"

// etcdCPUMillis reads etcd's CPU time from its /metrics.
func (cp *ControlPlane) etcdCPUMillis(ctx context.Context) (int, error) {
	u := cp.env.ControlPlane.Etcd.URL
	if u == nil {
		return 0, fmt.Errorf("etcd has no URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String()+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("read etcd's metrics: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, fmt.Errorf("read etcd's metrics: %w", err)
	}
	return cpuMillis(string(raw))
}

// cpuMillis is a process's process_cpu_seconds_total in milliseconds.
func cpuMillis(metrics string) (int, error) {
	for line := range strings.Lines(metrics) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "process_cpu_seconds_total "); ok {
			n, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				return 0, fmt.Errorf("metric line %q: %w", line, err)
			}
			return int(n * 1000), nil
		}
	}
	return 0, fmt.Errorf("no process_cpu_seconds_total")
}

// ServerCPUMillis is the key of RequestCounts that holds the API server's
// CPU time.
const ServerCPUMillis = "cpu"

// label is the value of one label of a metric line, "" when it has none.
func label(line, name string) string {
	i := strings.Index(line, name+"=\"")
	if i < 0 {
		return ""
	}
	rest := line[i+len(name)+2:]
	return rest[:max(strings.IndexByte(rest, '"'), 0)]
}

func (cp *ControlPlane) metrics(ctx context.Context) (string, error) {
	cs, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		return "", err
	}
	raw, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return "", fmt.Errorf("read the API server's metrics: %w", err)
	}
	return string(raw), nil
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// CPUProfile writes a CPU profile of the API server over the next d to
// file, from its own /debug/pprof.
func (cp *ControlPlane) CPUProfile(ctx context.Context, d time.Duration, file string) error {
	cs, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		return err
	}
	raw, err := cs.RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", strconv.Itoa(int(d.Seconds()))).Timeout(d + 30*time.Second).DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("profile the API server: %w", err)
	}
	return os.WriteFile(file, raw, 0o644)
}
