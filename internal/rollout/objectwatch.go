package rollout

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// ObjectWatch waits for an object that is not a Deployment to reach a
// verdict (EvaluateObject), reading it and its pods every Interval.
type ObjectWatch struct {
	// Resource reads the object (a namespaced or cluster-scoped dynamic client).
	Resource dynamic.ResourceInterface
	// Client lists the object's pods.
	Client kubernetes.Interface
	Name   string
	// Since is the API server's time of our change (zero: we did not change
	// it): pods created before it are the baseline and never count against it.
	Since    time.Time
	Deadline time.Time
	Options  Options
	// OnChange is called whenever the verdict's message changes while progressing.
	OnChange func(Verdict)
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// Interval between reads (default 1s).
	Interval time.Duration
}

// ObjectResult is the final verdict on an object and what it was reached on.
type ObjectResult struct {
	Verdict Verdict
	Object  *unstructured.Unstructured
	Pods    []*corev1.Pod
	Elapsed time.Duration
}

// Run polls until the object succeeds or fails, or ctx ends (then the error
// is ctx's). A read that fails is retried; reads failing until the deadline
// make the verdict APIUnavailable.
func (w *ObjectWatch) Run(ctx context.Context) (ObjectResult, error) {
	now := w.Now
	if now == nil {
		now = time.Now
	}
	interval := w.Interval
	if interval <= 0 {
		interval = time.Second
	}
	start := now()
	mem := &Memory{}
	baselined := false
	var last ObjectResult
	var failing error
	var failingSince time.Time
	lastMessage := ""
	for {
		obj, pods, err := w.read(ctx)
		t := now()
		switch {
		case err != nil && ctx.Err() != nil:
			last.Elapsed = t.Sub(start)
			return last, ctx.Err()
		case err != nil:
			if failing == nil {
				failingSince = t
			}
			failing = err
			if !t.Before(w.Deadline) {
				last.Verdict = WithAPIHealth(Verdict{Phase: Failed, Reason: ReasonTimeout, Message: "timed out: " + last.Verdict.Message},
					APIFailing{Since: failingSince, Err: failing})
				last.Elapsed = t.Sub(start)
				return last, nil
			}
		default:
			failing = nil
			if !baselined {
				old := pods
				if !w.Since.IsZero() {
					old = CreatedBefore(pods, w.Since)
				}
				mem.Baseline(t, old)
				baselined = true
			}
			var fresh []*corev1.Pod
			for _, p := range pods {
				if _, known := mem.Pods[p.UID]; !known {
					fresh = append(fresh, p)
				}
			}
			mem.Observe(t, nil, fresh, nil)
			v := EvaluateObject(ObjectSnapshot{Object: obj, Pods: pods, Memory: mem, Now: t, Deadline: w.Deadline}, w.Options)
			last = ObjectResult{Verdict: v, Object: obj, Pods: pods, Elapsed: t.Sub(start)}
			if v.Phase != Progressing {
				return last, nil
			}
			if v.Message != lastMessage && w.OnChange != nil {
				w.OnChange(v)
			}
			lastMessage = v.Message
		}
		select {
		case <-ctx.Done():
			last.Elapsed = now().Sub(start)
			return last, ctx.Err()
		case <-time.After(interval):
		}
	}
}

// read gets the object and the pods it controls.
func (w *ObjectWatch) read(ctx context.Context) (*unstructured.Unstructured, []*corev1.Pod, error) {
	obj, err := w.Resource.Get(ctx, w.Name, metav1.GetOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", w.Name, err)
	}
	if obj.GetKind() == "Pod" {
		var p corev1.Pod
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &p); err != nil {
			return nil, nil, fmt.Errorf("pod %s: %w", w.Name, err)
		}
		return obj, []*corev1.Pod{&p}, nil
	}
	sel, found, _ := unstructured.NestedMap(obj.Object, "spec", "selector")
	if !found || w.Client == nil {
		return obj, nil, nil
	}
	var ls metav1.LabelSelector
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(sel, &ls); err != nil {
		return obj, nil, nil // not a label selector (a Service's is a plain map): no pods to judge
	}
	s, err := metav1.LabelSelectorAsSelector(&ls)
	if err != nil || s.Empty() {
		return obj, nil, nil
	}
	list, err := w.Client.CoreV1().Pods(obj.GetNamespace()).List(ctx, metav1.ListOptions{LabelSelector: s.String()})
	if err != nil {
		return nil, nil, fmt.Errorf("list the pods of %s: %w", w.Name, err)
	}
	var pods []*corev1.Pod
	for i := range list.Items {
		pods = append(pods, &list.Items[i])
	}
	return obj, ControlledPods(obj.GetUID(), pods), nil
}
