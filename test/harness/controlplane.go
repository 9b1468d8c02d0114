package harness

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"k8s.io/apimachinery/pkg/api/meta"
)

// ControlPlane is a running kube-apiserver with its etcd.
type ControlPlane struct {
	// Config reaches the API server as a cluster administrator.
	Config *rest.Config
	// Kubeconfig is a kubeconfig file for the same administrator, for kubectl
	// and for code that takes a kubeconfig path.
	Kubeconfig string
	// Client is a controller-runtime client with a dynamic REST mapper.
	Client client.Client
	// Mapper is the client's REST mapper.
	Mapper meta.RESTMapper

	env *envtest.Environment
	dir string
}

// Options tunes Start.
type Options struct {
	// AssetsDir holds kube-apiserver, etcd and kubectl; empty means
	// KUBEBUILDER_ASSETS, then the cache test/tools/build.sh fills.
	AssetsDir string
	// StartTimeout bounds how long the control plane may take to come up.
	StartTimeout time.Duration
}

// Start starts one control plane. Stop it with Stop.
func Start(opts Options) (*ControlPlane, error) {
	dir := opts.AssetsDir
	if dir == "" {
		var err error
		if dir, err = AssetsDir(); err != nil {
			return nil, err
		}
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 90 * time.Second
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory:    dir,
		ControlPlaneStartTimeout: opts.StartTimeout,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start control plane from %s: %w", dir, err)
	}
	cp := &ControlPlane{Config: cfg, env: env}
	if err := cp.connect(); err != nil {
		_ = env.Stop()
		return nil, err
	}
	return cp, nil
}

func (cp *ControlPlane) connect() error {
	httpClient, err := rest.HTTPClientFor(cp.Config)
	if err != nil {
		return err
	}
	cp.Mapper, err = apiutil.NewDynamicRESTMapper(cp.Config, httpClient)
	if err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return err
	}
	cp.Client, err = client.New(cp.Config, client.Options{Mapper: cp.Mapper, Scheme: scheme})
	if err != nil {
		return err
	}
	user, err := cp.env.AddUser(envtest.User{Name: "allot-test-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("add kubeconfig user: %w", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return err
	}
	cp.dir, err = os.MkdirTemp("", "allot-controlplane-")
	if err != nil {
		return err
	}
	cp.Kubeconfig = filepath.Join(cp.dir, "kubeconfig")
	return os.WriteFile(cp.Kubeconfig, kubeconfig, 0o600)
}

// Stop stops the API server and etcd and removes their data.
func (cp *ControlPlane) Stop() error {
	err := cp.env.Stop()
	if cp.dir != "" {
		err = errors.Join(err, os.RemoveAll(cp.dir))
	}
	return err
}

// StartN starts n control planes at once, for fleet tests. If one fails,
// those started are stopped again.
func StartN(n int, opts Options) ([]*ControlPlane, error) {
	cps := make([]*ControlPlane, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cps[i], errs[i] = Start(opts)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, cp := range cps {
			if cp != nil {
				_ = cp.Stop()
			}
		}
		return nil, err
	}
	return cps, nil
}

// AssetsDir finds the control-plane binaries: KUBEBUILDER_ASSETS if set,
// otherwise the folder test/tools/build.sh fills for the versions pinned in
// test/tools. It fails, saying how to build them, when they are missing.
func AssetsDir() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, checkAssets(dir)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	kube, err := requiredVersion(filepath.Join(root, "test/tools/kube/go.mod"), "k8s.io/kubernetes")
	if err != nil {
		return "", err
	}
	etcd, err := requiredVersion(filepath.Join(root, "test/tools/etcd/go.mod"), "go.etcd.io/etcd/server/v3")
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, ".cache", "controlplane", fmt.Sprintf("kube-%s_etcd-%s", kube, etcd))
	return dir, checkAssets(dir)
}

func checkAssets(dir string) error {
	for _, bin := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return fmt.Errorf("control-plane binary %s is missing from %s; build them with `make controlplane` (test/tools/build.sh, about 5 minutes the first time)", bin, dir)
		}
	}
	return nil
}

// RepoRoot walks up from the working directory to allot's go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(data), "module github.com/allot-dev/allot\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find allot's go.mod above the working directory")
		}
		dir = parent
	}
}

// requiredVersion reads the version of module that a go.mod requires.
func requiredVersion(gomod, module string) (string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "require "))
		if len(fields) >= 2 && fields[0] == module {
			return fields[1], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s does not require %s", gomod, module)
}

// UserKubeconfig writes a kubeconfig file for a user of the given name and
// groups, who has only the rights RBAC gives them, and returns its path.
func (cp *ControlPlane) UserKubeconfig(name string, groups []string) (string, error) {
	user, err := cp.env.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		return "", fmt.Errorf("add user %s: %w", name, err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(cp.dir, "kubeconfig-"+name)
	return path, os.WriteFile(path, kubeconfig, 0o600)
}

// WriteKubeconfig writes a kubeconfig to path with two contexts: "up",
// which reaches the control plane as its administrator, and "down", which
// points at an address nothing answers (https://127.0.0.1:1); current is
// its current context. Tests of how a context is chosen tell them apart.
func (cp *ControlPlane) WriteKubeconfig(path, current string) error {
	cc, err := clientcmd.LoadFromFile(cp.Kubeconfig)
	if err != nil {
		return err
	}
	up := cc.Contexts[cc.CurrentContext]
	if up == nil {
		return fmt.Errorf("%s has no current context", cp.Kubeconfig)
	}
	cc.Clusters["nowhere"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1"}
	cc.Contexts = map[string]*clientcmdapi.Context{"up": up, "down": {Cluster: "nowhere", AuthInfo: up.AuthInfo}}
	cc.CurrentContext = current
	return clientcmd.WriteToFile(*cc, path)
}
