package harness

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// RunWorkloadStatus stands in for the controllers and kubelets a test
// control plane lacks: until ctx ends it marks every Deployment and
// StatefulSet as rolled out and every Job as complete, through the status
// subresource, so that readiness checks see what a real cluster would show.
func RunWorkloadStatus(ctx context.Context, c client.Client, every time.Duration) {
	repeat(ctx, every, func() { markWorkloads(ctx, c) })
}

// repeat runs fn at once and then every interval until ctx ends: the loop
// of the stand-ins for controllers that do not run here.
func repeat(ctx context.Context, every time.Duration, fn func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		fn()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// MarkWorkloadsOnce does what RunWorkloadStatus does, once.
func MarkWorkloadsOnce(ctx context.Context, c client.Client) { markWorkloads(ctx, c) }

func markWorkloads(ctx context.Context, c client.Client) {
	var deps appsv1.DeploymentList
	if c.List(ctx, &deps) == nil {
		for i := range deps.Items {
			d := &deps.Items[i]
			n := int32(1)
			if d.Spec.Replicas != nil {
				n = *d.Spec.Replicas
			}
			if d.Status.ObservedGeneration == d.Generation && d.Status.AvailableReplicas == n {
				continue
			}
			d.Status = appsv1.DeploymentStatus{
				ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
				Conditions: []appsv1.DeploymentCondition{
					{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable"},
					{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"},
				},
			}
			_ = c.Status().Update(ctx, d)
		}
	}
	var sets appsv1.StatefulSetList
	if c.List(ctx, &sets) == nil {
		for i := range sets.Items {
			s := &sets.Items[i]
			n := int32(1)
			if s.Spec.Replicas != nil {
				n = *s.Spec.Replicas
			}
			if s.Status.ObservedGeneration == s.Generation && s.Status.ReadyReplicas == n {
				continue
			}
			s.Status = appsv1.StatefulSetStatus{
				ObservedGeneration: s.Generation, Replicas: n, ReadyReplicas: n, CurrentReplicas: n, UpdatedReplicas: n, AvailableReplicas: n,
				CurrentRevision: "r1", UpdateRevision: "r1",
			}
			_ = c.Status().Update(ctx, s)
		}
	}
	var jobs batchv1.JobList
	if c.List(ctx, &jobs) == nil {
		for i := range jobs.Items {
			j := &jobs.Items[i]
			if j.Status.Succeeded > 0 {
				continue
			}
			now := metav1.Now()
			j.Status = batchv1.JobStatus{
				StartTime: &now, CompletionTime: &now, Succeeded: 1,
				Conditions: []batchv1.JobCondition{
					{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
					{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now},
				},
			}
			_ = c.Status().Update(ctx, j)
		}
	}
}

// InstallCRDs creates permissive CustomResourceDefinitions for kinds whose
// controllers do not run in tests (AWS Controllers for Kubernetes, say), so
// that objects of those kinds can be applied, and waits until they serve.
func InstallCRDs(ctx context.Context, c client.Client, namespaced bool, kinds ...schema.GroupVersionKind) error {
	scope := apiextensionsv1.NamespaceScoped
	if !namespaced {
		scope = apiextensionsv1.ClusterScoped
	}
	preserve := true
	for _, gvk := range kinds {
		plural := lower(gvk.Kind) + "s"
		crd := &apiextensionsv1.CustomResourceDefinition{
			ObjectMeta: metav1.ObjectMeta{Name: plural + "." + gvk.Group},
			Spec: apiextensionsv1.CustomResourceDefinitionSpec{
				Group: gvk.Group, Scope: scope,
				Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: gvk.Kind, ListKind: gvk.Kind + "List", Plural: plural, Singular: lower(gvk.Kind)},
				Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
					Name: gvk.Version, Served: true, Storage: true,
					Schema:       &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: &preserve}},
					Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
				}},
			},
		}
		if err := c.Create(ctx, crd); err != nil {
			return fmt.Errorf("create CRD %s: %w", crd.Name, err)
		}
		if err := waitEstablished(ctx, c, crd.Name); err != nil {
			return err
		}
	}
	return nil
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
