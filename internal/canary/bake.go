package canary

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/org/erlmcp-deploy/internal/diagnose"
	"github.com/org/erlmcp-deploy/internal/rollout"
)

// bakePoll is how often the bake looks at the canary's pods.
const bakePoll = 500 * time.Millisecond

// Unsteady says why a verified canary's pods are no longer steady — a pod
// that restarted or stopped being Ready since the step was verified (seen:
// restart counts then), or a replacement pod the fail-fast rules call
// doomed — or "" while they are. A pure function.
func Unsteady(pods []*corev1.Pod, seen map[types.UID]int32, now time.Time, opts rollout.Options) (problem string, pod string) {
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		base, known := seen[p.UID]
		if !known {
			if prob := rollout.DoomedPod(p, nil, now, opts); prob != nil {
				return fmt.Sprintf("replacement pod %s of the canary: %s", p.Name, prob), p.Name
			}
			continue
		}
		if n := restarts(p); n > base {
			return fmt.Sprintf("canary pod %s restarted during its bake (%d restart(s) since the step was verified%s)", p.Name, n-base, lastExit(p)), p.Name
		}
		if !diagnose.PodReady(p) {
			return fmt.Sprintf("canary pod %s stopped being Ready during its bake%s", p.Name, notReadyWhy(p)), p.Name
		}
	}
	return "", ""
}

func restarts(p *corev1.Pod) int32 {
	var n int32
	for _, cs := range p.Status.ContainerStatuses {
		n += cs.RestartCount
	}
	return n
}

// lastExit is ": container c exited 1 (Error)" for the last container that terminated.
func lastExit(p *corev1.Pod) string {
	for _, cs := range p.Status.ContainerStatuses {
		if t := cs.LastTerminationState.Terminated; t != nil {
			return fmt.Sprintf("; container %s exited %d (%s)", cs.Name, t.ExitCode, t.Reason)
		}
	}
	return ""
}

func notReadyWhy(p *corev1.Pod) string {
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && !cs.Ready {
			return fmt.Sprintf(": container %s is waiting: %s", cs.Name, w.Reason)
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Reason != "" {
			return ": " + c.Reason
		}
	}
	return ""
}

// bake watches the canaries' pods until until (or ctx ends) and returns
// the first problem (Unsteady) with its evidence, or "".
func (c *Canary) bake(ctx context.Context, cans []*appsv1.Deployment, until time.Time, opts rollout.Options) (string, *diagnose.Report) {
	seen := map[types.UID]int32{}
	first := true
	tick := time.NewTicker(bakePoll)
	defer tick.Stop()
	for {
		for _, can := range cans {
			pods, err := c.pods(ctx, can)
			if err != nil {
				continue // the API server failing is not the canary's fault; the next look may answer
			}
			if first {
				for _, p := range pods {
					seen[p.UID] = restarts(p)
				}
			}
			if prob, pod := Unsteady(pods, seen, c.now(), opts); prob != "" {
				rep := diagnose.Collect(context.WithoutCancel(ctx), c.Client, can, nil, []string{pod}, pods)
				rep.Cause = diagnose.Explain(rollout.Verdict{Phase: rollout.Failed, Reason: "Unsteady",
					Problems: []rollout.Problem{{Pod: pod, Reason: "Unsteady", Message: prob}}}, &rep)
				return prob, &rep
			}
		}
		first = false
		if !c.now().Before(until) {
			return "", nil
		}
		select {
		case <-ctx.Done():
			return "", nil
		case <-tick.C:
		}
	}
}

// pods are the pods of a canary Deployment (by its selector).
func (c *Canary) pods(ctx context.Context, d *appsv1.Deployment) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, err
	}
	list, err := c.Client.CoreV1().Pods(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.Pod, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

// countedBy names the HPAs and PodDisruptionBudgets of stable that will also
// count a canary's pods (its pods carry stable's labels, so that the Service
// selects them): an HPA scaling stable averages their metrics with stable's,
// a PDB counts them as healthy pods of stable. Stable's selector is
// immutable, so this is said, not changed. A kind it may not list is
// named in a debug line.
func (c *Canary) countedBy(ctx context.Context, stable *appsv1.Deployment, canaryLabels map[string]string) []string {
	var out []string
	hpas, err := c.Client.AutoscalingV2().HorizontalPodAutoscalers(stable.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		c.Log.Debugf("cannot tell whether an HPA counts the canary's pods: %v", err)
	} else {
		for _, h := range hpas.Items {
			if r := h.Spec.ScaleTargetRef; r.Kind == "Deployment" && r.Name == stable.Name {
				out = append(out, "HorizontalPodAutoscaler "+h.Name+" (it averages the canary's metrics with stable's)")
			}
		}
	}
	pdbs, err := c.Client.PolicyV1().PodDisruptionBudgets(stable.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		c.Log.Debugf("cannot tell whether a PodDisruptionBudget counts the canary's pods: %v", err)
	} else {
		for _, p := range pdbs.Items {
			sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
			if err == nil && !sel.Empty() && sel.Matches(labels.Set(canaryLabels)) {
				out = append(out, "PodDisruptionBudget "+p.Name+" (it counts the canary's pods as healthy pods of stable)")
			}
		}
	}
	return out
}
