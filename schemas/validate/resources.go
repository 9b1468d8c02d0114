package validate

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/allot-dev/allot/schemas"
	"github.com/allot-dev/allot/schemas/load"
)

// quotaResources are the names a ResourceQuota's spec.hard takes without a
// domain prefix, as the API server's validation knows them.
var quotaResources = []string{
	"cpu", "memory", "ephemeral-storage",
	"requests.cpu", "requests.memory", "requests.storage", "requests.ephemeral-storage",
	"limits.cpu", "limits.memory", "limits.ephemeral-storage",
	"pods", "services", "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
	"persistentvolumeclaims", "services.nodeports", "services.loadbalancers",
}

// countedResources are the quota names whose values count objects, and so
// must be whole numbers.
var countedResources = []string{
	"pods", "services", "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
	"persistentvolumeclaims", "services.nodeports", "services.loadbalancers",
}

// containerResources are the names a LimitRange of type Container takes
// without a domain prefix.
var containerResources = []string{"cpu", "memory", "ephemeral-storage"}

const (
	quotaNamesHelp     = "use a standard name (pods, requests.cpu, requests.memory, limits.cpu, limits.memory, requests.storage, persistentvolumeclaims, services, secrets, configmaps, …), requests.hugepages-<size>, count/<resource>[.<group>], <class>.storageclass.storage.k8s.io/requests.storage, or an extended resource with a domain prefix (requests.example.com/gpu)"
	containerNamesHelp = "use cpu, memory, ephemeral-storage, hugepages-<size>, or an extended resource with a domain prefix (example.com/gpu)"
)

// quotaResource says what is wrong with a ResourceQuota key, "" when
// nothing: the API server refuses the quota otherwise.
func quotaResource(name string) string {
	if msg := qualified(name); msg != "" {
		return msg
	}
	if strings.Contains(name, "/") || slices.Contains(quotaResources, name) ||
		strings.HasPrefix(name, "hugepages-") || strings.HasPrefix(name, "requests.hugepages-") {
		return ""
	}
	return fmt.Sprintf("%q is not a ResourceQuota resource%s; %s", name, suggest(name, quotaResources), quotaNamesHelp)
}

// containerResource says what is wrong with a LimitRange key of a
// container, "" when nothing.
func containerResource(name string) string {
	if msg := qualified(name); msg != "" {
		return msg
	}
	if strings.Contains(name, "/") || slices.Contains(containerResources, name) || strings.HasPrefix(name, "hugepages-") {
		return ""
	}
	return fmt.Sprintf("%q is not a container resource%s; %s", name, suggest(name, containerResources), containerNamesHelp)
}

func qualified(name string) string {
	if msgs := validation.IsQualifiedName(name); len(msgs) > 0 {
		return fmt.Sprintf("%q is not a resource name: %s", name, strings.Join(msgs, "; "))
	}
	return ""
}

// suggest names the known name a typo most likely meant: "request.cpu"
// meant "requests.cpu".
func suggest(name string, known []string) string {
	for _, fix := range [][2]string{{"request.", "requests."}, {"limit.", "limits."}, {"requests-", "requests."}, {"limits-", "limits."}} {
		if rest, ok := strings.CutPrefix(name, fix[0]); ok && slices.Contains(known, fix[1]+rest) {
			return fmt.Sprintf(" (did you mean %s?)", fix[1]+rest)
		}
	}
	best, bestDist := "", 3
	for _, k := range known {
		if d := distance(strings.ToLower(name), k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// distance is the edit distance of two short strings.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// resources checks the keys and values of one map of a size (a quota's
// hard limits or a limit range's defaults) as the API server will:
// resource names it knows, quantities, never negative, whole numbers for
// what counts objects. nameProblem is quotaResource or containerResource.
// It returns the quantities that parsed, for comparing with each other.
func (c *checker) resources(doc *load.Document, m map[string]any, nameProblem func(string) string, path ...string) map[string]resource.Quantity {
	parsed := map[string]resource.Quantity{}
	for _, k := range sortedKeys(m) {
		at, field := doc.Pos(append(path, k)...), schemas.Describe(path)+"."+k
		if msg := nameProblem(k); msg != "" {
			c.errorf(at, schemas.RulePlatform, "%s: %s", field, msg)
			continue
		}
		s := fmt.Sprint(m[k])
		q, err := resource.ParseQuantity(s)
		switch {
		case err != nil:
			c.errorf(at, schemas.RulePlatform, "%s: %q is not a resource quantity; write it like 500m, 2, 4Gi", field, s)
			continue
		case q.Sign() < 0:
			c.errorf(at, schemas.RulePlatform, "%s: %s is negative; a resource limit is 0 or more", field, s)
			continue
		case counts(k) && q.MilliValue()%1000 != 0:
			c.errorf(at, schemas.RulePlatform, "%s: %s counts whole objects or devices and must be a whole number", field, s)
			continue
		}
		parsed[k] = q
	}
	return parsed
}

// counts reports whether a resource is counted in whole units: objects,
// and extended resources (a domain prefix; count/ is one too) other than
// a quota's requests.<domain>/<name>, as the API server takes them.
func counts(name string) bool {
	if slices.Contains(countedResources, name) {
		return true
	}
	prefix, _, ok := strings.Cut(name, "/")
	return ok && !strings.HasPrefix(name, "requests.") && prefix != "kubernetes.io" && !strings.HasSuffix(prefix, ".kubernetes.io")
}

// ordered checks that a limit range's lower values do not exceed its
// higher ones for the same resource, as the API server requires:
// defaultRequest ≤ default ≤ max.
func (c *checker) ordered(doc *load.Document, lower, higher map[string]resource.Quantity, lowerName, higherName string, path ...string) {
	for _, k := range sortedKeys(lower) {
		h, ok := higher[k]
		if l := lower[k]; ok && l.Cmp(h) > 0 {
			c.errorf(doc.Pos(append(path, lowerName, k)...), schemas.RulePlatform, "%s.%s.%s: %s is more than %s.%s (%s); the API server refuses such a LimitRange: lower it or raise %s",
				schemas.Describe(path), lowerName, k, l.String(), higherName, k, h.String(), higherName)
		}
	}
}
