package testcluster

import (
	"context"
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
)

// Port-forwarding to simulated pods. kwok plays the kubelet's streaming API,
// so `kubectl port-forward` (or anything speaking pods/portforward through
// the API server) reaches a pod's port — and kwok connects that port to a real
// local address given by a ClusterPortForward object. kwok watches those
// objects (kwokCRDs in kwokcrds.go), so a test points a namespace's pods at its own
// in-process server at run time.

// clusterPortForwardCRD is enough of kwok's CRD for the API server to serve
// ClusterPortForward objects (kwok validates what it reads).
const clusterPortForwardCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: clusterportforwards.kwok.x-k8s.io
spec:
  group: kwok.x-k8s.io
  names: {kind: ClusterPortForward, listKind: ClusterPortForwardList, plural: clusterportforwards, singular: clusterportforward}
  scope: Cluster
  versions:
  - name: v1alpha1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
          status: {type: object, x-kubernetes-preserve-unknown-fields: true}
`

var clusterPortForwards = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "clusterportforwards"}

// ForwardPods makes port of every pod in namespace, now and later, lead to
// the local address to (host:port), as a port-forward through the API server
// reaches it; other ports of those pods forward nowhere. Create it before the
// pods, so kwok knows it by the time they are Ready. The object is named
// after the namespace and the port; it is deleted with remove.
func (c *Cluster) ForwardPods(ctx context.Context, namespace string, port int32, to string) (remove func() error, err error) {
	host, p, err := net.SplitHostPort(to)
	if err != nil {
		return nil, fmt.Errorf("forward target %q: %w", to, err)
	}
	target, err := strconv.Atoi(p)
	if err != nil {
		return nil, fmt.Errorf("forward target %q: %w", to, err)
	}
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%s-%d", namespace, port)
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "ClusterPortForward",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"selector": map[string]any{"matchNamespaces": []any{namespace}},
			"forwards": []any{map[string]any{
				"ports":  []any{int64(port)},
				"target": map[string]any{"address": host, "port": int64(target)},
			}},
		},
	}}
	ri := dyn.Resource(clusterPortForwards)
	if _, err := ri.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create ClusterPortForward %s: %w", name, err)
	}
	return func() error {
		err := ri.Delete(context.Background(), name, metav1.DeleteOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}, nil
}

// PrivateService makes, in namespace, a Service erlmcp (port 8080 named http)
// selecting a 1-replica Deployment erlmcp running image with container port
// http 8080, whose pods' port 8080 leads to the local address to — a service
// reachable only through the API server. With available it waits until the
// Deployment is available. remove deletes the forward.
func (c *Cluster) PrivateService(ctx context.Context, namespace, image, to string, available bool) (remove func() error, err error) {
	if err := c.EnsureNamespace(ctx, namespace); err != nil {
		return nil, err
	}
	remove, err = c.ForwardPods(ctx, namespace, 8080, to)
	if err != nil {
		return nil, err
	}
	_, err = c.Client.CoreV1().Services(namespace).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "erlmcp"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "erlmcp"}, Ports: []corev1.ServicePort{
			{Name: "http", Port: 8080, TargetPort: intstr.FromString("http")}}},
	}, metav1.CreateOptions{})
	if err != nil {
		return remove, fmt.Errorf("create service %s/erlmcp: %w", namespace, err)
	}
	d := Deployment("erlmcp", image, 1)
	d.Spec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
	if available {
		return remove, c.CreateAvailable(ctx, namespace, d)
	}
	if _, err := c.Client.AppsV1().Deployments(namespace).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return remove, fmt.Errorf("create deployment %s/erlmcp: %w", namespace, err)
	}
	return remove, nil
}
