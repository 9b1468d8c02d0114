package reconciler

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/renderer"
)

// applyImport makes an environment that is itself a cluster, such as a
// vcluster, a cluster allot manages: it reads the kubeconfig the
// environment's controller wrote on the host, connects through the
// in-cluster address, and applies the inside bundle with its own inventory.
// Until the kubeconfig exists the environment is reported as waiting.
//
// An import that fails fails the environment on its host record too
// (reason ImportFailed), so that `allot status` never says Ready for an
// environment whose inside was not applied.
func (r *Reconciler) applyImport(ctx context.Context, host *Cluster, e *envRecord, b *renderer.Bundle, commit string, hostResult EnvResult) EnvResult {
	res := r.importInside(ctx, host, b, commit, hostResult)
	if res.Err == nil || e.rec == nil {
		return res
	}
	return r.fail(e, res, ReasonImportFailed, res.Err)
}

// importInside reads the kubeconfig, connects and applies the inside
// bundle; its error is the import's.
func (r *Reconciler) importInside(ctx context.Context, host *Cluster, b *renderer.Bundle, commit string, hostResult EnvResult) EnvResult {
	imp := b.Import
	var secret corev1.Secret
	err := host.Client.Get(ctx, client.ObjectKey{Namespace: imp.SecretNamespace, Name: imp.SecretName}, &secret)
	if apierrors.IsNotFound(err) {
		hostResult.Message = fmt.Sprintf("waiting for the kubeconfig Secret %s/%s", imp.SecretNamespace, imp.SecretName)
		return hostResult
	}
	if err != nil {
		hostResult.Err = fmt.Errorf("import: read kubeconfig Secret %s/%s: %w", imp.SecretNamespace, imp.SecretName, err)
		return hostResult
	}
	server := imp.Server
	if r.UseKubeconfigServer {
		server = ""
	}
	name := imp.Bundle.Cluster
	// The Secret lies in the tenant's own namespace, where the tenant is
	// admin: what it holds is data, never a program or a path to run.
	from := fmt.Sprintf("kubeconfig Secret %s/%s key %s", imp.SecretNamespace, imp.SecretName, imp.SecretKey)
	cfg, err := untrustedKubeconfig(name, from, secret.Data[imp.SecretKey], server)
	if err != nil {
		hostResult.Err = fmt.Errorf("import: %w", err)
		return hostResult
	}
	inner, err := r.importedCluster(name, cfg)
	if err != nil {
		hostResult.Err = fmt.Errorf("import: %w", err)
		return hostResult
	}
	inv := inventory{client: inner.Client}
	if _, err := inv.ensureNamespace(ctx); err != nil {
		r.forget(name)
		hostResult.Err = fmt.Errorf("import: cluster %s: %w", name, err)
		return hostResult
	}
	records, err := inv.list(ctx)
	if err != nil {
		r.forget(name)
		hostResult.Err = fmt.Errorf("import: cluster %s: %w", name, err)
		return hostResult
	}
	inside := &clusterPass{cl: inner, inv: inv, commit: commit, allowPrune: true, dp: driftPolicy{mode: DriftEnforce}}
	ie := &envRecord{inv: inv, rec: records[b.Environment]}
	in := ie.save(ctx, r.applyEnvironment(ctx, inside, imp.Bundle, ie))
	if in.Err != nil {
		hostResult.Err = fmt.Errorf("inside %s: %w", name, in.Err)
	}
	hostResult.Applied += in.Applied
	hostResult.Pruned += in.Pruned
	hostResult.Message = fmt.Sprintf("imported %s: %s", name, in.Action)
	return hostResult
}

// importedCluster connects to an imported cluster, reusing the connection
// while its address and credentials stay the same.
func (r *Reconciler) importedCluster(name string, cfg *rest.Config) (*Cluster, error) {
	return r.connection(name, cfg)
}
