package reconciler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"k8s.io/client-go/rest"
	"strings"

	"github.com/allot-dev/allot/schemas"
)

// Connections to clusters, made once and renewed when their config
// changes.

// ClusterFor returns the connection to a cluster, made once and reused.
func (r *Reconciler) ClusterFor(ctx context.Context, entry schemas.Cluster) (*Cluster, error) {
	return r.cluster(ctx, entry)
}

func (r *Reconciler) cluster(ctx context.Context, entry schemas.Cluster) (*Cluster, error) {
	cfg, err := r.Connector.Config(ctx, entry)
	if err != nil {
		return nil, err
	}
	return r.connection(entry.Name, cfg)
}

// connection returns the connection to a cluster, made once and reused
// while its address and credentials stay the same. When they change (a
// rotated kubeconfig, a new token), the old connection is dropped, and so
// is the cluster's drift watch, which the next pass starts on the new one.
func (r *Reconciler) connection(name string, cfg *rest.Config) (*Cluster, error) {
	key := name + "@" + configFingerprint(cfg)
	r.mu.Lock()
	c, ok := r.clusters[key]
	r.mu.Unlock()
	if ok {
		return c, nil
	}
	c, err := newCluster(name, cfg, r.requestTimeout())
	if err != nil {
		return nil, err
	}
	replaced := r.forget(name)
	r.mu.Lock()
	if r.clusters == nil {
		r.clusters = map[string]*Cluster{}
	}
	r.clusters[key] = c
	r.mu.Unlock()
	if replaced {
		r.log().Info("cluster connection renewed: its address or credentials changed", "cluster", name)
	}
	return c, nil
}

// configFingerprint digests what a connection depends on.
func configFingerprint(cfg *rest.Config) string {
	h := sha256.New()
	for _, part := range []string{cfg.Host, cfg.APIPath, string(cfg.CAData), cfg.CAFile, string(cfg.CertData), cfg.CertFile, string(cfg.KeyData), cfg.KeyFile,
		cfg.BearerToken, cfg.BearerTokenFile, cfg.Username, cfg.Password, cfg.ServerName, fmt.Sprint(cfg.Insecure), fmt.Sprintf("%+v", cfg.ExecProvider), fmt.Sprintf("%+v", cfg.AuthProvider)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// forget drops a cluster's cached connections and its drift watch, so the
// next pass reconnects and watches anew; it reports whether there was a
// connection to drop. Environments the watch vouched for are checked again.
func (r *Reconciler) forget(name string) bool {
	r.mu.Lock()
	dropped := false
	for k := range r.clusters {
		if k == name || strings.HasPrefix(k, name+"@") {
			delete(r.clusters, k)
			dropped = true
		}
	}
	for k := range r.clean {
		if strings.HasPrefix(k, name+"/") {
			delete(r.clean, k)
		}
	}
	w := r.watch
	r.mu.Unlock()
	if w != nil {
		w.stopCluster(name)
	}
	return dropped
}

func (r *Reconciler) selectedClusters(all []schemas.Cluster) []schemas.Cluster {
	if len(r.OnlyClusters) == 0 {
		return all
	}
	var out []schemas.Cluster
	for _, c := range all {
		for _, name := range r.OnlyClusters {
			if c.Name == name {
				out = append(out, c)
			}
		}
	}
	return out
}
