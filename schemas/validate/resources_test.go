package validate

import (
	"strings"
	"testing"
)

// TestSizesAreCheckedAsTheAPIServerWould: a size's quota and limit range
// are checked offline for what the API server would refuse when it is
// applied — unknown resource names (with the fix), quantities, negative
// values, fractions of what counts objects, defaults above their maximum —
// with an error naming allot.yaml, the line and the key.
func TestSizesAreCheckedAsTheAPIServerWould(t *testing.T) {
	const from = "sizes: {small: {quota: {pods: 10}}}"
	for _, tc := range []struct{ name, sizes, want string }{
		{"a typo in a quota key", `sizes: {small: {quota: {request.cpu: "1"}}}`,
			`allot.yaml:8: spec.sizes.small.quota.request.cpu: "request.cpu" is not a ResourceQuota resource (did you mean requests.cpu?); use a standard name`},
		{"a near miss", `sizes: {small: {quota: {pod: 10}}}`, `"pod" is not a ResourceQuota resource (did you mean pods?)`},
		{"a name that is no name", `sizes: {small: {quota: {"requests cpu": "1"}}}`, `spec.sizes.small.quota.requests cpu: "requests cpu" is not a resource name`},
		{"not a quantity", `sizes: {small: {quota: {requests.memory: 4GB}}}`, `spec.sizes.small.quota.requests.memory: "4GB" is not a resource quantity`},
		{"negative", `sizes: {small: {quota: {requests.cpu: "-1"}}}`, `spec.sizes.small.quota.requests.cpu: -1 is negative`},
		{"a fraction of a count", `sizes: {small: {quota: {pods: 1500m}}}`, `spec.sizes.small.quota.pods: 1500m counts whole objects or devices and must be a whole number`},
		{"a fraction of an object count", `sizes: {small: {quota: {count/deployments.apps: "0.5"}}}`, `count/deployments.apps: 0.5 counts whole objects`},
		{"a fraction of an extended resource", `sizes: {small: {quota: {example.com/gpu: 500m}}}`, `example.com/gpu: 500m counts whole objects`},
		{"a typo in a container key", "sizes: {small: {quota: {pods: 10}, limitRange: {default: {cpus: 500m}}}}",
			`spec.sizes.small.limitRange.default.cpus: "cpus" is not a container resource (did you mean cpu?)`},
		{"a quota name in a limit range", "sizes: {small: {quota: {pods: 10}, limitRange: {max: {limits.cpu: \"1\"}}}}",
			`spec.sizes.small.limitRange.max.limits.cpu: "limits.cpu" is not a container resource`},
		{"a default above its maximum", "sizes: {small: {quota: {pods: 10}, limitRange: {default: {cpu: \"2\"}, max: {cpu: \"1\"}}}}",
			`spec.sizes.small.limitRange.default.cpu: 2 is more than max.cpu (1)`},
		{"a default request above its default", "sizes: {small: {quota: {pods: 10}, limitRange: {defaultRequest: {memory: 1Gi}, default: {memory: 512Mi}}}}",
			`spec.sizes.small.limitRange.defaultRequest.memory: 1Gi is more than default.memory (512Mi)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := strings.Replace(platform, from, tc.sizes, 1)
			if p == platform {
				t.Fatalf("%q not in the test platform", from)
			}
			expect(t, check(t, p, "  expires: 7d\n  cluster: eu\n", nil), tc.want)
		})
	}
	t.Run("accepts every kind of name the API server does", func(t *testing.T) {
		sizes := `sizes: {small: {quota: {pods: 10, requests.cpu: 500m, limits.memory: 8Gi, requests.storage: 100Gi, persistentvolumeclaims: 5,` +
			` services.loadbalancers: 0, count/deployments.apps: 10, count/widgets.example.com: 3, requests.hugepages-2Mi: 1Gi, hugepages-1Gi: 2Gi,` +
			` requests.nvidia.com/gpu: 2, gold.storageclass.storage.k8s.io/requests.storage: 10Gi},` +
			` limitRange: {defaultRequest: {cpu: 100m, memory: 128Mi, ephemeral-storage: 1Gi}, default: {cpu: 500m, memory: 512Mi, hugepages-2Mi: 0, example.com/fpga: 1}, max: {cpu: "2", memory: 2Gi}}}}`
		p := strings.Replace(platform, from, sizes, 1)
		var own []string
		for _, pr := range check(t, p, "  expires: 7d\n  cluster: eu\n", nil) {
			if pr.File == "allot.yaml" {
				own = append(own, pr.String())
			}
		}
		if len(own) > 0 {
			t.Errorf("problems with names the API server accepts:\n%s", strings.Join(own, "\n"))
		}
	})
}
