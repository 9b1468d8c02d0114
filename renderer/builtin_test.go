package renderer

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"
)

// chartRepository serves one chart as an HTTPS chart repository on loopback
// and returns an HTTP client that reaches it whatever host a URL names, so
// that the built-in vcluster template's https://charts.loft.sh resolves to it.
func chartRepository(t *testing.T, chartDir, name, version string) (*http.Client, *atomic.Int64) {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	ch.Metadata.Name, ch.Metadata.Version = name, version
	dir := t.TempDir()
	archive, err := chartutil.Save(ch, dir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		switch r.URL.Path {
		case "/index.yaml":
			idx := repo.NewIndexFile()
			if err := idx.MustAdd(ch.Metadata, filepath.Base(archive), "https://"+r.Host, "sha256:"+fmt.Sprintf("%x", sha256.Sum256(data))); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			out, _ := yaml.Marshal(idx)
			_, _ = w.Write(out)
		case "/" + filepath.Base(archive):
			_, _ = w.Write(data)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	addr := srv.Listener.Addr().String()
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		// The test certificate is issued for example.com.
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "example.com"},
	}}, &requests
}

// TestBuiltinVclusterTemplate renders the built-in vcluster template, whose
// chart comes from a remote repository, against a local stand-in of that
// repository; the chart is fetched once and then served from the cache.
func TestBuiltinVclusterTemplate(t *testing.T) {
	repoDir := t.TempDir()
	platform, err := os.ReadFile(filepath.Join(examplesDir(), "allot.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	env, err := os.ReadFile(filepath.Join(examplesDir(), "environments", "payments", "ledger-vc.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for rel, data := range map[string][]byte{"allot.yaml": platform, "environments/payments/ledger-vc.yaml": env} {
		p := filepath.Join(repoDir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := newRenderer(t, repoDir)
	if !r.Repo.Templates["vcluster"].Builtin {
		t.Fatal("the built-in vcluster template is not in use")
	}
	client, requests := chartRepository(t, filepath.Join(examplesDir(), "templates", "vcluster", "chart"), "vcluster", "0.26.0")
	r.Helm.HTTP = client

	b := renderOne(t, r, "ledger-vc")
	fetched := requests.Load()
	if fetched == 0 {
		t.Fatal("the chart repository was never asked")
	}
	golden(t, "builtin_dev-us-1_ledger-vc.yaml", encode(t, b))
	if b.Import == nil || b.Import.Bundle.Count() != 1 {
		t.Fatalf("import = %+v, want one object inside", b.Import)
	}
	var found bool
	for _, o := range b.Objects[PhaseInstall] {
		if o.GetKind() == "StatefulSet" && o.GetName() == "ledger-vc" {
			args := fmt.Sprint(o.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"])
			found = strings.Contains(args, "--out-kube-config-secret=vc-ledger-vc")
		}
	}
	if !found {
		t.Error("the vcluster StatefulSet does not write its kubeconfig to vc-ledger-vc")
	}

	again := renderOne(t, r, "ledger-vc")
	if requests.Load() != fetched {
		t.Errorf("a second render asked the repository again (%d requests, then %d)", fetched, requests.Load())
	}
	if again.Digest != b.Digest {
		t.Errorf("digest changed between renders: %s, then %s", b.Digest, again.Digest)
	}
}
