package harness

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/allot-dev/allot/renderer/sources"
)

// VCluster is the vcluster release test/tools/vcluster/go.mod pins: the real
// chart from its Go module, and vcluster's own config check built from it.
type VCluster struct {
	// Version is the release, for example 0.36.1: the chart version the
	// built-in vcluster template names.
	Version string
	// ChartDir is the module's chart/ folder in the Go module cache.
	ChartDir string
	// Checker is the vcluster-config program (test/tools/vcluster).
	Checker string
}

// VClusterRelease runs test/tools/vcluster.sh, which downloads the module
// through the Go module proxy and builds the checker the first time, and
// returns what it made ready.
func VClusterRelease() (*VCluster, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(root, "test", "tools", "vcluster.sh"))
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("test/tools/vcluster.sh: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	v := &VCluster{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		key, value, _ := strings.Cut(sc.Text(), "=")
		switch key {
		case "version":
			v.Version = value
		case "chart":
			v.ChartDir = value
		case "checker":
			v.Checker = value
		}
	}
	if v.Version == "" || v.ChartDir == "" || v.Checker == "" {
		return nil, fmt.Errorf("test/tools/vcluster.sh printed %q, not version, chart and checker", out)
	}
	return v, nil
}

// ChartArchive packages the module's chart as the release's chart archive.
// vcluster's release pipeline does the same (`helm package --version`): the
// chart folder in git says version 0.0.1, and the release stamps its own
// version, which the chart also uses as the syncer's image tag.
func (v *VCluster) ChartArchive() ([]byte, error) {
	ch, err := loader.LoadDir(v.ChartDir)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", v.ChartDir, err)
	}
	ch.Metadata.Version = v.Version
	dir, err := os.MkdirTemp("", "vcluster-chart-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	name, err := chartutil.Save(ch, dir)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(name)
}

// CheckConfig checks a vcluster config Secret (vc-config-<name>), or the
// values it holds, with vcluster's own config parser, and returns its
// complaint as the error.
func (v *VCluster) CheckConfig(secretOrValues []byte) error {
	var stderr bytes.Buffer
	cmd := exec.Command(v.Checker)
	cmd.Stdin = bytes.NewReader(secretOrValues)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && stderr.Len() > 0 {
			return errors.New(strings.TrimSpace(stderr.String()))
		}
		return err
	}
	return nil
}

// VClusterKubeconfigSecret returns the Secret a vcluster's syncer writes on
// its host, vc-<name> in the vcluster's namespace, for a control plane that
// plays the vcluster: what vcluster 0.36's kubeconfig.WriteKubeConfig
// writes. Key config holds the kubeconfig (clientcmd format, the admin.conf
// the vcluster generates, kubeadm's names, with the certificate authority
// and the client certificate inline and the server exportKubeConfig.server);
// certificate-authority, client-certificate, client-key and token hold the
// same credentials again.
func VClusterKubeconfigSecret(vcluster *ControlPlane, name, namespace, server string) (*corev1.Secret, error) {
	cfg := vcluster.Config
	if len(cfg.CertData) == 0 || len(cfg.KeyData) == 0 {
		return nil, errors.New("the control plane's config has no inline client certificate")
	}
	const cluster, user, context = "kubernetes", "kubernetes-super-admin", "kubernetes-super-admin@kubernetes"
	kc := clientcmdapi.NewConfig()
	kc.Clusters[cluster] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	kc.Contexts[context] = &clientcmdapi.Context{Cluster: cluster, AuthInfo: user}
	kc.CurrentContext = context
	out, err := clientcmd.Write(*kc)
	if err != nil {
		return nil, err
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: "vc-" + name, Namespace: namespace,
			Labels: map[string]string{"app": "vcluster", "vcluster-name": name},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			"config":                out,
			"certificate-authority": cfg.CAData,
			"client-certificate":    cfg.CertData,
			"client-key":            cfg.KeyData,
			"token":                 []byte(""),
		},
	}, nil
}

// VClusterChartRepository is the chart repository the built-in vcluster
// template names.
const VClusterChartRepository = "https://charts.loft.sh"

// SeedVClusterChart puts the real vcluster chart into the chart cache at
// dir as the built-in template's chart (vcluster from
// VClusterChartRepository at the pinned version), so that allot renders
// it offline, as it would after downloading it once.
func SeedVClusterChart(dir string) error {
	vc, err := VClusterRelease()
	if err != nil {
		return err
	}
	archive, err := vc.ChartArchive()
	if err != nil {
		return err
	}
	h := &sources.Helm{CacheDir: dir}
	return h.Seed(sources.Chart{Repository: VClusterChartRepository, Name: "vcluster", Version: vc.Version}, archive)
}
