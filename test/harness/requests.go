package harness

import (
	"context"
	"fmt"
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
// CPU time the API server has used, in milliseconds.
func (cp *ControlPlane) RequestCounts(ctx context.Context) (map[string]int, error) {
	raw, err := cp.metrics(ctx)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	for line := range strings.Lines(raw) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "process_cpu_seconds_total ") {
			n, err := strconv.ParseFloat(strings.TrimPrefix(line, "process_cpu_seconds_total "), 64)
			if err != nil {
				return nil, fmt.Errorf("metric line %q: %w", line, err)
			}
			counts[ServerCPUMillis] = int(n * 1000)
			continue
		}
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
