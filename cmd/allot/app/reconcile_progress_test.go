package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/test/harness"
)

func namedRequest(name string) string {
	return fmt.Sprintf("apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: %s}\nspec:\n  type: namespace\n  owner: dev@example.com\n  team: web\n  cluster: dev\n", name)
}

// hookWriter calls onLine with each line written, before keeping it.
type hookWriter struct {
	mu     sync.Mutex
	lines  []string
	onLine func(string)
}

func (w *hookWriter) Write(p []byte) (int, error) {
	for _, l := range strings.SplitAfter(string(p), "\n") {
		if l == "" {
			continue
		}
		if w.onLine != nil {
			w.onLine(strings.TrimSuffix(l, "\n"))
		}
		w.mu.Lock()
		w.lines = append(w.lines, strings.TrimSuffix(l, "\n"))
		w.mu.Unlock()
	}
	return len(p), nil
}

func (w *hookWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n")
}

// TestReconcilePrintsEachEnvironmentAsItFinishes runs passes against a
// real control plane, one environment at a time: each environment's line
// is written while the next has not been applied yet, and Ctrl-C (the
// context ending) during a pass prints what was left undone.
func TestReconcilePrintsEachEnvironmentAsItFinishes(t *testing.T) {
	cp, err := harness.Start(harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	exists := func(ns string) bool {
		var n corev1.Namespace
		return cp.Client.Get(context.Background(), client.ObjectKey{Name: ns}, &n) == nil
	}
	options := func(repo string) ReconcileOptions {
		return ReconcileOptions{Repo: repo, Kubeconfigs: map[string]string{"dev": cp.Kubeconfig}, WorkDir: t.TempDir(), ChartCache: t.TempDir(),
			Once: true, Output: OutputText, Concurrency: 1, SkipIdentityProvider: true}
	}

	t.Run("lines come as environments finish", func(t *testing.T) {
		repo := t.TempDir()
		writeFile(t, filepath.Join(repo, "allot.yaml"), planPlatform)
		for _, n := range []string{"stream-a", "stream-b", "stream-c"} {
			writeFile(t, filepath.Join(repo, "environments/web", n+".yaml"), namedRequest(n))
		}
		next := map[string]string{"stream-a": "stream-b", "stream-b": "stream-c"}
		var seen []string
		out := &hookWriter{onLine: func(l string) {
			for env, after := range next {
				if strings.HasPrefix(l, "dev / "+env+": created") {
					seen = append(seen, env)
					if exists(after) {
						t.Errorf("%s's line came after %s was applied: printed at the end, not as it finished", env, after)
					}
				}
			}
		}}
		var errOut strings.Builder
		if err := Reconcile(context.Background(), Streams{Out: out, Err: &errOut}, options(repo)); err != nil {
			t.Fatalf("%v\n%s%s", err, out, errOut.String())
		}
		want := "working tree\ndev / stream-a: created (4 applied)\ndev / stream-b: created (4 applied)\ndev / stream-c: created (4 applied)"
		if got := out.String(); got != want || len(seen) != 2 {
			t.Errorf("output:\n%s\nwant:\n%s", got, want)
		}
	})

	t.Run("ctrl-c prints what was left undone", func(t *testing.T) {
		repo := t.TempDir()
		writeFile(t, filepath.Join(repo, "allot.yaml"), planPlatform)
		for _, n := range []string{"cancel-a", "cancel-b", "cancel-c"} {
			writeFile(t, filepath.Join(repo, "environments/web", n+".yaml"), namedRequest(n))
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		out := &hookWriter{onLine: func(l string) {
			if strings.HasPrefix(l, "dev / cancel-a:") {
				cancel()
			}
		}}
		var errOut strings.Builder
		err := Reconcile(ctx, Streams{Out: out, Err: &errOut}, options(repo))
		if !errors.Is(err, errProblems) {
			t.Errorf("Reconcile = %v, want errProblems (exit 1)", err)
		}
		got := out.String()
		if !strings.HasSuffix(got, "\ninterrupted: left undone: dev/cancel-b, dev/cancel-c") || strings.Contains(got, "dev / cancel-b") {
			t.Errorf("output:\n%s\nwant the undone environments last, not as failures", got)
		}
		if exists("cancel-c") {
			t.Error("cancel-c was applied after the pass was interrupted")
		}
	})

	t.Run("logs follow --log-format and --log-level", func(t *testing.T) {
		repo := t.TempDir()
		writeFile(t, filepath.Join(repo, "allot.yaml"), planPlatform)
		writeFile(t, filepath.Join(repo, "environments/web/one.yaml"), planRequest("small", "  addons:\n    - name: web\n      manifests: {path: addons/web}\n"))
		writeFile(t, filepath.Join(repo, "addons/web/deployment.yaml"), webDeployment)
		args := []string{"reconcile", "--repo", repo, "--kubeconfig", "dev=" + cp.Kubeconfig, "--workdir", t.TempDir(), "--chart-cache", t.TempDir()}
		code, out, errOut := run(t, nil, append(args, "--log-format", "json")...)
		recs := records(t, errOut)
		if code != ExitInvalid || len(recs) == 0 || recs[0]["level"] != "ERROR" || recs[0]["environment"] != "one" {
			t.Errorf("--log-format json: exit %d\n%s%s", code, out, errOut)
		}
		if _, _, errOut := run(t, nil, args...); !strings.Contains(errOut, "level=ERROR") || !strings.Contains(errOut, "environment=one") {
			t.Errorf("text by default: %s", errOut)
		}
		if _, _, errOut := run(t, nil, append(args, "--log-level", "error", "--log-format", "json")...); len(records(t, errOut)) == 0 {
			t.Errorf("--log-level error hides errors: %s", errOut)
		}
	})
}

// TestPassPrinterKeepsTheOrderOfCompletion feeds a printer results in an
// order that is not the environments' names': the lines keep it, and the
// end of the pass prints nothing twice.
func TestPassPrinterKeepsTheOrderOfCompletion(t *testing.T) {
	var out strings.Builder
	p := newPassPrinter(Streams{Out: &out, Err: &strings.Builder{}}, OutputText)
	ctx := context.Background()
	p.start(ctx, 0)
	done := []reconciler.EnvResult{
		{Cluster: "dev", Environment: "zeta", Action: reconciler.ActionCreated, Applied: 3},
		{Cluster: "dev", Environment: "alpha", Action: reconciler.ActionFailed, Err: errors.New("rejected")},
		{Cluster: "prod", Environment: "mid", Action: reconciler.ActionUnchanged, Ready: true},
	}
	for _, e := range done {
		p.environment(e)
	}
	res := &reconciler.PassResult{Commit: "abc", Clusters: []reconciler.ClusterResult{
		{Name: "dev", Environments: []reconciler.EnvResult{done[1], done[0], {Cluster: "dev", Environment: "held", Action: reconciler.ActionHeld}}},
		{Name: "prod", Environments: []reconciler.EnvResult{done[2]}},
	}, Kept: reconciler.KeptOf(reconciler.KeptRequest{File: "environments/x.yaml", Message: "does not load"})}
	if err := p.finish(ctx, res); err != nil {
		t.Fatal(err)
	}
	want := `dev / zeta: created (3 applied)
dev / alpha: failed: rejected
prod / mid: unchanged
dev / held: held
environments/x.yaml: kept: last state kept: does not load
`
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestStatusLineSaysWhatThePassWaitsFor(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var w strings.Builder
	s := &statusLine{w: &w, now: func() time.Time { return now }}
	s.begin()
	defer s.end()
	now = now.Add(3 * time.Second)
	if got := s.text(); got != "reading the repository (3s)" {
		t.Errorf("before the fetch: %q", got)
	}
	var envs []environmentName
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		envs = append(envs, environmentName{Cluster: "dev", Environment: n})
	}
	s.expect(envs)
	s.done(envs[1])
	now = now.Add(75 * time.Second)
	if got, want := s.text(), "waiting for 4 of 5 environments: dev/a, dev/c, dev/d and 1 more (1m15s)"; got != want {
		t.Errorf("text = %q, want %q", got, want)
	}
	s.draw()
	s.clear()
	if got := w.String(); !strings.HasPrefix(got, "\r\x1b[K") || !strings.HasSuffix(got, "\r\x1b[K") {
		t.Errorf("the line is not redrawn in place: %q", got)
	}
	// A log record or an environment's line goes above the status line.
	w.Reset()
	s.draw()
	log := (&passPrinter{status: s}).logger(slog.New(slog.NewTextHandler(&w, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})))
	log.Warn("slow")
	status := "waiting for 4 of 5 environments: dev/a, dev/c, dev/d and 1 more (1m15s)"
	if got, want := w.String(), "\r\x1b[K"+status+"\r\x1b[Klevel=WARN msg=slow\n\r\x1b[K"+status; got != want {
		t.Errorf("around a log record:\n%q\nwant\n%q", got, want)
	}
}

// A render cache inside a working copy of the requests repository could
// hold files a commit planted there: it is refused before anything runs,
// and one outside is taken.
func TestRenderCacheInsideTheRepositoryIsRefused(t *testing.T) {
	repo := t.TempDir()
	work := t.TempDir()
	for _, inside := range []string{filepath.Join(repo, ".cache"), filepath.Join(work, "renders")} {
		_, err := newReconciler(ReconcileOptions{Repo: repo, WorkDir: work, RenderCache: inside}, slog.New(slog.DiscardHandler))
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != ExitUsage || !strings.Contains(err.Error(), "--render-cache "+inside+" lies inside") {
			t.Fatalf("--render-cache %s: %v; want a usage error saying it lies inside a working copy", inside, err)
		}
	}
	if _, err := newReconciler(ReconcileOptions{Repo: repo, WorkDir: work, RenderCache: t.TempDir()}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("a render cache outside the working copies: %v", err)
	}
}
