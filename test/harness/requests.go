package harness

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/client-go/kubernetes"
)

// Requests reads from the API server's own metrics
// (apiserver_request_total) how many requests it has served so far whose
// labels hold every one of labels, such as `verb="LIST"` or
// `dry_run="All"`: what a test or a benchmark counts to show how much
// work a client left to the server.
func (cp *ControlPlane) Requests(ctx context.Context, labels ...string) (int, error) {
	cs, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		return 0, err
	}
	raw, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return 0, fmt.Errorf("read the API server's metrics: %w", err)
	}
	total := 0
	for line := range strings.Lines(string(raw)) {
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

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
