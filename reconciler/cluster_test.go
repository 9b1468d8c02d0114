package reconciler

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/allot-dev/allot/schemas"
)

func TestConnectorRefusesKubeconfigInTheRepository(t *testing.T) {
	repo := t.TempDir()
	file := filepath.Join(repo, "addons", "kc.yaml")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("apiVersion: v1\nkind: Config\n"), 0o644); err != nil {
		t.Fatal(err)
	}
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
