package testcluster

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
)

// Deployment is an erlmcp-like Deployment: one container "erlmcp" running
// image, label app=<name>, rolling update maxSurge 1 / maxUnavailable 0.
func Deployment(name, image string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxSurge: ptr.To(intstr.FromInt32(1)), MaxUnavailable: ptr.To(intstr.FromInt32(0))}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "erlmcp", Image: image}}}},
		},
	}
}

// CreateAvailable creates d in namespace (as admin) and waits until all of
// its replicas are updated and available.
func (c *Cluster) CreateAvailable(ctx context.Context, namespace string, d *appsv1.Deployment) error {
	if err := c.EnsureNamespace(ctx, namespace); err != nil {
		return err
	}
	if _, err := c.Client.AppsV1().Deployments(namespace).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create deployment %s/%s: %w", namespace, d.Name, err)
	}
	return c.WaitAvailable(ctx, namespace, d.Name)
}

// WaitAvailable waits until all replicas of a Deployment are updated and available.
func (c *Cluster) WaitAvailable(ctx context.Context, namespace, name string) error {
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		cur, err := c.Client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		want := ptr.Deref(cur.Spec.Replicas, 1)
		return cur.Status.ObservedGeneration >= cur.Generation && cur.Status.UpdatedReplicas == want && cur.Status.AvailableReplicas == want, nil
	})
	if err != nil {
		return fmt.Errorf("wait for deployment %s/%s to be available: %w", namespace, name, err)
	}
	return nil
}
