package reconciler

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/allot-dev/allot/test/harness"
)

var (
	ackVPC        = schema.GroupVersionKind{Group: "ec2.services.k8s.aws", Version: "v1alpha1", Kind: "VPC"}
	crossplaneVPC = schema.GroupVersionKind{Group: "ec2.aws.upbound.io", Version: "v1beta1", Kind: "VPC"}
	certificate   = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}
)

// installTestCRDs creates the CRDs in testdata/crds on a control plane and
// waits until they serve.
func installTestCRDs(t *testing.T, c client.Client) {
	t.Helper()
	ctx := context.Background()
	files, err := filepath.Glob("testdata/crds/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in testdata/crds: %v", err)
	}
	if err := harness.InstallCRDFiles(ctx, c, files...); err != nil {
		t.Fatal(err)
	}
	if err := harness.InstallCRDs(ctx, c, true, certificate); err != nil {
		t.Fatal(err)
	}
}

// setConditions writes status.conditions through the status subresource,
// as the object's controller would.
func setConditions(t *testing.T, c client.Client, gvk schema.GroupVersionKind, ns, name string, conds ...map[string]any) {
	t.Helper()
	ctx := context.Background()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
		t.Fatal(err)
	}
	list := make([]any, len(conds))
	for i, cond := range conds {
		cond["lastTransitionTime"] = metav1.Now().UTC().Format(time.RFC3339)
		list[i] = cond
	}
	if err := unstructured.SetNestedSlice(u.Object, list, "status", "conditions"); err != nil {
		t.Fatal(err)
	}
	if err := c.Status().Update(ctx, u); err != nil {
		t.Fatalf("set status of %s %s/%s: %v", gvk.Kind, ns, name, err)
	}
}

func cond(typ, status, reason, msg string) map[string]any {
	return map[string]any{"type": typ, "status": status, "reason": reason, "message": msg}
}

// TestReadinessRules reads real objects of CRD-backed kinds, with the
// status their controllers would write, through the readiness table.
func TestReadinessRules(t *testing.T) {
	f := newFixture(t, "a")
	c := f.cps["a"].Client
	installTestCRDs(t, c)
	cl, err := NewCluster("a", f.cps["a"].Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Create(ctx, &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "rules"}}}); err != nil {
		t.Fatal(err)
	}
	n := 0
	object := func(t *testing.T, gvk schema.GroupVersionKind, spec map[string]any) *unstructured.Unstructured {
		t.Helper()
		n++
		u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
		u.SetGroupVersionKind(gvk)
		u.SetName(fmt.Sprintf("obj-%d", n))
		if gvk != crossplaneVPC {
			u.SetNamespace("rules")
		}
		if err := c.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	ackSpec := map[string]any{"cidrBlocks": []any{"10.20.0.0/16"}}
	xpSpec := map[string]any{"forProvider": map[string]any{"cidrBlock": "10.20.0.0/16", "region": "eu-west-1"}}

	for _, tc := range []struct {
		name  string
		gvk   schema.GroupVersionKind
		spec  map[string]any
		conds []map[string]any
		want  objectState
		// message is part of what readiness says.
		message string
	}{
		{"an ACK object with no conditions is not ready", ackVPC, ackSpec, nil, stateWaiting, "no status conditions reported yet"},
		{"ACK.ResourceSynced=True is ready", ackVPC, ackSpec, []map[string]any{cond("ACK.ResourceSynced", "True", "", "")}, stateReady, ""},
		{"ACK.ResourceSynced=False is not ready", ackVPC, ackSpec, []map[string]any{cond("ACK.ResourceSynced", "False", "", "Resource not synced"), cond("ACK.Recoverable", "True", "", "throttled")}, stateWaiting, "Resource not synced"},
		{"ACK.Terminal=True fails with its message", ackVPC, ackSpec, []map[string]any{cond("ACK.ResourceSynced", "False", "", ""), cond("ACK.Terminal", "True", "", "InvalidParameterValue: invalid CIDR")}, stateFailed, "InvalidParameterValue: invalid CIDR"},
		{"a Crossplane object with no conditions is not ready", crossplaneVPC, xpSpec, nil, stateWaiting, "no status conditions reported yet"},
		{"Crossplane Ready and Synced is ready", crossplaneVPC, xpSpec, []map[string]any{cond("Ready", "True", "Available", ""), cond("Synced", "True", "ReconcileSuccess", "")}, stateReady, ""},
		{"Crossplane Ready without Synced is not ready", crossplaneVPC, xpSpec, []map[string]any{cond("Ready", "True", "Available", "")}, stateWaiting, "no Synced condition"},
		{"Crossplane Synced without Ready is not ready", crossplaneVPC, xpSpec, []map[string]any{cond("Ready", "False", "Creating", ""), cond("Synced", "True", "ReconcileSuccess", "")}, stateWaiting, "Ready=False (Creating)"},
		{"Crossplane Synced=False ReconcileError fails", crossplaneVPC, xpSpec, []map[string]any{cond("Synced", "False", "ReconcileError", "cannot create VPC: UnauthorizedOperation")}, stateFailed, "UnauthorizedOperation"},
		{"another custom resource with no conditions is not ready", certificate, map[string]any{"secretName": "tls"}, nil, stateWaiting, "no status conditions reported yet"},
		{"another custom resource follows kstatus once it reports", certificate, map[string]any{"secretName": "tls"}, []map[string]any{cond("Ready", "True", "Ready", "")}, stateReady, ""},
		{"another custom resource Ready=False is not ready", certificate, map[string]any{"secretName": "tls"}, []map[string]any{cond("Ready", "False", "Issuing", "issuing")}, stateWaiting, "issuing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := object(t, tc.gvk, tc.spec)
			if tc.conds != nil {
				setConditions(t, c, tc.gvk, u.GetNamespace(), u.GetName(), tc.conds...)
			}
			s := readObjects(ctx, cl, []*unstructured.Unstructured{u}, nil)
			got := stateReady
			switch {
			case len(s.failed) > 0:
				got = stateFailed
			case len(s.waiting) > 0:
				got = stateWaiting
			}
			if got != tc.want || !strings.Contains(s.message(), tc.message) || !strings.Contains(s.message(), u.GetName()) && got != stateReady {
				t.Errorf("%s: %q, want %s with %q", got, s.message(), tc.want, tc.message)
			}
		})
	}

	t.Run("a built-in Deployment follows kstatus", func(t *testing.T) {
		d := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: rules}\nspec:\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n    spec: {containers: [{name: api, image: example.com/api:1}]}\n"), &d.Object); err != nil {
			t.Fatal(err)
		}
		if err := c.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		if s := readObjects(ctx, cl, []*unstructured.Unstructured{d}, nil); s.ready() {
			t.Fatalf("a Deployment that has not rolled out is ready: %s", s.message())
		}
		harness.MarkWorkloadsOnce(ctx, c)
		if s := readObjects(ctx, cl, []*unstructured.Unstructured{d}, nil); !s.ready() {
			t.Errorf("a rolled-out Deployment is not ready: %s", s.message())
		}
	})
}

// vpcAddon is an ACK VPC in an environment's add-on; phase, when set,
// picks its phase.
func vpcAddon(name, phase, cidr string) string {
	annotations := ""
	if phase != "" {
		annotations = "  annotations: {allot.dev/phase: " + phase + "}\n"
	}
	return fmt.Sprintf("apiVersion: ec2.services.k8s.aws/v1alpha1\nkind: VPC\nmetadata:\n  name: %s\n%sspec:\n  cidrBlocks: [%s]\n", name, annotations, cidr)
}

// newAWSFixture is a cluster holding the test CRDs, and a request "net"
// whose add-on holds the given manifests.
func newAWSFixture(t *testing.T, manifests string) *fixture {
	t.Helper()
	f := newFixture(t, "a")
	installTestCRDs(t, f.cps["a"].Client)
	f.src.write(t, "environments/web/net.yaml", request("net", "a", fmt.Sprintf(configAddon, "net")))
	f.src.write(t, "addons/net/objects.yaml", manifests)
	return f
}

func (f *fixture) record(t *testing.T, env string) *Record {
	t.Helper()
	cl, err := NewCluster("a", f.cps["a"].Config)
	if err != nil {
		t.Fatal(err)
	}
	records, err := inventory{client: cl.Client}.list(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if records[env] == nil {
		t.Fatalf("no record for %s", env)
	}
	return records[env]
}

func (rec *Record) conditionOf(typ string) metav1.Condition {
	for _, c := range rec.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}

func TestACKEnvironmentIsReadyOnlyWhenSynced(t *testing.T) {
	f := newAWSFixture(t, vpcAddon("vpc", "", "10.20.0.0/16"))
	res := f.mustPass(t)
	e := result(res, "a", "net")
	if e.Ready || !strings.Contains(e.Message, "VPC/net/vpc") {
		t.Fatalf("ready %v (%q) before the controller reported anything\n%s", e.Ready, e.Message, describe(res))
	}
	if c := f.record(t, "net").conditionOf(ConditionReady); c.Status != metav1.ConditionFalse || c.Reason != ReasonNotReady {
		t.Errorf("record Ready %s %s, want False %s", c.Status, c.Reason, ReasonNotReady)
	}
	setConditions(t, f.cps["a"].Client, ackVPC, "net", "vpc", cond("ACK.ResourceSynced", "True", "", ""))
	res = f.mustPass(t)
	if e := result(res, "a", "net"); !e.Ready {
		t.Errorf("not ready once ACK.ResourceSynced=True: %q\n%s", e.Message, describe(res))
	}
	if c := f.record(t, "net").conditionOf(ConditionReady); c.Status != metav1.ConditionTrue {
		t.Errorf("record Ready %s %s %q, want True", c.Status, c.Reason, c.Message)
	}
}

func TestTerminalFailsAnEarlierPhaseAtOnce(t *testing.T) {
	// The VPC is in install and a config map in postInstall, so the pass
	// waits for the VPC; the controller then gives up on it.
	f := newAWSFixture(t, vpcAddon("vpc", "", "10.20.0.0/16")+"---\n"+configMap("after", "x", "  annotations: {allot.dev/phase: postInstall}\n"))
	done := make(chan *PassResult, 1)
	go func() { done <- f.pass(t) }()
	ctx := context.Background()
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(ackVPC)
		return f.cps["a"].Client.Get(ctx, client.ObjectKey{Namespace: "net", Name: "vpc"}, u) == nil, nil
	})
	if err != nil {
		t.Fatal("the VPC was never applied")
	}
	setConditions(t, f.cps["a"].Client, ackVPC, "net", "vpc", cond("ACK.Terminal", "True", "", "InvalidVpcRange: the CIDR is too large"))
	res := <-done
	e := result(res, "a", "net")
	if e.Action != ActionFailed || !errors.Is(e.Err, ErrObjectFailed) || !strings.Contains(e.Err.Error(), "InvalidVpcRange: the CIDR is too large") {
		t.Fatalf("action %s err %v, want failed with the Terminal message\n%s", e.Action, e.Err, describe(res))
	}
	var cm unstructured.Unstructured
	cm.SetAPIVersion("v1")
	cm.SetKind("ConfigMap")
	if f.get(t, "a", &cm, "net", "after") == nil {
		t.Error("the next phase was applied although the VPC failed")
	}
	if c := f.record(t, "net").conditionOf(ConditionFailed); c.Status != metav1.ConditionTrue || c.Reason != ReasonObjectFailed {
		t.Errorf("record Failed %s %s, want True %s", c.Status, c.Reason, ReasonObjectFailed)
	}
}

func TestTerminalFailsTheLastPhase(t *testing.T) {
	f := newAWSFixture(t, vpcAddon("vpc", "", "10.20.0.0/16"))
	f.mustPass(t)
	setConditions(t, f.cps["a"].Client, ackVPC, "net", "vpc", cond("ACK.Terminal", "True", "", "InvalidVpcRange: the CIDR is too large"))
	res := f.pass(t)
	e := result(res, "a", "net")
	if e.Action != ActionFailed || !errors.Is(e.Err, ErrObjectFailed) || !strings.Contains(e.Err.Error(), "VPC/net/vpc: ACK.Terminal=True: InvalidVpcRange") {
		t.Fatalf("action %s err %v, want failed naming the VPC\n%s", e.Action, e.Err, describe(res))
	}
	rows, errs := f.r.Status(context.Background(), f.r.Platform().Clusters)
	if len(errs) > 0 || len(rows) != 1 || rows[0].Ready != "False" || !strings.Contains(rows[0].Message, "InvalidVpcRange") {
		t.Errorf("status %+v %v, want not ready with the Terminal message", rows, errs)
	}
}

func TestLastPhaseTimesOut(t *testing.T) {
	f := newAWSFixture(t, vpcAddon("vpc", "", "10.20.0.0/16"))
	res := f.mustPass(t)
	if e := result(res, "a", "net"); e.Ready || e.Err != nil {
		t.Fatalf("ready %v err %v on the first pass", e.Ready, e.Err)
	}
	f.now = f.now.Add(time.Minute)
	if res := f.mustPass(t); result(res, "a", "net").Err != nil {
		t.Fatalf("failed within the readiness timeout\n%s", describe(res))
	}
	// Past the namespace template's readinessTimeout of 2m.
	f.now = f.now.Add(10 * time.Minute)
	res = f.pass(t)
	e := result(res, "a", "net")
	if e.Action != ActionFailed || !errors.Is(e.Err, ErrNotReady) || !strings.Contains(e.Err.Error(), "VPC/net/vpc (no status conditions reported yet") {
		t.Fatalf("action %s err %v, want failed naming the waiting VPC\n%s", e.Action, e.Err, describe(res))
	}
	rec := f.record(t, "net")
	if c := rec.conditionOf(ConditionFailed); c.Status != metav1.ConditionTrue || c.Reason != ReasonReadinessTimeout || !strings.Contains(c.Message, "VPC/net/vpc") {
		t.Errorf("record Failed %s %s %q, want True %s naming the VPC", c.Status, c.Reason, c.Message, ReasonReadinessTimeout)
	}
	t.Run("it recovers when the object becomes ready", func(t *testing.T) {
		setConditions(t, f.cps["a"].Client, ackVPC, "net", "vpc", cond("ACK.ResourceSynced", "True", "", ""))
		res := f.mustPass(t)
		if e := result(res, "a", "net"); !e.Ready {
			t.Errorf("not ready: %q\n%s", e.Message, describe(res))
		}
		if c := f.record(t, "net").conditionOf(ConditionFailed); c.Status != metav1.ConditionFalse {
			t.Errorf("record Failed %s %q after recovering", c.Status, c.Message)
		}
	})
}

func TestReadinessIsReadAgainWhenStatusChanges(t *testing.T) {
	f := newAWSFixture(t, vpcAddon("vpc", "", "10.20.0.0/16"))
	statusEvents := make(chan StatusChange, 64)
	f.r.OnDrift = func(Drift) {}
	f.r.OnStatusChange = func(c StatusChange) { statusEvents <- c }
	defer f.r.StopWatching()
	f.mustPass(t)
	setConditions(t, f.cps["a"].Client, ackVPC, "net", "vpc", cond("ACK.ResourceSynced", "True", "", ""))
	// Once the watch has listed every kind the environment uses, a pass
	// leaves it known to be clean, and later passes do not read it.
	waitWatchSynced(t, f, "net")
	if res := f.mustPass(t); !result(res, "a", "net").Ready {
		t.Fatalf("not ready\n%s", describe(res))
	}
	if !f.r.isClean("a", "net", f.record(t, "net").Digest) {
		t.Fatal("the environment is not clean after a watched pass")
	}
	for len(statusEvents) > 0 {
		<-statusEvents
	}

	setConditions(t, f.cps["a"].Client, ackVPC, "net", "vpc", cond("ACK.ResourceSynced", "False", "", "VPC is being deleted in AWS"))
	select {
	case c := <-statusEvents:
		if c.Cluster != "a" || c.Environment != "net" || c.Object != "VPC/net/vpc" {
			t.Errorf("status change %+v, want VPC/net/vpc of net on a", c)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no status change reported")
	}
	res := f.mustPass(t)
	if e := result(res, "a", "net"); e.Ready || !strings.Contains(e.Message, "VPC is being deleted in AWS") {
		t.Errorf("ready %v (%q) after the VPC broke\n%s", e.Ready, e.Message, describe(res))
	}
	rows, _ := f.r.Status(context.Background(), f.r.Platform().Clusters)
	if len(rows) != 1 || rows[0].Ready != "False" || !strings.Contains(rows[0].Message, "VPC is being deleted in AWS") {
		t.Errorf("status %+v, want not ready", rows)
	}
}

// waitWatchSynced waits until the drift watch has listed every kind of env.
func waitWatchSynced(t *testing.T, f *fixture, env string) {
	t.Helper()
	cl, err := f.r.ClusterFor(context.Background(), f.r.Platform().Clusters[0])
	if err != nil {
		t.Fatal(err)
	}
	rec := f.record(t, env)
	err = wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		synced := f.r.watcher().syncedKinds("a")
		for _, o := range rec.Objects {
			m, err := cl.Mapper.RESTMapping(o.GVK().GroupKind(), o.Version)
			if err != nil || !synced[m.Resource] {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatal("the drift watch never synced")
	}
}

func TestFailedPassReportsWhatItApplied(t *testing.T) {
	// The second VPC is refused by the CRD's schema, after the others were
	// created.
	f := newAWSFixture(t, vpcAddon("vpc", "", "10.20.0.0/16")+"---\n"+configMap("settings", "x", "")+"---\n"+
		"apiVersion: ec2.services.k8s.aws/v1alpha1\nkind: VPC\nmetadata: {name: broken}\nspec: {cidrBlocks: not-a-list}\n")
	res := f.pass(t)
	e := result(res, "a", "net")
	if e.Action != ActionFailed {
		t.Fatalf("action %s, want failed\n%s", e.Action, describe(res))
	}
	for _, want := range []string{"Namespace/net created", "VPC/net/vpc created", "ConfigMap/net/settings created"} {
		if !strings.Contains(strings.Join(e.Changed, "\n"), want) {
			t.Errorf("changed %q does not list %q", e.Changed, want)
		}
	}
	if e.Applied != len(e.Changed) || e.Applied < 3 {
		t.Errorf("applied %d for %d changed objects", e.Applied, len(e.Changed))
	}
	rec := f.record(t, "net")
	if strings.Join(rec.Changed, "\n") != strings.Join(e.Changed, "\n") || !strings.Contains(rec.LastError, "VPC/net/broken") {
		t.Errorf("record changed %q lastError %q, want %q and the broken VPC", rec.Changed, rec.LastError, e.Changed)
	}
	rows, _ := f.r.Status(context.Background(), f.r.Platform().Clusters)
	if len(rows) != 1 || len(rows[0].Changed) != len(e.Changed) || !strings.Contains(rows[0].Message, "before it failed, the apply made: ") {
		t.Errorf("status %+v does not show what the failed apply made", rows)
	}
}
