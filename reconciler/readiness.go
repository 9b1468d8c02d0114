package reconciler

import (
	"fmt"
	"strings"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// objectState is what allot makes of one object's status.
type objectState string

// The states of an object.
const (
	// stateReady means the object is what it was asked to be.
	stateReady objectState = "ready"
	// stateWaiting means the object may still become ready.
	stateWaiting objectState = "waiting"
	// stateFailed means the object's controller gave up on it: waiting
	// longer changes nothing until its spec changes.
	stateFailed objectState = "failed"
)

// objectReadiness is the state of one object and why.
type objectReadiness struct {
	state   objectState
	message string
}

// conditionRule matches one status condition.
type conditionRule struct {
	Type   string
	Status string
	// Reason, when set, must match too.
	Reason string
}

// readinessRule says when the custom resources of some API groups are
// ready, for controllers that report in their own way rather than through
// kstatus' conventions.
type readinessRule struct {
	// Name is whose convention the rule follows.
	Name string
	// GroupSuffixes match API groups by suffix: ".services.k8s.aws"
	// matches ec2.services.k8s.aws.
	GroupSuffixes []string
	// Ready lists the conditions that must all be True.
	Ready []string
	// Failed lists conditions that mean the object failed; the matching
	// condition's message says why.
	Failed []conditionRule
}

// readinessRules is the table of readiness rules per API group. A group
// that matches no rule is read with kstatus, except that a custom resource
// with no conditions at all is not ready yet: kstatus would call it
// Current, which for a controller that has not seen the object yet (or is
// not installed) is false.
var readinessRules = []readinessRule{
	{
		// https://aws-controllers-k8s.github.io/community/docs/user-docs/resource-crd/
		Name:          "AWS Controllers for Kubernetes",
		GroupSuffixes: []string{".services.k8s.aws"},
		Ready:         []string{"ACK.ResourceSynced"},
		Failed:        []conditionRule{{Type: "ACK.Terminal", Status: "True"}},
	},
	{
		// https://docs.crossplane.io/latest/managed-resources/managed-resources/#conditions
		Name:          "Crossplane",
		GroupSuffixes: []string{".upbound.io", ".crossplane.io"},
		Ready:         []string{"Ready", "Synced"},
		Failed:        []conditionRule{{Type: "Synced", Status: "False", Reason: "ReconcileError"}},
	},
}

// builtinGroups are the API groups Kubernetes serves itself; everything
// else is a custom resource.
var builtinGroups = map[string]bool{
	"": true, "apps": true, "batch": true, "autoscaling": true, "policy": true, "extensions": true,
	"admissionregistration.k8s.io": true, "apiextensions.k8s.io": true, "apiregistration.k8s.io": true,
	"authentication.k8s.io": true, "authorization.k8s.io": true, "certificates.k8s.io": true,
	"coordination.k8s.io": true, "discovery.k8s.io": true, "events.k8s.io": true,
	"flowcontrol.apiserver.k8s.io": true, "internal.apiserver.k8s.io": true, "networking.k8s.io": true,
	"node.k8s.io": true, "rbac.authorization.k8s.io": true, "resource.k8s.io": true,
	"scheduling.k8s.io": true, "storage.k8s.io": true, "storagemigration.k8s.io": true,
}

// alwaysReady lists kinds that are ready as soon as they exist: they have
// no rollout to wait for, so readiness does not read them back, and the
// drift watch ignores their status (a quota's usage changes all the time).
var alwaysReady = map[schema.GroupKind]bool{
	{Kind: "ConfigMap"}: true, {Kind: "Secret"}: true, {Kind: "ServiceAccount"}: true,
	{Kind: "ResourceQuota"}: true, {Kind: "LimitRange"}: true,
	{Group: "rbac.authorization.k8s.io", Kind: "Role"}:               true,
	{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}:        true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:        true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}: true,
	{Group: "networking.k8s.io", Kind: "NetworkPolicy"}:              true,
}

// readsStatus reports whether the readiness of a kind depends on its status.
func readsStatus(gk schema.GroupKind) bool { return !alwaysReady[gk] }

// ruleFor returns the readiness rule of an API group, or nil.
func ruleFor(group string) *readinessRule {
	for i, rule := range readinessRules {
		for _, suffix := range rule.GroupSuffixes {
			if strings.HasSuffix(group, suffix) {
				return &readinessRules[i]
			}
		}
	}
	return nil
}

// readinessOf reads the readiness of a live object: by its group's rule
// when there is one, by kstatus otherwise.
func readinessOf(live *unstructured.Unstructured) objectReadiness {
	if live.GetDeletionTimestamp() != nil {
		return objectReadiness{stateWaiting, "being deleted"}
	}
	group := live.GroupVersionKind().Group
	conds := conditionsOf(live)
	if rule := ruleFor(group); rule != nil {
		return rule.readiness(live, conds)
	}
	if !builtinGroups[group] && len(conds) == 0 {
		return objectReadiness{stateWaiting, "no status conditions reported yet; is its controller running?"}
	}
	res, err := status.Compute(live)
	if err != nil {
		return objectReadiness{stateWaiting, err.Error()}
	}
	switch res.Status {
	case status.CurrentStatus:
		return objectReadiness{stateReady, res.Message}
	case status.FailedStatus:
		return objectReadiness{stateFailed, res.Message}
	default:
		return objectReadiness{stateWaiting, res.Message}
	}
}

func (rule *readinessRule) readiness(live *unstructured.Unstructured, conds map[string]condition) objectReadiness {
	for _, f := range rule.Failed {
		c, ok := conds[f.Type]
		if ok && c.Status == f.Status && (f.Reason == "" || c.Reason == f.Reason) {
			return objectReadiness{stateFailed, conditionText(c)}
		}
	}
	if len(conds) == 0 {
		return objectReadiness{stateWaiting, fmt.Sprintf("no status conditions reported yet; is the %s controller running?", rule.Name)}
	}
	for _, t := range rule.Ready {
		c, ok := conds[t]
		switch {
		case !ok:
			return objectReadiness{stateWaiting, "no " + t + " condition yet"}
		case c.Status != "True":
			return objectReadiness{stateWaiting, conditionText(c)}
		case c.ObservedGeneration != 0 && c.ObservedGeneration < live.GetGeneration():
			return objectReadiness{stateWaiting, fmt.Sprintf("%s is for generation %d, not %d yet", t, c.ObservedGeneration, live.GetGeneration())}
		}
	}
	return objectReadiness{stateReady, strings.Join(rule.Ready, " and ") + " are True"}
}

// condition is the part of a status condition readiness reads.
type condition struct {
	Type, Status, Reason, Message string
	ObservedGeneration            int64
}

func conditionText(c condition) string {
	text := c.Type + "=" + c.Status
	if c.Reason != "" {
		text += " (" + c.Reason + ")"
	}
	if c.Message != "" {
		text += ": " + c.Message
	}
	return text
}

// conditionsOf reads status.conditions by type, skipping entries that are
// not condition-shaped.
func conditionsOf(u *unstructured.Unstructured) map[string]condition {
	list, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	out := make(map[string]condition, len(list))
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		c := condition{}
		c.Type, _ = m["type"].(string)
		c.Status, _ = m["status"].(string)
		c.Reason, _ = m["reason"].(string)
		c.Message, _ = m["message"].(string)
		switch g := m["observedGeneration"].(type) {
		case int64:
			c.ObservedGeneration = g
		case float64:
			c.ObservedGeneration = int64(g)
		}
		if c.Type != "" {
			out[c.Type] = c
		}
	}
	return out
}
