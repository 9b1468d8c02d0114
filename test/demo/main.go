// Command demo shows allot's main job on its built-in example: it starts
// local control planes for the example's clusters, reconciles
// examples/requests onto them, shows the status, repairs a change made by
// hand, tears down a deleted environment, takes a pull request from plan
// comment to approval, merge and ready notice, warns that the environment
// expires and extends it with /extend, and stops. `make demo` runs it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/cmd/allot/app"
	"github.com/allot-dev/allot/test/harness"
)

func main() {
	app.SetControllerLogger(os.Stderr)
	// allot renders add-on charts in a child process of its own executable
	// (the hidden helm-sandbox command); the demo runs allot in process, so
	// it is that executable and serves the child's command itself.
	if len(os.Args) > 1 && os.Args[1] == "helm-sandbox" {
		os.Exit(app.Run(app.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Args[1:], os.Getenv))
	}
	seed := flag.String("seed-charts", "", "only put the real vcluster chart the example uses into this chart cache, for allot validate and render, and stop")
	flag.Parse()
	if *seed != "" {
		if err := harness.SeedVClusterChart(*seed); err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// clusters are the example's clusters, plus one that plays the vcluster.
var clusters = []string{"dev-eu-1", "dev-us-1", "mgmt", "ledger-vc (vcluster)"}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	step("starting %d local control planes (kube-apiserver 1.37 + etcd): %s", len(clusters), strings.Join(clusters, ", "))
	cps, err := harness.StartN(len(clusters), harness.Options{})
	if err != nil {
		return err
	}
	defer func() {
		for _, cp := range cps {
			_ = cp.Stop()
		}
	}()
	byName := map[string]*harness.ControlPlane{}
	for i, name := range clusters {
		byName[name] = cps[i]
		// No kubelet or controllers run here: stand in for them so that
		// Deployments, StatefulSets and Jobs report ready.
		go harness.RunWorkloadStatus(ctx, cps[i].Client, 200*time.Millisecond)
	}
	// The management cluster's AWS controllers are not here either; their
	// CRDs are (the project's cut-down copies), so the ECS stacks can be applied.
	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	crds, err := filepath.Glob(filepath.Join(root, "environments", "testdata", "crds", "*.yaml"))
	if err != nil {
		return err
	}
	if err := harness.InstallCRDFiles(ctx, byName["mgmt"].Client, crds...); err != nil {
		return err
	}
	// allot calls an ACK object ready only once its controller reports
	// ACK.ResourceSynced; stand in for the controllers here too.
	go harness.RunACKStatus(ctx, byName["mgmt"].Client, 200*time.Millisecond)

	repo, err := copyExample()
	if err != nil {
		return err
	}
	defer os.RemoveAll(repo)
	// The example's vclusters use the built-in template's chart, vcluster
	// from https://charts.loft.sh; the demo renders the real one offline
	// from the Go module test/tools/vcluster pins.
	charts, err := os.MkdirTemp("", "allot-demo-charts-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(charts)
	if err := harness.SeedVClusterChart(charts); err != nil {
		return err
	}

	// The identity provider: a real SCIM 2.0 server in place of the
	// example's https://idp.acme.example, with the example's people in it.
	step("starting a SCIM 2.0 server (scimmy) as the identity provider, with the example's users")
	scimServer, err := harness.StartSCIMServer(harness.SCIMServerOptions{})
	if err != nil {
		return err
	}
	defer scimServer.Close()
	for _, email := range []string{"jane.doe@acme.example", "bob.lee@acme.example", "dana.kim@acme.example", "omar.haddad@acme.example", "li.wei@acme.example", "sam.ortiz@acme.example"} {
		if _, err := scimServer.CreateUser(ctx, email, email); err != nil {
			return err
		}
	}
	platform := filepath.Join(repo, "allot.yaml")
	data, err := os.ReadFile(platform)
	if err != nil {
		return err
	}
	data = []byte(strings.Replace(string(data), "https://idp.acme.example/scim/v2", scimServer.URL(), 1))
	if err := os.WriteFile(platform, data, 0o644); err != nil {
		return err
	}
	os.Setenv("ALLOT_SCIM_TOKEN", scimServer.Token())
	showGroups := func() {
		groups, err := listSCIMGroups(ctx, scimServer.URL(), scimServer.Token())
		if err != nil {
			fmt.Println("list SCIM groups:", err)
			return
		}
		fmt.Println("SCIM groups:")
		for _, g := range groups {
			fmt.Println("  " + g)
		}
	}
	base := []string{"--repo", repo, "--chart-cache", charts, "--use-kubeconfig-server"}
	for _, name := range clusters[:3] {
		base = append(base, "--kubeconfig", name+"="+byName[name].Kubeconfig)
	}

	step("allot reconcile --once: the first pass creates every environment")
	allot(append([]string{"reconcile", "--once"}, base...)...)

	step("the vcluster comes up and writes its kubeconfig to Secret vc-ledger-vc, as vcluster's syncer does; the next pass imports it")
	// No pod runs here, so a control plane plays the vcluster, and the
	// Secret is written in the syncer's format, with the address of that
	// control plane as exportKubeConfig.server.
	vcluster := byName["ledger-vc (vcluster)"]
	secret, err := harness.VClusterKubeconfigSecret(vcluster, "ledger-vc", "ledger-vc", vcluster.Config.Host)
	if err != nil {
		return err
	}
	if err := byName["dev-us-1"].Client.Create(ctx, secret); err != nil {
		return err
	}
	allot(append([]string{"reconcile", "--once"}, base...)...)

	step("allot status, and the groups allot keeps in the identity provider")
	allot(append([]string{"status"}, base...)...)
	showGroups()

	step("someone raises checkout-dev's pod quota by hand to 500")
	dev := byName["dev-eu-1"].Client
	var quota corev1.ResourceQuota
	if err := dev.Get(ctx, client.ObjectKey{Namespace: "checkout-dev", Name: "quota"}, &quota); err != nil {
		return err
	}
	quota.Spec.Hard[corev1.ResourcePods] = resource.MustParse("500")
	if err := dev.Update(ctx, &quota, client.FieldOwner("kubectl-edit")); err != nil {
		return err
	}
	step("allot plan shows the drift; allot reconcile repairs it")
	allot(append([]string{"plan"}, base...)...)
	allot(append([]string{"reconcile", "--once"}, base...)...)
	if err := dev.Get(ctx, client.ObjectKey{Namespace: "checkout-dev", Name: "quota"}, &quota); err != nil {
		return err
	}
	fmt.Printf("checkout-dev quota pods is %s again\n", quota.Spec.Hard.Pods())

	showReplicas := func() error {
		var list appsv1.DeploymentList
		if err := dev.List(ctx, &list, client.InNamespace("search-sandbox")); err != nil {
			return err
		}
		for _, d := range list.Items {
			fmt.Printf("search-sandbox Deployment %s: %d replicas\n", d.Name, *d.Spec.Replicas)
		}
		return nil
	}
	step("search-sandbox sleeps on weeknights (weekdays 20:00-08:00, Europe/Berlin); allot sleep puts it to sleep now, without a change in git")
	allot(append([]string{"sleep", "search-sandbox"}, base...)...)
	if err := showReplicas(); err != nil {
		return err
	}
	allot(append([]string{"status"}, base...)...)
	step("allot wake --for 2h wakes it early (as /wake on its pull request would); the replicas come back from the request")
	allot(append([]string{"wake", "search-sandbox", "--for", "2h"}, base...)...)
	if err := showReplicas(); err != nil {
		return err
	}

	step("search-sandbox's request is deleted from the repository; the next pass tears it down")
	if err := os.Remove(filepath.Join(repo, "environments", "search", "search-sandbox.yaml")); err != nil {
		return err
	}
	allot(append([]string{"reconcile", "--once"}, base...)...)
	allot(append([]string{"status"}, base...)...)
	showGroups()

	kubeconfigs := map[string]string{}
	for _, name := range clusters[:3] {
		kubeconfigs[name] = byName[name].Kubeconfig
	}
	if err := pullRequest(ctx, repo, charts, kubeconfigs); err != nil {
		return err
	}
	showGroups()
	step("stopping the control planes, the SCIM server, git and the GitHub API")
	return nil
}

func step(format string, args ...any) {
	fmt.Printf("\n==> "+format+"\n", args...)
}

// allot runs an allot command in this process and prints what it prints.
func allot(args ...string) {
	shown := []string{}
	for i := 0; i < len(args); i++ {
		if args[i] == "--kubeconfig" || args[i] == "--chart-cache" || args[i] == "--repo" {
			i++
			continue
		}
		shown = append(shown, args[i])
	}
	fmt.Printf("$ allot %s\n", strings.Join(shown, " "))
	code := app.Run(app.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, args, os.Getenv)
	if code != 0 {
		fmt.Printf("(exit %d)\n", code)
	}
}

// copyExample copies examples/requests to a folder the demo may change.
func copyExample() (string, error) {
	root, err := harness.RepoRoot()
	if err != nil {
		return "", err
	}
	src := filepath.Join(root, "examples", "requests")
	dst, err := os.MkdirTemp("", "allot-demo-")
	if err != nil {
		return "", err
	}
	return dst, filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}

// listSCIMGroups lists the groups of a SCIM server with their members'
// user names, as "name: a, b".
func listSCIMGroups(ctx context.Context, base, token string) ([]string, error) {
	get := func(path string, out any) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out)
	}
	var groups struct {
		Resources []struct {
			DisplayName string `json:"displayName"`
			Members     []struct {
				Value string `json:"value"`
			} `json:"members"`
		} `json:"Resources"`
	}
	if err := get("/Groups?count=100", &groups); err != nil {
		return nil, err
	}
	var out []string
	for _, g := range groups.Resources {
		var names []string
		for _, m := range g.Members {
			var u struct {
				UserName string `json:"userName"`
			}
			if err := get("/Users/"+m.Value, &u); err != nil {
				return nil, err
			}
			names = append(names, u.UserName)
		}
		sort.Strings(names)
		out = append(out, g.DisplayName+": "+strings.Join(names, ", "))
	}
	sort.Strings(out)
	return out, nil
}
