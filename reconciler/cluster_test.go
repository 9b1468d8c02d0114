package reconciler

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/allot-dev/allot/internal/testfs"
	"github.com/allot-dev/allot/schemas"
	"github.com/allot-dev/allot/test/harness"
)

func TestConnectorRefusesKubeconfigInTheRepository(t *testing.T) {
	repo := t.TempDir()
	file := filepath.Join(repo, "addons", "kc.yaml")
	testfs.WriteFile(t, file, "apiVersion: v1\nkind: Config\n")
	// A link elsewhere that resolves into the repository counts too.
	link := filepath.Join(t.TempDir(), "kc.yaml")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	c := &Connector{RepositoryDirs: []string{repo}}
	for _, f := range []string{file, link} {
		_, err := c.Config(context.Background(), schemas.Cluster{Name: "dev", Kubeconfig: &schemas.KubeconfigSource{File: f}})
		if err == nil || !strings.Contains(err.Error(), "inside the requests repository") {
			t.Errorf("%s: error %v, want a refusal", f, err)
		}
	}
	outside := filepath.Join(t.TempDir(), "kc.yaml")
	if err := os.WriteFile(outside, []byte("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: https://127.0.0.1:1}}]\nusers: [{name: u, user: {token: x}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Config(context.Background(), schemas.Cluster{Name: "dev", Kubeconfig: &schemas.KubeconfigSource{File: outside}}); err != nil {
		t.Errorf("a kubeconfig outside the repository: %v", err)
	}
}

// TestConnectorKubeconfigs checks how a cluster's kubeconfig is found and
// which context is used, each rule against a real control plane: the
// connection must reach it (a request answered), or the error must say
// what to do.
func TestConnectorKubeconfigs(t *testing.T) {
	cp, err := harness.Start(harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	// both has the contexts "up" (current) and "down"; downFirst the same,
	// with "down" current.
	both, downFirst := filepath.Join(t.TempDir(), "both.yaml"), filepath.Join(t.TempDir(), "down.yaml")
	if err := cp.WriteKubeconfig(both, "up"); err != nil {
		t.Fatal(err)
	}
	if err := cp.WriteKubeconfig(downFirst, "down"); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".kube"), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(both)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".kube", "config"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	reaches := func(t *testing.T, c *Connector, cl schemas.Cluster) {
		t.Helper()
		cfg, err := c.Config(context.Background(), cl)
		if err != nil {
			t.Fatalf("Config: %v", err)
		}
		conn, err := NewCluster(cl.Name, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var nss corev1.NamespaceList
		if err := conn.Client.List(context.Background(), &nss); err != nil {
			t.Fatalf("the connection does not reach the control plane: %v", err)
		}
	}
	fails := func(t *testing.T, c *Connector, cl schemas.Cluster, want ...string) {
		t.Helper()
		_, err := c.Config(context.Background(), cl)
		if err == nil {
			t.Fatalf("Config succeeded, want an error containing %q", want)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q lacks %q", err, w)
			}
		}
	}
	// down checks that the connection goes to the "down" context.
	down := func(t *testing.T, c *Connector, cl schemas.Cluster) {
		t.Helper()
		cfg, err := c.Config(context.Background(), cl)
		if err != nil {
			t.Fatalf("Config: %v", err)
		}
		if cfg.Host != "https://127.0.0.1:1" {
			t.Errorf("Config reaches %s, want the context \"down\" (https://127.0.0.1:1)", cfg.Host)
		}
	}
	dev := func(kc schemas.KubeconfigSource) schemas.Cluster {
		return schemas.Cluster{Name: "dev", Kubeconfig: &kc}
	}

	t.Run("reads an absolute kubeconfig.file with its context", func(t *testing.T) {
		reaches(t, &Connector{}, dev(schemas.KubeconfigSource{File: both, Context: "up"}))
	})
	t.Run("expands ~/ in kubeconfig.file to the home folder", func(t *testing.T) {
		reaches(t, &Connector{Getenv: env(map[string]string{"HOME": home})}, dev(schemas.KubeconfigSource{File: "~/.kube/config"}))
	})
	t.Run("refuses a relative kubeconfig.file, saying why and how to fix it", func(t *testing.T) {
		// Even when the file exists relative to the folder allot runs in.
		t.Chdir(filepath.Dir(both))
		fails(t, &Connector{}, dev(schemas.KubeconfigSource{File: filepath.Base(both)}),
			"cluster dev: kubeconfig.file is a relative path", "pull request", "absolute path", "--kubeconfig NAME=FILE")
	})
	t.Run("lists the contexts when kubeconfig.context does not exist", func(t *testing.T) {
		fails(t, &Connector{}, dev(schemas.KubeconfigSource{File: both, Context: "prod"}),
			`context "prod" does not exist; it has down, up`, "kubeconfig.context")
	})
	t.Run("without file or secretRef reads $KUBECONFIG, merged as kubectl does", func(t *testing.T) {
		// The first file's current context wins; a missing entry is skipped.
		list := strings.Join([]string{filepath.Join(home, "missing"), downFirst, both}, string(filepath.ListSeparator))
		c := &Connector{Getenv: env(map[string]string{"KUBECONFIG": list, "HOME": home})}
		down(t, c, dev(schemas.KubeconfigSource{}))
		reaches(t, c, dev(schemas.KubeconfigSource{Context: "up"}))
		fails(t, c, dev(schemas.KubeconfigSource{Context: "prod"}), `context "prod" does not exist; it has down, up`, "$KUBECONFIG")
	})
	t.Run("without file, secretRef or $KUBECONFIG reads ~/.kube/config", func(t *testing.T) {
		reaches(t, &Connector{Getenv: env(map[string]string{"HOME": home})}, dev(schemas.KubeconfigSource{}))
		fails(t, &Connector{Getenv: env(map[string]string{"HOME": t.TempDir()})}, dev(schemas.KubeconfigSource{}),
			"$KUBECONFIG is unset and", ".kube/config does not exist", "--kubeconfig dev=FILE")
	})
	t.Run("refuses $KUBECONFIG inside the requests repository", func(t *testing.T) {
		repo := filepath.Dir(both)
		c := &Connector{RepositoryDirs: []string{repo}, Getenv: env(map[string]string{"KUBECONFIG": both})}
		fails(t, c, dev(schemas.KubeconfigSource{}), "inside the requests repository")
	})
	t.Run("--kubeconfig uses the file's current context, --context another", func(t *testing.T) {
		cl := dev(schemas.KubeconfigSource{File: both, Context: "up"})
		down(t, &Connector{Kubeconfigs: map[string]string{"dev": downFirst}}, cl)
		reaches(t, &Connector{Kubeconfigs: map[string]string{"dev": both}}, dev(schemas.KubeconfigSource{File: downFirst}))
		reaches(t, &Connector{Kubeconfigs: map[string]string{"dev": both}, Contexts: map[string]string{"dev": "up"}}, cl)
		fails(t, &Connector{Kubeconfigs: map[string]string{"dev": both}, Contexts: map[string]string{"dev": "nope"}}, cl,
			`context "nope" does not exist; it has down, up`, "--kubeconfig dev="+both)
	})
	t.Run("--context replaces kubeconfig.context", func(t *testing.T) {
		c := &Connector{Contexts: map[string]string{"dev": "up"}}
		reaches(t, c, dev(schemas.KubeconfigSource{File: both, Context: "down"}))
		c = &Connector{Contexts: map[string]string{"dev": "up"}, Getenv: env(map[string]string{"KUBECONFIG": both})}
		reaches(t, c, dev(schemas.KubeconfigSource{Context: "down"}))
	})
}
