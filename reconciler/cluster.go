package reconciler

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/cli-utils/pkg/kstatus/polling/clusterreader"
	"github.com/fluxcd/cli-utils/pkg/kstatus/polling/engine"
	"github.com/fluxcd/pkg/ssa"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/allot-dev/allot/schemas"
)

// FieldManager is the server-side apply field manager of everything allot
// applies.
const FieldManager = "allot"

// Cluster is a connection to one cluster allot manages.
type Cluster struct {
	Name    string
	Config  *rest.Config
	Client  client.Client
	Mapper  meta.RESTMapper
	Manager *ssa.ResourceManager

	mu sync.Mutex
	// mappings remembers Mapper's answers for a pass (see mapping).
	mappings map[schema.GroupVersionKind]*meta.RESTMapping
}

// mapping is Mapper.RESTMapping of gvk, remembered until forgetMappings:
// the dynamic mapper allocates some 7 KB on each lookup, and a pass looks
// up each of its objects. Only mappings found are remembered, so a kind
// whose CRD arrives during a pass is found when it is served.
func (cl *Cluster) mapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	cl.mu.Lock()
	m, ok := cl.mappings[gvk]
	cl.mu.Unlock()
	if ok {
		return m, nil
	}
	m, err := cl.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, err
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.mappings == nil {
		cl.mappings = map[schema.GroupVersionKind]*meta.RESTMapping{}
	}
	cl.mappings[gvk] = m
	return m, nil
}

// forgetMappings makes the next lookups ask Mapper again; each pass starts
// with it, so that a kind that changed scope or went away between passes
// is seen.
func (cl *Cluster) forgetMappings() {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.mappings = nil
}

// NewCluster connects to the cluster cfg reaches, with RequestTimeout per
// request.
func NewCluster(name string, cfg *rest.Config) (*Cluster, error) {
	return newCluster(name, cfg, RequestTimeout)
}

// newCluster connects to the cluster cfg reaches; timeout bounds each
// request but the drift watch's, unless cfg sets its own.
func newCluster(name string, cfg *rest.Config, timeout time.Duration) (*Cluster, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		// allot applies many small objects; client-go's default of 5 QPS
		// would make a fleet pass crawl. The API server's own priority and
		// fairness protects it.
		cfg.QPS, cfg.Burst = 500, 1000
	}
	// Every request but the drift watch's long-running ones has a deadline,
	// so an API server that stops answering stalls a pass for at most
	// timeout per request rather than for as long as it hangs.
	reqCfg := rest.CopyConfig(cfg)
	if reqCfg.Timeout == 0 {
		reqCfg.Timeout = timeout
	}
	httpClient, err := rest.HTTPClientFor(reqCfg)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	c, err := client.New(reqCfg, client.Options{Mapper: mapper, HTTPClient: httpClient})
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	// ssa waits for the namespaces and CRDs it applies first through this
	// poller. Its default reader lists every object of each kind it waits
	// for, so each environment's wait for its namespace read all the
	// cluster's namespaces (at 1,000 environments, 13 GB decoded per pass);
	// the direct reader gets the objects waited for.
	poller := polling.NewStatusPoller(c, mapper, polling.Options{ClusterReaderFactory: engine.ClusterReaderFactoryFunc(clusterreader.NewDirectClusterReader)})
	m := ssa.NewResourceManager(c, poller, ssa.Owner{Field: FieldManager, Group: "allot.dev"})
	m.SetConcurrency(DefaultConcurrency)
	return &Cluster{Name: name, Config: cfg, Client: c, Mapper: mapper, Manager: m}, nil
}

// Connector turns the clusters of allot.yaml into connections.
type Connector struct {
	// Kubeconfigs replaces a cluster's way of being reached by a kubeconfig
	// file, by cluster name (--kubeconfig NAME=FILE), for running against
	// other clusters than allot.yaml names (tests, the demo, CI, a laptop).
	// As with kubectl's --kubeconfig, a relative FILE is relative to the
	// folder allot runs in, and the file's current context is used unless
	// Contexts names one.
	Kubeconfigs map[string]string
	// Contexts picks a kubeconfig context by cluster name, over allot.yaml's
	// kubeconfig.context (--context, for a repository's only cluster).
	Contexts map[string]string
	// Home reads kubeconfig Secrets (kubeconfig.secretRef) in the cluster
	// allot runs in; nil when it runs outside one.
	Home client.Reader
	// InCluster returns the config of the pod allot runs in.
	InCluster func() (*rest.Config, error)
	// InClusterNames are clusters reached with the pod's own credentials
	// whatever allot.yaml says: the cluster an agent runs in.
	InClusterNames []string
	// RepositoryDirs are the working copies of the requests repository. A
	// kubeconfig file that allot.yaml leads to (its kubeconfig.file, or
	// $KUBECONFIG when it names neither file nor Secret) may not lie in
	// one: a pull request could have written it.
	RepositoryDirs []string
	// Getenv reads KUBECONFIG and HOME; nil means os.Getenv.
	Getenv func(string) string
}

// ErrNoConnection says a cluster entry cannot be turned into a connection.
var ErrNoConnection = errors.New("no way to reach the cluster")

// Config returns the rest.Config for a cluster entry.
func (c *Connector) Config(ctx context.Context, cl schemas.Cluster) (*rest.Config, error) {
	kc := cl.Kubeconfig
	if kc == nil {
		kc = &schemas.KubeconfigSource{}
	}
	contextName := kc.Context
	if flag, ok := c.Contexts[cl.Name]; ok {
		contextName = flag
	}
	if file, ok := c.Kubeconfigs[cl.Name]; ok {
		hint := fmt.Sprintf("fix --kubeconfig %s=%s", cl.Name, file)
		return c.kubeconfigFiles(cl.Name, []string{file}, c.Contexts[cl.Name], true, hint)
	}
	switch {
	case cl.InCluster || slices.Contains(c.InClusterNames, cl.Name):
		inCluster := c.InCluster
		if inCluster == nil {
			inCluster = rest.InClusterConfig
		}
		return inCluster()
	case kc.File != "":
		file, err := schemas.ExpandKubeconfigFile(kc.File, c.getenv("HOME"))
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", cl.Name, err)
		}
		if err := c.outsideRepository(cl.Name, "kubeconfig.file "+kc.File, file); err != nil {
			return nil, err
		}
		hint := fmt.Sprintf("fix kubeconfig.file or kubeconfig.context in allot.yaml, or pass --kubeconfig %s=FILE", cl.Name)
		return c.kubeconfigFiles(cl.Name, []string{file}, contextName, true, hint)
	case kc.SecretRef != nil:
		return c.secretConfig(ctx, cl, contextName)
	case cl.Kubeconfig != nil:
		files, from := c.kubectlKubeconfig()
		if len(files) == 0 {
			return nil, fmt.Errorf("cluster %s: kubeconfig names neither file nor secretRef, so allot reads the kubeconfig kubectl would, but %s; set KUBECONFIG, write kubeconfig.file in allot.yaml, or pass --kubeconfig %s=FILE", cl.Name, from, cl.Name)
		}
		for _, f := range files {
			if err := c.outsideRepository(cl.Name, from, f); err != nil {
				return nil, err
			}
		}
		hint := fmt.Sprintf("fix %s or kubeconfig.context in allot.yaml, or pass --kubeconfig %s=FILE", from, cl.Name)
		return c.kubeconfigFiles(cl.Name, files, contextName, false, hint)
	}
	return nil, fmt.Errorf("cluster %s: %w", cl.Name, ErrNoConnection)
}

func (c *Connector) getenv(key string) string {
	if c.Getenv == nil {
		return os.Getenv(key)
	}
	return c.Getenv(key)
}

// kubectlKubeconfig returns the kubeconfig files kubectl would read, as
// kubectl finds them: the list in $KUBECONFIG, else ~/.kube/config; only
// those that exist. from says where they came from, for errors.
func (c *Connector) kubectlKubeconfig() (files []string, from string) {
	if env := c.getenv(clientcmd.RecommendedConfigPathEnvVar); env != "" {
		for _, f := range filepath.SplitList(env) {
			if _, err := os.Stat(f); f != "" && err == nil {
				files = append(files, f)
			}
		}
		if len(files) == 0 {
			return nil, fmt.Sprintf("$KUBECONFIG (%s) names no file that exists", env)
		}
		return files, "$KUBECONFIG (" + env + ")"
	}
	home := c.getenv("HOME")
	if home == "" {
		return nil, "$KUBECONFIG and $HOME are unset"
	}
	file := filepath.Join(home, clientcmd.RecommendedHomeDir, clientcmd.RecommendedFileName)
	if _, err := os.Stat(file); err != nil {
		return nil, fmt.Sprintf("$KUBECONFIG is unset and %s does not exist", file)
	}
	return []string{file}, file
}

// outsideRepository refuses a kubeconfig file that lies in a working copy
// of the requests repository; what names it, for the error.
func (c *Connector) outsideRepository(cluster, what, file string) error {
	if dir := Within(file, c.RepositoryDirs); dir != "" {
		return fmt.Errorf("cluster %s: %s: kubeconfig %s lies inside the requests repository's working copy %s, where a pull request could have written it; keep kubeconfigs outside the repository (a mounted Secret) or use kubeconfig.secretRef", cluster, what, file, dir)
	}
	return nil
}

// Within returns the folder of dirs that file lies in, links resolved, or
// "" when it lies in none.
func Within(file string, dirs []string) string {
	resolve := func(p string) string {
		abs, err := filepath.Abs(p)
		if err != nil {
			return filepath.Clean(p)
		}
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			return real
		}
		return abs
	}
	f := resolve(file)
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if rel, err := filepath.Rel(resolve(d), f); err == nil && filepath.IsLocal(rel) {
			return d
		}
	}
	return ""
}

// KubeconfigFile reads a kubeconfig file with its current context.
func (c *Connector) KubeconfigFile(file string) (*rest.Config, error) {
	return kubeconfigFile(file, "")
}

func kubeconfigFile(file, context string) (*rest.Config, error) {
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: file}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: context}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", file, err)
	}
	return cfg, nil
}

// kubeconfigFiles reads kubeconfig files, merged as kubectl merges the list
// in $KUBECONFIG, and picks contextName (empty: the current one). explicit
// files must exist, as kubectl's --kubeconfig. hint says how to fix an
// error.
func (c *Connector) kubeconfigFiles(cluster string, files []string, contextName string, explicit bool, hint string) (*rest.Config, error) {
	rules := &clientcmd.ClientConfigLoadingRules{Precedence: files}
	name := strings.Join(files, string(filepath.ListSeparator))
	if explicit {
		rules = &clientcmd.ClientConfigLoadingRules{ExplicitPath: files[0]}
		name = files[0]
	}
	cc, err := rules.Load()
	if err == nil {
		err = checkContext(cc, contextName)
	}
	if err != nil {
		return nil, fmt.Errorf("cluster %s: kubeconfig %s: %w; %s", cluster, name, err, hint)
	}
	cfg, err := clientcmd.NewNonInteractiveClientConfig(*cc, contextName, &clientcmd.ConfigOverrides{}, rules).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("cluster %s: kubeconfig %s: %w; %s", cluster, name, err, hint)
	}
	return cfg, nil
}

// checkContext fails unless contextName (or, when empty, the current
// context) is one of the kubeconfig's, and lists those it has.
func checkContext(cc *clientcmdapi.Config, contextName string) error {
	have := slices.Sorted(maps.Keys(cc.Contexts))
	list := "it has none"
	if len(have) > 0 {
		list = "it has " + strings.Join(have, ", ")
	}
	switch {
	case contextName != "" && cc.Contexts[contextName] == nil:
		return fmt.Errorf("context %q does not exist; %s", contextName, list)
	case contextName == "" && cc.CurrentContext == "":
		return fmt.Errorf("no context named and no current-context set; %s", list)
	case contextName == "" && cc.Contexts[cc.CurrentContext] == nil:
		return fmt.Errorf("its current-context %q does not exist; %s", cc.CurrentContext, list)
	}
	return nil
}

func (c *Connector) secretConfig(ctx context.Context, cl schemas.Cluster, contextName string) (*rest.Config, error) {
	ref := cl.Kubeconfig.SecretRef
	if c.Home == nil {
		return nil, fmt.Errorf("cluster %s: kubeconfig.secretRef needs allot to run in a cluster", cl.Name)
	}
	ns := ref.Namespace
	if ns == "" {
		ns = SystemNamespace
	}
	key := ref.Key
	if key == "" {
		key = "value"
	}
	var secret corev1.Secret
	if err := c.Home.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, &secret); err != nil {
		return nil, fmt.Errorf("cluster %s: read kubeconfig Secret %s/%s: %w", cl.Name, ns, ref.Name, err)
	}
	cc, err := parseKubeconfig(cl.Name, secret.Data[key])
	if err != nil {
		return nil, fmt.Errorf("%w (Secret %s/%s key %s)", err, ns, ref.Name, key)
	}
	if err := checkContext(cc, contextName); err != nil {
		return nil, fmt.Errorf("cluster %s: kubeconfig in Secret %s/%s key %s: %w; fix kubeconfig.context in allot.yaml", cl.Name, ns, ref.Name, key, err)
	}
	return restConfig(cl.Name, cc, contextName, "")
}

// untrustedKubeconfig parses a kubeconfig that allot did not write and no
// platform engineer placed, such as the one a vcluster writes into its
// tenant's namespace: it is data, not code, so it may carry inline
// credentials only. from names where it was read, for the error.
func untrustedKubeconfig(name, from string, data []byte, server string) (*rest.Config, error) {
	cc, err := parseKubeconfig(name, data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	if err := InlineOnly(cc); err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	return restConfig(name, cc, "", server)
}

func parseKubeconfig(name string, data []byte) (*clientcmdapi.Config, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("cluster %s: the kubeconfig is empty", name)
	}
	cc, err := clientcmd.Load(data)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: kubeconfig: %w", name, err)
	}
	return cc, nil
}

func restConfig(name string, cc *clientcmdapi.Config, context, server string) (*rest.Config, error) {
	cfg, err := clientcmd.NewNonInteractiveClientConfig(*cc, context, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("cluster %s: kubeconfig: %w", name, err)
	}
	if server != "" {
		cfg.Host = server
	}
	return cfg, nil
}

// ErrUnsafeKubeconfig says a kubeconfig from an untrusted place asks for
// more than inline credentials.
var ErrUnsafeKubeconfig = errors.New("a kubeconfig that allot did not write may carry inline credentials only (token, client-certificate-data, client-key-data, certificate-authority-data)")

// InlineOnly refuses a kubeconfig that could make allot run a program, read
// one of its own files or connect through a proxy: exec and auth-provider
// plugins, token, certificate, key and CA files, and proxy URLs. Every
// entry is checked, not only the current context's, so that no later
// context switch can reach one.
func InlineOnly(cc *clientcmdapi.Config) error {
	var found []string
	for _, n := range slices.Sorted(maps.Keys(cc.AuthInfos)) {
		a := cc.AuthInfos[n]
		if a == nil {
			continue
		}
		for what, set := range map[string]bool{
			"an exec plugin":            a.Exec != nil,
			"an auth-provider plugin":   a.AuthProvider != nil,
			"a token file":              a.TokenFile != "",
			"a client certificate file": a.ClientCertificate != "",
			"a client key file":         a.ClientKey != "",
		} {
			if set {
				found = append(found, fmt.Sprintf("user %q uses %s", n, what))
			}
		}
	}
	for _, n := range slices.Sorted(maps.Keys(cc.Clusters)) {
		c := cc.Clusters[n]
		if c == nil {
			continue
		}
		if c.CertificateAuthority != "" {
			found = append(found, fmt.Sprintf("cluster %q uses a certificate-authority file", n))
		}
		if c.ProxyURL != "" {
			found = append(found, fmt.Sprintf("cluster %q sets proxy-url", n))
		}
	}
	if len(found) == 0 {
		return nil
	}
	slices.Sort(found)
	return fmt.Errorf("%w; refused because %s", ErrUnsafeKubeconfig, strings.Join(found, ", "))
}
