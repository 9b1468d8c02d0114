package environments_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/allot-dev/allot/environments"
	"github.com/allot-dev/allot/renderer"
	"github.com/allot-dev/allot/renderer/sources"
	"github.com/allot-dev/allot/schemas/load"
)

// ecsRepo is a requests repository that renders every shape of the built-in
// ecs template: both providers, both networks, the provider chosen by the
// request, by the cluster's label and by the template's option, and every
// optional field the charts can write (the execution role comes from
// allot.yaml's overrides, as the README tells platforms to do).
const ecsRepo = "testdata/ecs"

// renderECS renders every request of ecsRepo, keyed by environment name.
func renderECS(t testing.TB) map[string]*renderer.Bundle {
	t.Helper()
	out, err := renderECSWith(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// renderECSWith renders ecsRepo after change has changed what was loaded,
// and returns the first render error.
func renderECSWith(t testing.TB, change func(*load.Repository)) (map[string]*renderer.Bundle, error) {
	t.Helper()
	repo, err := load.Load(ecsRepo, load.Options{Builtin: environments.Templates()})
	if err != nil {
		t.Fatal(err)
	}
	if len(repo.Problems) > 0 {
		t.Fatalf("loading %s: %v", ecsRepo, repo.Problems)
	}
	if !repo.Templates["ecs"].Builtin {
		t.Fatal("the built-in ecs template is not in use")
	}
	// A ProviderConfig other than Crossplane's default, as a platform with
	// several AWS accounts names one.
	repo.Templates["ecs"].Template.Spec.Options["providerConfig"] = "aws-dev"
	if change != nil {
		change(repo)
	}
	root, err := os.OpenRoot(ecsRepo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = root.Close() })
	r := &renderer.Renderer{Repo: repo, RepoFS: root.FS(), Builtin: environments.Templates(), Helm: &sources.Helm{CacheDir: t.TempDir()}}
	targets, errs := r.Targets()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	out := map[string]*renderer.Bundle{}
	for _, res := range r.RenderAll(context.Background(), targets) {
		if res.Err != nil {
			return nil, res.Err
		}
		out[res.Bundle.Environment] = res.Bundle
	}
	return out, nil
}

// objects returns a bundle's objects in apply order.
func objects(b *renderer.Bundle) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, p := range renderer.Phases() {
		objs, err := renderer.DecodeAll(b.Objects[p])
		if err != nil {
			panic(err) // a bundle's objects are JSON it wrote
		}
		out = append(out, objs...)
	}
	return out
}

// kinds returns the sorted Kind.group of every object of a bundle but its
// Namespace.
func kinds(b *renderer.Bundle) []string {
	seen := map[string]bool{}
	for _, o := range objects(b) {
		if o.GetKind() != "Namespace" {
			seen[o.GetKind()+"."+o.GroupVersionKind().Group] = true
		}
	}
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func find(t *testing.T, b *renderer.Bundle, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objects(b) {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("%s has no %s %s", b.Environment, kind, name)
	return nil
}

func TestECSStack(t *testing.T) {
	bundles := renderECS(t)
	ackPublic := []string{
		"Cluster.ecs.services.k8s.aws", "InternetGateway.ec2.services.k8s.aws", "RouteTable.ec2.services.k8s.aws",
		"SecurityGroup.ec2.services.k8s.aws", "Service.ecs.services.k8s.aws", "Subnet.ec2.services.k8s.aws",
		"TaskDefinition.ecs.services.k8s.aws", "VPC.ec2.services.k8s.aws",
	}
	ackPrivate := append([]string{"ElasticIPAddress.ec2.services.k8s.aws", "NATGateway.ec2.services.k8s.aws"}, ackPublic...)
	xpPublic := []string{
		"Cluster.ecs.aws.upbound.io", "InternetGateway.ec2.aws.upbound.io", "Route.ec2.aws.upbound.io",
		"RouteTable.ec2.aws.upbound.io", "RouteTableAssociation.ec2.aws.upbound.io", "SecurityGroup.ec2.aws.upbound.io",
		"SecurityGroupEgressRule.ec2.aws.upbound.io", "SecurityGroupIngressRule.ec2.aws.upbound.io",
		"Service.ecs.aws.upbound.io", "Subnet.ec2.aws.upbound.io", "TaskDefinition.ecs.aws.upbound.io", "VPC.ec2.aws.upbound.io",
	}
	xpPrivate := append([]string{"EIP.ec2.aws.upbound.io", "NATGateway.ec2.aws.upbound.io"}, xpPublic...)
	for _, l := range [][]string{ackPrivate, xpPrivate} {
		sort.Strings(l)
	}

	for _, tc := range []struct{ name, env string }{
		{"the template's option picks ACK", "web-ack"},
		{"a request picks ACK on a Crossplane cluster", "api-ack-private"},
		{"the cluster's label picks Crossplane", "web-xp"},
		{"a request picks Crossplane", "api-xp-private"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bundles[tc.env]
			if b == nil {
				t.Fatalf("%s was not rendered", tc.env)
			}
			want := map[string][]string{"web-ack": ackPublic, "api-ack-private": ackPrivate, "web-xp": xpPublic, "api-xp-private": xpPrivate}[tc.env]
			if diff := cmp.Diff(want, kinds(b)); diff != "" {
				t.Errorf("kinds (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("public tasks get a public IP in the public subnets", func(t *testing.T) {
		svc := find(t, bundles["web-ack"], "Service", "web-ack")
		vpc, _, _ := unstructured.NestedMap(svc.Object, "spec", "networkConfiguration", "awsVPCConfiguration")
		want := map[string]any{
			"assignPublicIP":    "ENABLED",
			"subnetRefs":        []any{ref("web-ack-public-a"), ref("web-ack-public-b")},
			"securityGroupRefs": []any{ref("web-ack")},
		}
		if diff := cmp.Diff(want, vpc); diff != "" {
			t.Errorf("awsVPCConfiguration (-want +got):\n%s", diff)
		}
		xp := find(t, bundles["web-xp"], "Service", "web-xp")
		nc, _, _ := unstructured.NestedSlice(xp.Object, "spec", "forProvider", "networkConfiguration")
		if got := nc[0].(map[string]any)["assignPublicIp"]; got != true {
			t.Errorf("Crossplane assignPublicIp = %v, want true", got)
		}
	})
	t.Run("private tasks run behind a NAT gateway without a public IP", func(t *testing.T) {
		b := bundles["api-ack-private"]
		svc := find(t, b, "Service", "api-ack-private")
		vpc, _, _ := unstructured.NestedMap(svc.Object, "spec", "networkConfiguration", "awsVPCConfiguration")
		if vpc["assignPublicIP"] != "DISABLED" || !cmp.Equal(vpc["subnetRefs"], []any{ref("api-ack-private-private-a"), ref("api-ack-private-private-b")}) {
			t.Errorf("awsVPCConfiguration = %v", vpc)
		}
		routes, _, _ := unstructured.NestedSlice(find(t, b, "RouteTable", "api-ack-private-private").Object, "spec", "routes")
		if want := []any{map[string]any{"destinationCIDRBlock": "0.0.0.0/0", "natGatewayRef": ref("api-ack-private")}}; !cmp.Equal(want, routes) {
			t.Errorf("private routes = %v, want %v", routes, want)
		}
		nat := find(t, bundles["api-xp-private"], "Route", "api-xp-private-private-default")
		if got, _, _ := unstructured.NestedString(nat.Object, "spec", "forProvider", "natGatewayIdRef", "name"); got != "api-xp-private" {
			t.Errorf("Crossplane private route goes to %q, want the NAT gateway", got)
		}
	})
	t.Run("the security group opens the container port to the request's ranges", func(t *testing.T) {
		sg := find(t, bundles["web-ack"], "SecurityGroup", "web-ack")
		rules, _, _ := unstructured.NestedSlice(sg.Object, "spec", "ingressRules")
		want := []any{map[string]any{"ipProtocol": "tcp", "fromPort": int64(9000), "toPort": int64(9000),
			"ipRanges": []any{map[string]any{"cidrIP": "203.0.113.0/24"}, map[string]any{"cidrIP": "198.51.100.7/32"}}}}
		if diff := cmp.Diff(want, rules); diff != "" {
			t.Errorf("ingressRules (-want +got):\n%s", diff)
		}
		for i, cidr := range []string{"203.0.113.0/24", "198.51.100.7/32"} {
			r := find(t, bundles["web-xp"], "SecurityGroupIngressRule", "web-xp-ingress-"+string(rune('0'+i)))
			fp, _, _ := unstructured.NestedMap(r.Object, "spec", "forProvider")
			if fp["cidrIpv4"] != cidr || fp["fromPort"] != int64(9000) || fp["toPort"] != int64(9000) || fp["ipProtocol"] != "tcp" {
				t.Errorf("ingress rule %d = %v", i, fp)
			}
		}
		// Without ranges in the request, only the VPC itself reaches the port.
		priv := find(t, bundles["api-ack-private"], "SecurityGroup", "api-ack-private")
		rules, _, _ = unstructured.NestedSlice(priv.Object, "spec", "ingressRules")
		if got := rules[0].(map[string]any)["ipRanges"]; !cmp.Equal(got, []any{map[string]any{"cidrIP": "10.41.0.0/16"}}) {
			t.Errorf("default ipRanges = %v", got)
		}
	})
	t.Run("the task definition has the execution role and the registry credentials", func(t *testing.T) {
		td := find(t, bundles["web-ack"], "TaskDefinition", "web-ack")
		if got, _, _ := unstructured.NestedString(td.Object, "spec", "executionRoleARN"); got != "arn:aws:iam::123456789012:role/ecsTaskExecutionRole" {
			t.Errorf("executionRoleARN = %q", got)
		}
		cds, _, _ := unstructured.NestedSlice(td.Object, "spec", "containerDefinitions")
		cred, _, _ := unstructured.NestedString(cds[0].(map[string]any), "repositoryCredentials", "credentialsParameter")
		if !strings.HasPrefix(cred, "arn:aws:secretsmanager:") {
			t.Errorf("credentialsParameter = %q", cred)
		}
		xp := find(t, bundles["web-xp"], "TaskDefinition", "web-xp")
		fp, _, _ := unstructured.NestedMap(xp.Object, "spec", "forProvider")
		if fp["executionRoleArn"] != "arn:aws:iam::123456789012:role/ecsTaskExecutionRole" {
			t.Errorf("executionRoleArn = %v", fp["executionRoleArn"])
		}
		want := `[{"essential":true,"image":"registry.example.com/web/app:1.0","name":"app","portMappings":[{"containerPort":9000,"protocol":"tcp"}],"repositoryCredentials":{"credentialsParameter":"arn:aws:secretsmanager:eu-west-1:123456789012:secret:registry-AbCdEf"}}]`
		if fp["containerDefinitions"] != want {
			t.Errorf("containerDefinitions = %v, want %s", fp["containerDefinitions"], want)
		}
	})
	t.Run("desiredCount 0 is kept", func(t *testing.T) {
		svc := find(t, bundles["web-ack"], "Service", "web-ack")
		if got, found, _ := unstructured.NestedInt64(svc.Object, "spec", "desiredCount"); !found || got != 0 {
			t.Errorf("desiredCount = %d (found %v), want 0", got, found)
		}
	})
	t.Run("ACK objects carry the region, Crossplane objects the ProviderConfig", func(t *testing.T) {
		for _, o := range objects(bundles["web-ack"]) {
			if o.GetKind() != "Namespace" && o.GetAnnotations()["services.k8s.aws/region"] != "eu-central-1" {
				t.Errorf("%s region annotation %v", renderer.ObjectID(o), o.GetAnnotations())
			}
		}
		for _, o := range objects(bundles["web-xp"]) {
			if o.GetKind() == "Namespace" {
				continue
			}
			if pc, _, _ := unstructured.NestedString(o.Object, "spec", "providerConfigRef", "name"); pc != "aws-dev" {
				t.Errorf("%s providerConfigRef %q", renderer.ObjectID(o), pc)
			}
			if region, _, _ := unstructured.NestedString(o.Object, "spec", "forProvider", "region"); region != "eu-west-1" {
				t.Errorf("%s region %q", renderer.ObjectID(o), region)
			}
		}
	})
}

func TestECSSettingsRefused(t *testing.T) {
	for _, tc := range []struct{ name, label, value, want string }{
		{"an unknown provider on the cluster", "allot.dev/ecs-provider", "pulumi", `provider "pulumi" is neither ack nor crossplane; fix values.provider, the cluster's allot.dev/ecs-provider label`},
		{"an unknown network on the cluster", "allot.dev/ecs-network", "dmz", `network "dmz" is neither public nor private`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := renderECSWith(t, func(r *load.Repository) {
				for i := range r.Platform.Platform.Spec.Clusters {
					r.Platform.Platform.Spec.Clusters[i].Labels[tc.label] = tc.value
				}
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("render: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func ref(name string) map[string]any { return map[string]any{"from": map[string]any{"name": name}} }

// crdDir is where the project keeps the trimmed CRDs its tests apply.
var crdDir = filepath.Join("testdata", "crds")
