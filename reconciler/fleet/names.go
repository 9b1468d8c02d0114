package fleet

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Lease name prefixes. A name that is a DNS label gets the plain prefix;
// any other is folded into one with the "x" prefix and a digest of the
// original, so that two names never share a Lease.
const (
	clusterPrefix = "allot-cluster-"
	replicaPrefix = "allot-replica-"
)

// LeaseName is the name of the Lease of a target cluster.
func LeaseName(cluster string) string { return leaseName(clusterPrefix, cluster) }

// memberLeaseName is the name of the membership Lease of a replica.
func memberLeaseName(identity string) string { return leaseName(replicaPrefix, identity) }

func leaseName(prefix, name string) string {
	if len(validation.IsDNS1123Label(name)) == 0 {
		return prefix + name
	}
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	folded := strings.Trim(b.String(), "-")
	if len(folded) > 40 {
		folded = strings.TrimRight(folded[:40], "-")
	}
	sum := sha256.Sum256([]byte(name))
	// "allot-clusterx-" never begins a plain name: there the prefix ends
	// in "-" where this one has "x".
	return strings.TrimSuffix(prefix, "-") + "x-" + folded + "-" + hex.EncodeToString(sum[:4])
}
