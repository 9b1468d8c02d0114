package renderer

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// BenchmarkHostileCorpus renders each case of the hostile corpus as one
// pull request's check would, each in a fresh process so that its peak
// memory is its own, and prints per case the time the check took (load and
// render) and the peak RSS of the checking process, which also wrote the
// case, and of its Helm sandbox child. The figures that
// matter are the worst time and the worst sum of the two peaks (parent and
// child are alive together).
func BenchmarkHostileCorpus(b *testing.B) {
	type figure struct {
		name          string
		took          time.Duration
		parent, child int64 // KiB
	}
	var figures []figure
	for b.Loop() {
		figures = figures[:0]
		for _, hc := range hostileCases() {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), hostileCaseEnv+"="+hc.name)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				b.Fatalf("%s: %v: %s", hc.name, err, stderr.String())
			}
			var took time.Duration
			var parent, child int64
			if _, err := fmt.Sscan(stdout.String(), &took, &parent, &child); err != nil {
				b.Fatalf("%s: read figures from %q: %v", hc.name, stdout.String(), err)
			}
			figures = append(figures, figure{hc.name, took, parent, child})
		}
	}
	var worstTime time.Duration
	var worstRSS int64
	fmt.Printf("\nhostile corpus, one pull request's check per case:\n%-58s %8s %12s %12s\n", "case", "time", "check RSS", "sandbox RSS")
	for _, f := range figures {
		fmt.Printf("%-58s %7.2fs %9d MiB %9d MiB\n", f.name, f.took.Seconds(), f.parent>>10, f.child>>10)
		worstTime = max(worstTime, f.took)
		worstRSS = max(worstRSS, f.parent+f.child)
	}
	fmt.Printf("worst time %.2fs, worst peak RSS (check + sandbox) %d MiB\n", worstTime.Seconds(), worstRSS>>10)
	b.ReportMetric(worstTime.Seconds(), "worst-s")
	b.ReportMetric(float64(worstRSS>>10), "worst-peak-MiB")
}
