package renderer

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/allot-dev/allot/renderer/sources"
	"github.com/allot-dev/allot/schemas"
)

// Phase is a stage of applying a bundle; each phase is applied and ready
// before the next starts.
type Phase string

// The phases of a bundle, in the order they are applied.
const (
	PhaseInit        Phase = "init"
	PhaseInstall     Phase = "install"
	PhasePostInstall Phase = "postInstall"
	// PhasePreDelete runs only when the environment is torn down, before its
	// other objects are deleted.
	PhasePreDelete Phase = "preDelete"
)

// Phases lists the phases in the order they are applied.
func Phases() []Phase {
	return []Phase{PhaseInit, PhaseInstall, PhasePostInstall, PhasePreDelete}
}

// Labels allot puts on every object it renders.
const (
	LabelEnvironment = "allot.dev/environment"
	LabelManagedBy   = "allot.dev/managed-by"
	ManagedByValue   = "allot"
	// AnnotationPhase lets an object pick its phase.
	AnnotationPhase = "allot.dev/phase"
	// AnnotationOwnership set to OwnershipWhole marks an object allot owns
	// whole: everything outside its metadata and status is what the
	// template says, and a field someone else adds is drift that allot
	// removes. Without it, allot owns only the fields it sets, as
	// server-side apply does. The baseline of the built-in templates
	// (namespace, quota, limit range, network policies, role binding)
	// carries it.
	AnnotationOwnership = "allot.dev/ownership"
	OwnershipWhole      = "whole"
)

// Bundle is everything one environment puts on one cluster.
type Bundle struct {
	Environment string `json:"environment"`
	// File is the request's path in the repository.
	File      string `json:"file"`
	Type      string `json:"type"`
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace"`
	// Expires is the request's spec.expires, as written.
	Expires string `json:"expires,omitempty"`
	// Objects holds each phase's objects in apply order.
	Objects map[Phase][]*Object `json:"-"`
	// building holds each phase's objects while the bundle is rendered;
	// seal makes them Objects.
	building map[Phase][]*unstructured.Unstructured
	// Groups are the identity-provider groups the environment needs.
	Groups []Group `json:"groups,omitempty"`
	// Import is set when the environment becomes a cluster allot manages.
	Import *Import `json:"import,omitempty"`
	// Digest is the sha256 of the bundle's canonical serialisation.
	Digest string `json:"digest"`
	// Sleep is the schedule the environment sleeps on (the request's, its
	// size's or its template's), nil for none. It is not part of the
	// digest: the reconciler decides at each pass whether it sleeps.
	Sleep *schemas.Sleep `json:"sleep,omitempty"`
	// Warnings are what the sources rendered despite, such as deprecated
	// kustomization fields; they are not part of the digest.
	Warnings []sources.Warning `json:"warnings,omitempty"`
}

// Group is an identity-provider group and its members' e-mail addresses.
type Group struct {
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

// Import says how to reach an environment that is itself a cluster, such as a
// vcluster, and what to apply inside it.
type Import struct {
	// SecretNamespace, SecretName and SecretKey locate the kubeconfig the
	// environment's own controllers write on the host cluster.
	SecretNamespace string `json:"secretNamespace"`
	SecretName      string `json:"secretName"`
	SecretKey       string `json:"secretKey"`
	// Server is the in-cluster address that replaces the kubeconfig's server.
	Server string `json:"server"`
	// Bundle is applied inside the imported cluster.
	Bundle *Bundle `json:"bundle"`
}

// Count returns the number of objects over all phases.
func (b *Bundle) Count() int {
	n := 0
	for _, objs := range b.Objects {
		n += len(objs)
	}
	return n
}

// canonical is the form the digest is computed over: phases in order, each an
// ordered list of objects, then groups and the import. encoding/json writes
// map keys sorted, so the bytes do not depend on map order.
type canonical struct {
	Environment string              `json:"environment"`
	Cluster     string              `json:"cluster"`
	Phases      [][]json.RawMessage `json:"phases"`
	Groups      []Group             `json:"groups"`
	Import      *canonicalImport    `json:"import,omitempty"`
}

type canonicalImport struct {
	Secret string `json:"secret"`
	Server string `json:"server"`
	Digest string `json:"digest"`
}

// seal sorts each phase of a bundle being built, keeps its objects as
// Objects and computes the digest. It must be called last. On a bundle
// read back from the cache it computes the digest of the Objects as they
// are.
func (b *Bundle) seal() error {
	if b.building != nil {
		b.Objects = map[Phase][]*Object{}
		for p, objs := range b.building {
			sortObjects(objs)
			kept, err := NewObjects(objs)
			if err != nil {
				return err
			}
			b.Objects[p] = kept
		}
		b.building = nil
	}
	c := canonical{Environment: b.Environment, Cluster: b.Cluster, Groups: b.Groups}
	for _, p := range Phases() {
		objs := b.Objects[p]
		list := make([]json.RawMessage, len(objs))
		for i, o := range objs {
			list[i] = o.raw
		}
		c.Phases = append(c.Phases, list)
	}
	if b.Import != nil {
		if err := b.Import.Bundle.seal(); err != nil {
			return err
		}
		c.Import = &canonicalImport{
			Secret: b.Import.SecretNamespace + "/" + b.Import.SecretName + "#" + b.Import.SecretKey,
			Server: b.Import.Server, Digest: b.Import.Bundle.Digest,
		}
	}
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	b.Digest = "sha256:" + hex.EncodeToString(sum[:])
	return nil
}

// kindOrder puts the kinds others depend on first, as Helm and kubectl do.
var kindOrder = map[string]int{
	"Namespace": 1, "NetworkPolicy": 2, "ResourceQuota": 3, "LimitRange": 4, "PodSecurityPolicy": 5,
	"PodDisruptionBudget": 6, "ServiceAccount": 7, "Secret": 8, "ConfigMap": 9, "StorageClass": 10,
	"PersistentVolume": 11, "PersistentVolumeClaim": 12, "CustomResourceDefinition": 13, "ClusterRole": 14,
	"ClusterRoleBinding": 15, "Role": 16, "RoleBinding": 17, "Service": 18, "DaemonSet": 19, "Pod": 20,
	"ReplicaSet": 21, "Deployment": 22, "StatefulSet": 23, "Job": 24, "CronJob": 25, "Ingress": 26,
}

// sortObjects orders objects by kind priority, then group, kind, namespace
// and name.
func sortObjects(objs []*unstructured.Unstructured) {
	rank := func(o *unstructured.Unstructured) int {
		if r, ok := kindOrder[o.GetKind()]; ok && isCoreGroup(o) {
			return r
		}
		return 100
	}
	sort.SliceStable(objs, func(i, j int) bool {
		a, b := objs[i], objs[j]
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra < rb
		}
		if ga, gb := a.GroupVersionKind().Group, b.GroupVersionKind().Group; ga != gb {
			return ga < gb
		}
		if a.GetKind() != b.GetKind() {
			return a.GetKind() < b.GetKind()
		}
		if a.GetNamespace() != b.GetNamespace() {
			return a.GetNamespace() < b.GetNamespace()
		}
		return a.GetName() < b.GetName()
	})
}

// isCoreGroup reports whether an object's kind is one of Kubernetes' own, so
// that a custom resource called "Service" is not ordered like a core Service.
func isCoreGroup(o *unstructured.Unstructured) bool {
	switch o.GroupVersionKind().Group {
	case "", "apps", "batch", "rbac.authorization.k8s.io", "networking.k8s.io", "policy", "storage.k8s.io", "apiextensions.k8s.io":
		return true
	}
	return false
}

// LogWarnings logs what the sources warned of while rendering bundles,
// such as a deprecated kustomization field, once per file and message,
// with the file that has it.
func LogWarnings(log *slog.Logger, bundles []*Bundle) {
	seen := map[sources.Warning]bool{}
	for _, b := range bundles {
		for _, w := range b.Warnings {
			if !seen[w] {
				seen[w] = true
				log.Warn("kustomize: "+w.Message, "component", "kustomize", "file", w.File)
			}
		}
	}
}
