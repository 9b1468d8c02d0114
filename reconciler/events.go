package reconciler

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Events on an environment's record say what passes did to it, for
// `kubectl describe configmap -n allot-system ENV` and `kubectl get
// events -n allot-system`: created, updated, repaired, failed, held,
// deleted. An environment left unchanged gets none.

// eventReasons maps the actions that get an event to their reason and type.
var eventReasons = map[Action]struct{ reason, kind string }{
	ActionCreated:  {"Created", corev1.EventTypeNormal},
	ActionUpdated:  {"Updated", corev1.EventTypeNormal},
	ActionRepaired: {"Repaired", corev1.EventTypeWarning},
	ActionDrifted:  {"Drifted", corev1.EventTypeWarning},
	ActionDeleted:  {"Deleted", corev1.EventTypeNormal},
	ActionFailed:   {"Failed", corev1.EventTypeWarning},
	ActionHeld:     {"DeletionHeld", corev1.EventTypeWarning},
}

// maxEventMessage bounds an event's message, as the API server does.
const maxEventMessage = 1024

// recordEvent records what a pass did to an environment as an Event on its
// record. It never fails the pass: an event that cannot be written (no
// right to create events, say) is logged.
func (r *Reconciler) recordEvent(ctx context.Context, cl *Cluster, e EnvResult) {
	how, ok := eventReasons[e.Action]
	if !ok {
		return
	}
	msg := eventMessage(e)
	now := metav1.NewTime(r.now())
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: SystemNamespace,
			// The API server makes the name unique.
			GenerateName: e.Environment + ".",
		},
		InvolvedObject:      corev1.ObjectReference{APIVersion: "v1", Kind: "ConfigMap", Namespace: SystemNamespace, Name: e.Environment},
		Reason:              how.reason,
		Message:             msg,
		Type:                how.kind,
		Source:              corev1.EventSource{Component: FieldManager},
		ReportingController: "allot.dev/" + FieldManager,
		ReportingInstance:   FieldManager,
		Action:              string(e.Action),
		FirstTimestamp:      now,
		LastTimestamp:       now,
		EventTime:           metav1.NewMicroTime(now.Time),
		Count:               1,
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := cl.Client.Create(ctx, ev); err != nil {
		r.log().Debug("event not recorded", "cluster", cl.Name, "environment", e.Environment, "reason", how.reason, "error", err)
	}
}

// eventMessage says what happened, in a line.
func eventMessage(e EnvResult) string {
	var parts []string
	switch {
	case e.Err != nil:
		parts = append(parts, e.Err.Error())
	case e.Action == ActionDeleted:
		parts = append(parts, fmt.Sprintf("torn down: %d objects deleted", e.Pruned))
	case e.Action == ActionHeld:
		parts = append(parts, "deletion held by a guard; see the pass's cluster error")
	default:
		if e.Applied > 0 {
			parts = append(parts, fmt.Sprintf("%d objects %s", e.Applied, e.Action))
		}
		if len(e.Changed) > 0 {
			parts = append(parts, strings.Join(e.Changed[:min(5, len(e.Changed))], ", "))
		}
		if e.Message != "" {
			parts = append(parts, e.Message)
		}
	}
	msg := strings.Join(parts, "; ")
	if msg == "" {
		msg = string(e.Action)
	}
	if len(msg) > maxEventMessage {
		msg = msg[:maxEventMessage-3] + "..."
	}
	return msg
}
