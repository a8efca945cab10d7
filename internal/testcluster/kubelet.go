package testcluster

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// Helpers for tests that play, by hand, what kwok's stages do not: a kubelet
// whose pods have a history, a node autoscaler.

// NodeCPUAnnotation on a node sets its CPU capacity and allocatable (the node-initialize stage reads it; without it a node has 32).
const NodeCPUAnnotation = "testcluster.erlmcp-deploy.io/cpu"

// Autoscaler event reasons (cluster-autoscaler's and Karpenter's), for ScaleUpEvent.
const (
	ReasonTriggeredScaleUp  = "TriggeredScaleUp"
	ReasonNotTriggerScaleUp = "NotTriggerScaleUp"
	ReasonNominated         = "Nominated"
)

// scaleUpMessages are the usual messages of each autoscaler reason.
var scaleUpMessages = map[string]string{
	ReasonTriggeredScaleUp:  "pod triggered scale-up: [{node-group 1->2 (max: 5)}]",
	ReasonNotTriggerScaleUp: "pod didn't trigger scale-up: 1 max node group size reached",
	ReasonNominated:         "Pod should schedule on: nodeclaim/default-x",
}

// AgePods makes every Running pod in namespace matching selector look long-serving: each container has restartCount restarts and, with oom, was last OOM-killed (exit 137) an hour ago.
//
// kwok leaves such pods alone: pod-ready only matches Pending pods. With oom
// the running container's startedAt moves to just after that kill, as the
// kubelet would have restarted it then. It fails when no Running pod matches.
func (c *Cluster) AgePods(ctx context.Context, namespace, selector string, restarts int32, oom bool) error {
	if restarts < 0 || (oom && restarts == 0) {
		return fmt.Errorf("age pods: %d restarts (an OOM kill needs at least one)", restarts)
	}
	pods, err := c.Client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return fmt.Errorf("list pods %q in %s: %w", selector, namespace, err)
	}
	killed := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
	aged := 0
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning {
			continue
		}
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := c.Client.CoreV1().Pods(namespace).Get(ctx, p.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			for i := range cur.Status.ContainerStatuses {
				cs := &cur.Status.ContainerStatuses[i]
				cs.RestartCount = restarts
				if !oom {
					continue
				}
				cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 137, Reason: "OOMKilled",
					StartedAt: metav1.NewTime(killed.Add(-7 * 24 * time.Hour)), FinishedAt: killed,
				}}
				if cs.State.Running != nil {
					cs.State.Running.StartedAt = metav1.NewTime(killed.Add(time.Second))
				}
			}
			_, err = c.Client.CoreV1().Pods(namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			return fmt.Errorf("age pod %s/%s: %w", namespace, p.Name, err)
		}
		aged++
	}
	if aged == 0 {
		return fmt.Errorf("age pods: no Running pod matches %q in %s", selector, namespace)
	}
	return nil
}

// AddNode adds an untainted, Ready kwok node with cpu (a quantity such as "64") as its CPU capacity and allocatable.
func (c *Cluster) AddNode(ctx context.Context, name string, cpu string) error {
	want, err := resource.ParseQuantity(cpu)
	if err != nil {
		return fmt.Errorf("add node %s: cpu %q: %w", name, cpu, err)
	}
	if err := c.createNode(ctx, name, "zone-a", map[string]string{NodeCPUAnnotation: cpu}); err != nil {
		return err
	}
	if err := c.waitNodesReady(ctx, []string{name}); err != nil {
		return err
	}
	nd, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if got := nd.Status.Allocatable[corev1.ResourceCPU]; got.Cmp(want) != 0 {
		return fmt.Errorf("add node %s: allocatable cpu is %s, not %s (was it created before with another size?)", name, got.String(), cpu)
	}
	return nil
}

// ScaleUpEvent records on pod the Normal event a node autoscaler leaves for it: reason TriggeredScaleUp or NotTriggerScaleUp (from cluster-autoscaler) or Nominated (from karpenter); an empty message is that reason's usual one.
func (c *Cluster) ScaleUpEvent(ctx context.Context, pod *corev1.Pod, reason, message string) error {
	if message == "" {
		message = scaleUpMessages[reason]
	}
	if message == "" {
		return fmt.Errorf("scale-up event: no usual message for reason %q: give one", reason)
	}
	component := "cluster-autoscaler"
	if reason == ReasonNominated {
		component = "karpenter"
	}
	now := metav1.NewTime(time.Now())
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", pod.Name, now.UnixNano()), Namespace: pod.Namespace},
		InvolvedObject: corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name,
			UID: pod.UID, ResourceVersion: pod.ResourceVersion},
		Reason: reason, Message: message, Type: corev1.EventTypeNormal,
		Source:         corev1.EventSource{Component: component},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		ReportingController: component, ReportingInstance: component,
	}
	if _, err := c.Client.CoreV1().Events(pod.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create %s event on pod %s/%s: %w", reason, pod.Namespace, pod.Name, err)
	}
	return nil
}
