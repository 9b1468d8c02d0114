package reconciler

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
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
			// One Event per environment and reason, counted as client-go's
			// recorder aggregates: a failure that repeats every pass stays
			// one object.
			Name: e.Environment + "." + strings.ToLower(how.reason),
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
	err := cl.Client.Create(ctx, ev)
	if apierrors.IsAlreadyExists(err) {
		err = repeatEvent(ctx, cl, ev)
	}
	if err != nil {
		r.log().Debug("event not recorded", "cluster", cl.Name, "environment", e.Environment, "reason", how.reason, "error", err)
	}
}

// repeatEvent counts ev once more on the Event of the same name.
func repeatEvent(ctx context.Context, cl *Cluster, ev *corev1.Event) error {
	var have corev1.Event
	if err := cl.Client.Get(ctx, client.ObjectKeyFromObject(ev), &have); err != nil {
		return err
	}
	have.Count++
	have.Message, have.Type, have.Action = ev.Message, ev.Type, ev.Action
	have.LastTimestamp = ev.LastTimestamp
	return cl.Client.Update(ctx, &have)
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
