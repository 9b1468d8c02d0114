package reconciler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/allot-dev/allot/renderer"
	"github.com/allot-dev/allot/schemas"
)

// Sleeping: an environment with a schedule is asleep or awake at each pass,
// as the injected clock and any early wake say. Asleep, its bundle is
// applied with its workloads scaled to zero (Deployments and StatefulSets
// it renders, such as the vcluster's control plane, and ECS services'
// desiredCount), so drift repair keeps it asleep; the tenant's own
// workloads in its namespace are scaled to zero too, their replicas kept in
// an annotation for the wake.

// SleepState is what the last pass decided about an environment's sleep,
// kept in its record.
type SleepState struct {
	// Schedule is the schedule as a person reads it.
	Schedule string `json:"schedule"`
	Asleep   bool   `json:"asleep"`
	// Until is when the environment next wakes, when asleep, or next
	// sleeps, when awake; zero for never.
	Until time.Time `json:"until,omitzero"`
	// WokenUntil is set while an early wake (allot wake, /wake) holds it
	// awake against its schedule.
	WokenUntil time.Time `json:"wokenUntil,omitzero"`
	// TenantScaled says allot scaled the tenant's own workloads down and
	// has not yet restored them all.
	TenantScaled bool `json:"tenantScaled,omitempty"`
}

// Wake is an early wake or sleep of an environment against its schedule,
// written by `allot wake`, `allot sleep` or /wake into the environment's
// record ConfigMap under its own key and field manager, so a pass that
// rewrites the record never drops it. It is runtime state: git does not
// change.
type Wake struct {
	// Until is when the wake ends; the schedule rules again from then.
	Until time.Time `json:"until"`
	// Asleep makes it an early sleep (allot sleep) rather than a wake.
	Asleep bool `json:"asleep,omitempty"`
	// By says who asked: a GitHub login or "allot wake".
	By string    `json:"by,omitempty"`
	At time.Time `json:"at"`
}

// sleepFor decides whether an environment sleeps at now: an early wake or
// sleep in effect wins, else the schedule. It returns nil for an
// environment without a schedule, or one whose schedule does not parse
// (validation reports that; the environment stays awake).
func sleepFor(b *renderer.Bundle, wake *Wake, now time.Time) *SleepState {
	if b.Sleep == nil {
		return nil
	}
	sched, err := schemas.ParseSleep(*b.Sleep)
	if err != nil {
		return nil
	}
	st := &SleepState{Schedule: sched.String(), Asleep: sched.Asleep(now), Until: sched.NextChange(now)}
	if wake == nil {
		return st
	}
	end := wake.Until
	if end.IsZero() {
		// Until the schedule's next sleep (or, for an early sleep, wake).
		if end = sched.NextSleep(wake.At); wake.Asleep {
			end = sched.NextWake(wake.At)
		}
	}
	if now.Before(wake.At) || !now.Before(end) {
		return st
	}
	st.Asleep, st.WokenUntil, st.Until = wake.Asleep, end, end
	if sched.Asleep(end) == wake.Asleep {
		// The schedule agrees when the wake ends: the change is later.
		if next := sched.NextChange(end); !next.IsZero() {
			st.Until = next
		}
	}
	return st
}

// sleepDigestSuffix makes an asleep bundle's digest differ from the awake
// one, so that each change applies and drift repair holds either state.
const sleepDigestSuffix = "\nasleep"

// asleepBundle returns a copy of b with its workloads scaled to zero and no
// import (the vcluster's control plane is down); b itself, which the
// render cache keeps, is not changed.
func asleepBundle(b *renderer.Bundle) *renderer.Bundle {
	out := *b
	out.Import = nil
	out.Objects = make(map[renderer.Phase][]*renderer.Object, len(b.Objects))
	for p, objs := range b.Objects {
		list := make([]*renderer.Object, len(objs))
		for i, o := range objs {
			list[i] = o
			if path := zeroPath(o); path != nil {
				// The path's parents are maps in any object that
				// rendered; one that is not cannot be scaled and is
				// applied as it is.
				if asleep, err := scaledToZero(o, path); err == nil {
					list[i] = asleep
				}
			}
		}
		out.Objects[p] = list
	}
	sum := sha256.Sum256([]byte(b.Digest + sleepDigestSuffix))
	out.Digest = "sha256:" + hex.EncodeToString(sum[:])
	return &out
}

// scaledToZero is a copy of o with path set to zero.
func scaledToZero(o *renderer.Object, path []string) (*renderer.Object, error) {
	c, err := o.Decode()
	if err != nil {
		return nil, err
	}
	if err := unstructured.SetNestedField(c.Object, int64(0), path...); err != nil {
		return nil, err
	}
	return renderer.NewObject(c)
}

// zeroPath is the field that scales an object to zero, nil for objects
// that do not run anything.
func zeroPath(o renderer.Meta) []string {
	gvk := o.GroupVersionKind()
	switch {
	case gvk.Group == "apps" && (gvk.Kind == "Deployment" || gvk.Kind == "StatefulSet"):
		return []string{"spec", "replicas"}
	case gvk.Group == "ecs.services.k8s.aws" && gvk.Kind == "Service":
		return []string{"spec", "desiredCount"}
	case gvk.Group == "ecs.aws.upbound.io" && gvk.Kind == "Service":
		return []string{"spec", "forProvider", "desiredCount"}
	}
	return nil
}

// planSleep decides each scheduled environment's sleep at now and puts the
// asleep copy of its bundle in desired.
func (r *Reconciler) planSleep(desired map[string]*renderer.Bundle, records map[string]*Record) map[string]*SleepState {
	now := r.now()
	out := map[string]*SleepState{}
	for name, b := range desired {
		var wake *Wake
		if rec := records[name]; rec != nil {
			wake = rec.Wake
		}
		st := sleepFor(b, wake, now)
		if st == nil {
			continue
		}
		out[name] = st
		if st.Asleep {
			desired[name] = asleepBundle(b)
		}
	}
	return out
}

// settleSleep finishes an environment's sleep or wake after its bundle was
// applied: the tenant's own workloads are scaled down or restored, and the
// record says whether it sleeps and until when.
func (r *Reconciler) settleSleep(ctx context.Context, cl *Cluster, e *envRecord, b *renderer.Bundle, st *SleepState, res EnvResult) EnvResult {
	rec := e.rec
	if rec == nil || (st == nil && rec.Sleep == nil) || res.Err != nil {
		return res
	}
	var next *SleepState
	if st != nil {
		c := *st
		next = &c
		next.TenantScaled = rec.Sleep != nil && rec.Sleep.TenantScaled
		res.Asleep, res.SleepUntil = st.Asleep, st.Until
	}
	asleep := next != nil && next.Asleep
	var err error
	var msgs []string
	switch {
	case asleep:
		// Every pass, so that a hand edit that scales a workload up
		// during the sleep is scaled back down.
		if err = scaleTenantDown(ctx, cl, b); err == nil {
			next.TenantScaled = true
		}
	case rec.Sleep != nil && rec.Sleep.TenantScaled:
		msgs, err = restoreTenant(ctx, cl, b)
		if err == nil && next != nil {
			next.TenantScaled = false
		}
	}
	if err != nil {
		res.Action, res.Err = ActionFailed, fmt.Errorf("sleep: %w", err)
		return res
	}
	if len(msgs) > 0 {
		res.Message = joinMessages(res.Message, msgs...)
	}
	if sameSleep(rec.Sleep, next) {
		return res
	}
	rec.Sleep = next
	e.touch(r.now())
	return res
}

func sameSleep(a, b *SleepState) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Schedule == b.Schedule && a.Asleep == b.Asleep && a.Until.Equal(b.Until) && a.WokenUntil.Equal(b.WokenUntil) && a.TenantScaled == b.TenantScaled
}

func joinMessages(first string, more ...string) string {
	out := first
	for _, m := range more {
		if out != "" {
			out += "; "
		}
		out += m
	}
	return out
}

// ErrNoRecord means no cluster has a record of the environment to wake.
var ErrNoRecord = errors.New("no cluster has a record of the environment")
