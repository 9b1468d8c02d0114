package reconciler

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/environments"
	"github.com/allot-dev/allot/internal/testfs"
	"github.com/allot-dev/allot/test/harness"
)

// dirSource serves a folder as the requests repository; tests edit it
// between passes. err makes the next fetches fail.
type dirSource struct {
	dir    string
	commit int
	err    error
}

func (s *dirSource) Fetch(context.Context) (Snapshot, error) {
	if s.err != nil {
		return Snapshot{}, s.err
	}
	s.commit++
	return Snapshot{Dir: s.dir, Commit: fmt.Sprintf("commit-%d", s.commit)}, nil
}

func (s *dirSource) write(t *testing.T, rel, content string) {
	t.Helper()
	testfs.WriteFile(t, filepath.Join(s.dir, rel), content)
}

func (s *dirSource) remove(t *testing.T, rel string) {
	t.Helper()
	if err := os.RemoveAll(filepath.Join(s.dir, rel)); err != nil {
		t.Fatal(err)
	}
}

const platformYAML = `apiVersion: allot.dev/v1alpha1
kind: Platform
metadata: {name: test}
spec:
  clusters:
    - {name: a, labels: {allot.dev/vcluster-host: "true"}, inCluster: true}
    - {name: b, inCluster: true}
  idp: {provider: none}
  defaultSize: small
  sizes:
    small: {quota: {pods: 10}}
    large: {quota: {pods: 100}}
`

// request is a namespace environment on cluster with extra spec lines.
func request(name, cluster, extra string) string {
	return fmt.Sprintf("apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: %s}\nspec:\n  type: namespace\n  owner: dev@example.com\n  team: web\n  cluster: %s\n%s", name, cluster, extra)
}

// fixture is a requests repository, control planes playing its clusters, and
// a reconciler wired to both.
type fixture struct {
	src *dirSource
	cps map[string]*harness.ControlPlane
	r   *Reconciler
	now time.Time
}

func newFixture(t *testing.T, clusters ...string) *fixture {
	t.Helper()
	cps, err := harness.StartN(len(clusters), harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{src: &dirSource{dir: t.TempDir()}, cps: map[string]*harness.ControlPlane{}, now: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)}
	kubeconfigs := map[string]string{}
	for i, name := range clusters {
		f.cps[name] = cps[i]
		kubeconfigs[name] = cps[i].Kubeconfig
	}
	t.Cleanup(func() {
		for _, cp := range cps {
			_ = cp.Stop()
		}
	})
	f.src.write(t, "allot.yaml", platformYAML)
	f.r = &Reconciler{
		Source: f.src, Connector: &Connector{Kubeconfigs: kubeconfigs},
		Builtin: environments.Templates(), ChartCache: t.TempDir(),
		OnlyClusters: clusters, WaitInterval: 200 * time.Millisecond, TeardownTimeout: 10 * time.Second,
		Now: func() time.Time { return f.now },
	}
	return f
}

// pass runs a pass, bounded to two minutes, and returns its result
// whatever it is: the test looks at the failures it expects. mustPass
// fails the test on any failure.
func (f *fixture) pass(t *testing.T) *PassResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return f.r.Pass(ctx)
}

// mustPass runs a pass and fails the test if anything in it failed.
func (f *fixture) mustPass(t *testing.T) *PassResult {
	t.Helper()
	res := f.pass(t)
	if res.Failed() {
		t.Fatalf("pass failed: %s", describe(res))
	}
	return res
}

func describe(res *PassResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "commit %s err %v kept %v\n", res.Commit, res.Err, res.Kept.List())
	for _, c := range res.Clusters {
		fmt.Fprintf(&b, "  cluster %s err %v\n", c.Name, c.Err)
		for _, e := range c.Environments {
			fmt.Fprintf(&b, "    %s %s applied %d pruned %d msg %q err %v\n", e.Environment, e.Action, e.Applied, e.Pruned, e.Message, e.Err)
		}
	}
	return b.String()
}

func result(res *PassResult, cluster, env string) EnvResult {
	for _, c := range res.Clusters {
		for _, e := range c.Environments {
			if c.Name == cluster && e.Environment == env {
				return e
			}
		}
	}
	return EnvResult{}
}

func action(res *PassResult, cluster, env string) Action { return result(res, cluster, env).Action }

func (f *fixture) get(t *testing.T, cluster string, obj client.Object, ns, name string) error {
	t.Helper()
	return f.cps[cluster].Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj)
}

func (f *fixture) exists(t *testing.T, cluster string, obj client.Object, ns, name string) bool {
	t.Helper()
	err := f.get(t, cluster, obj, ns, name)
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil && obj.GetDeletionTimestamp() == nil
}

const configAddon = "  addons:\n    - name: config\n      manifests: {path: addons/%s}\n"

func configMap(name, value string, extra string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n%sdata: {value: %q}\n", name, extra, value)
}

func TestCreateUpdateAndNoOp(t *testing.T) {
	f := newFixture(t, "a")
	f.src.write(t, "environments/web/shop.yaml", request("shop", "a", fmt.Sprintf(configAddon, "shop")))
	f.src.write(t, "addons/shop/config.yaml", configMap("settings", "one", ""))

	res := f.mustPass(t)
	if got := action(res, "a", "shop"); got != ActionCreated {
		t.Fatalf("first pass: %s\n%s", got, describe(res))
	}
	var quota corev1.ResourceQuota
	if err := f.get(t, "a", &quota, "shop", "quota"); err != nil {
		t.Fatal(err)
	}
	if quota.Spec.Hard.Pods().String() != "10" {
		t.Errorf("quota pods %s, want 10", quota.Spec.Hard.Pods())
	}
	var record corev1.ConfigMap
	if err := f.get(t, "a", &record, SystemNamespace, "shop"); err != nil {
		t.Fatalf("no inventory record: %v", err)
	}
	if record.Data["commit"] != "commit-1" || record.Data["ready"] != "True" || !strings.Contains(record.Data["objects"], "ConfigMap/shop/settings") {
		t.Errorf("record data = %v", record.Data)
	}

	t.Run("a pass with nothing new writes nothing", func(t *testing.T) {
		// The first check of the unchanged environment notes what the
		// cluster showed (see liveIndex); after that, nothing is written.
		f.mustPass(t)
		if err := f.get(t, "a", &record, SystemNamespace, "shop"); err != nil {
			t.Fatal(err)
		}
		res := f.mustPass(t)
		if got := action(res, "a", "shop"); got != ActionUnchanged {
			t.Errorf("action %s, want unchanged", got)
		}
		var again corev1.ConfigMap
		if err := f.get(t, "a", &again, SystemNamespace, "shop"); err != nil {
			t.Fatal(err)
		}
		if again.ResourceVersion != record.ResourceVersion {
			t.Errorf("the record was rewritten (resourceVersion %s, then %s)", record.ResourceVersion, again.ResourceVersion)
		}
	})
	t.Run("a size change updates the quota", func(t *testing.T) {
		f.src.write(t, "environments/web/shop.yaml", request("shop", "a", "  size: large\n"+fmt.Sprintf(configAddon, "shop")))
		res := f.mustPass(t)
		if got := action(res, "a", "shop"); got != ActionUpdated {
			t.Errorf("action %s, want updated", got)
		}
		if err := f.get(t, "a", &quota, "shop", "quota"); err != nil {
			t.Fatal(err)
		}
		if quota.Spec.Hard.Pods().String() != "100" {
			t.Errorf("quota pods %s, want 100", quota.Spec.Hard.Pods())
		}
	})
	t.Run("a hand edit is repaired", func(t *testing.T) {
		var cm corev1.ConfigMap
		if err := f.get(t, "a", &cm, "shop", "settings"); err != nil {
			t.Fatal(err)
		}
		cm.Data["value"] = "edited"
		if err := f.cps["a"].Client.Update(context.Background(), &cm, client.FieldOwner("kubectl-edit")); err != nil {
			t.Fatal(err)
		}
		res := f.mustPass(t)
		if got := action(res, "a", "shop"); got != ActionRepaired {
			t.Errorf("action %s, want repaired", got)
		}
		if err := f.get(t, "a", &cm, "shop", "settings"); err != nil {
			t.Fatal(err)
		}
		if cm.Data["value"] != "one" {
			t.Errorf("value %q after repair, want one", cm.Data["value"])
		}
	})
	t.Run("an object that leaves the bundle is pruned", func(t *testing.T) {
		f.src.write(t, "addons/shop/extra.yaml", configMap("extra", "x", ""))
		f.mustPass(t)
		var cm corev1.ConfigMap
		if !f.exists(t, "a", &cm, "shop", "extra") {
			t.Fatal("extra was not created")
		}
		f.src.remove(t, "addons/shop/extra.yaml")
		res := f.mustPass(t)
		if f.exists(t, "a", &cm, "shop", "extra") {
			t.Errorf("extra was not pruned\n%s", describe(res))
		}
		if !f.exists(t, "a", &cm, "shop", "settings") {
			t.Error("settings was pruned too")
		}
	})
	t.Run("an object someone else took over is not deleted", func(t *testing.T) {
		f.src.write(t, "addons/shop/adopted.yaml", configMap("adopted", "x", ""))
		f.mustPass(t)
		var cm corev1.ConfigMap
		if err := f.get(t, "a", &cm, "shop", "adopted"); err != nil {
			t.Fatal(err)
		}
		delete(cm.Labels, "allot.dev/managed-by")
		if err := f.cps["a"].Client.Update(context.Background(), &cm); err != nil {
			t.Fatal(err)
		}
		f.src.remove(t, "addons/shop/adopted.yaml")
		f.mustPass(t)
		if !f.exists(t, "a", &cm, "shop", "adopted") {
			t.Error("an object without allot's labels was deleted")
		}
	})
}

func TestDeleteRunsPreDeleteThenTearsDown(t *testing.T) {
	f := newFixture(t, "a")
	f.src.write(t, "environments/web/keep.yaml", request("keep", "a", ""))
	f.src.write(t, "environments/web/gone.yaml", request("gone", "a", fmt.Sprintf(configAddon, "gone")))
	f.src.write(t, "addons/gone/config.yaml", configMap("settings", "v", "")+"---\n"+configMap("farewell", "bye", "  annotations: {allot.dev/phase: preDelete}\n"))
	f.mustPass(t)
	var cm corev1.ConfigMap
	if f.exists(t, "a", &cm, "gone", "farewell") {
		t.Fatal("the preDelete object was applied before teardown")
	}
	f.src.remove(t, "environments/web/gone.yaml")
	f.r.AllowMassDelete = true // "gone" is more than half of what the cluster holds
	res := f.mustPass(t)
	if got := action(res, "a", "gone"); got != ActionDeleted {
		t.Fatalf("action %s, want deleted\n%s", got, describe(res))
	}
	if f.exists(t, "a", &cm, "gone", "settings") {
		t.Error("settings survived the teardown")
	}
	var ns corev1.Namespace
	if f.exists(t, "a", &ns, "", "gone") {
		t.Error("the namespace was not deleted")
	}
	if f.exists(t, "a", &cm, SystemNamespace, "gone") {
		t.Error("the inventory record survived the teardown")
	}
	if !f.exists(t, "a", &ns, "", "keep") {
		t.Error("the other environment was torn down too")
	}
	// Namespace, quota, network policy, role binding, settings and the
	// preDelete object, which is deleted again with the rest.
	if n := result(res, "a", "gone").Pruned; n != 6 {
		t.Errorf("pruned %d objects, want 6", n)
	}
}

func TestExpiredEnvironmentIsTornDown(t *testing.T) {
	f := newFixture(t, "a")
	f.src.write(t, "environments/web/keep.yaml", request("keep", "a", ""))
	f.src.write(t, "environments/web/brief.yaml", request("brief", "a", "  expires: 2d\n"))
	f.mustPass(t)
	f.now = f.now.Add(47 * time.Hour)
	if res := f.mustPass(t); action(res, "a", "brief") != ActionUnchanged {
		t.Fatalf("torn down before its TTL\n%s", describe(res))
	}
	f.now = f.now.Add(2 * time.Hour)
	f.r.AllowMassDelete = true
	res := f.mustPass(t)
	if got := action(res, "a", "brief"); got != ActionDeleted {
		t.Fatalf("action %s after the TTL, want deleted\n%s", got, describe(res))
	}
}

func TestFailingRequestKeepsItsLastState(t *testing.T) {
	f := newFixture(t, "a")
	f.src.write(t, "environments/web/shop.yaml", request("shop", "a", fmt.Sprintf(configAddon, "shop")))
	f.src.write(t, "addons/shop/config.yaml", configMap("settings", "one", ""))
	f.mustPass(t)

	for name, breakIt := range map[string]func(){
		"render fails": func() {
			f.src.write(t, "addons/shop/config.yaml", "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: grab}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\n")
		},
		"request is invalid": func() {
			f.src.write(t, "environments/web/shop.yaml", request("shop", "a", "  sise: large\n"))
		},
		"request is not YAML": func() {
			f.src.write(t, "environments/web/shop.yaml", "spec: [unclosed\n")
		},
	} {
		t.Run(name, func(t *testing.T) {
			breakIt()
			res := f.pass(t)
			if _, kept := res.Kept.Reason("shop"); !kept && res.Kept.Len() == 0 {
				t.Errorf("the failure is not reported\n%s", describe(res))
			}
			var cm corev1.ConfigMap
			if !f.exists(t, "a", &cm, "shop", "settings") || cm.Data["value"] != "one" {
				t.Errorf("the last applied state was not kept\n%s", describe(res))
			}
			f.src.write(t, "environments/web/shop.yaml", request("shop", "a", fmt.Sprintf(configAddon, "shop")))
			f.src.write(t, "addons/shop/config.yaml", configMap("settings", "one", ""))
		})
	}
}

func TestGuards(t *testing.T) {
	f := newFixture(t, "a")
	for _, n := range []string{"one", "two", "three"} {
		f.src.write(t, "environments/web/"+n+".yaml", request(n, "a", ""))
	}
	f.mustPass(t)
	var ns corev1.Namespace

	t.Run("an unreadable repository changes nothing", func(t *testing.T) {
		f.src.err = errors.New("connection reset")
		res := f.pass(t)
		f.src.err = nil
		if !errors.Is(res.Err, ErrSourceUnreadable) || len(res.Clusters) != 0 {
			t.Errorf("err %v, %d clusters touched", res.Err, len(res.Clusters))
		}
	})
	t.Run("an invalid allot.yaml changes nothing", func(t *testing.T) {
		f.src.write(t, "allot.yaml", "apiVersion: allot.dev/v1alpha1\nkind: Platform\n")
		res := f.pass(t)
		f.src.write(t, "allot.yaml", platformYAML)
		if !errors.Is(res.Err, ErrPlatformInvalid) || len(res.Clusters) != 0 {
			t.Errorf("err %v, %d clusters touched", res.Err, len(res.Clusters))
		}
	})
	t.Run("an empty render deletes nothing", func(t *testing.T) {
		for _, n := range []string{"one", "two", "three"} {
			f.src.remove(t, "environments/web/"+n+".yaml")
		}
		res := f.pass(t)
		if !errors.Is(res.Clusters[0].Err, ErrEmptyRender) {
			t.Errorf("cluster err %v, want the empty-render guard\n%s", res.Clusters[0].Err, describe(res))
		}
		for _, n := range []string{"one", "two", "three"} {
			if !f.exists(t, "a", &ns, "", n) {
				t.Errorf("namespace %s was deleted", n)
			}
		}
	})
	// Issue 16: one broken request that was never applied here must not
	// lift the guard, whatever the delete share allows.
	t.Run("a broken request that has no record here does not lift the guard", func(t *testing.T) {
		f.src.write(t, "environments/web/broken.yaml", request("broken", "a", "  size: no-such-size\n"))
		f.r.MaxDeleteShare = 1
		defer func() { f.r.MaxDeleteShare = 0; f.src.remove(t, "environments/web/broken.yaml") }()
		res := f.pass(t)
		if !errors.Is(res.Clusters[0].Err, ErrEmptyRender) {
			t.Errorf("cluster err %v, want the empty-render guard\n%s", res.Clusters[0].Err, describe(res))
		}
		for _, n := range []string{"one", "two", "three"} {
			if !f.exists(t, "a", &ns, "", n) {
				t.Errorf("namespace %s was deleted", n)
			}
		}
	})
	t.Run("a pass that deletes most of a cluster stops", func(t *testing.T) {
		f.src.write(t, "environments/web/one.yaml", request("one", "a", ""))
		res := f.pass(t)
		if !errors.Is(res.Clusters[0].Err, ErrMassDelete) {
			t.Errorf("cluster err %v, want the mass-delete guard\n%s", res.Clusters[0].Err, describe(res))
		}
		if action(res, "a", "two") != ActionHeld || !f.exists(t, "a", &ns, "", "two") {
			t.Errorf("two was not held\n%s", describe(res))
		}
	})
	t.Run("the override lets it through", func(t *testing.T) {
		f.r.AllowMassDelete = true
		defer func() { f.r.AllowMassDelete = false }()
		res := f.mustPass(t)
		if action(res, "a", "two") != ActionDeleted || action(res, "a", "three") != ActionDeleted {
			t.Errorf("not deleted with the override\n%s", describe(res))
		}
		if !f.exists(t, "a", &ns, "", "one") {
			t.Error("one was deleted")
		}
	})
}

func TestCrashBetweenIntentAndApplyConverges(t *testing.T) {
	f := newFixture(t, "a")
	f.src.write(t, "environments/web/shop.yaml", request("shop", "a", fmt.Sprintf(configAddon, "shop")))
	f.src.write(t, "addons/shop/config.yaml", configMap("settings", "one", ""))
	f.mustPass(t)
	// A crash after the intent was recorded: the record lists an object that
	// was being added, and the object was created, but the pass never
	// finished — and the next commit no longer has it.
	cl, err := NewCluster("a", f.cps["a"].Config)
	if err != nil {
		t.Fatal(err)
	}
	inv := inventory{client: cl.Client}
	records, err := inv.list(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rec := records["shop"]
	rec.Objects = append(rec.Objects, ObjectRef{Phase: "install", Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: "half-done"})
	if err := inv.write(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	orphan := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "half-done", Namespace: "shop", Labels: map[string]string{"allot.dev/managed-by": "allot", "allot.dev/environment": "shop"}}}
	if err := cl.Client.Create(context.Background(), orphan); err != nil {
		t.Fatal(err)
	}
	res := f.mustPass(t)
	var cm corev1.ConfigMap
	if f.exists(t, "a", &cm, "shop", "half-done") {
		t.Errorf("the half-applied object is an orphan\n%s", describe(res))
	}
	records, _ = inv.list(context.Background())
	for _, o := range records["shop"].Objects {
		if o.Name == "half-done" {
			t.Error("the record still lists the half-applied object")
		}
	}
}

func TestOneClusterDownOthersConverge(t *testing.T) {
	f := newFixture(t, "a")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "https://" + l.Addr().String()
	l.Close()
	kubeconfig := filepath.Join(t.TempDir(), "dead")
	if err := os.WriteFile(kubeconfig, []byte(fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters: [{name: b, cluster: {server: %q, insecure-skip-tls-verify: true}}]\ncontexts: [{name: b, context: {cluster: b, user: b}}]\ncurrent-context: b\nusers: [{name: b, user: {token: x}}]\n", dead)), 0o600); err != nil {
		t.Fatal(err)
	}
	f.r.Connector.Kubeconfigs["b"] = kubeconfig
	f.r.OnlyClusters = []string{"a", "b"}
	f.src.write(t, "environments/web/on-a.yaml", request("on-a", "a", ""))
	f.src.write(t, "environments/web/on-b.yaml", request("on-b", "b", ""))
	res := f.pass(t)
	var errB error
	for _, c := range res.Clusters {
		if c.Name == "b" {
			errB = c.Err
		}
	}
	if errB == nil {
		t.Errorf("cluster b did not report its error\n%s", describe(res))
	}
	if action(res, "a", "on-a") != ActionCreated {
		t.Errorf("cluster a did not converge\n%s", describe(res))
	}
}

func TestReadinessIsRecordedWhenItArrives(t *testing.T) {
	f := newFixture(t, "a")
	deployment := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n    spec: {containers: [{name: api, image: example.com/api:1}]}\n"
	f.src.write(t, "environments/web/shop.yaml", request("shop", "a", fmt.Sprintf(configAddon, "shop")))
	f.src.write(t, "addons/shop/api.yaml", deployment)
	f.mustPass(t)
	var record corev1.ConfigMap
	if err := f.get(t, "a", &record, SystemNamespace, "shop"); err != nil {
		t.Fatal(err)
	}
	if record.Data["ready"] != "False" {
		t.Fatalf("ready = %q before the Deployment rolled out", record.Data["ready"])
	}
	ctx, cancel := context.WithCancel(context.Background())
	harness.MarkWorkloadsOnce(ctx, f.cps["a"].Client)
	cancel()
	f.mustPass(t)
	if err := f.get(t, "a", &record, SystemNamespace, "shop"); err != nil {
		t.Fatal(err)
	}
	if record.Data["ready"] != "True" {
		t.Errorf("ready = %q after the Deployment rolled out", record.Data["ready"])
	}
}

func TestFleetOfTwoClustersConvergesInOnePass(t *testing.T) {
	f := newFixture(t, "a", "b")
	f.src.write(t, "environments/web/on-a.yaml", request("on-a", "a", ""))
	f.src.write(t, "environments/web/on-b.yaml", request("on-b", "b", ""))
	f.src.write(t, "environments/web/both.yaml", strings.Replace(request("both", "a", ""), "  cluster: a\n", "  placement: {clusterSelector: {matchExpressions: [{key: nothing, operator: DoesNotExist}]}}\n", 1))
	res := f.mustPass(t)
	var ns corev1.Namespace
	for cluster, want := range map[string][]string{"a": {"on-a", "both"}, "b": {"on-b", "both"}} {
		for _, env := range want {
			if !f.exists(t, cluster, &ns, "", env) {
				t.Errorf("%s is not on cluster %s\n%s", env, cluster, describe(res))
			}
		}
	}
	if f.exists(t, "b", &ns, "", "on-a") || f.exists(t, "a", &ns, "", "on-b") {
		t.Error("an environment went to the wrong cluster")
	}
}

// TestKilledMidPassConverges cancels a pass while it applies many
// environments, as a killed process would stop, and checks that the next
// pass converges with every object known to an inventory record.
func TestKilledMidPassConverges(t *testing.T) {
	f := newFixture(t, "a")
	for i := range 30 {
		f.src.write(t, fmt.Sprintf("environments/web/env-%d.yaml", i), request(fmt.Sprintf("env-%d", i), "a", fmt.Sprintf(configAddon, "shared")))
	}
	f.src.write(t, "addons/shared/config.yaml", configMap("settings", "v", ""))
	// Cut the pass off once a few environments have records, wherever the
	// others are.
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer cancel()
		for ctx.Err() == nil {
			var cms corev1.ConfigMapList
			if f.cps["a"].Client.List(ctx, &cms, client.InNamespace(SystemNamespace)) == nil && len(cms.Items) >= 5 {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	res := f.r.Pass(ctx)
	cancel()
	cut := 0
	for _, c := range res.Clusters {
		for _, e := range c.Environments {
			if e.Err != nil {
				cut++
			}
		}
	}
	if cut == 0 {
		t.Fatalf("the pass finished before it could be cut off\n%s", describe(res))
	}

	f.mustPass(t)
	// Every object carrying allot's labels on the cluster is in a record.
	cl, err := NewCluster("a", f.cps["a"].Config)
	if err != nil {
		t.Fatal(err)
	}
	records, err := inventory{client: cl.Client}.list(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, rec := range records {
		for _, o := range rec.Objects {
			known[o.Kind+"/"+o.Namespace+"/"+o.Name] = true
		}
	}
	var cms corev1.ConfigMapList
	if err := cl.Client.List(context.Background(), &cms, client.MatchingLabels{"allot.dev/managed-by": "allot"}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, cm := range cms.Items {
		if cm.Namespace == SystemNamespace {
			continue
		}
		n++
		if !known["ConfigMap/"+cm.Namespace+"/"+cm.Name] {
			t.Errorf("orphan: ConfigMap/%s/%s is in no record", cm.Namespace, cm.Name)
		}
	}
	if n != 30 || len(records) != 30 {
		t.Errorf("%d config maps and %d records after converging, want 30 of each", n, len(records))
	}
}

// Issue 16: deleting 40% and then a third of the rest in two passes is
// one mass delete over the window, held like one; once the window has
// passed, the same deletion goes through.
func TestDeletionsAddUpOverTheWindow(t *testing.T) {
	f := newFixture(t, "a")
	names := make([]string, 10)
	for i := range names {
		names[i] = fmt.Sprintf("env%d", i)
		f.src.write(t, "environments/web/"+names[i]+".yaml", request(names[i], "a", ""))
	}
	f.mustPass(t)
	for _, n := range names[:4] {
		f.src.remove(t, "environments/web/"+n+".yaml")
	}
	res := f.mustPass(t)
	if got := action(res, "a", "env0"); got != ActionDeleted {
		t.Fatalf("the first 40%% was not deleted: %s\n%s", got, describe(res))
	}
	for _, n := range names[4:6] {
		f.src.remove(t, "environments/web/"+n+".yaml")
	}
	f.now = f.now.Add(30 * time.Minute)
	res = f.pass(t)
	if err := res.Clusters[0].Err; !errors.Is(err, ErrMassDelete) || !strings.Contains(err.Error(), "in the last 1h0m0s") {
		t.Fatalf("cluster err %v, want the window guard\n%s", err, describe(res))
	}
	var ns corev1.Namespace
	if action(res, "a", "env4") != ActionHeld || !f.exists(t, "a", &ns, "", "env4") {
		t.Errorf("env4 was not held\n%s", describe(res))
	}
	f.now = f.now.Add(time.Hour)
	res = f.mustPass(t)
	if got := action(res, "a", "env4"); got != ActionDeleted {
		t.Errorf("after the window: %s, want deleted\n%s", got, describe(res))
	}
}
