package test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/renderer"
	"github.com/allot-dev/allot/test/harness"
)

// The fault run: allot is SIGKILLed at chosen points of its passes — while
// it applies, while it tears down, while it fetches — against a real
// kube-apiserver and a real git repository, and after each kill one clean
// pass must leave no orphan, no missing object and no stale record. `make
// test` runs a small fleet; ALLOT_FAULT_ENVS and ALLOT_FAULT_ROUNDS (as
// `make fault` sets them) run the full one.

const faultPlatform = `apiVersion: allot.dev/v1alpha1
kind: Platform
metadata: {name: fault}
spec:
  clusters:
    - {name: a, kubeconfig: {file: /nonexistent}}
  idp: {provider: none}
  defaultSize: small
  sizes:
    small: {quota: {pods: 10}}
`

func faultRequest(name string) string {
	return fmt.Sprintf(`apiVersion: allot.dev/v1alpha1
kind: Environment
metadata: {name: %s}
spec:
  type: namespace
  owner: dev@example.com
  team: web
  cluster: a
  addons:
    - name: config
      manifests: {path: addons/config}
`, name)
}

func faultConfig(version int) string {
	var b strings.Builder
	for i := range 3 {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings-%d}\ndata: {version: %q}\n", i, strconv.Itoa(version))
	}
	return b.String()
}

// entries counts the entries of a folder, zero when it cannot be read.
func entries(dir string) int {
	list, _ := os.ReadDir(dir)
	return len(list)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// buildAllot builds the allot binary from this tree, as the fault run
// needs a process it can kill.
func buildAllot(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "allot")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/allot")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build allot: %v\n%s", err, out)
	}
	return bin
}

type faultWorld struct {
	t      *testing.T
	bin    string
	cp     *harness.ControlPlane
	repo   *harness.GitRepo
	args   []string
	envs   map[string]bool // environments in the branch's head
	head   string
	config int
}

func (w *faultWorld) commit(msg string) {
	w.t.Helper()
	head, err := w.repo.Commit(msg)
	if err != nil {
		w.t.Fatal(err)
	}
	w.head = strings.TrimSpace(head)
}

func (w *faultWorld) write(rel, content string) {
	w.t.Helper()
	if err := w.repo.WriteFile(rel, content); err != nil {
		w.t.Fatal(err)
	}
}

// start runs one allot reconcile --once in its own process.
func (w *faultWorld) start() (*exec.Cmd, *strings.Builder) {
	w.t.Helper()
	out := &strings.Builder{}
	cmd := exec.Command(w.bin, w.args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	return cmd, out
}

// converge runs a pass to its end; it must succeed.
func (w *faultWorld) converge(why string) {
	w.t.Helper()
	cmd, out := w.start()
	if err := cmd.Wait(); err != nil {
		w.t.Fatalf("%s: the pass after the kill failed: %v\n%s", why, err, out)
	}
}

// killWhen starts a pass and SIGKILLs it once cond holds; a pass that
// ends first is a round that injected nothing, which is reported.
func (w *faultWorld) killWhen(cond func() bool) bool {
	w.t.Helper()
	cmd, _ := w.start()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return false
		case <-tick.C:
			if cond() {
				_ = cmd.Process.Signal(syscall.SIGKILL)
				<-done
				return true
			}
		}
	}
}

// records reads allot's inventory records from the cluster.
func (w *faultWorld) records() map[string]reconciler.Record {
	w.t.Helper()
	var list corev1.ConfigMapList
	if err := w.cp.Client.List(context.Background(), &list, client.InNamespace(reconciler.SystemNamespace)); err != nil {
		w.t.Fatal(err)
	}
	out := map[string]reconciler.Record{}
	for _, cm := range list.Items {
		raw, ok := cm.Data["record.json"]
		if !ok {
			continue
		}
		var rec reconciler.Record
		if err := json.Unmarshal([]byte(raw), &rec); err != nil {
			w.t.Fatalf("record %s: %v", cm.Name, err)
		}
		out[cm.Name] = rec
	}
	return out
}

// check asserts the crash promise after a converging pass: every
// environment of the head commit has a record at that commit and every
// object it lists; no record outlives its request; nothing labelled as
// allot's belongs to no environment.
func (w *faultWorld) check(round string) {
	w.t.Helper()
	ctx := context.Background()
	recs := w.records()
	for env := range w.envs {
		rec, ok := recs[env]
		if !ok {
			w.t.Errorf("%s: environment %s has no record", round, env)
			continue
		}
		if cond := rec.Conditions; len(cond) == 0 || rec.LastError != "" {
			w.t.Errorf("%s: environment %s: record says %q, conditions %v", round, env, rec.LastError, cond)
		}
		for _, ref := range rec.Objects {
			obj := ref.Unstructured()
			if err := w.cp.Client.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, obj); err != nil {
				w.t.Errorf("%s: environment %s misses %s: %v", round, env, ref, err)
			}
		}
		var cm corev1.ConfigMap
		if err := w.cp.Client.Get(ctx, client.ObjectKey{Namespace: env, Name: "settings-0"}, &cm); err != nil || cm.Data["version"] != strconv.Itoa(w.config) {
			w.t.Errorf("%s: environment %s has config %v (%v), want version %d", round, env, cm.Data, err, w.config)
		}
	}
	for env := range recs {
		if !w.envs[env] {
			w.t.Errorf("%s: stale record for %s, whose request is gone", round, env)
		}
	}
	selector := client.MatchingLabels{renderer.LabelManagedBy: renderer.ManagedByValue}
	for _, gvk := range []schema.GroupVersionKind{
		{Version: "v1", Kind: "NamespaceList"}, {Version: "v1", Kind: "ConfigMapList"}, {Version: "v1", Kind: "ResourceQuotaList"},
		{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicyList"}, {Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBindingList"},
	} {
		var list metav1.PartialObjectMetadataList
		list.SetGroupVersionKind(gvk)
		if err := w.cp.Client.List(ctx, &list, selector); err != nil {
			w.t.Fatal(err)
		}
		for _, o := range list.Items {
			env := o.Labels[renderer.LabelEnvironment]
			if !w.envs[env] && o.DeletionTimestamp == nil {
				w.t.Errorf("%s: orphan %s %s/%s of environment %q", round, gvk.Kind, o.Namespace, o.Name, env)
			}
		}
	}
}

func TestKilledAnywhereLeavesNoOrphanNoGapNoStaleRecord(t *testing.T) {
	n := envInt("ALLOT_FAULT_ENVS", 12)
	rounds := envInt("ALLOT_FAULT_ROUNDS", 6)
	cp := ownControlPlane(t)
	base := t.TempDir()
	repo, err := harness.NewGitRepo(filepath.Join(base, "bare"), filepath.Join(base, "work"), "main")
	if err != nil {
		t.Fatal(err)
	}
	w := &faultWorld{t: t, bin: buildAllot(t), cp: cp, repo: repo, envs: map[string]bool{}, config: 1}
	w.args = []string{"reconcile", "--once", "--no-idp", "--repo", "file://" + repo.Bare, "--branch", "main",
		"--workdir", filepath.Join(base, "workdir"), "--chart-cache", filepath.Join(base, "charts"),
		"--kubeconfig", "a=" + cp.Kubeconfig,
		// Each teardown round deletes a quarter of the fleet, many within an
		// hour: the window guard would rightly hold them, and this run is
		// about crashes, not guards.
		"--delete-window", "0"}
	w.write("allot.yaml", faultPlatform)
	w.write("addons/config/config.yaml", faultConfig(w.config))
	for i := range n {
		name := fmt.Sprintf("fault-%03d", i)
		w.write("environments/web/"+name+".yaml", faultRequest(name))
		w.envs[name] = true
	}
	w.commit("fleet")
	w.converge("first pass")
	w.check("first pass")

	rng := rand.New(rand.NewPCG(uint64(n), uint64(rounds)))
	injected := map[string]int{}
	for round := range rounds {
		kind := []string{"mid-pass", "mid-teardown", "mid-fetch"}[round%3]
		name := fmt.Sprintf("round %d (%s)", round, kind)
		var cond func() bool
		switch kind {
		case "mid-pass":
			// Every environment changes; kill once some of them have
			// recorded the new commit.
			w.config++
			w.write("addons/config/config.yaml", faultConfig(w.config))
			w.commit(name)
			target := 1 + rng.IntN(max(1, n/2))
			cond = func() bool {
				done := 0
				for _, rec := range w.records() {
					if rec.Commit == w.head {
						done++
					}
				}
				return done >= target
			}
		case "mid-teardown":
			// A quarter of the environments go (under the mass-delete
			// share), and as many new ones come; kill once a teardown began.
			var gone []string
			for env := range w.envs {
				if len(gone) < max(1, n/4) {
					gone = append(gone, env)
				}
			}
			for _, env := range gone {
				if err := repo.Remove("environments/web/" + env + ".yaml"); err != nil {
					t.Fatal(err)
				}
				delete(w.envs, env)
				fresh := fmt.Sprintf("fault-%03d-%d", rng.IntN(1000), round)
				w.write("environments/web/"+fresh+".yaml", faultRequest(fresh))
				w.envs[fresh] = true
			}
			w.commit(name)
			cond = func() bool {
				for _, env := range gone {
					var cm corev1.ConfigMap
					err := cp.Client.Get(context.Background(), client.ObjectKey{Namespace: env, Name: "settings-0"}, &cm)
					if err != nil || cm.DeletionTimestamp != nil {
						return true
					}
				}
				return false
			}
		case "mid-fetch":
			// Kill once the fetch has begun writing objects into the
			// working copy, before anything is applied.
			w.config++
			w.write("addons/config/config.yaml", faultConfig(w.config))
			w.commit(name)
			packs := filepath.Join(base, "workdir", ".git", "objects", "pack")
			had := entries(packs)
			cond = func() bool { return entries(packs) != had }
		}
		if w.killWhen(cond) {
			injected[kind]++
		}
		w.converge(name)
		w.check(name)
		if t.Failed() {
			t.Fatalf("the crash promise broke in %s", name)
		}
	}
	t.Logf("%d environments, %d rounds: kills landed %v", n, rounds, injected)
	if injected["mid-pass"]+injected["mid-teardown"] == 0 {
		t.Fatal("no kill landed inside a pass: the run proved nothing")
	}
}
